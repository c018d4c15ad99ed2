/**
 * The serve-first policy (gateway/payments/serve-first.ts): which payments on credit may call the
 * upstream before they are recorded. Each rule exists to keep a likely refusal from costing an
 * upstream call; these tests pin them.
 */
import { expect } from "chai";
import type { Address } from "viem";
import { AFTER_DATABASE_FAILURE_MS, HEADROOM_PAYMENTS, TIGHT_FOR_MS, createServeFirstPolicy, hasRoom } from "../../gateway/payments/serve-first.js";
import type { FundsAccount } from "../../gateway/schemes/types.js";

const account = (payer: string): FundsAccount => ({
  chainId: 324705682,
  scheme: "escrow",
  token: "0x2e08028E3C4c2356572E096d8EF835cD5C6030bD" as Address,
  payer: payer as Address,
  payee: "0x90F79bf6EB2c4f870365E785982E1f101E93b906" as Address,
});
const alice = account("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
const bob = account("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC");

describe("serve-first policy", () => {
  let clock = 1_000_000;
  const now = () => clock;

  it("serves a new payment first and refuses its twin as in flight until it is over; then the key is checked first", () => {
    const policy = createServeFirstPolicy({ now });
    expect(policy.decide("k1", alice)).to.equal("serve-first");
    expect(policy.decide("k1", alice)).to.equal("in-flight");
    policy.finished("k1");
    // A retry or the same authorization for another request: the recording decides, before any upstream call.
    expect(policy.decide("k1", alice)).to.equal("check-first");
    expect(policy.decide("k2", alice)).to.equal("serve-first");
  });

  it("checks an account first once a recording shows it near the end of its credit, until one shows room again", () => {
    const policy = createServeFirstPolicy({ now });
    policy.recorded("a1", alice, false);
    expect(policy.decide("a2", alice)).to.equal("check-first");
    expect(policy.decide("b1", bob), "other accounts are not affected").to.equal("serve-first");
    policy.recorded("a2", alice, true);
    expect(policy.decide("a3", alice)).to.equal("serve-first");
  });

  it("forgets a tight account after a while, so a payer who deposited more is not slowed down for good", () => {
    const policy = createServeFirstPolicy({ now });
    policy.recorded("a1", alice, false);
    clock += TIGHT_FOR_MS + 1;
    expect(policy.decide("a2", alice)).to.equal("serve-first");
  });

  it("checks everything first for a few seconds after the database failed a recording, or until one succeeds", () => {
    const policy = createServeFirstPolicy({ now });
    policy.databaseFailed();
    expect(policy.decide("a1", alice)).to.equal("check-first");
    expect(policy.decide("b1", bob)).to.equal("check-first");
    clock += AFTER_DATABASE_FAILURE_MS + 1;
    expect(policy.decide("b2", bob)).to.equal("serve-first");
    policy.databaseFailed();
    policy.recorded("a1", alice, true);
    expect(policy.decide("a4", alice)).to.equal("serve-first");
  });

  it("keeps a key in flight when its recording lands before its request is over", () => {
    const policy = createServeFirstPolicy({ now });
    expect(policy.decide("k1", alice)).to.equal("serve-first");
    policy.recorded("k1", alice, true);
    expect(policy.decide("k1", alice)).to.equal("in-flight");
    policy.finished("k1");
    expect(policy.decide("k1", alice)).to.equal("check-first");
  });

  it("calls it room only when HEADROOM_PAYMENTS more payments of the amount fit under the credit bound", () => {
    const amount = 10n;
    const exactly = amount * (HEADROOM_PAYMENTS + 1n);
    expect(hasRoom(exactly, 0n, amount)).to.equal(true);
    expect(hasRoom(exactly - 1n, 0n, amount)).to.equal(false);
    expect(hasRoom(exactly + 5n, 5n, amount)).to.equal(true);
    expect(hasRoom(exactly + 5n, 6n, amount)).to.equal(false);
    expect(hasRoom(undefined, 0n, amount), "no credit form at all").to.equal(false);
  });
});
