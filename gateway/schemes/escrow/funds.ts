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

/** `FundsInput` without the ledger's part: what the chain and the payment alone determine. */
export type ChainFunds = Omit<FundsInput, "unsettled">;

/**
 * The funds rule as two bounds on the unsettled amount `U`, so the ledger can apply it in the
 * same statement that records the payment (no lock held across round trips):
 *
 *   decideSettlement(U).mode === "async"      ⇔  asyncMax  !== undefined && U ≤ asyncMax
 *   decideSettlement(U).mode !== undefined    ⇔  acceptMax !== undefined && U ≤ acceptMax
 *
 * Both hold because every region of the rule is closed downwards: less unsettled never turns an
 * accepted payment into a refused one, nor async into sync. (A property test checks the
 * equivalences against `decideSettlement`.) Derivation, for U ≥ 0 with C, S, a as above:
 *   async  ⇔ no blocker ∧ release safe ∧ U ≤ C − a
 *   sync   ⇔ U ≤ S − a ∧ (C = 0 ∨ U = 0 ∨ U ≤ C − a)
 *          ⇔ (C = 0 ∧ U ≤ S − a) ∨ (C > 0 ∧ (U ≤ min(S, C) − a ∨ (U = 0 ∧ S ≥ a)))
 */
export function fundsBounds(input: ChainFunds): { readonly asyncMax: bigint | undefined; readonly acceptMax: bigint | undefined } {
  const { amount, commitment, spendable } = input;
  const releaseSafe =
    commitment.releaseAt === 0n ||
    commitment.releaseAt > input.now + input.settlementHorizonSeconds + input.validityMarginSeconds;
  const asyncBound = input.asyncBlocker === undefined && releaseSafe ? commitment.amount - amount : -1n;
  let syncBound: bigint;
  if (commitment.amount === 0n) {
    syncBound = spendable - amount;
  } else {
    const covered = (spendable < commitment.amount ? spendable : commitment.amount) - amount;
    syncBound = covered >= 0n ? covered : spendable >= amount ? 0n : -1n;
  }
  const acceptBound = asyncBound > syncBound ? asyncBound : syncBound;
  return {
    asyncMax: asyncBound >= 0n ? asyncBound : undefined,
    acceptMax: acceptBound >= 0n ? acceptBound : undefined,
  };
}
