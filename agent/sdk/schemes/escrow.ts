import { z } from "zod";
import {
  type EscrowAuthorization,
  escrowNonce,
  escrowPayloadSchema,
  paymentAuthorizationTypedData,
  randomNonceWord,
} from "../../../gateway/schemes/escrow/payload.js";
import { escrowExtraSchema } from "../../../gateway/schemes/escrow/offer.js";
import { escrowAccountAbi } from "../abi.js";
import { signTypedData } from "../chain.js";
import { type SchemeClient, nowSeconds } from "./types.js";

/**
 * `escrow` (docs/escrow-scheme.md): a PaymentAuthorization signed against the SettlementEscrow,
 * paid from the agent's deposit there. Works for every registered token. Nonces follow the spec's
 * advice: a random 248-bit word per session with an 8-bit counter, so one batch of this agent's
 * payments marks a single storage slot and separate processes never collide.
 */
export function escrowClient(): SchemeClient {
  let word = randomNonceWord();
  let counter = 0;
  const nextNonce = (): bigint => {
    if (counter > 0xff) {
      word = randomNonceWord();
      counter = 0;
    }
    return escrowNonce(word, counter++);
  };

  return {
    name: "escrow",
    unpayable(option) {
      const parsed = escrowExtraSchema.safeParse(option.extra);
      return parsed.success ? undefined : "the offer's extra is not an escrow offer's (escrow, name, version, challengeHash)";
    },
    async canFund(agent, option) {
      if (agent.publicClient === undefined) return true;
      const { escrow } = escrowExtraSchema.parse(option.extra);
      const spendable = await agent.publicClient.readContract({
        address: escrow,
        abi: escrowAccountAbi,
        functionName: "spendableFor",
        args: [option.asset, agent.account.address, option.payTo],
      });
      return spendable >= option.amount;
    },
    async pay(agent, option) {
      const extra = escrowExtraSchema.parse(option.extra);
      const authorization: EscrowAuthorization = {
        payer: agent.account.address,
        payee: option.payTo,
        token: option.asset,
        amount: option.amount,
        nonce: nextNonce(),
        validAfter: 0n,
        validBefore: nowSeconds() + BigInt(option.maxTimeoutSeconds),
        // Copied, never recomputed: the server hashed its own spelling of the resource URL.
        challengeHash: extra.challengeHash,
      };
      const domain = { name: extra.name, version: extra.version, chainId: option.chainId as number, verifyingContract: extra.escrow };
      const signature = await signTypedData(agent, paymentAuthorizationTypedData(domain, authorization));
      return { payload: z.encode(escrowPayloadSchema, { signature, authorization }) };
    },
  };
}
