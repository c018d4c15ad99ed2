/**
 * The funds rule: whether a payment the escrow would settle right now may be served before it is
 * settled (async), only after (sync), or not at all. Pure, so every boundary can be tested
 * without a chain.
 *
 * Serving first is safe only against funds the payer cannot take away before the settlement
 * lands: its commitment to this payee, which nothing but payments to the payee can reduce, and
 * which it can only get back through a release whose `releaseAt` lies beyond the settlement
 * horizon. Everything the gateway has accepted and not settled yet (`unsettled`) is already
 * spoken for.
 */

/** Why a payment that the funds alone would allow to go async must still be settled first. */
export type AsyncBlocker =
  /** `validBefore` leaves less than the settlement horizon (plus margin) to settle in. */
  | "short_validity"
  /** The payer has code: its ERC-1271 (or EIP-7702 delegate) answer can change before settlement. */
  | "contract_wallet"
  /** The offer was made for synchronous settlement only. */
  | "sync_offer";

export type SyncReason =
  | AsyncBlocker
  /** The commitment, less what is unsettled, does not cover the amount. */
  | "commitment_short"
  /** The payer asked for its commitment back, and the release could happen before settlement. */
  | "release_pending";

export type FundsDecision =
  | { readonly mode: "async" }
  | { readonly mode: "sync"; readonly reason: SyncReason }
  | {
      readonly mode: undefined;
      /**
       * `insufficient`: commitment, balance and pending withdrawal together, less what is
       * unsettled, do not cover the amount. `commitment_backs_unsettled`: they would, but settling
       * now would take the commitment that guarantees payments already served (see below).
       */
      readonly reason: "insufficient" | "commitment_backs_unsettled";
    };

export interface FundsInput {
  readonly amount: bigint;
  /** `commitmentOf(token, payer, payee)`. */
  readonly commitment: { readonly amount: bigint; readonly releaseAt: bigint };
  /** `spendableFor(token, payer, payee)`: commitment + balance + pending withdrawal. */
  readonly spendable: bigint;
  /** The ledger's unsettled amount for (chain, token, payer, payee), this payment excluded. */
  readonly unsettled: bigint;
  readonly now: bigint;
  readonly settlementHorizonSeconds: bigint;
  readonly validityMarginSeconds: bigint;
  /** Set when something other than funds rules out async settlement. */
  readonly asyncBlocker: AsyncBlocker | undefined;
}

/**
 *  1. ASYNC when nothing blocks it, `commitment − unsettled ≥ amount`, and no release can happen
 *     before the settlement: `releaseAt == 0` or `releaseAt > now + horizon + margin` (the margin
 *     absorbs the gateway/chain clock skew, as it does for `validBefore`).
 *  2. Otherwise SYNC when `spendable − unsettled ≥ amount`, unless the settlement would eat into
 *     a commitment that backs unsettled payments: the escrow debits the commitment to this payee
 *     FIRST (EscrowAccounts._debitSpendable), so settling this payment now would move part of the
 *     cover of payments already served onto the payer's free balance, which the payer can spend
 *     elsewhere at once. That is harmless only when nothing is unsettled, when there is no
 *     commitment to take from, or when the commitment covers this payment on top of everything
 *     unsettled (then it is still whole afterwards).
 *  3. Otherwise refused (`insufficient_funds`).
 */
export function decideSettlement(input: FundsInput): FundsDecision {
  const { amount, commitment, spendable, unsettled } = input;
  const freeCommitment = commitment.amount - unsettled;
  const coveredByCommitment = freeCommitment >= amount;
  const releaseSafe =
    commitment.releaseAt === 0n ||
    commitment.releaseAt > input.now + input.settlementHorizonSeconds + input.validityMarginSeconds;

  if (input.asyncBlocker === undefined && coveredByCommitment && releaseSafe) return { mode: "async" };

  if (spendable - unsettled < amount) return { mode: undefined, reason: "insufficient" };
  const takesCover = commitment.amount > 0n && unsettled > 0n && !coveredByCommitment;
  if (takesCover) return { mode: undefined, reason: "commitment_backs_unsettled" };
  const reason: SyncReason = input.asyncBlocker ?? (coveredByCommitment ? "release_pending" : "commitment_short");
  return { mode: "sync", reason };
}
