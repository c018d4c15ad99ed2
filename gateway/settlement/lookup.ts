import { type AbiEvent, type Address, type Hash, type Hex, type Log, parseAbi } from "viem";
import { chainUnavailable } from "../schemes/chain.js";
import { settlementEscrowAbi } from "../schemes/escrow/abi.js";
import type { EscrowAuthorization } from "../schemes/escrow/payload.js";
import { type PaymentSettledArgs, settledEventMatches } from "../schemes/escrow/settle.js";
import { eip3009Abi } from "../schemes/exact/abi.js";
import { checkReceipt } from "../schemes/exact/settle.js";
import type { ChainReader, VerifiedPayment } from "../schemes/types.js";

/**
 * Questions reconciliation asks the chain: is this nonce spent, and by which transaction? Every
 * node failure becomes `chain_unavailable`, which callers treat as "undecided, ask again later",
 * never as an answer.
 */

/** EIP-3009's events (FiatToken, MockUSDC): which transaction used or cancelled an authorization. */
const eip3009Events = parseAbi([
  "event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce)",
  "event AuthorizationCanceled(address indexed authorizer, bytes32 indexed nonce)",
]);

const escrowSettledEvent = settlementEscrowAbi.find(
  (item): item is Extract<(typeof settlementEscrowAbi)[number], { type: "event"; name: "PaymentSettled" }> =>
    item.type === "event" && item.name === "PaymentSettled",
);

/** Blocks per eth_getLogs call: below the range limits public nodes put on log queries. */
const LOG_CHUNK_BLOCKS = 5_000n;

export interface FoundSettlement {
  readonly transaction: Hash;
  readonly blockNumber: bigint;
}

export async function escrowNonceUsed(reader: ChainReader, escrow: Address, payer: Address, nonce: bigint): Promise<boolean> {
  try {
    return await reader.readContract({ address: escrow, abi: settlementEscrowAbi, functionName: "isNonceUsed", args: [payer, nonce] });
  } catch (error) {
    throw chainUnavailable("isNonceUsed failed", error);
  }
}

/** The escrow's `PaymentSettled` for exactly this authorization, searched newest first. */
export async function findEscrowSettlement(
  reader: ChainReader,
  escrow: Address,
  authorization: EscrowAuthorization,
  lookbackBlocks: number,
): Promise<FoundSettlement | undefined> {
  if (escrowSettledEvent === undefined) throw new Error("PaymentSettled missing from the escrow ABI");
  const log = await scanLogs(reader, lookbackBlocks, (fromBlock, toBlock) =>
    reader.getLogs({
      address: escrow,
      event: escrowSettledEvent,
      args: { payer: authorization.payer, payee: authorization.payee, token: authorization.token },
      fromBlock,
      toBlock,
      strict: true,
    }),
    // strict: true drops logs whose arguments do not decode, so every field is present.
    (log) => settledEventMatches(log.args as PaymentSettledArgs, authorization),
  );
  return log === undefined ? undefined : found(log);
}

export async function exactAuthorizationUsed(reader: ChainReader, token: Address, payer: Address, nonce: Hex): Promise<boolean> {
  try {
    return await reader.readContract({ address: token, abi: eip3009Abi, functionName: "authorizationState", args: [payer, nonce] });
  } catch (error) {
    throw chainUnavailable("authorizationState failed", error);
  }
}

export type ExactSpend =
  | { readonly kind: "settled"; readonly settlement: FoundSettlement }
  /** The payer cancelled the authorization (EIP-3009 `cancelAuthorization`): nobody was paid. */
  | { readonly kind: "canceled" }
  /** Used, but not found, or used by a transfer that does not pay this payment. */
  | { readonly kind: "unknown" };

/**
 * What spent an EIP-3009 nonce. `AuthorizationUsed(payer, nonce)` names the transaction; it counts
 * as this payment's settlement only if that transaction also moved exactly this payment's value
 * from the payer to the payee (the payer could have signed another transfer with the same nonce).
 */
export async function findExactSpend(reader: ChainReader, payment: VerifiedPayment, nonce: Hex, lookbackBlocks: number): Promise<ExactSpend> {
  const [usedEvent, canceledEvent] = eip3009Events as unknown as [AbiEvent, AbiEvent];
  const query = (event: AbiEvent) => (fromBlock: bigint, toBlock: bigint) =>
    reader.getLogs({ address: payment.token, event, args: { authorizer: payment.payer, nonce }, fromBlock, toBlock });
  const used = await scanLogs(reader, lookbackBlocks, query(usedEvent), () => true);
  if (used !== undefined && used.transactionHash !== null) {
    let receipt;
    try {
      receipt = await reader.getTransactionReceipt({ hash: used.transactionHash });
    } catch (error) {
      throw chainUnavailable("eth_getTransactionReceipt failed", error);
    }
    try {
      checkReceipt(receipt, payment);
      return { kind: "settled", settlement: { transaction: used.transactionHash, blockNumber: receipt.blockNumber } };
    } catch {
      return { kind: "unknown" };
    }
  }
  const canceled = await scanLogs(reader, lookbackBlocks, query(canceledEvent), () => true);
  return canceled === undefined ? { kind: "unknown" } : { kind: "canceled" };
}

function found(log: Log): FoundSettlement | undefined {
  if (log.transactionHash === null || log.blockNumber === null) return undefined;
  return { transaction: log.transactionHash, blockNumber: log.blockNumber };
}

/** Walks back from the newest block in chunks until a log passes `accept` or the lookback ends. */
async function scanLogs<L extends Log>(
  reader: ChainReader,
  lookbackBlocks: number,
  query: (fromBlock: bigint, toBlock: bigint) => Promise<readonly L[]>,
  accept: (log: L) => boolean,
): Promise<L | undefined> {
  try {
    const latest = await reader.getBlockNumber({ cacheTime: 0 });
    const floor = latest > BigInt(lookbackBlocks) ? latest - BigInt(lookbackBlocks) : 0n;
    for (let to = latest; to >= floor; ) {
      const from = to - LOG_CHUNK_BLOCKS + 1n > floor ? to - LOG_CHUNK_BLOCKS + 1n : floor;
      const logs = await query(from, to);
      const hit = [...logs].reverse().find(accept);
      if (hit !== undefined) return hit;
      if (from === 0n) break;
      to = from - 1n;
    }
    return undefined;
  } catch (error) {
    throw chainUnavailable("log search failed", error);
  }
}
