import {
  type Address,
  type Hash,
  type Hex,
  type TransactionReceipt,
  type TransactionSerializableEIP1559,
  type TransactionSerializableLegacy,
  bytesToHex,
  decodeFunctionResult,
  encodeFunctionData,
  getContractError,
  hexToBigInt,
  hexToBytes,
  isAddressEqual,
  numberToHex,
  parseEventLogs,
  slice,
} from "viem";
import { keccak256 } from "../../crypto/keccak.js";
import { type ErrorCode, PaymentError, isPaymentError } from "../../x402/errors.js";
import { chainUnavailable, feeFields, withHeadroom } from "../chain.js";
import type { ChainReader, SettlementWallet, VerifiedPayment } from "../types.js";
import { type SettlementFailureName, settlementEscrowAbi, settlementFailureName } from "./abi.js";
import { failureCode } from "./failures.js";
import type { EscrowSettlementData } from "./payload.js";
import { type PaymentSettledArgs, assertSameEscrow, escrowSettlementData, settledEventMatches, settlementRefused } from "./settle.js";
import { escrowBatchGasLimit } from "./batch-gas.js";

export { ESCROW_BATCH_GAS, MAX_TRANSACTION_GAS, escrowBatchGasLimit } from "./batch-gas.js";

/**
 * Batch settlement for the settlement engine, in separable steps so the engine can persist the
 * signed transaction before anything leaves the process:
 *
 *   prepareEscrowBatch      validate each payment's stored data, simulate the batch, keep the
 *                           entries the escrow would settle, reject the rest with their code
 *                           (optionally with the gas limit the transaction will carry, and
 *                           optionally without the simulation)
 *   buildEscrowBatchTransaction   calldata, gas, nonce and fees of one transaction
 *   signEscrowBatchTransaction    the raw signed bytes and their hash (store these first)
 *   broadcastEscrowBatch          send the raw bytes (again, after a crash: same bytes, same hash)
 *   awaitEscrowBatch              wait for the receipt, read each entry's outcome from the logs
 *
 * `settleEscrowBatch` runs them in order for callers that need no persistence in between.
 *
 * The escrow has two batch calls that check, settle and report every entry the same way:
 * `settleBatchFor(token, payee, entries)`, for batches that pay one payee in one token with
 * signatures that fit EIP-2098's compact form (what the engine forms: it groups by token and
 * payee), and `settleBatch` for anything else. `escrowBatchCall` picks one from the entries alone,
 * so the simulation and the transaction always use the same call and nothing about the choice
 * needs storing. Either emits the same `PaymentSettled` / `PaymentFailed` events, so reading a
 * receipt does not depend on it.
 */

/** A payment the simulation says the escrow settles, with its validated settlement data. */
export interface EscrowBatchEntry {
  readonly payment: VerifiedPayment;
  readonly data: EscrowSettlementData;
}

/** Why an entry did not settle: the escrow's failure, or a problem with what the ledger stored. */
export type EscrowBatchFailure = Exclude<SettlementFailureName, "None"> | "invalid_settlement_data" | "no_event";

export type EscrowBatchOutcome =
  | { readonly paymentKey: string; readonly status: "settled"; readonly fee: bigint }
  /**
   * `rejected`: left out before sending (the simulation or validation refused it), nothing was
   * sent for it. `failed`: it was in the transaction and the escrow skipped it (`PaymentFailed`):
   * the batch was not simulated, or state changed between simulation and inclusion. Either way
   * nothing moved for it.
   * `nonce_used` means reconcile first: an earlier transaction of ours may have settled it.
   */
  | {
      readonly paymentKey: string;
      readonly status: "rejected" | "failed";
      readonly code: ErrorCode;
      readonly failure: EscrowBatchFailure;
    };

