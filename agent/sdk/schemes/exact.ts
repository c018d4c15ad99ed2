import { type Hex, getAddress, toHex } from "viem";
import { type Authorization, encodeExactPayload, transferWithAuthorizationTypedData } from "../../../gateway/schemes/exact/payload.js";
import { erc20Abi } from "../abi.js";
import { type AgentChain, signTypedData } from "../chain.js";
import type { PaymentOption } from "../challenge.js";
import { type SchemeClient, nowSeconds } from "./types.js";

/**
 * `exact`: an EIP-3009 TransferWithAuthorization for the exact price to `payTo`, signed under
 * the token's own EIP-712 domain (name and version from the offer's `extra`), which the gateway
 * submits. The agent sends nothing and pays no gas.
 */
export function exactClient(): SchemeClient {
  return {
    name: "exact",
    unpayable(option) {
      const { name, version } = option.extra;
      if (typeof name !== "string" || name === "" || typeof version !== "string" || version === "") {
        return "the offer's extra lacks the token's EIP-712 name and version";
      }
      return undefined;
    },
    canFund: (agent, option) => walletCovers(agent, option),
    async pay(agent, option) {
      const chainId = option.chainId as number;
      const authorization: Authorization = {
        from: agent.account.address,
        to: option.payTo,
        value: option.amount,
        // Valid at once: the gateway checks validAfter < now, and 0 is what EIP-3009 clients send.
        validAfter: 0n,
        validBefore: nowSeconds() + BigInt(option.maxTimeoutSeconds),
        nonce: toHex(crypto.getRandomValues(new Uint8Array(32))) as Hex,
      };
      const domain = {
        name: option.extra["name"] as string,
        version: option.extra["version"] as string,
        chainId,
        verifyingContract: getAddress(option.asset),
      };
      const signature = await signTypedData(agent, transferWithAuthorizationTypedData(domain, authorization));
      return { payload: { ...encodeExactPayload({ signature, authorization }) } };
    },
  };
}

/** Whether the wallet holds at least the price in the token; true when nothing can be asked. */
export async function walletCovers(agent: AgentChain, option: PaymentOption): Promise<boolean> {
  if (agent.publicClient === undefined) return true;
  const balance = await agent.publicClient.readContract({
    address: option.asset,
    abi: erc20Abi,
    functionName: "balanceOf",
    args: [agent.account.address],
  });
  return balance >= option.amount;
}
