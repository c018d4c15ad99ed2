import { z } from "zod";
import { type Address, isAddressEqual, parseEventLogs } from "viem";
import { TRANSFER_PROOF_NAME, TRANSFER_PROOF_VERSION } from "../../../gateway/schemes/transfer/abi.js";
import { transferPayloadSchema, transferProofTypedData } from "../../../gateway/schemes/transfer/payload.js";
import { bytes32Schema } from "../../../gateway/x402/primitives.js";
import { erc20Abi } from "../abi.js";
import { requireReader, requireWallet, sendContract, signTypedData } from "../chain.js";
import { AgentError } from "../errors.js";
import { walletCovers } from "./exact.js";
import type { SchemeClient } from "./types.js";

const transferExtraSchema = z.object({
  challengeHash: bytes32Schema,
  name: z.literal(TRANSFER_PROOF_NAME),
  version: z.literal(TRANSFER_PROOF_VERSION),
});

/**
 * `transfer` (docs/transfer-scheme.md): a plain ERC-20 `transfer(payTo, amount)` from the agent's
 * wallet, mined, then claimed with a TransferProof signature binding that transaction to the
 * offer's challenge. The only scheme where the agent sends a transaction (and pays its gas), and
 * the only one where money moves before the server has said anything: the budget counts it then.
 */
export function transferClient(): SchemeClient {
  return {
    name: "transfer",
    unpayable(option) {
      return transferExtraSchema.safeParse(option.extra).success
        ? undefined
        : "the offer's extra lacks the transfer proof's challengeHash, name and version";
    },
    canFund: (agent, option) => walletCovers(agent, option),
    async pay(agent, option, moneyMoved) {
      requireReader(agent, "a transfer payment");
      requireWallet(agent, "a transfer payment");
      const { challengeHash } = transferExtraSchema.parse(option.extra);
      const payer = agent.account.address;
      const { hash, receipt } = await sendContract(
        agent,
        { address: option.asset, abi: erc20Abi, functionName: "transfer", args: [option.payTo, option.amount] },
        "the transfer to payTo",
      );
      await moneyMoved();
      const logIndex = paymentLogIndex(receipt.logs, option.asset, payer, option.payTo, option.amount);
      if (logIndex === undefined) {
        throw new AgentError("payment_failed", `transfer ${hash} left no Transfer log paying ${option.payTo}`, { transaction: hash });
      }
      const signature = await signTypedData(agent, transferProofTypedData(option.chainId as number, { transaction: hash, challengeHash }));
      return { payload: z.encode(transferPayloadSchema, { transaction: hash, payer, signature, logIndex }), transaction: hash };
    },
  };
}

/** The log of our transfer, named explicitly so the gateway need not guess among several. */
function paymentLogIndex(
  logs: Parameters<typeof parseEventLogs>[0]["logs"],
  token: Address,
  from: Address,
  to: Address,
  amount: bigint,
): number | undefined {
  const transfers = parseEventLogs({ abi: erc20Abi, eventName: "Transfer", logs, strict: true });
  const log = transfers.find(
    (l) => isAddressEqual(l.address, token) && isAddressEqual(l.args.from, from) && isAddressEqual(l.args.to, to) && l.args.value >= amount,
  );
  return log?.logIndex ?? undefined;
}