export interface PreparedEscrowBatch {
  readonly chainId: number;
  readonly escrow: Address;
  /** What the transaction will carry, in input order. Empty when nothing can be settled. */
  readonly entries: readonly EscrowBatchEntry[];
  readonly rejected: readonly EscrowBatchOutcome[];
  /**
   * The gas limit the simulation ran with (see `PrepareEscrowBatchInput.gasLimit`), which the
   * transaction then carries. Undefined: the simulation had the node's default and the
   * transaction's gas is estimated.
   */
  readonly gas?: bigint;
  /** The calldata of exactly `entries`, when the simulation already encoded it. */
  readonly data?: Hex;
}

export interface PrepareEscrowBatchInput {
  readonly publicClient: ChainReader;
  readonly escrow: Address;
  /** The settlement account: the simulation runs as it, as the transaction will. */
  readonly sender: Address;
  readonly payments: readonly VerifiedPayment[];
  /**
   * The gas limit to simulate with, from the entries that passed validation and their calldata
   * (`escrowBatchGasLimit`). The simulation then runs with exactly the limit the transaction will
   * carry: a limit that does not suffice shows up here, as a revert, or as `InvalidSignature` for
   * a contract payer whose ERC-1271 call it starved, instead of on chain. Undefined from it: no
   * limit (the node's default), and the transaction's gas is estimated.
   */
  readonly gasLimit?: (entries: readonly EscrowBatchEntry[], data: Hex) => bigint | undefined;
  /**
   * `false`: no simulation when `gasLimit` gives a limit; every entry that passed validation goes
   * in the transaction, and the receipt's `PaymentFailed` events say which the escrow skipped. Worth
   * it where the node is the bottleneck (the simulation executes the whole batch once more) and a
   * skipped entry costs little. Without a bounded limit the batch is simulated all the same, since
   * its gas must then be estimated. Default `true`.
   */
  readonly simulate?: boolean;
}

/**
 * Validates and simulates. Dropping refused entries leaves the others' simulated outcome as it
 * was: a refused entry changes nothing on chain, so later entries saw the same state with or
 * without it (and needed no more gas: the refused entry's own reads and calldata go with it).
 * Throws `chain_unavailable` when the node cannot answer or the escrow is paused.
 */
export async function prepareEscrowBatch(input: PrepareEscrowBatchInput): Promise<PreparedEscrowBatch> {
  const chainId = batchChainId(input.payments);
  assertDistinctKeys(input.payments);
  const rejected: EscrowBatchOutcome[] = [];
  const candidates: EscrowBatchEntry[] = [];
  for (const payment of input.payments) {
    let data: EscrowSettlementData;
    try {
      data = escrowSettlementData(payment, chainId);
    } catch (error) {
      if (!isPaymentError(error)) throw error;
      rejected.push({ paymentKey: payment.paymentKey, status: "rejected", code: error.code, failure: "invalid_settlement_data" });
      continue;
    }
    assertSameEscrow(data, input.escrow);
    candidates.push({ payment, data });
  }
  if (candidates.length === 0) return { chainId, escrow: input.escrow, entries: [], rejected };

  const call = escrowBatchCall(candidates);
  const data = encodeFunctionData({ abi: settlementEscrowAbi, ...call });
  const gas = input.gasLimit?.(candidates, data);
  if (input.simulate === false && gas !== undefined) return { chainId, escrow: input.escrow, entries: candidates, rejected, gas, data };
  let results: readonly number[];
  try {
    results = await simulateBatch(input.publicClient, input.escrow, input.sender, call, data, gas);
  } catch (error) {
    throw settlementRefused(error, { batch: candidates.length });
  }
  const entries: EscrowBatchEntry[] = [];
  candidates.forEach((entry, i) => {
    const failure = settlementFailureName(results[i] ?? 0);
    if (failure === "None") entries.push(entry);
    else rejected.push({ paymentKey: entry.payment.paymentKey, status: "rejected", code: failureCode(failure), failure });
  });
  // The limit simulated for all candidates also covers the ones that passed; their calldata is
  // only the one simulated when none was dropped.
  const encoded = entries.length === candidates.length ? { data } : {};
  return { chainId, escrow: input.escrow, entries, rejected, ...(gas === undefined ? {} : { gas }), ...encoded };
}

