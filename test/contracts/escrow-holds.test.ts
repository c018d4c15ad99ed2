/**
 * SettlementEscrow — holds: two-phase payments (`authorize`, `authorizeWithSignature`, `capture`,
 * `voidHold`, `reclaim`, `refund`, `getHold`, `holdIdFor`, `hashHoldAuthorization`).
 *
 * Conventions used throughout:
 * - Every state-changing call is wrapped in `expectLedgerChange` (helpers/ledger.ts), which reads the
 *   whole escrow ledger (balances, commitments, pending withdrawals, earnings, fees, the amount still
 *   held in open holds, totalOwed) AND the real ERC-20 balances of the escrow and every actor, before
 *   and after, and asserts that exactly the listed entries moved by exactly the listed amounts —
 *   everything else is unchanged.
 * - Each ledger read also checks, for every hold ever opened, `refunded <= captured <= authorized`,
 *   and the accounting identity
 *   `sum(balances + commitments + pending + earnings) + fees + held == totalOwed == token.balanceOf(escrow)`.
 * - Boundary tests pin the next block's timestamp with `time.setNextBlockTimestamp`.
 */
import { network } from "hardhat";
import { expect } from "chai";
import type { Address, Hex } from "viem";
import { concat, encodeAbiParameters, getAddress, hashTypedData, keccak256, toHex, zeroAddress } from "viem";
import {
  escrowDomain,
  HOLD_AUTHORIZATION_TYPES,
  HoldStatus,
  nextNonce,
  ONE_DAY,
  ONE_HOUR,
  paymentFor,
  SettlementFailure,
  signHold,
  signPayment,
  type HoldAuthorization,
} from "./helpers/escrow.js";
import {
  challenge,
  DEPOSIT,
  expectHoldInvariant,
  expectLedgerChange,
  expectNoChange,
  feeOf,
  fundedFixture,
  key,
  latestTimestamp,
  readLedger,
  TOKENS,
  walletOf,
  type Ctx,
  type TokenName,
  type Wallet,
} from "./helpers/ledger.js";
import { TokenStatus } from "./helpers/registry.js";

const { viem, networkHelpers } = await network.create();

// The funded fixture, the ledger keys and the whole-ledger assertions are shared with the settlement
// tests (helpers/ledger.ts); what is specific to holds follows.
const fixture = fundedFixture(viem);

/** A typical hold in each token. */
const HOLD_AMOUNT: Record<TokenName, bigint> = {
  usdc: 10_000_000n,
  usdt: 12_345_678n,
  skl: 20n * 10n ** 18n + 1n,
  weth: 10n ** 17n + 3n,
};

const FEE_BPS = 250; // 2.5 %

// ------------------------------------------------------------------------------------------------
// Hold helpers
// ------------------------------------------------------------------------------------------------

/** The terms of `authorize` (the payer is the caller). */
interface HoldTerms {
  token: Address;
  payee: Address;
  amount: bigint;
  nonce: bigint;
  captureDeadline: bigint;
  refundDeadline: bigint;
  challengeHash: Hex;
}

/** Defaults: 10 USDC for payee, capturable for a day, refundable for a week, fresh nonce. */
async function holdTerms(c: Ctx, overrides: Partial<HoldTerms> = {}): Promise<HoldTerms> {
  const now = await latestTimestamp(c);
  return {
    token: c.tokens.usdc,
    payee: c.addr.payee,
    amount: HOLD_AMOUNT.usdc,
    nonce: nextNonce(),
    captureDeadline: now + ONE_DAY,
    refundDeadline: now + 7n * ONE_DAY,
    challengeHash: challenge("POST /inference"),
    ...overrides,
  };
}

function authorize(c: Ctx, h: HoldTerms, payer: Address = c.addr.agent) {
  return c.escrow.write.authorize([h.token, h.payee, h.amount, h.nonce, h.captureDeadline, h.refundDeadline, h.challengeHash], {
    account: payer,
  });
}

function holdIdOf(payer: Address, nonce: bigint): Hex {
  return keccak256(encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [payer, nonce]));
}

/** Opens a hold by `authorize` (agent pays by default) and returns its id and terms. */
async function openHold(c: Ctx, overrides: Partial<HoldTerms> = {}, payer: Address = c.addr.agent) {
  const terms = await holdTerms(c, overrides);
  await authorize(c, terms, payer);
  return { holdId: holdIdOf(payer, terms.nonce), terms };
}

/** A hold authorization signed by its payer (or by `signer`), usable for the next hour. */
async function signedHold(c: Ctx, overrides: Partial<HoldAuthorization> = {}, signer?: Wallet) {
  const now = await latestTimestamp(c);
  const authorization: HoldAuthorization = {
    payer: c.addr.agent,
    validBefore: now + ONE_HOUR,
    ...(await holdTerms(c)),
    ...overrides,
  };
  const signature = await signHold(signer ?? walletOf(c, authorization.payer), c.domain, authorization);
  return { authorization, signature };
}

const capture = (c: Ctx, holdId: Hex, amount: bigint, account: Address = c.addr.payee) =>
  c.escrow.write.capture([holdId, amount], { account });
const voidHold = (c: Ctx, holdId: Hex, account: Address = c.addr.payee) => c.escrow.write.voidHold([holdId], { account });
const reclaim = (c: Ctx, holdId: Hex, account: Address = c.addr.agent) => c.escrow.write.reclaim([holdId], { account });
const refund = (c: Ctx, holdId: Hex, amount: bigint, account: Address = c.addr.payee) =>
  c.escrow.write.refund([holdId, amount], { account });

/** The hold as `getHold` should return it. */
function expectedHold(
  terms: HoldTerms,
  payer: Address,
  state: { status: number; captured?: bigint; refunded?: bigint },
) {
  return {
    payer,
    captureDeadline: Number(terms.captureDeadline),
    status: state.status,
    payee: terms.payee,
    refundDeadline: Number(terms.refundDeadline),
    token: terms.token,
    authorized: terms.amount,
    captured: state.captured ?? 0n,
    refunded: state.refunded ?? 0n,
  };
}

const RANDOM_HOLD_ID = keccak256(toHex("no such hold"));

