/**
 * `fundsBounds` must be `decideSettlement` restated as two bounds on the unsettled amount: the
 * ledger applies the bounds inside the statement that records a payment, and the scheme reads the
 * mode back through `decideSettlement`, so any disagreement would record a payment the rule
 * refuses (or settle one async that the rule keeps sync).
 */
import { expect } from "chai";
import fc from "fast-check";
import { type AsyncBlocker, type FundsInput, decideSettlement, fundsBounds } from "../../gateway/schemes/escrow/funds.js";

const HORIZON = 300n;
const MARGIN = 36n;
const NOW = 1_800_000_000n;

const small = fc.bigInt({ min: 0n, max: 400n });
const blocker = fc.constantFrom<AsyncBlocker | undefined>(undefined, undefined, "short_validity", "contract_wallet", "sync_offer");
const releaseAt = fc.oneof(fc.constant(0n), fc.bigInt({ min: 1n, max: 2n * (HORIZON + MARGIN) }).map((d) => NOW + d - HORIZON));

const inputs = fc.record({
  amount: fc.bigInt({ min: 1n, max: 200n }),
  committed: small,
  extra: small,
  releaseAt,
  asyncBlocker: blocker,
  // Real chains give spendable ≥ commitment; the bounds must agree with the rule even when not.
  spendableBelowCommitment: fc.boolean(),
});

describe("funds rule as bounds on the unsettled amount", () => {
  it("agrees with decideSettlement for every unsettled amount (property)", () => {
    fc.assert(
      fc.property(inputs, (i) => {
        const base: Omit<FundsInput, "unsettled"> = {
          amount: i.amount,
          commitment: { amount: i.committed, releaseAt: i.releaseAt },
          spendable: i.spendableBelowCommitment ? i.extra % (i.committed + 1n) : i.committed + i.extra,
          now: NOW,
          settlementHorizonSeconds: HORIZON,
          validityMarginSeconds: MARGIN,
          asyncBlocker: i.asyncBlocker,
        };
        const { asyncMax, acceptMax } = fundsBounds(base);
        for (let unsettled = 0n; unsettled <= 1_000n; unsettled += 1n) {
          const mode = decideSettlement({ ...base, unsettled }).mode;
          expect(mode === "async", `async at U=${unsettled}`).to.equal(asyncMax !== undefined && unsettled <= asyncMax);
          expect(mode !== undefined, `accepted at U=${unsettled}`).to.equal(acceptMax !== undefined && unsettled <= acceptMax);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("gives the documented bounds on a worked example", () => {
    const base = {
      amount: 10n,
      commitment: { amount: 100n, releaseAt: 0n },
      spendable: 1_100n,
      now: NOW,
      settlementHorizonSeconds: HORIZON,
      validityMarginSeconds: MARGIN,
      asyncBlocker: undefined,
    };
    expect(fundsBounds(base)).to.deep.equal({ asyncMax: 90n, acceptMax: 90n });
    // Sync only: the same 90, because settling would otherwise take the cover of what is owed.
    expect(fundsBounds({ ...base, asyncBlocker: "sync_offer" })).to.deep.equal({ asyncMax: undefined, acceptMax: 90n });
    // No commitment: anything the balance covers, sync.
    expect(fundsBounds({ ...base, commitment: { amount: 0n, releaseAt: 0n } })).to.deep.equal({ asyncMax: undefined, acceptMax: 1_090n });
    // A commitment smaller than the amount: sync only while nothing is unsettled.
    expect(fundsBounds({ ...base, commitment: { amount: 5n, releaseAt: 0n } })).to.deep.equal({ asyncMax: undefined, acceptMax: 0n });
    // Not enough at all.
    expect(fundsBounds({ ...base, commitment: { amount: 0n, releaseAt: 0n }, spendable: 9n })).to.deep.equal({ asyncMax: undefined, acceptMax: undefined });
  });
});