export type EscrowBatchTransaction = TransactionSerializableLegacy | TransactionSerializableEIP1559;

/** The fee fields of a signed transaction: nothing left for a node to fill in. */
export type EscrowBatchFees =
  | { readonly type: "legacy"; readonly gasPrice: bigint }
  | { readonly type: "eip1559"; readonly maxFeePerGas: bigint; readonly maxPriorityFeePerGas: bigint };

/**
 * What one gas unit of a batch costs at most, as the chain prices it now: `eth_gasPrice` on legacy
 * (SKALE) chains, the node's EIP-1559 estimate elsewhere, or `gasPrice` as a fixed price. Throws
 * `chain_unavailable` when the node cannot say. The engine reads it once per cycle.
 */
export async function escrowBatchFees(reader: ChainReader, chainId: number, gasPrice?: bigint): Promise<EscrowBatchFees> {
  const fees = await feeFields(reader, chainId, gasPrice);
  if (fees.type === "legacy" || "maxFeePerGas" in fees) return fees;
  try {
    const { maxFeePerGas, maxPriorityFeePerGas } = await reader.estimateFeesPerGas();
    return { type: "eip1559", maxFeePerGas, maxPriorityFeePerGas };
  } catch (error) {
    throw chainUnavailable("fee estimation failed", error);
  }
}

/** The most a transaction priced with `fees` pays per gas unit: what the sender must hold per unit of limit. */
export function maxPricePerGas(fees: EscrowBatchFees): bigint {
  return fees.type === "legacy" ? fees.gasPrice : fees.maxFeePerGas;
}

export interface BuildEscrowBatchInput {
  readonly publicClient: ChainReader;
  readonly batch: PreparedEscrowBatch;
  readonly sender: Address;
  /** The engine's transaction nonce; the sender's pending count when omitted. */
  readonly nonce?: number;
  /** Price per gas; `eth_gasPrice` (legacy chains) or the node's EIP-1559 estimate when omitted. */
  readonly gasPrice?: bigint;
  /** Fee fields read earlier (`escrowBatchFees`); take precedence over `gasPrice`. */
  readonly fees?: EscrowBatchFees;
}

/**
 * One fully specified transaction (nothing left for a signer or node to fill in). Its gas limit is
 * the one the batch was simulated with (`PreparedEscrowBatch.gas`), else the node's estimate plus
 * headroom; the estimate is also a last simulation, whose revert is decoded like any refusal.
 */
export async function buildEscrowBatchTransaction(input: BuildEscrowBatchInput): Promise<EscrowBatchTransaction> {
  const { batch, publicClient: reader, sender } = input;
  if (batch.entries.length === 0) throw new RangeError("an escrow batch needs at least one entry");
  const call = escrowBatchCall(batch.entries);
  const data = batch.data ?? encodeFunctionData({ abi: settlementEscrowAbi, ...call });
  let gas = batch.gas;
  if (gas === undefined) {
    try {
      // One branch per function: viem types a call (and decodes its revert) from a literal name.
      const estimate =
        call.functionName === "settleBatchFor"
          ? await reader.estimateContractGas({ address: batch.escrow, abi: settlementEscrowAbi, ...call, account: sender })
          : await reader.estimateContractGas({ address: batch.escrow, abi: settlementEscrowAbi, ...call, account: sender });
      gas = withHeadroom(estimate);
    } catch (error) {
      throw settlementRefused(error, { batch: batch.entries.length });
    }
  }
  const base = {
    chainId: batch.chainId,
    to: batch.escrow,
    data,
    gas,
    nonce: input.nonce ?? (await pendingNonce(reader, sender)),
  };
  const fees = input.fees ?? (await escrowBatchFees(reader, batch.chainId, input.gasPrice));
  return fees.type === "legacy" ? { ...base, type: "legacy", gasPrice: fees.gasPrice } : { ...base, ...fees };
}