// ================================================================================================

describe("SettlementEscrow — holds", () => {
  describe("authorize (called by the payer)", () => {
    for (const t of TOKENS) {
      it(`reserves the amount from the payer's balance and opens the hold, in ${t.toUpperCase()}`, async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const terms = await holdTerms(c, { token: c.tokens[t], amount: HOLD_AMOUNT[t] });
        const holdId = holdIdOf(c.addr.agent, terms.nonce);

        const { result } = await c.escrow.simulate.authorize(
          [terms.token, terms.payee, terms.amount, terms.nonce, terms.captureDeadline, terms.refundDeadline, terms.challengeHash],
          { account: c.addr.agent },
        );
        expect(result, "returned hold id").to.equal(holdId);

        const hash = await expectLedgerChange(c, () => authorize(c, terms), {
          [key.balance(t, "agent")]: -HOLD_AMOUNT[t],
          [key.held(t)]: HOLD_AMOUNT[t],
        });
        await viem.assertions.emitWithArgs(hash, c.escrow, "HoldAuthorized", [
          holdId,
          c.addr.agent,
          c.addr.payee,
          c.tokens[t],
          HOLD_AMOUNT[t],
          Number(terms.captureDeadline),
          Number(terms.refundDeadline),
          terms.challengeHash,
        ]);
        expect(await c.escrow.read.getHold([holdId])).to.deep.equal(expectedHold(terms, c.addr.agent, { status: HoldStatus.Open }));
        expect(await c.escrow.read.isNonceUsed([c.addr.agent, terms.nonce]), "the hold consumed the nonce").to.equal(true);
      });
    }

    it("uses hold id = holdIdFor(payer, nonce) = keccak256(abi.encode(payer, nonce))", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      for (const nonce of [0n, 1n, 2n ** 255n, 2n ** 256n - 1n]) {
        expect(await c.escrow.read.holdIdFor([c.addr.agent, nonce])).to.equal(holdIdOf(c.addr.agent, nonce));
      }
      // Two payers may use the same nonce; their holds get different ids.
      const a = await openHold(c, { nonce: 42n }, c.addr.agent);
      const b = await openHold(c, { nonce: 42n }, c.addr.agent2);
      expect(a.holdId).to.not.equal(b.holdId);
      expect((await c.escrow.read.getHold([a.holdId])).payer).to.equal(c.addr.agent);
      expect((await c.escrow.read.getHold([b.holdId])).payer).to.equal(c.addr.agent2);
    });

    it("accepts a refund deadline equal to the capture deadline", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const now = await latestTimestamp(c);
      const { holdId, terms } = await openHold(c, { captureDeadline: now + ONE_HOUR, refundDeadline: now + ONE_HOUR });
      expect(await c.escrow.read.getHold([holdId])).to.deep.equal(expectedHold(terms, c.addr.agent, { status: HoldStatus.Open }));
    });

    it("accepts a capture deadline one second after the block timestamp", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const t = (await latestTimestamp(c)) + 100n;
      const terms = await holdTerms(c, { captureDeadline: t + 1n });
      await networkHelpers.time.setNextBlockTimestamp(t);
      await expectLedgerChange(c, () => authorize(c, terms), {
        [key.balance("usdc", "agent")]: -HOLD_AMOUNT.usdc,
        [key.held("usdc")]: HOLD_AMOUNT.usdc,
      });
    });

    it("can reserve the payer's entire balance", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      await expectLedgerChange(c, async () => void (await openHold(c, { amount: DEPOSIT.usdc })), {
        [key.balance("usdc", "agent")]: -DEPOSIT.usdc,
        [key.held("usdc")]: DEPOSIT.usdc,
      });
    });

    describe("reverts, changing nothing, when", () => {
      it("the payee is the zero address → InvalidPayee", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const terms = await holdTerms(c, { payee: zeroAddress });
        await expectNoChange(c, () => viem.assertions.revertWithCustomError(authorize(c, terms), c.escrow, "InvalidPayee"));
      });

      it("the payee is the escrow itself (money nobody could claim) → InvalidPayee", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const terms = await holdTerms(c, { payee: c.escrow.address });
        await expectNoChange(c, () => viem.assertions.revertWithCustomError(authorize(c, terms), c.escrow, "InvalidPayee"));
      });

      it("the capture deadline equals the block timestamp → InvalidDeadlines", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const t = (await latestTimestamp(c)) + 100n;
        const terms = await holdTerms(c, { captureDeadline: t });
        await networkHelpers.time.setNextBlockTimestamp(t);
        await viem.assertions.revertWithCustomErrorWithArgs(authorize(c, terms), c.escrow, "InvalidDeadlines", [
          t,
          terms.refundDeadline,
        ]);
      });

      it("the capture deadline is in the past → InvalidDeadlines", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const now = await latestTimestamp(c);
        const terms = await holdTerms(c, { captureDeadline: now - ONE_HOUR });
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(authorize(c, terms), c.escrow, "InvalidDeadlines", [
            now - ONE_HOUR,
            terms.refundDeadline,
          ]),
        );
      });

      it("the refund deadline is before the capture deadline → InvalidDeadlines", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const now = await latestTimestamp(c);
        const terms = await holdTerms(c, { captureDeadline: now + ONE_DAY, refundDeadline: now + ONE_DAY - 1n });
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(authorize(c, terms), c.escrow, "InvalidDeadlines", [
            now + ONE_DAY,
            now + ONE_DAY - 1n,
          ]),
        );
      });

      it("a deadline does not fit in uint48 → SafeCastOverflowedUintDowncast", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const terms = await holdTerms(c, { refundDeadline: 2n ** 48n });
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(authorize(c, terms), c.escrow, "SafeCastOverflowedUintDowncast", [
            48,
            2n ** 48n,
          ]),
        );
        const tooLate = await holdTerms(c, { captureDeadline: 2n ** 48n, refundDeadline: 2n ** 48n });
        await viem.assertions.revertWithCustomErrorWithArgs(authorize(c, tooLate), c.escrow, "SafeCastOverflowedUintDowncast", [
          48,
          2n ** 48n,
        ]);
        expect(await c.escrow.read.isNonceUsed([c.addr.agent, tooLate.nonce])).to.equal(false);
      });

      for (const [label, status] of [
        ["Deprecated", TokenStatus.Deprecated],
        ["Removed", TokenStatus.Removed],
      ] as const) {
        it(`the token is ${label} → TokenNotAccepted (new holds need an Active token)`, async () => {
          const c = await networkHelpers.loadFixture(fixture);
          await c.registry.write.setStatus([c.tokens.usdc, status]);
          const terms = await holdTerms(c);
          await expectNoChange(c, () =>
            viem.assertions.revertWithCustomErrorWithArgs(authorize(c, terms), c.escrow, "TokenNotAccepted", [
              c.tokens.usdc,
              status,
            ]),
          );
        });
      }

      it("the token was never registered → TokenNotAccepted", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const stray = getAddress((await viem.deployContract("MockSKL", [])).address);
        const terms = await holdTerms(c, { token: stray, amount: 1n });
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(authorize(c, terms), c.escrow, "TokenNotAccepted", [
            stray,
            TokenStatus.None,
          ]),
        );
      });

      it("the amount is below the token's minimum (zero always is) → AmountOutOfRange", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await c.registry.write.setAmountLimits([c.tokens.usdc, 1_000n, 50_000_000n]);
        const terms = await holdTerms(c, { amount: 999n });
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(authorize(c, terms), c.escrow, "AmountOutOfRange", [
            999n,
            1_000n,
            50_000_000n,
          ]),
        );
        const zero = await holdTerms(c, { amount: 0n });
        await viem.assertions.revertWithCustomErrorWithArgs(authorize(c, zero), c.escrow, "AmountOutOfRange", [
          0n,
          1_000n,
          50_000_000n,
        ]);
      });

      it("the amount is above the token's maximum → AmountOutOfRange", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await c.registry.write.setAmountLimits([c.tokens.usdc, 1_000n, 50_000_000n]);
        const terms = await holdTerms(c, { amount: 50_000_001n });
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(authorize(c, terms), c.escrow, "AmountOutOfRange", [
            50_000_001n,
            1_000n,
            50_000_000n,
          ]),
        );
        // Both limits themselves are accepted.
        await openHold(c, { amount: 1_000n });
        await openHold(c, { amount: 50_000_000n });
      });

      it("the payer's balance is short by one unit → InsufficientBalance(available, required)", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const terms = await holdTerms(c, { amount: DEPOSIT.usdc + 1n });
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(authorize(c, terms), c.escrow, "InsufficientBalance", [
            DEPOSIT.usdc,
            DEPOSIT.usdc + 1n,
          ]),
        );
      });

      it("only a pending withdrawal could cover it: pending withdrawals fund payments, never holds → InsufficientBalance", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await c.escrow.write.requestWithdrawal([c.tokens.usdc, 80_000_000n], { account: c.addr.agent });
        const terms = await holdTerms(c, { amount: 30_000_000n });
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(authorize(c, terms), c.escrow, "InsufficientBalance", [
            20_000_000n,
            30_000_000n,
          ]),
        );
        // Contrast: the same amount as a payment would settle, drawing on the pending withdrawal.
        const payment = await paymentFor(c.publicClient, {
          payer: c.addr.agent,
          payee: c.addr.payee,
          token: c.tokens.usdc,
          amount: 30_000_000n,
        });
        const signature = await signPayment(c.wallet.agent, c.domain, payment);
        expect(await c.escrow.read.checkPayment([payment, signature])).to.equal(SettlementFailure.None);
      });

      it("only a commitment (even to this very payee) could cover it: commitments never fund holds → InsufficientBalance", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await c.escrow.write.commit([c.tokens.usdc, c.addr.payee, 90_000_000n], { account: c.addr.agent });
        const terms = await holdTerms(c, { amount: 30_000_000n });
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(authorize(c, terms), c.escrow, "InsufficientBalance", [
            10_000_000n,
            30_000_000n,
          ]),
        );
      });

      it("the nonce was already used by another hold → NonceAlreadyUsed", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { terms } = await openHold(c);
        const again = { ...terms, amount: 1n, payee: c.addr.payee2 };
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(authorize(c, again), c.escrow, "NonceAlreadyUsed", [
            c.addr.agent,
            terms.nonce,
          ]),
        );
      });

      it("the escrow is paused → EnforcedPause", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await c.escrow.write.pause();
        const terms = await holdTerms(c);
        await expectNoChange(c, () => viem.assertions.revertWithCustomError(authorize(c, terms), c.escrow, "EnforcedPause"));
      });
    });

    describe("shares the payer's nonce space with payment authorizations", () => {
      it("a nonce used by a settled payment cannot open a hold", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const payment = await paymentFor(c.publicClient, {
          payer: c.addr.agent,
          payee: c.addr.payee,
          token: c.tokens.usdc,
          amount: 1_000n,
        });
        await c.escrow.write.settle([payment, await signPayment(c.wallet.agent, c.domain, payment)], { account: c.addr.stranger });
        const terms = await holdTerms(c, { nonce: payment.nonce });
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(authorize(c, terms), c.escrow, "NonceAlreadyUsed", [
            c.addr.agent,
            payment.nonce,
          ]),
        );
      });

      it("a nonce used by a hold cannot settle a payment", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { terms } = await openHold(c);
        const payment = await paymentFor(
          c.publicClient,
          { payer: c.addr.agent, payee: c.addr.payee, token: c.tokens.usdc, amount: 1_000n },
          { nonce: terms.nonce },
        );
        const signature = await signPayment(c.wallet.agent, c.domain, payment);
        expect(await c.escrow.read.checkPayment([payment, signature])).to.equal(SettlementFailure.NonceUsed);
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(
            c.escrow.write.settle([payment, signature], { account: c.addr.stranger }),
            c.escrow,
            "NonceAlreadyUsed",
            [c.addr.agent, terms.nonce],
          ),
        );
      });
    });
  });

  // ----------------------------------------------------------------------------------------------

  describe("authorizeWithSignature (signed by the payer, submitted by anyone)", () => {
    it("opens the payer's hold when a stranger submits the payer's signature", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const { authorization, signature } = await signedHold(c, { amount: 7_000_000n, challengeHash: challenge("signed") });
      const holdId = holdIdOf(c.addr.agent, authorization.nonce);
      const { result } = await c.escrow.simulate.authorizeWithSignature([authorization, signature], { account: c.addr.stranger });
      expect(result).to.equal(holdId);

      const hash = await expectLedgerChange(
        c,
        () => c.escrow.write.authorizeWithSignature([authorization, signature], { account: c.addr.stranger }),
        { [key.balance("usdc", "agent")]: -7_000_000n, [key.held("usdc")]: 7_000_000n },
      );
      await viem.assertions.emitWithArgs(hash, c.escrow, "HoldAuthorized", [
        holdId,
        c.addr.agent,
        c.addr.payee,
        c.tokens.usdc,
        7_000_000n,
        Number(authorization.captureDeadline),
        Number(authorization.refundDeadline),
        challenge("signed"),
      ]);
      expect(await c.escrow.read.getHold([holdId])).to.deep.equal(
        expectedHold(authorization, c.addr.agent, { status: HoldStatus.Open }),
      );
    });

    it("is still usable in the block one second before validBefore", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const t = (await latestTimestamp(c)) + 100n;
      const { authorization, signature } = await signedHold(c, { validBefore: t + 1n });
      await networkHelpers.time.setNextBlockTimestamp(t);
      await c.escrow.write.authorizeWithSignature([authorization, signature], { account: c.addr.stranger });
      expect((await c.escrow.read.getHold([holdIdOf(c.addr.agent, authorization.nonce)])).status).to.equal(HoldStatus.Open);
    });

    describe("reverts, changing nothing, when", () => {
      it("the block timestamp equals validBefore → AuthorizationExpired", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const t = (await latestTimestamp(c)) + 100n;
        const { authorization, signature } = await signedHold(c, { validBefore: t });
        await networkHelpers.time.setNextBlockTimestamp(t);
        await viem.assertions.revertWithCustomErrorWithArgs(
          c.escrow.write.authorizeWithSignature([authorization, signature], { account: c.addr.stranger }),
          c.escrow,
          "AuthorizationExpired",
          [t],
        );
      });

      it("validBefore is long past → AuthorizationExpired", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { authorization, signature } = await signedHold(c);
        await networkHelpers.time.increase(2n * ONE_HOUR);
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(
            c.escrow.write.authorizeWithSignature([authorization, signature], { account: c.addr.stranger }),
            c.escrow,
            "AuthorizationExpired",
            [authorization.validBefore],
          ),
        );
      });

      it("it is signed by someone other than the payer → InvalidSignature", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { authorization, signature } = await signedHold(c, {}, c.wallet.agent2);
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomError(
            c.escrow.write.authorizeWithSignature([authorization, signature], { account: c.addr.stranger }),
            c.escrow,
            "InvalidSignature",
          ),
        );
      });

      it("the signed terms were altered (payee swapped) → InvalidSignature", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { authorization, signature } = await signedHold(c);
        const altered = { ...authorization, payee: c.addr.stranger };
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomError(
            c.escrow.write.authorizeWithSignature([altered, signature], { account: c.addr.stranger }),
            c.escrow,
            "InvalidSignature",
          ),
        );
      });

      it("the signature is malformed (65 bytes plus one) → InvalidSignature", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { authorization, signature } = await signedHold(c);
        await viem.assertions.revertWithCustomError(
          c.escrow.write.authorizeWithSignature([authorization, concat([signature, "0x1b"])], { account: c.addr.stranger }),
          c.escrow,
          "InvalidSignature",
        );
      });

      it("the same signed hold is submitted twice → NonceAlreadyUsed", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { authorization, signature } = await signedHold(c);
        await c.escrow.write.authorizeWithSignature([authorization, signature], { account: c.addr.stranger });
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(
            c.escrow.write.authorizeWithSignature([authorization, signature], { account: c.addr.payee }),
            c.escrow,
            "NonceAlreadyUsed",
            [c.addr.agent, authorization.nonce],
          ),
        );
      });

      it("the signed payee is the escrow itself → InvalidPayee, as with authorize", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { authorization, signature } = await signedHold(c, { payee: c.escrow.address });
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomError(
            c.escrow.write.authorizeWithSignature([authorization, signature], { account: c.addr.stranger }),
            c.escrow,
            "InvalidPayee",
          ),
        );
      });

      it("the signed hold breaks a hold rule (Deprecated token) → TokenNotAccepted, as with authorize", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await c.registry.write.setStatus([c.tokens.usdc, TokenStatus.Deprecated]);
        const { authorization, signature } = await signedHold(c);
        await viem.assertions.revertWithCustomErrorWithArgs(
          c.escrow.write.authorizeWithSignature([authorization, signature], { account: c.addr.stranger }),
          c.escrow,
          "TokenNotAccepted",
          [c.tokens.usdc, TokenStatus.Deprecated],
        );
      });

      it("the escrow is paused → EnforcedPause", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { authorization, signature } = await signedHold(c);
        await c.escrow.write.pause();
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomError(
            c.escrow.write.authorizeWithSignature([authorization, signature], { account: c.addr.stranger }),
            c.escrow,
            "EnforcedPause",
          ),
        );
      });
    });

    it("hashHoldAuthorization equals viem's hashTypedData of the same message, under the documented type hash", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const { authorization } = await signedHold(c, { nonce: 2n ** 200n + 1n, challengeHash: challenge("typed") });
      expect(await c.escrow.read.hashHoldAuthorization([authorization])).to.equal(
        hashTypedData({
          domain: escrowDomain(c.domain),
          types: HOLD_AUTHORIZATION_TYPES,
          primaryType: "HoldAuthorization",
          message: authorization,
        }),
      );
      expect(await c.escrow.read.HOLD_AUTHORIZATION_TYPEHASH()).to.equal(
        keccak256(
          toHex(
            "HoldAuthorization(address payer,address payee,address token,uint256 amount,uint256 nonce,uint256 validBefore,uint256 captureDeadline,uint256 refundDeadline,bytes32 challengeHash)",
          ),
        ),
      );
    });
  });

  // ----------------------------------------------------------------------------------------------

  describe("capture", () => {
    it("by the payee: a partial capture keeps the hold Open, the rest closes it", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const { holdId, terms } = await openHold(c);

      let hash = await expectLedgerChange(c, () => capture(c, holdId, 4_000_000n), {
        [key.held("usdc")]: -4_000_000n,
        [key.earnings("usdc", "payee")]: 4_000_000n,
      });
      await viem.assertions.emitWithArgs(hash, c.escrow, "HoldCaptured", [holdId, 4_000_000n, 0n]);
      expect(await c.escrow.read.getHold([holdId])).to.deep.equal(
        expectedHold(terms, c.addr.agent, { status: HoldStatus.Open, captured: 4_000_000n }),
      );

      hash = await expectLedgerChange(c, () => capture(c, holdId, 6_000_000n), {
        [key.held("usdc")]: -6_000_000n,
        [key.earnings("usdc", "payee")]: 6_000_000n,
      });
      await viem.assertions.emitWithArgs(hash, c.escrow, "HoldCaptured", [holdId, 6_000_000n, 0n]);
      expect(await c.escrow.read.getHold([holdId])).to.deep.equal(
        expectedHold(terms, c.addr.agent, { status: HoldStatus.Closed, captured: HOLD_AMOUNT.usdc }),
      );
    });

    it("by an OPERATOR_ROLE holder: the payee (not the operator) is credited", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const { holdId, terms } = await openHold(c);
      const hash = await expectLedgerChange(c, () => capture(c, holdId, HOLD_AMOUNT.usdc, c.addr.operator), {
        [key.held("usdc")]: -HOLD_AMOUNT.usdc,
        [key.earnings("usdc", "payee")]: HOLD_AMOUNT.usdc,
      });
      await viem.assertions.emitWithArgs(hash, c.escrow, "HoldCaptured", [holdId, HOLD_AMOUNT.usdc, 0n]);
      expect(await c.escrow.read.getHold([holdId])).to.deep.equal(
        expectedHold(terms, c.addr.agent, { status: HoldStatus.Closed, captured: HOLD_AMOUNT.usdc }),
      );
    });

    for (const t of TOKENS) {
      it(`takes the operator fee from each capture, in ${t.toUpperCase()}`, async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await c.escrow.write.setFee([FEE_BPS]);
        const { holdId } = await openHold(c, { token: c.tokens[t], amount: HOLD_AMOUNT[t] });
        const part = HOLD_AMOUNT[t] / 3n;
        const fee = feeOf(part, FEE_BPS);
        expect(fee > 0n).to.equal(true);
        const hash = await expectLedgerChange(c, () => capture(c, holdId, part), {
          [key.held(t)]: -part,
          [key.earnings(t, "payee")]: part - fee,
          [key.fees(t)]: fee,
        });
        await viem.assertions.emitWithArgs(hash, c.escrow, "HoldCaptured", [holdId, part, fee]);
      });
    }

    it("is allowed in the block whose timestamp equals the capture deadline", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const { holdId, terms } = await openHold(c);
      await networkHelpers.time.setNextBlockTimestamp(terms.captureDeadline);
      await expectLedgerChange(c, () => capture(c, holdId, 1n), {
        [key.held("usdc")]: -1n,
        [key.earnings("usdc", "payee")]: 1n,
      });
    });

    it("is allowed while the escrow is paused (the payer already committed the funds)", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const { holdId } = await openHold(c);
      await c.escrow.write.pause();
      await expectLedgerChange(c, () => capture(c, holdId, 1_000n), {
        [key.held("usdc")]: -1_000n,
        [key.earnings("usdc", "payee")]: 1_000n,
      });
    });

    it("is allowed for a Deprecated token", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const { holdId } = await openHold(c);
      await c.registry.write.setStatus([c.tokens.usdc, TokenStatus.Deprecated]);
      await expectLedgerChange(c, () => capture(c, holdId, 1_000n), {
        [key.held("usdc")]: -1_000n,
        [key.earnings("usdc", "payee")]: 1_000n,
      });
    });

    describe("reverts, changing nothing, when", () => {
      it("the amount exceeds what is left → CaptureExceedsHold(amount, remaining)", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { holdId } = await openHold(c);
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(capture(c, holdId, HOLD_AMOUNT.usdc + 1n), c.escrow, "CaptureExceedsHold", [
            HOLD_AMOUNT.usdc + 1n,
            HOLD_AMOUNT.usdc,
          ]),
        );
        await capture(c, holdId, 4_000_000n);
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(capture(c, holdId, 6_000_001n), c.escrow, "CaptureExceedsHold", [
            6_000_001n,
            6_000_000n,
          ]),
        );
      });

      it("the block timestamp is one second past the capture deadline → CaptureDeadlinePassed", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { holdId, terms } = await openHold(c);
        await networkHelpers.time.setNextBlockTimestamp(terms.captureDeadline + 1n);
        await viem.assertions.revertWithCustomErrorWithArgs(capture(c, holdId, 1n), c.escrow, "CaptureDeadlinePassed", [
          Number(terms.captureDeadline),
        ]);
      });

      it("the amount is zero → ZeroAmount", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { holdId } = await openHold(c);
        await expectNoChange(c, () => viem.assertions.revertWithCustomError(capture(c, holdId, 0n), c.escrow, "ZeroAmount"));
      });

      for (const who of ["stranger", "agent"] as const) {
        it(`the caller is the ${who === "agent" ? "payer" : "stranger"} → NotAuthorizedForHold(holdId, caller)`, async () => {
          const c = await networkHelpers.loadFixture(fixture);
          const { holdId } = await openHold(c);
          await expectNoChange(c, () =>
            viem.assertions.revertWithCustomErrorWithArgs(capture(c, holdId, 1n, c.addr[who]), c.escrow, "NotAuthorizedForHold", [
              holdId,
              c.addr[who],
            ]),
          );
        });
      }

      it("the hold does not exist → UnknownHold", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await viem.assertions.revertWithCustomErrorWithArgs(capture(c, RANDOM_HOLD_ID, 1n), c.escrow, "UnknownHold", [
          RANDOM_HOLD_ID,
        ]);
      });

      it("the hold was fully captured → HoldNotOpen", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { holdId } = await openHold(c);
        await capture(c, holdId, HOLD_AMOUNT.usdc);
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(capture(c, holdId, 1n), c.escrow, "HoldNotOpen", [holdId]),
        );
      });

      it("the token was Removed → TokenNotAccepted (the hold can still be voided or reclaimed)", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { holdId } = await openHold(c);
        await c.registry.write.setStatus([c.tokens.usdc, TokenStatus.Removed]);
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(capture(c, holdId, 1n), c.escrow, "TokenNotAccepted", [
            c.tokens.usdc,
            TokenStatus.Removed,
          ]),
        );
      });
    });
  });

  // ----------------------------------------------------------------------------------------------

  describe("voidHold", () => {
    for (const who of ["payee", "operator"] as const) {
      it(`by the ${who}: releases the uncaptured rest to the payer and closes the hold`, async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { holdId, terms } = await openHold(c);
        await capture(c, holdId, 4_000_000n);
        const hash = await expectLedgerChange(c, () => voidHold(c, holdId, c.addr[who]), {
          [key.held("usdc")]: -6_000_000n,
          [key.balance("usdc", "agent")]: 6_000_000n,
        });
        await viem.assertions.emitWithArgs(hash, c.escrow, "HoldVoided", [holdId, 6_000_000n]);
        expect(await c.escrow.read.getHold([holdId])).to.deep.equal(
          expectedHold(terms, c.addr.agent, { status: HoldStatus.Closed, captured: 4_000_000n }),
        );
      });
    }

    it("releases the whole amount when nothing was captured", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const { holdId } = await openHold(c);
      const hash = await expectLedgerChange(c, () => voidHold(c, holdId), {
        [key.held("usdc")]: -HOLD_AMOUNT.usdc,
        [key.balance("usdc", "agent")]: HOLD_AMOUNT.usdc,
      });
      await viem.assertions.emitWithArgs(hash, c.escrow, "HoldVoided", [holdId, HOLD_AMOUNT.usdc]);
    });

    it("works while paused, for a Removed token, and after the capture deadline", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const { holdId, terms } = await openHold(c);
      await c.escrow.write.pause();
      await c.registry.write.setStatus([c.tokens.usdc, TokenStatus.Removed]);
      await networkHelpers.time.increaseTo(terms.captureDeadline + 1n);
      await expectLedgerChange(c, () => voidHold(c, holdId, c.addr.operator), {
        [key.held("usdc")]: -HOLD_AMOUNT.usdc,
        [key.balance("usdc", "agent")]: HOLD_AMOUNT.usdc,
      });
    });

    describe("reverts, changing nothing, when", () => {
      it("the hold is already voided → HoldNotOpen (and capture is no longer possible either)", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { holdId } = await openHold(c);
        await voidHold(c, holdId);
        await expectNoChange(c, async () => {
          await viem.assertions.revertWithCustomErrorWithArgs(voidHold(c, holdId), c.escrow, "HoldNotOpen", [holdId]);
          await viem.assertions.revertWithCustomErrorWithArgs(capture(c, holdId, 1n), c.escrow, "HoldNotOpen", [holdId]);
          await viem.assertions.revertWithCustomErrorWithArgs(voidHold(c, holdId, c.addr.operator), c.escrow, "HoldNotOpen", [
            holdId,
          ]);
        });
      });

      for (const who of ["stranger", "agent"] as const) {
        it(`the caller is the ${who === "agent" ? "payer" : "stranger"} → NotAuthorizedForHold(holdId, caller)`, async () => {
          const c = await networkHelpers.loadFixture(fixture);
          const { holdId } = await openHold(c);
          await expectNoChange(c, () =>
            viem.assertions.revertWithCustomErrorWithArgs(voidHold(c, holdId, c.addr[who]), c.escrow, "NotAuthorizedForHold", [
              holdId,
              c.addr[who],
            ]),
          );
        });
      }

      it("the hold does not exist → UnknownHold", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await viem.assertions.revertWithCustomErrorWithArgs(voidHold(c, RANDOM_HOLD_ID), c.escrow, "UnknownHold", [RANDOM_HOLD_ID]);
      });
    });
  });

  // ----------------------------------------------------------------------------------------------

  describe("reclaim", () => {
    it("lets the payer take back the uncaptured rest one second after the capture deadline", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const { holdId, terms } = await openHold(c);
      await capture(c, holdId, 3_000_000n);
      await networkHelpers.time.setNextBlockTimestamp(terms.captureDeadline + 1n);
      const hash = await expectLedgerChange(c, () => reclaim(c, holdId), {
        [key.held("usdc")]: -7_000_000n,
        [key.balance("usdc", "agent")]: 7_000_000n,
      });
      await viem.assertions.emitWithArgs(hash, c.escrow, "HoldReclaimed", [holdId, 7_000_000n]);
      expect(await c.escrow.read.getHold([holdId])).to.deep.equal(
        expectedHold(terms, c.addr.agent, { status: HoldStatus.Closed, captured: 3_000_000n }),
      );
    });

    it("works while paused and for a Removed token", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const { holdId, terms } = await openHold(c);
      await c.escrow.write.pause();
      await c.registry.write.setStatus([c.tokens.usdc, TokenStatus.Removed]);
      await networkHelpers.time.increaseTo(terms.captureDeadline + 1n);
      const hash = await expectLedgerChange(c, () => reclaim(c, holdId), {
        [key.held("usdc")]: -HOLD_AMOUNT.usdc,
        [key.balance("usdc", "agent")]: HOLD_AMOUNT.usdc,
      });
      await viem.assertions.emitWithArgs(hash, c.escrow, "HoldReclaimed", [holdId, HOLD_AMOUNT.usdc]);
    });

    describe("reverts, changing nothing, when", () => {
      it("the block timestamp equals the capture deadline → CaptureDeadlineNotReached", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { holdId, terms } = await openHold(c);
        await networkHelpers.time.setNextBlockTimestamp(terms.captureDeadline);
        await viem.assertions.revertWithCustomErrorWithArgs(reclaim(c, holdId), c.escrow, "CaptureDeadlineNotReached", [
          Number(terms.captureDeadline),
        ]);
      });

      for (const who of ["payee", "operator", "stranger"] as const) {
        it(`the caller is the ${who}, even after the deadline → NotAuthorizedForHold(holdId, caller)`, async () => {
          const c = await networkHelpers.loadFixture(fixture);
          const { holdId, terms } = await openHold(c);
          await networkHelpers.time.increaseTo(terms.captureDeadline + 1n);
          await expectNoChange(c, () =>
            viem.assertions.revertWithCustomErrorWithArgs(reclaim(c, holdId, c.addr[who]), c.escrow, "NotAuthorizedForHold", [
              holdId,
              c.addr[who],
            ]),
          );
        });
      }

      it("the hold was fully captured or voided → HoldNotOpen", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const captured = await openHold(c);
        const voided = await openHold(c);
        await capture(c, captured.holdId, HOLD_AMOUNT.usdc);
        await voidHold(c, voided.holdId);
        await networkHelpers.time.increaseTo(captured.terms.captureDeadline + ONE_HOUR);
        await expectNoChange(c, async () => {
          for (const holdId of [captured.holdId, voided.holdId]) {
            await viem.assertions.revertWithCustomErrorWithArgs(reclaim(c, holdId), c.escrow, "HoldNotOpen", [holdId]);
          }
        });
      });

      it("the hold was already reclaimed → HoldNotOpen", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { holdId, terms } = await openHold(c);
        await networkHelpers.time.increaseTo(terms.captureDeadline + 1n);
        await reclaim(c, holdId);
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(reclaim(c, holdId), c.escrow, "HoldNotOpen", [holdId]),
        );
      });

      it("the hold does not exist → UnknownHold", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await viem.assertions.revertWithCustomErrorWithArgs(reclaim(c, RANDOM_HOLD_ID), c.escrow, "UnknownHold", [RANDOM_HOLD_ID]);
      });
    });
  });

  // ----------------------------------------------------------------------------------------------

  describe("refund", () => {
    it("moves a captured amount from the payee's earnings back to the payer's balance", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const { holdId, terms } = await openHold(c);
      await capture(c, holdId, 6_000_000n);
      const hash = await expectLedgerChange(c, () => refund(c, holdId, 2_500_000n), {
        [key.earnings("usdc", "payee")]: -2_500_000n,
        [key.balance("usdc", "agent")]: 2_500_000n,
      });
      await viem.assertions.emitWithArgs(hash, c.escrow, "HoldRefunded", [holdId, 2_500_000n]);
      expect(await c.escrow.read.getHold([holdId])).to.deep.equal(
        expectedHold(terms, c.addr.agent, { status: HoldStatus.Open, captured: 6_000_000n, refunded: 2_500_000n }),
      );
    });

    it("works on a Closed hold, while paused, for a Removed token, up to the refund deadline inclusive", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const { holdId, terms } = await openHold(c);
      await capture(c, holdId, HOLD_AMOUNT.usdc);
      expect((await c.escrow.read.getHold([holdId])).status).to.equal(HoldStatus.Closed);
      await c.escrow.write.pause();
      await c.registry.write.setStatus([c.tokens.usdc, TokenStatus.Removed]);
      await networkHelpers.time.setNextBlockTimestamp(terms.refundDeadline);
      const hash = await expectLedgerChange(c, () => refund(c, holdId, HOLD_AMOUNT.usdc), {
        [key.earnings("usdc", "payee")]: -HOLD_AMOUNT.usdc,
        [key.balance("usdc", "agent")]: HOLD_AMOUNT.usdc,
      });
      await viem.assertions.emitWithArgs(hash, c.escrow, "HoldRefunded", [holdId, HOLD_AMOUNT.usdc]);
      expect(await c.escrow.read.getHold([holdId])).to.deep.equal(
        expectedHold(terms, c.addr.agent, { status: HoldStatus.Closed, captured: HOLD_AMOUNT.usdc, refunded: HOLD_AMOUNT.usdc }),
      );
    });

    it("works after the hold was voided, for what had been captured", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const { holdId } = await openHold(c);
      await capture(c, holdId, 4_000_000n);
      await voidHold(c, holdId);
      await expectLedgerChange(c, () => refund(c, holdId, 4_000_000n), {
        [key.earnings("usdc", "payee")]: -4_000_000n,
        [key.balance("usdc", "agent")]: 4_000_000n,
      });
    });

    it("returns the full captured amount; the payee bears the fee already taken", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      await c.escrow.write.setFee([FEE_BPS]);
      const { holdId } = await openHold(c);
      const fee = feeOf(HOLD_AMOUNT.usdc, FEE_BPS);
      await capture(c, holdId, HOLD_AMOUNT.usdc);
      // The payee's earnings from this hold alone (amount - fee) cannot cover a full refund...
      await viem.assertions.revertWithCustomErrorWithArgs(refund(c, holdId, HOLD_AMOUNT.usdc), c.escrow, "InsufficientEarnings", [
        HOLD_AMOUNT.usdc - fee,
        HOLD_AMOUNT.usdc,
      ]);
      // ...but they can once other earnings cover the fee; the accrued fee itself stays with the operator.
      const other = await openHold(c, {}, c.addr.agent2);
      await capture(c, other.holdId, fee * 2n);
      await expectLedgerChange(c, () => refund(c, holdId, HOLD_AMOUNT.usdc), {
        [key.earnings("usdc", "payee")]: -HOLD_AMOUNT.usdc,
        [key.balance("usdc", "agent")]: HOLD_AMOUNT.usdc,
      });
    });

    describe("reverts, changing nothing, when", () => {
      it("the block timestamp is one second past the refund deadline → RefundDeadlinePassed", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { holdId, terms } = await openHold(c);
        await capture(c, holdId, 1_000n);
        await networkHelpers.time.setNextBlockTimestamp(terms.refundDeadline + 1n);
        await viem.assertions.revertWithCustomErrorWithArgs(refund(c, holdId, 1_000n), c.escrow, "RefundDeadlinePassed", [
          Number(terms.refundDeadline),
        ]);
      });

      it("the amount exceeds captured minus already refunded → RefundExceedsCaptured(amount, refundable)", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { holdId } = await openHold(c);
        // Other earnings exist, so only the hold's own bookkeeping can stop the refund.
        const other = await openHold(c, {}, c.addr.agent2);
        await capture(c, other.holdId, HOLD_AMOUNT.usdc);
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(refund(c, holdId, 1n), c.escrow, "RefundExceedsCaptured", [1n, 0n]),
        );
        await capture(c, holdId, 5_000_000n);
        await refund(c, holdId, 2_000_000n);
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(refund(c, holdId, 3_000_001n), c.escrow, "RefundExceedsCaptured", [
            3_000_001n,
            3_000_000n,
          ]),
        );
        await refund(c, holdId, 3_000_000n);
        await viem.assertions.revertWithCustomErrorWithArgs(refund(c, holdId, 1n), c.escrow, "RefundExceedsCaptured", [1n, 0n]);
      });

      it("the payee already claimed its earnings → InsufficientEarnings(earnings, required)", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { holdId } = await openHold(c);
        await capture(c, holdId, 5_000_000n);
        await expectLedgerChange(c, () => c.escrow.write.claimEarnings([c.tokens.usdc, c.addr.payee], { account: c.addr.payee }), {
          [key.earnings("usdc", "payee")]: -5_000_000n,
          [key.wallet("usdc", "payee")]: 5_000_000n,
          [key.totalOwed("usdc")]: -5_000_000n,
          [key.escrowTokens("usdc")]: -5_000_000n,
        });
        await expectNoChange(c, () =>
          viem.assertions.revertWithCustomErrorWithArgs(refund(c, holdId, 1_000n), c.escrow, "InsufficientEarnings", [0n, 1_000n]),
        );
      });

      it("the amount is zero → ZeroAmount", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { holdId } = await openHold(c);
        await capture(c, holdId, 1_000n);
        await expectNoChange(c, () => viem.assertions.revertWithCustomError(refund(c, holdId, 0n), c.escrow, "ZeroAmount"));
      });

      for (const who of ["operator", "agent", "stranger"] as const) {
        it(`the caller is the ${who === "agent" ? "payer" : who} (only the payee refunds) → NotAuthorizedForHold`, async () => {
          const c = await networkHelpers.loadFixture(fixture);
          const { holdId } = await openHold(c);
          await capture(c, holdId, 1_000n);
          await expectNoChange(c, () =>
            viem.assertions.revertWithCustomErrorWithArgs(refund(c, holdId, 1_000n, c.addr[who]), c.escrow, "NotAuthorizedForHold", [
              holdId,
              c.addr[who],
            ]),
          );
        });
      }

      it("the hold does not exist → UnknownHold", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await viem.assertions.revertWithCustomErrorWithArgs(refund(c, RANDOM_HOLD_ID, 1n), c.escrow, "UnknownHold", [RANDOM_HOLD_ID]);
      });
    });
  });

  // ----------------------------------------------------------------------------------------------

  describe("getHold and the hold invariant", () => {
    it("returns all zero fields for an unknown hold", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      expect(await c.escrow.read.getHold([RANDOM_HOLD_ID])).to.deep.equal({
        payer: zeroAddress,
        captureDeadline: 0,
        status: HoldStatus.None,
        payee: zeroAddress,
        refundDeadline: 0,
        token: zeroAddress,
        authorized: 0n,
        captured: 0n,
        refunded: 0n,
      });
    });

    it("keeps refunded <= captured <= authorized and the books balanced through a full lifecycle", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      await c.escrow.write.setFee([FEE_BPS]);
      // Give the payee unrelated earnings so refunds are limited only by the hold itself.
      const cushion = await openHold(c, { amount: 50_000_000n }, c.addr.agent2);
      await capture(c, cushion.holdId, 50_000_000n);

      const { holdId, terms } = await openHold(c, { amount: 100_000n });
      const steps: [string, () => Promise<unknown>, { status: number; captured: bigint; refunded: bigint }][] = [
        ["capture 30", () => capture(c, holdId, 30_000n), { status: HoldStatus.Open, captured: 30_000n, refunded: 0n }],
        ["refund 10", () => refund(c, holdId, 10_000n), { status: HoldStatus.Open, captured: 30_000n, refunded: 10_000n }],
        ["capture 50", () => capture(c, holdId, 50_000n, c.addr.operator), { status: HoldStatus.Open, captured: 80_000n, refunded: 10_000n }],
        ["refund 20", () => refund(c, holdId, 20_000n), { status: HoldStatus.Open, captured: 80_000n, refunded: 30_000n }],
        ["void (releases 20)", () => voidHold(c, holdId), { status: HoldStatus.Closed, captured: 80_000n, refunded: 30_000n }],
        ["refund the remaining 50", () => refund(c, holdId, 50_000n), { status: HoldStatus.Closed, captured: 80_000n, refunded: 80_000n }],
      ];
      const owedBefore = await c.escrow.read.totalOwed([c.tokens.usdc]);
      for (const [label, step, state] of steps) {
        await step();
        const hold = await c.escrow.read.getHold([holdId]);
        expect(hold, label).to.deep.equal(expectedHold(terms, c.addr.agent, state));
        expectHoldInvariant(holdId, hold);
        await readLedger(c); // checks the accounting identity for every hold
      }
      expect(await c.escrow.read.totalOwed([c.tokens.usdc]), "no tokens entered or left").to.equal(owedBefore);
      // Net effect for the payer: paid 80, got 80 back (plus the voided 20) → whole again.
      expect(await c.escrow.read.balanceOf([c.tokens.usdc, c.addr.agent])).to.equal(DEPOSIT.usdc);
      await viem.assertions.revertWithCustomErrorWithArgs(refund(c, holdId, 1n), c.escrow, "RefundExceedsCaptured", [1n, 0n]);
    });
  });
});
