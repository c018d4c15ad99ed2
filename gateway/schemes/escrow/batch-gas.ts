import type { Hex } from "viem";
import type { EscrowBatchEntry } from "./batch.js";

/**
 * The gas limit of a batch settlement transaction, bounded from what the batch holds instead of
 * estimated (the engine's former bottleneck: docs/settlement-engine.md, "Gas"). Pure, and checked
 * against the real contracts in test/gateway/settlement-gas.test.ts.
 */

/**
 * Gas bounds of the escrow's batch calls, execution only (the transaction's intrinsic cost is
 * computed from its calldata). Each is a worst case derived from the contracts
 * (PaymentAuthorizations._trySettle, EscrowAccounts._debit/_creditPayee, BoundedSignatureChecker)
 * under Shanghai pricing (EIP-2929 cold access, EIP-3529 SSTORE), with the measured worst case
 * beside it (test/gateway/settlement-gas.test.ts, `eth_estimateGas` on EDR, which counts gas
 * refunded at the end as needed):
 *
 * - `base` 60,000 (measured 44k): the call itself, the registry's token policy (one external
 *   call, cold), crediting the payee and the fee recipient once (two zero to non-zero SSTOREs).
 * - `eoaEntry` 64,000 (measured 58.0k): an entry whose payer has no code. Cold payer account
 *   (2,600) and four cold slots read (nonce word, commitment, balance, pending withdrawal), a fresh
 *   nonce word set (22,100), a payment drawn from commitment, balance and pending withdrawal at
 *   once (four SSTOREs, one more cold slot), ecrecover (3,000), the event, memory.
 * - `contractEntry` 170,000 (measured 139.4k with a ReturnBombWallet payer, which uses ~95k of its
 *   budget and answers valid): the EOA entry without ecrecover, plus the ERC-1271 call's fixed
 *   budget (`ERC1271_GAS_LIMIT`, 100,000) and the 1/64 the caller must keep back to forward all of
 *   it (EIP-150), plus the call's own memory. The budget being fixed is what bounds this.
 * - `newPayee` / `newToken` (settleBatch only, which credits per entry): another (token, payee)
 *   earnings slot or another token's fee slot set from zero, and the registry read again when the
 *   token changes from one entry to the next (its one-token cache).
 * - memory: Solidity never frees it inside the call, so each entry leaves some (~19 words
 *   measured; 32 counted) and expansion costs words²/512 on top of the linear part counted above.
 * - `signatureWord`: a signature longer than 65 bytes (settleBatch) is copied twice more per
 *   32-byte word (into memory, into the ERC-1271 call).
 */
export const ESCROW_BATCH_GAS = {
  base: 60_000n,
  eoaEntry: 64_000n,
  contractEntry: 170_000n,
  newPayee: 25_000n,
  newToken: 35_000n,
  tokenSwitch: 10_000n,
  entryMemoryWords: 32n,
  signatureWord: 20n,
} as const;

/** EIP-7825: from Osaka on, Ethereum-family chains refuse a transaction with a larger gas limit. */
export const MAX_TRANSACTION_GAS = 1n << 24n;

const TX_BASE_GAS = 21_000n;

/**
 * The most gas the batch transaction carrying `entries` (calldata `data`) can use, whatever the
 * state it meets: intrinsic cost of exactly this calldata (standard pricing, or EIP-7623's floor
 * where that is higher) plus the execution bounds of {@link ESCROW_BATCH_GAS}. Payers in
 * `contractPayers` (lower-case addresses: wallets, EIP-7702 delegated accounts) are counted at the
 * ERC-1271 bound; every other payer at the EOA bound. What a successful transaction does not use
 * is refunded, so a generous bound costs only balance headroom (the sender must hold limit × price).
 */
export function escrowBatchGasLimit(
  entries: readonly Pick<EscrowBatchEntry, "data">[],
  data: Hex,
  contractPayers: ReadonlySet<string> = new Set(),
): bigint {
  const g = ESCROW_BATCH_GAS;
  let execution = g.base;
  let memoryWords = 64n;
  const payees = new Set<string>();
  const tokens = new Set<string>();
  let previousToken: string | undefined;
  for (const { data: entry } of entries) {
    const a = entry.authorization;
    execution += contractPayers.has(a.payer.toLowerCase()) ? g.contractEntry : g.eoaEntry;
    const signatureWords = BigInt(Math.ceil((entry.signature.length - 2) / 64));
    const extraWords = signatureWords > 3n ? signatureWords - 3n : 0n;
    execution += extraWords * g.signatureWord;
    memoryWords += g.entryMemoryWords + 2n * extraWords;
    const token = a.token.toLowerCase();
    const pair = `${token}:${a.payee.toLowerCase()}`;
    if (payees.size > 0 && !payees.has(pair)) execution += g.newPayee;
    if (tokens.size > 0 && !tokens.has(token)) execution += g.newToken;
    if (previousToken !== undefined && previousToken !== token) execution += g.tokenSwitch;
    payees.add(pair);
    tokens.add(token);
    previousToken = token;
  }
  execution += (memoryWords * memoryWords) / 512n;
  const { zero, nonZero } = calldataBytes(data);
  const standard = TX_BASE_GAS + 16n * nonZero + 4n * zero + execution;
  const floor = TX_BASE_GAS + 10n * (zero + 4n * nonZero);
  return standard > floor ? standard : floor;
}

/** Zero and non-zero bytes of hex calldata, which intrinsic gas prices differently. */
function calldataBytes(data: Hex): { zero: bigint; nonZero: bigint } {
  let zero = 0;
  for (let i = 2; i + 1 < data.length; i += 2) {
    if (data.charCodeAt(i) === 48 && data.charCodeAt(i + 1) === 48) zero += 1;
  }
  const total = (data.length - 2) / 2;
  return { zero: BigInt(zero), nonZero: BigInt(total - zero) };
}