export interface SignedEscrowBatch {
  /** The raw transaction, as `eth_sendRawTransaction` takes it. */
  readonly serialized: Hex;
  /** keccak256(serialized): the transaction hash, known before broadcasting. */
  readonly hash: Hash;
}

/**
 * Signs without sending. A local account (a private key in the process, what the engine uses)
 * signs with no RPC at all; a JSON-RPC account needs a node that supports `eth_signTransaction`.
 */
export async function signEscrowBatchTransaction(
  wallet: SettlementWallet,
  transaction: EscrowBatchTransaction,
): Promise<SignedEscrowBatch> {
  const account = wallet.account;
  const serialized =
    account.type === "local"
      ? await account.signTransaction(transaction)
      : await wallet.signTransaction({ ...transaction, account, chain: null });
  // A batch's bytes run to tens of kilobytes: hashed with the faster keccak the verification path uses.
  return { serialized, hash: bytesToHex(keccak256(hexToBytes(serialized))) };
}

/**
 * Sends the signed bytes. Sending them again is harmless (same hash); a node that already knows
 * the transaction counts as success. Any other failure is `chain_unavailable` with the hash in
 * `details.transaction`: it may or may not be out, so the engine reconciles by hash.
 */
export async function broadcastEscrowBatch(reader: ChainReader, signed: SignedEscrowBatch): Promise<Hash> {
  try {
    await reader.sendRawTransaction({ serializedTransaction: signed.serialized });
  } catch (error) {
    if (!isAlreadyKnown(error)) throw chainUnavailable("broadcast failed", error, { transaction: signed.hash });
  }
  return signed.hash;
}

export interface EscrowBatchReceipt {
  readonly transaction: Hash;
  readonly blockNumber: bigint;
  /** One per entry of the batch, in its order. */
  readonly outcomes: readonly EscrowBatchOutcome[];
}

/**
 * Waits for one confirmation and reads each entry's outcome from the escrow's own logs. A
 * reverted transaction settled nothing: `settlement_failed` with the hash, the entries go back
 * to the queue. No receipt in time: `chain_unavailable` with the hash.
 */
export async function awaitEscrowBatch(input: {
  readonly publicClient: ChainReader;
  readonly batch: PreparedEscrowBatch;
  readonly transaction: Hash;
  readonly receiptTimeoutMs?: number;
}): Promise<EscrowBatchReceipt> {
  let receipt: TransactionReceipt;
  try {
    receipt = await input.publicClient.waitForTransactionReceipt({
      hash: input.transaction,
      confirmations: 1,
      timeout: input.receiptTimeoutMs ?? 60_000,
    });
  } catch (error) {
    throw chainUnavailable("no receipt for the batch transaction", error, { transaction: input.transaction });
  }
  if (receipt.status !== "success") {
    throw new PaymentError("settlement_failed", "the batch transaction reverted", { transaction: input.transaction });
  }
  return { transaction: input.transaction, blockNumber: receipt.blockNumber, outcomes: batchOutcomes(receipt, input.batch) };
}

/**
 * Each entry's fate in a mined batch. Within one transaction (payer, nonce) identifies an entry:
 * a batch holds at most one entry per pair, since the payment key is made of it (and
 * `assertDistinctKeys` refuses a key twice).
 */
export function batchOutcomes(receipt: TransactionReceipt, batch: PreparedEscrowBatch): EscrowBatchOutcome[] {
  const ours = receipt.logs.filter((log) => isAddressEqual(log.address, batch.escrow));
  // Indexed by (payer, nonce): a batch of hundreds is read in one pass, not entries × logs.
  const settled = new Map<string, PaymentSettledArgs & { readonly fee: bigint }>();
  const failed = new Map<string, number>();
  for (const log of parseEventLogs({ abi: settlementEscrowAbi, eventName: ["PaymentSettled", "PaymentFailed"], logs: ours })) {
    const key = entryKey(log.args.payer, log.args.nonce);
    if (log.eventName === "PaymentSettled") {
      if (!settled.has(key)) settled.set(key, log.args);
    } else if (!failed.has(key)) {
      failed.set(key, log.args.reason);
    }
  }
  return batch.entries.map(({ payment, data }): EscrowBatchOutcome => {
    const a = data.authorization;
    const paymentKey = payment.paymentKey;
    const key = entryKey(a.payer, a.nonce);
    const done = settled.get(key);
    if (done !== undefined && settledEventMatches(done, a)) return { paymentKey, status: "settled", fee: done.fee };
    const skipped = failed.get(key);
    if (skipped !== undefined) {
      const failure = settlementFailureName(skipped);
      if (failure !== "None") return { paymentKey, status: "failed", code: failureCode(failure), failure };
    }
    return { paymentKey, status: "failed", code: "settlement_failed", failure: "no_event" };
  });
}

function entryKey(payer: Address, nonce: bigint): string {
  return `${payer.toLowerCase()}:${nonce}`;
}

export interface SettleEscrowBatchInput {
  readonly walletClient: SettlementWallet;
  readonly publicClient: ChainReader;
  readonly escrow: Address;
  readonly payments: readonly VerifiedPayment[];
  readonly nonce?: number;
  readonly gasPrice?: bigint;
  readonly receiptTimeoutMs?: number;
}

export interface EscrowBatchResult {
  /** Undefined when no entry could be sent. */
  readonly transaction: Hash | undefined;
  readonly blockNumber: bigint | undefined;
  /** One per input payment, in input order. */
  readonly outcomes: readonly EscrowBatchOutcome[];
}

/** Prepare, build, sign, broadcast and await in one call. */
export async function settleEscrowBatch(input: SettleEscrowBatchInput): Promise<EscrowBatchResult> {
  const sender = input.walletClient.account.address;
  const batch = await prepareEscrowBatch({ ...input, sender });
  if (batch.entries.length === 0) return { transaction: undefined, blockNumber: undefined, outcomes: inInputOrder(input.payments, batch.rejected) };
  const transaction = await buildEscrowBatchTransaction({ ...input, batch, sender });
  const signed = await signEscrowBatchTransaction(input.walletClient, transaction);
  await broadcastEscrowBatch(input.publicClient, signed);
  const mined = await awaitEscrowBatch({ ...input, batch, transaction: signed.hash });
  return { ...mined, outcomes: inInputOrder(input.payments, [...batch.rejected, ...mined.outcomes]) };
}

function inInputOrder(payments: readonly VerifiedPayment[], outcomes: readonly EscrowBatchOutcome[]): EscrowBatchOutcome[] {
  const byKey = new Map(outcomes.map((outcome) => [outcome.paymentKey, outcome]));
  return payments.map((payment) => {
    const outcome = byKey.get(payment.paymentKey);
    if (outcome === undefined) throw new Error(`no outcome for ${payment.paymentKey}`);
    return outcome;
  });
}

/** One payment twice in a batch is the caller's bug: its outcomes could not be told apart. */
function assertDistinctKeys(payments: readonly VerifiedPayment[]): void {
  const keys = new Set<string>();
  for (const { paymentKey } of payments) {
    if (keys.has(paymentKey)) throw new TypeError(`payment ${paymentKey} appears twice in one batch`);
    keys.add(paymentKey);
  }
}

/** secp256k1's group order over two: a larger s is the malleable twin no EOA check accepts. */
const HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/**
 * The EIP-2098 `(r, vs)` form of a 65-byte signature, when the escrow's expansion of it gives back
 * exactly the same bytes: v 27 or 28, and s low (so its top bit is free for the parity). Anything
 * else (a contract wallet's own format, a 0/1 v, a high s) has no faithful compact form.
 */
export function compactSignature(signature: Hex): { readonly r: Hex; readonly vs: Hex } | undefined {
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) return undefined;
  const v = hexToBigInt(slice(signature, 64, 65));
  const s = hexToBigInt(slice(signature, 32, 64));
  if ((v !== 27n && v !== 28n) || s > HALF_ORDER) return undefined;
  return { r: slice(signature, 0, 32), vs: numberToHex(s | ((v - 27n) << 255n), { size: 32 }) };
}

/**
 * The escrow call that settles `entries`: `settleBatchFor` when they share one token and one
 * payee and every signature has a faithful compact form, otherwise `settleBatch`. The escrow puts
 * the batch's token and payee into every entry it verifies, so the shorter call cannot pay anyone
 * but the signed payee.
 */
export function escrowBatchCall(entries: readonly Pick<EscrowBatchEntry, "data">[]) {
  const first = entries[0]?.data.authorization;
  const compact = first === undefined ? undefined : compactEntries(entries, first.token, first.payee);
  if (first !== undefined && compact !== undefined) {
    return { functionName: "settleBatchFor", args: [first.token, first.payee, compact] } as const;
  }
  return { functionName: "settleBatch", args: [entries.map(signedPayment)] } as const;
}

function compactEntries(entries: readonly Pick<EscrowBatchEntry, "data">[], token: Address, payee: Address) {
  const compact = [];
  for (const { data } of entries) {
    const { authorization: a, signature } = data;
    const rvs = compactSignature(signature);
    if (rvs === undefined || !isAddressEqual(a.token, token) || !isAddressEqual(a.payee, payee)) return undefined;
    const { payer, amount, nonce, validAfter, validBefore, challengeHash } = a;
    compact.push({ payer, amount, nonce, validAfter, validBefore, challengeHash, ...rvs });
  }
  return compact;
}

/**
 * `eth_call` of the already encoded batch (a large batch is encoded once, not once per step), its
 * revert turned into the same contract error `simulateContract` gives, so it is classified alike.
 */
async function simulateBatch(
  reader: ChainReader,
  escrow: Address,
  sender: Address,
  call: ReturnType<typeof escrowBatchCall>,
  data: Hex,
  gas: bigint | undefined,
): Promise<readonly number[]> {
  try {
    const { data: returned } = await reader.call({ account: sender, to: escrow, data, ...(gas === undefined ? {} : { gas }) });
    return decodeFunctionResult({ abi: settlementEscrowAbi, functionName: call.functionName, data: returned ?? "0x" });
  } catch (error) {
    throw getContractError(error as Parameters<typeof getContractError>[0], {
      abi: settlementEscrowAbi,
      address: escrow,
      args: call.args,
      functionName: call.functionName,
      sender,
    });
  }
}

function signedPayment(entry: Pick<EscrowBatchEntry, "data">) {
  return { authorization: entry.data.authorization, signature: entry.data.signature };
}

/** All payments of one batch are on one chain; that chain decides legacy vs EIP-1559 and signs. */
function batchChainId(payments: readonly VerifiedPayment[]): number {
  const first = payments[0];
  if (first === undefined) throw new RangeError("an escrow batch needs at least one payment");
  const other = payments.find((payment) => payment.chainId !== first.chainId);
  if (other !== undefined) throw new TypeError(`one batch holds payments on chains ${first.chainId} and ${other.chainId}`);
  return first.chainId;
}

async function pendingNonce(reader: ChainReader, sender: Address): Promise<number> {
  try {
    return await reader.getTransactionCount({ address: sender, blockTag: "pending" });
  } catch (error) {
    throw chainUnavailable("eth_getTransactionCount failed", error);
  }
}

/** geth "already known", Nethermind/Besu "AlreadyKnown", skaled / OpenEthereum "Known transaction". */
function isAlreadyKnown(error: unknown): boolean {
  return error instanceof Error && /already known|alreadyknown|known transaction|already imported/i.test(error.message);
}
