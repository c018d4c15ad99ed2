/**
 * SettlementEscrow — payment authorizations (`settle`, `settleBatch`, `checkPayment`, unordered
 * nonces, EIP-712 hashing) and how settlements draw on commitments, balances and pending withdrawals.
 *
 * Conventions used throughout:
 * - Every state-changing call is wrapped in `expectLedgerChange` (helpers/ledger.ts), which reads the
 *   whole escrow ledger (balances, commitments, pending withdrawals, open holds, earnings, fees, totalOwed)
 *   AND the real ERC-20 balances of the escrow and every actor, before and after, and asserts that
 *   exactly the listed entries moved by exactly the listed amounts — everything else must be unchanged.
 *   Each read also checks, for every hold ever opened, `refunded <= captured <= authorized`, and the
 *   accounting identity
 *   `sum(balances + commitments + pending + earnings) + held + fees == totalOwed == token.balanceOf(escrow)`.
 * - Settlements are submitted by an unrelated `stranger` unless the test says otherwise.
 * - Boundary tests pin the next block's timestamp with `time.setNextBlockTimestamp`.
 */
import { globalOptions, network } from "hardhat";
import { expect } from "chai";
import type { Address, Hex } from "viem";
import {
  concat,
  getAddress,
  hashDomain,
  hashTypedData,
  hexToBigInt,
  hexToNumber,
  isAddressEqual,
  keccak256,
  numberToHex,
  parseEventLogs,
  parseSignature,
  serializeCompactSignature,
  signatureToCompactSignature,
  slice,
  toHex,
  zeroAddress,
} from "viem";
import {
  escrowDomain,
  ESCROW_DOMAIN_NAME,
  ESCROW_DOMAIN_VERSION,
  ONE_HOUR,
  PAYMENT_AUTHORIZATION_TYPES,
  paymentFor,
  SettlementFailure,
  signPayment,
  WITHDRAWAL_DELAY,
  type PaymentAuthorization,
} from "./helpers/escrow.js";
import {
  challenge,
  DEPOSIT,
  expectLedgerChange,
  feeOf,
  fundedFixture,
  key,
  latestTimestamp,
  TOKENS,
  walletOf,
  type AccountName,
  type Ctx,
  type TokenName,
  type Wallet,
} from "./helpers/ledger.js";
import { TokenStatus } from "./helpers/registry.js";

const { viem, networkHelpers } = await network.create();

// The funded fixture, the ledger keys and the whole-ledger assertions are shared with the hold tests
// (helpers/ledger.ts); what is specific to payments follows.
const fixture = fundedFixture(viem);

/** A typical per-call price in each token, deliberately not a round number. */
const PRICE: Record<TokenName, bigint> = {
  usdc: 1_234_567n,
  usdt: 2_345_679n,
  skl: 3n * 10n ** 18n + 7n,
  weth: 10n ** 15n + 3n,
};

const FEE_BPS = 250; // 2.5 %

interface SignedPayment {
  authorization: PaymentAuthorization;
  signature: Hex;
}

// ------------------------------------------------------------------------------------------------
// Expected ledger movements
// ------------------------------------------------------------------------------------------------

/** Accumulates expected deltas. */
function addTo(deltas: Record<string, bigint>, k: string, v: bigint) {
  deltas[k] = (deltas[k] ?? 0n) + v;
}

/** The ledger movement of one settled payment. */
function settlementDelta(
  deltas: Record<string, bigint>,
  t: TokenName,
  payer: AccountName,
  payee: AccountName,
  amount: bigint,
  bps = 0,
) {
  const fee = feeOf(amount, bps);
  addTo(deltas, key.balance(t, payer), -amount);
  addTo(deltas, key.earnings(t, payee), amount - fee);
  addTo(deltas, key.fees(t), fee);
  return deltas;
}

// ------------------------------------------------------------------------------------------------
// Payment helpers
// ------------------------------------------------------------------------------------------------

/**
 * A payment signed by its payer (or by `signer`), valid for the next hour. Defaults: agent pays
 * payee 1.234567 USDC with a fresh nonce.
 */
async function pay(
  c: Ctx,
  overrides: Partial<PaymentAuthorization> = {},
  signer?: Wallet,
): Promise<SignedPayment> {
  const authorization = await paymentFor(
    c.publicClient,
    { payer: c.addr.agent, payee: c.addr.payee, token: c.tokens.usdc, amount: PRICE.usdc },
    overrides,
  );
  const signature = await signPayment(signer ?? walletOf(c, authorization.payer), c.domain, authorization);
  return { authorization, signature };
}

function settle(c: Ctx, p: SignedPayment, account: Address = c.addr.stranger) {
  return c.escrow.write.settle([p.authorization, p.signature], { account });
}

function settleBatch(c: Ctx, payments: SignedPayment[], account: Address = c.addr.stranger) {
  return c.escrow.write.settleBatch([payments], { account });
}

async function simulateBatch(c: Ctx, payments: SignedPayment[]): Promise<number[]> {
  const { result } = await c.escrow.simulate.settleBatch([payments], { account: c.addr.stranger });
  return [...result];
}

async function receiptOf(c: Ctx, hash: Hex) {
  const receipt = await c.publicClient.waitForTransactionReceipt({ hash });
  expect(receipt.status).to.equal("success");
  return receipt;
}

/** Every PaymentSettled emitted by the escrow in `hash`, in order. */
async function settledEvents(c: Ctx, hash: Hex) {
  const { logs } = await receiptOf(c, hash);
  return parseEventLogs({
    abi: c.escrow.abi,
    eventName: "PaymentSettled",
    logs: logs.filter((l) => isAddressEqual(l.address, c.escrow.address)),
  }).map((l) => l.args);
}

/** Every PaymentFailed emitted by the escrow in `hash`, in order. */
async function failedEvents(c: Ctx, hash: Hex) {
  const { logs } = await receiptOf(c, hash);
  return parseEventLogs({
    abi: c.escrow.abi,
    eventName: "PaymentFailed",
    logs: logs.filter((l) => isAddressEqual(l.address, c.escrow.address)),
  }).map((l) => l.args);
}

function settledEventFor(p: SignedPayment, bps = 0) {
  const a = p.authorization;
  return {
    payer: a.payer,
    payee: a.payee,
    token: a.token,
    nonce: a.nonce,
    amount: a.amount,
    fee: feeOf(a.amount, bps),
    challengeHash: a.challengeHash,
  };
}

// ------------------------------------------------------------------------------------------------
// Signature mutations
// ------------------------------------------------------------------------------------------------

/** secp256k1 group order. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** The other valid ECDSA signature of the same message: s' = n - s, v flipped. */
function highSTwin(signature: Hex): Hex {
  const r = slice(signature, 0, 32);
  const s = hexToBigInt(slice(signature, 32, 64));
  const v = hexToNumber(slice(signature, 64, 65));
  return concat([r, numberToHex(SECP256K1_N - s, { size: 32 }), numberToHex(v === 27 ? 28 : 27, { size: 1 })]);
}

/** Raw `ecrecover` through the precompile, which (unlike the escrow) accepts high-s signatures. */
async function rawEcrecover(c: Ctx, digest: Hex, signature: Hex): Promise<Address> {
  const v = hexToNumber(slice(signature, 64, 65));
  const { data } = await c.publicClient.call({
    to: "0x0000000000000000000000000000000000000001",
    data: concat([digest, numberToHex(v, { size: 32 }), slice(signature, 0, 32), slice(signature, 32, 64)]),
  });
  return getAddress(slice(data!, 12, 32));
}

// ------------------------------------------------------------------------------------------------
// Rejections: each is checked through `settle` (revert), `checkPayment` (enum) and `settleBatch`
// (skipped entry).
// ------------------------------------------------------------------------------------------------

interface Rejection {
  /** Completes "rejects a payment when ..." */
  when: string;
  failure: number;
  error:
    | "InvalidPayee"
    | "AuthorizationNotYetValid"
    | "AuthorizationExpired"
    | "TokenNotAccepted"
    | "AmountOutOfRange"
    | "NonceAlreadyUsed"
    | "InsufficientFunds"
    | "InvalidSignature";
  /** Prepares chain state if needed; returns the bad payment and the revert's expected arguments. */
  prepare: (c: Ctx) => Promise<{ payment: SignedPayment; args: readonly unknown[] }>;
}

const SKL_MIN = 1_000n;
const SKL_MAX = 10n ** 21n;

const REJECTIONS: Rejection[] = [
  {
    when: "the payee is the zero address",
    failure: SettlementFailure.InvalidPayee,
    error: "InvalidPayee",
    prepare: async (c) => ({ payment: await pay(c, { payee: zeroAddress }), args: [] }),
  },
  {
    when: "the payee is the escrow itself (money nobody could claim)",
    failure: SettlementFailure.InvalidPayee,
    error: "InvalidPayee",
    prepare: async (c) => ({ payment: await pay(c, { payee: c.escrow.address }), args: [] }),
  },
  {
    when: "validAfter is still in the future",
    failure: SettlementFailure.NotYetValid,
    error: "AuthorizationNotYetValid",
    prepare: async (c) => {
      const now = await latestTimestamp(c);
      const payment = await pay(c, { validAfter: now + ONE_HOUR, validBefore: now + 2n * ONE_HOUR });
      return { payment, args: [now + ONE_HOUR] };
    },
  },
  {
    when: "validBefore has passed",
    failure: SettlementFailure.Expired,
    error: "AuthorizationExpired",
    prepare: async (c) => {
      const validBefore = await latestTimestamp(c);
      return { payment: await pay(c, { validBefore }), args: [validBefore] };
    },
  },
  {
    when: "the token was never registered",
    failure: SettlementFailure.TokenNotAccepted,
    error: "TokenNotAccepted",
    prepare: async (c) => {
      const stray = await viem.deployContract("MockSKL", []);
      const token = getAddress(stray.address);
      return { payment: await pay(c, { token, amount: 1n }), args: [token, TokenStatus.None] };
    },
  },
  {
    when: "the token was Removed from the registry",
    failure: SettlementFailure.TokenNotAccepted,
    error: "TokenNotAccepted",
    prepare: async (c) => {
      await c.registry.write.setStatus([c.tokens.usdt, TokenStatus.Removed]);
      const payment = await pay(c, { token: c.tokens.usdt, amount: PRICE.usdt });
      return { payment, args: [c.tokens.usdt, TokenStatus.Removed] };
    },
  },
  {
    when: "the amount is below the token's minimum",
    failure: SettlementFailure.AmountOutOfRange,
    error: "AmountOutOfRange",
    prepare: async (c) => {
      await c.registry.write.setAmountLimits([c.tokens.skl, SKL_MIN, SKL_MAX]);
      const payment = await pay(c, { token: c.tokens.skl, amount: SKL_MIN - 1n });
      return { payment, args: [SKL_MIN - 1n, SKL_MIN, SKL_MAX] };
    },
  },
  {
    when: "the amount is above the token's maximum (checked before funds)",
    failure: SettlementFailure.AmountOutOfRange,
    error: "AmountOutOfRange",
    prepare: async (c) => {
      await c.registry.write.setAmountLimits([c.tokens.skl, SKL_MIN, SKL_MAX]);
      const payment = await pay(c, { token: c.tokens.skl, amount: SKL_MAX + 1n });
      return { payment, args: [SKL_MAX + 1n, SKL_MIN, SKL_MAX] };
    },
  },
  {
    when: "its nonce was already used by a settled payment",
    failure: SettlementFailure.NonceUsed,
    error: "NonceAlreadyUsed",
    prepare: async (c) => {
      const first = await pay(c, { token: c.tokens.usdt, amount: 1n });
      await settle(c, first);
      const nonce = first.authorization.nonce;
      const payment = await pay(c, { token: c.tokens.usdt, amount: 2n, nonce });
      return { payment, args: [c.addr.agent, nonce] };
    },
  },
  {
    when: "its nonce was already used by a hold (payments and holds share the nonce space)",
    failure: SettlementFailure.NonceUsed,
    error: "NonceAlreadyUsed",
    prepare: async (c) => {
      const nonce = (7n << 8n) | 42n;
      const now = await latestTimestamp(c);
      await c.escrow.write.authorize(
        [c.tokens.usdt, c.addr.payee, 1_000n, nonce, now + ONE_HOUR, now + ONE_HOUR, challenge("hold")],
        { account: c.addr.agent },
      );
      return { payment: await pay(c, { nonce }), args: [c.addr.agent, nonce] };
    },
  },
  {
    when: "the payer's spendable funds are short by one unit",
    failure: SettlementFailure.InsufficientFunds,
    error: "InsufficientFunds",
    prepare: async (c) => {
      const payment = await pay(c, { token: c.tokens.weth, amount: DEPOSIT.weth + 1n });
      return { payment, args: [DEPOSIT.weth, DEPOSIT.weth + 1n] };
    },
  },
  {
    when: "it is signed by someone other than the payer",
    failure: SettlementFailure.InvalidSignature,
    error: "InvalidSignature",
    prepare: async (c) => ({ payment: await pay(c, {}, c.wallet.agent2), args: [] }),
  },
  {
    when: "the signature covers a different amount",
    failure: SettlementFailure.InvalidSignature,
    error: "InvalidSignature",
    prepare: async (c) => {
      const signed = await pay(c, { amount: 1_000n });
      const payment = { ...signed, authorization: { ...signed.authorization, amount: 1_001n } };
      return { payment, args: [] };
    },
  },
  {
    when: "the signature covers a different challengeHash",
    failure: SettlementFailure.InvalidSignature,
    error: "InvalidSignature",
    prepare: async (c) => {
      const signed = await pay(c, { challengeHash: challenge("request A") });
      const payment = { ...signed, authorization: { ...signed.authorization, challengeHash: challenge("request B") } };
      return { payment, args: [] };
    },
  },
  {
    when: "the signature was made for another escrow's EIP-712 domain",
    failure: SettlementFailure.InvalidSignature,
    error: "InvalidSignature",
    prepare: async (c) => {
      const authorization = await paymentFor(c.publicClient, {
        payer: c.addr.agent,
        payee: c.addr.payee,
        token: c.tokens.usdc,
        amount: PRICE.usdc,
      });
      const otherDomain = { chainId: c.chainId, verifyingContract: c.registry.address };
      const signature = await signPayment(c.wallet.agent, otherDomain, authorization);
      return { payment: { authorization, signature }, args: [] };
    },
  },
  {
    when: "the signature is empty",
    failure: SettlementFailure.InvalidSignature,
    error: "InvalidSignature",
    prepare: async (c) => ({ payment: { ...(await pay(c)), signature: "0x" }, args: [] }),
  },
  {
    when: "the signature is in 64-byte compact form (EIP-2098), which is not accepted",
    failure: SettlementFailure.InvalidSignature,
    error: "InvalidSignature",
    prepare: async (c) => {
      const valid = await pay(c);
      const compact = serializeCompactSignature(signatureToCompactSignature(parseSignature(valid.signature)));
      expect((compact.length - 2) / 2).to.equal(64);
      return { payment: { ...valid, signature: compact }, args: [] };
    },
  },
  {
    when: "the signature has a 66th byte appended",
    failure: SettlementFailure.InvalidSignature,
    error: "InvalidSignature",
    prepare: async (c) => {
      const valid = await pay(c);
      return { payment: { ...valid, signature: concat([valid.signature, "0x00"]) }, args: [] };
    },
  },
  {
    when: "the signature is the high-s twin of a valid one",
    failure: SettlementFailure.InvalidSignature,
    error: "InvalidSignature",
    prepare: async (c) => {
      const valid = await pay(c);
      return { payment: { ...valid, signature: highSTwin(valid.signature) }, args: [] };
    },
  },
  {
    when: "v is encoded as 0/1 instead of 27/28",
    failure: SettlementFailure.InvalidSignature,
    error: "InvalidSignature",
    prepare: async (c) => {
      const valid = await pay(c);
      const v = hexToNumber(slice(valid.signature, 64, 65));
      return { payment: { ...valid, signature: concat([slice(valid.signature, 0, 64), numberToHex(v - 27, { size: 1 })]) }, args: [] };
    },
  },
];

// ================================================================================================

describe("SettlementEscrow — payment authorizations", () => {
  describe("settle", () => {
    describe("moves `amount` from the payer's balance to the payee's earnings", () => {
      for (const t of TOKENS) {
        for (const bps of [0, FEE_BPS]) {
          it(`in ${t.toUpperCase()}, with ${bps === 0 ? "no fee" : `a ${bps / 100}% fee kept as accrued fees`}`, async () => {
            const c = await networkHelpers.loadFixture(fixture);
            if (bps !== 0) await c.escrow.write.setFee([bps]);
            const p = await pay(c, { token: c.tokens[t], amount: PRICE[t], challengeHash: challenge(`GET /weather ${t}`) });
            const fee = feeOf(PRICE[t], bps);
            if (bps !== 0) expect(fee > 0n, "the fee is not rounded away").to.equal(true);

            const hash = await expectLedgerChange(c, () => settle(c, p), settlementDelta({}, t, "agent", "payee", PRICE[t], bps));

            await viem.assertions.emitWithArgs(hash, c.escrow, "PaymentSettled", [
              c.addr.agent,
              c.addr.payee,
              c.tokens[t],
              p.authorization.nonce,
              PRICE[t],
              fee,
              challenge(`GET /weather ${t}`),
            ]);
            expect(await settledEvents(c, hash)).to.have.length(1);
            expect(await failedEvents(c, hash)).to.deep.equal([]);
            expect(await c.escrow.read.isNonceUsed([c.addr.agent, p.authorization.nonce])).to.equal(true);
          });
        }
      }
    });

    it("rounds the fee down (a 39-unit payment at 2.5% pays no fee and accrues nothing)", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      await c.escrow.write.setFee([FEE_BPS]);
      const p = await pay(c, { amount: 39n });
      const hash = await expectLedgerChange(c, () => settle(c, p), settlementDelta({}, "usdc", "agent", "payee", 39n, FEE_BPS));
      expect(await settledEvents(c, hash)).to.deep.equal([settledEventFor(p, FEE_BPS)]);
      expect(feeOf(39n, FEE_BPS)).to.equal(0n);
    });

    it("may be submitted by anyone: a stranger's submission pays the signed payee and nothing to the submitter", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const p = await pay(c);
      // The ledger check proves the stranger's balances, earnings and wallet did not move.
      await expectLedgerChange(c, () => settle(c, p, c.addr.stranger), settlementDelta({}, "usdc", "agent", "payee", PRICE.usdc));
    });

    it("may also be submitted by the payee or by the payer itself", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const byPayee = await pay(c);
      const byPayer = await pay(c);
      const expected = settlementDelta(settlementDelta({}, "usdc", "agent", "payee", PRICE.usdc), "usdc", "agent", "payee", PRICE.usdc);
      await expectLedgerChange(
        c,
        async () => {
          await settle(c, byPayee, c.addr.payee);
          await settle(c, byPayer, c.addr.agent);
        },
        expected,
      );
    });

    it("still settles payments in a Deprecated token (signed payments must reach their payee)", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      await c.registry.write.setStatus([c.tokens.usdc, TokenStatus.Deprecated]);
      const p = await pay(c);
      const hash = await expectLedgerChange(c, () => settle(c, p), settlementDelta({}, "usdc", "agent", "payee", PRICE.usdc));
      expect(await settledEvents(c, hash)).to.deep.equal([settledEventFor(p)]);
    });

    it("accepts exactly the token's minimum and maximum amounts", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      await c.registry.write.setAmountLimits([c.tokens.skl, SKL_MIN, SKL_MAX / 100n]);
      const atMin = await pay(c, { token: c.tokens.skl, amount: SKL_MIN });
      const atMax = await pay(c, { token: c.tokens.skl, amount: SKL_MAX / 100n });
      const expected = settlementDelta(settlementDelta({}, "skl", "agent", "payee", SKL_MIN), "skl", "agent", "payee", SKL_MAX / 100n);
      await expectLedgerChange(
        c,
        async () => {
          await settle(c, atMin);
          await settle(c, atMax);
        },
        expected,
      );
    });

    it("accepts a payment signed through ERC-1271 by a contract-wallet payer", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const smartWallet = await viem.deployContract("MockERC1271Wallet", [c.addr.agent2]);
      const payer = getAddress(smartWallet.address);
      await c.escrow.write.depositFor([c.tokens.usdc, payer, 10_000n], { account: c.addr.agent });
      const p = await pay(c, { payer, amount: 4_000n }, c.wallet.agent2);

      await settle(c, p);
      expect(await c.escrow.read.balanceOf([c.tokens.usdc, payer])).to.equal(6_000n);
      expect(await c.escrow.read.earningsOf([c.tokens.usdc, c.addr.payee])).to.equal(4_000n);

      // The same wallet refuses a signature by anyone but its owner.
      const forged = await pay(c, { payer, amount: 1_000n }, c.wallet.agent);
      await viem.assertions.revertWithCustomError(settle(c, forged), c.escrow, "InvalidSignature");
    });

    describe("time window", () => {
      it("is not yet valid in the block whose timestamp equals validAfter", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const t = (await latestTimestamp(c)) + 100n;
        const p = await pay(c, { validAfter: t, validBefore: t + ONE_HOUR });
        await networkHelpers.time.setNextBlockTimestamp(t);
        await viem.assertions.revertWithCustomErrorWithArgs(settle(c, p), c.escrow, "AuthorizationNotYetValid", [t]);
      });

      it("is valid in the block one second after validAfter", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const t = (await latestTimestamp(c)) + 100n;
        const p = await pay(c, { validAfter: t - 1n, validBefore: t + ONE_HOUR });
        await networkHelpers.time.setNextBlockTimestamp(t);
        await expectLedgerChange(c, () => settle(c, p), settlementDelta({}, "usdc", "agent", "payee", PRICE.usdc));
      });

      it("is expired in the block whose timestamp equals validBefore", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const t = (await latestTimestamp(c)) + 100n;
        const p = await pay(c, { validBefore: t });
        await networkHelpers.time.setNextBlockTimestamp(t);
        await viem.assertions.revertWithCustomErrorWithArgs(settle(c, p), c.escrow, "AuthorizationExpired", [t]);
      });

      it("is still valid in the block one second before validBefore", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const t = (await latestTimestamp(c)) + 100n;
        const p = await pay(c, { validBefore: t + 1n });
        await networkHelpers.time.setNextBlockTimestamp(t);
        await expectLedgerChange(c, () => settle(c, p), settlementDelta({}, "usdc", "agent", "payee", PRICE.usdc));
      });
    });

    describe("rejects, changing nothing, a payment when", () => {
      for (const r of REJECTIONS) {
        it(`${r.when} → ${r.error}`, async () => {
          const c = await networkHelpers.loadFixture(fixture);
          const { payment, args } = await r.prepare(c);
          const usedBefore = await c.escrow.read.isNonceUsed([payment.authorization.payer, payment.authorization.nonce]);
          await expectLedgerChange(
            c,
            () =>
              viem.assertions.revertWithCustomErrorWithArgs(settle(c, payment), c.escrow, r.error, args as never),
            {},
          );
          expect(await c.escrow.read.isNonceUsed([payment.authorization.payer, payment.authorization.nonce])).to.equal(usedBefore);
        });
      }

      it("it is settled a second time → NonceAlreadyUsed", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const p = await pay(c);
        await settle(c, p);
        await expectLedgerChange(
          c,
          () =>
            viem.assertions.revertWithCustomErrorWithArgs(settle(c, p), c.escrow, "NonceAlreadyUsed", [
              c.addr.agent,
              p.authorization.nonce,
            ]),
          {},
        );
      });

      it("the high-s twin is refused even though raw ecrecover maps it to the payer", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const p = await pay(c);
        const twin = highSTwin(p.signature);
        const digest = await c.escrow.read.hashPaymentAuthorization([p.authorization]);
        expect(await rawEcrecover(c, digest, p.signature)).to.equal(c.addr.agent);
        expect(await rawEcrecover(c, digest, twin)).to.equal(c.addr.agent);
        await viem.assertions.revertWithCustomError(settle(c, { ...p, signature: twin }), c.escrow, "InvalidSignature");
        // The canonical (low-s) signature still settles afterwards: the refused twin did not burn the nonce.
        await expectLedgerChange(c, () => settle(c, p), settlementDelta({}, "usdc", "agent", "payee", PRICE.usdc));
      });

      it("the escrow is paused → EnforcedPause; it settles again once unpaused", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const p = await pay(c);
        await c.escrow.write.pause();
        await expectLedgerChange(
          c,
          () => viem.assertions.revertWithCustomError(settle(c, p), c.escrow, "EnforcedPause"),
          {},
        );
        await c.escrow.write.unpause();
        await expectLedgerChange(c, () => settle(c, p), settlementDelta({}, "usdc", "agent", "payee", PRICE.usdc));
      });
    });

    describe("commitments, balance and pending withdrawal", () => {
      const commit = (c: Ctx, payee: Address, amount: bigint, payer: Address = c.addr.agent) =>
        c.escrow.write.commit([c.tokens.usdc, payee, amount], { account: payer });

      it("draws first on the payer's commitment to this payee, leaving the free balance untouched", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await commit(c, c.addr.payee, 5_000_000n);
        const p = await pay(c, { amount: 3_000_000n });
        await expectLedgerChange(c, () => settle(c, p), {
          [key.committed("usdc", "agent", "payee")]: -3_000_000n,
          [key.earnings("usdc", "payee")]: 3_000_000n,
        });
      });

      it("uses up the commitment, then the balance", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await commit(c, c.addr.payee, 5_000_000n);
        const p = await pay(c, { amount: 8_000_000n });
        await expectLedgerChange(c, () => settle(c, p), {
          [key.committed("usdc", "agent", "payee")]: -5_000_000n,
          [key.balance("usdc", "agent")]: -3_000_000n,
          [key.earnings("usdc", "payee")]: 8_000_000n,
        });
      });

      it("uses the commitment, then the balance, then the pending withdrawal, in that order", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await commit(c, c.addr.payee, 10_000_000n);
        await c.escrow.write.requestWithdrawal([c.tokens.usdc, 80_000_000n], { account: c.addr.agent }); // balance 10
        const p = await pay(c, { amount: 50_000_000n });
        await expectLedgerChange(c, () => settle(c, p), {
          [key.committed("usdc", "agent", "payee")]: -10_000_000n,
          [key.balance("usdc", "agent")]: -10_000_000n,
          [key.pending("usdc", "agent")]: -30_000_000n,
          [key.earnings("usdc", "payee")]: 50_000_000n,
        });
        // What is left (balance 0, pending 50) is settleable; one unit more is not.
        const tooMuch = await pay(c, { amount: 50_000_001n });
        await expectLedgerChange(
          c,
          () =>
            viem.assertions.revertWithCustomErrorWithArgs(settle(c, tooMuch), c.escrow, "InsufficientFunds", [
              50_000_000n,
              50_000_001n,
            ]),
          {},
        );
      });

      it("protects the committed payee from a payer draining its free balance through a self-payment", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await commit(c, c.addr.payee, 10_000_000n); // the gateway (payee) serves against this
        const served = await pay(c, { amount: 10_000_000n });
        // The payer pays everything it can to its own second address and claims it at once...
        const drain = await pay(c, { payee: c.addr.agent2, amount: 90_000_000n });
        await settle(c, drain);
        await c.escrow.write.claimEarnings([c.tokens.usdc, c.addr.agent2], { account: c.addr.agent2 });
        const greedier = await pay(c, { payee: c.addr.agent2, amount: 1n });
        await viem.assertions.revertWithCustomErrorWithArgs(settle(c, greedier), c.escrow, "InsufficientFunds", [0n, 1n]);
        // ...yet the committed payee's payment still settles in full.
        await expectLedgerChange(c, () => settle(c, served), {
          [key.committed("usdc", "agent", "payee")]: -10_000_000n,
          [key.earnings("usdc", "payee")]: 10_000_000n,
        });
      });

      it("never lets another payee draw on a commitment (InsufficientFunds counts only this payee's)", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await commit(c, c.addr.payee2, DEPOSIT.usdc); // everything reserved for payee2
        const toPayee = await pay(c, { amount: 1n });
        expect(await c.escrow.read.checkPayment([toPayee.authorization, toPayee.signature])).to.equal(
          SettlementFailure.InsufficientFunds,
        );
        await viem.assertions.revertWithCustomErrorWithArgs(settle(c, toPayee), c.escrow, "InsufficientFunds", [0n, 1n]);
        const toPayee2 = await pay(c, { payee: c.addr.payee2, amount: DEPOSIT.usdc });
        await expectLedgerChange(c, () => settle(c, toPayee2), {
          [key.committed("usdc", "agent", "payee2")]: -DEPOSIT.usdc,
          [key.earnings("usdc", "payee2")]: DEPOSIT.usdc,
        });
      });

      it("counts the payee's commitment in `spendable` of InsufficientFunds", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await commit(c, c.addr.payee, 30_000_000n);
        await c.escrow.write.requestWithdrawal([c.tokens.usdc, 20_000_000n], { account: c.addr.agent });
        const p = await pay(c, { amount: DEPOSIT.usdc + 1n });
        await viem.assertions.revertWithCustomErrorWithArgs(settle(c, p), c.escrow, "InsufficientFunds", [
          DEPOSIT.usdc,
          DEPOSIT.usdc + 1n,
        ]);
        expect(await c.escrow.read.spendableFor([c.tokens.usdc, c.addr.agent, c.addr.payee])).to.equal(DEPOSIT.usdc);
      });
    });

    describe("pending withdrawals", () => {
      it("takes from the balance first and leaves a pending withdrawal untouched when the balance suffices", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await c.escrow.write.requestWithdrawal([c.tokens.usdc, 80_000_000n], { account: c.addr.agent });
        const p = await pay(c, { amount: 20_000_000n }); // exactly the remaining balance
        await expectLedgerChange(c, () => settle(c, p), settlementDelta({}, "usdc", "agent", "payee", 20_000_000n));
        expect((await c.escrow.read.pendingWithdrawal([c.tokens.usdc, c.addr.agent])).amount).to.equal(80_000_000n);
      });

      it("draws the shortfall from the pending withdrawal, keeping its unlock time", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await c.escrow.write.requestWithdrawal([c.tokens.usdc, 80_000_000n], { account: c.addr.agent });
        const { unlockAt } = await c.escrow.read.pendingWithdrawal([c.tokens.usdc, c.addr.agent]);
        const p = await pay(c, { amount: 50_000_000n });
        await expectLedgerChange(c, () => settle(c, p), {
          [key.balance("usdc", "agent")]: -20_000_000n,
          [key.pending("usdc", "agent")]: -30_000_000n,
          [key.earnings("usdc", "payee")]: 50_000_000n,
        });
        expect(await c.escrow.read.pendingWithdrawal([c.tokens.usdc, c.addr.agent])).to.deep.equal({
          amount: 50_000_000n,
          unlockAt,
        });
      });

      it("draws only on the pending withdrawal when the free balance is empty", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await c.escrow.write.requestWithdrawal([c.tokens.usdc, DEPOSIT.usdc], { account: c.addr.agent });
        const p = await pay(c, { amount: 30_000_000n });
        await expectLedgerChange(c, () => settle(c, p), {
          [key.pending("usdc", "agent")]: -30_000_000n,
          [key.earnings("usdc", "payee")]: 30_000_000n,
        });
      });

      it("can consume the whole pending withdrawal, after which withdraw reverts NoPendingWithdrawal", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await c.escrow.write.requestWithdrawal([c.tokens.usdc, 80_000_000n], { account: c.addr.agent });
        const p = await pay(c, { amount: DEPOSIT.usdc });
        await expectLedgerChange(c, () => settle(c, p), {
          [key.balance("usdc", "agent")]: -20_000_000n,
          [key.pending("usdc", "agent")]: -80_000_000n,
          [key.earnings("usdc", "payee")]: DEPOSIT.usdc,
        });
        await networkHelpers.time.increase(WITHDRAWAL_DELAY);
        await viem.assertions.revertWithCustomError(
          c.escrow.write.withdraw([c.tokens.usdc], { account: c.addr.agent }),
          c.escrow,
          "NoPendingWithdrawal",
        );
      });

      it("reports balance + pending withdrawal as `spendable` in InsufficientFunds", async () => {
        const c = await networkHelpers.loadFixture(fixture);
        await c.escrow.write.requestWithdrawal([c.tokens.usdc, 80_000_000n], { account: c.addr.agent });
        const p = await pay(c, { amount: DEPOSIT.usdc + 1n });
        await viem.assertions.revertWithCustomErrorWithArgs(settle(c, p), c.escrow, "InsufficientFunds", [
          DEPOSIT.usdc,
          DEPOSIT.usdc + 1n,
        ]);
      });
    });
  });

  // ----------------------------------------------------------------------------------------------

  describe("checkPayment", () => {
    it("returns None for a payment that would settle, without settling it", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const p = await pay(c);
      await expectLedgerChange(
        c,
        async () => expect(await c.escrow.read.checkPayment([p.authorization, p.signature])).to.equal(SettlementFailure.None),
        {},
      );
      expect(await c.escrow.read.isNonceUsed([c.addr.agent, p.authorization.nonce])).to.equal(false);
      await settle(c, p); // still settleable
    });

    for (const r of REJECTIONS) {
      it(`returns ${Object.keys(SettlementFailure)[r.failure]} when ${r.when}`, async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { payment } = await r.prepare(c);
        const usedBefore = await c.escrow.read.isNonceUsed([payment.authorization.payer, payment.authorization.nonce]);
        await expectLedgerChange(
          c,
          async () => expect(await c.escrow.read.checkPayment([payment.authorization, payment.signature])).to.equal(r.failure),
          {},
        );
        expect(await c.escrow.read.isNonceUsed([payment.authorization.payer, payment.authorization.nonce])).to.equal(usedBefore);
      });
    }

    it("returns NonceUsed for a payment that was already settled", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const p = await pay(c);
      await settle(c, p);
      expect(await c.escrow.read.checkPayment([p.authorization, p.signature])).to.equal(SettlementFailure.NonceUsed);
    });

    it("reports the first failing check: cheap checks come before the signature", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const now = await latestTimestamp(c);
      // Zero payee AND expired AND wrong signer → InvalidPayee.
      const a = await pay(c, { payee: zeroAddress, validBefore: now }, c.wallet.agent2);
      expect(await c.escrow.read.checkPayment([a.authorization, a.signature])).to.equal(SettlementFailure.InvalidPayee);
      // Expired AND unfunded AND wrong signer → Expired.
      const b = await pay(c, { validBefore: now, amount: DEPOSIT.usdc + 1n }, c.wallet.agent2);
      expect(await c.escrow.read.checkPayment([b.authorization, b.signature])).to.equal(SettlementFailure.Expired);
      // Unfunded AND wrong signer → InsufficientFunds (the signature is checked last).
      const d = await pay(c, { amount: DEPOSIT.usdc + 1n }, c.wallet.agent2);
      expect(await c.escrow.read.checkPayment([d.authorization, d.signature])).to.equal(SettlementFailure.InsufficientFunds);
    });
  });

  // ----------------------------------------------------------------------------------------------

  describe("unordered nonces", () => {
    it("settles nonces 5, 3, 1000 and 2**255 in that order, and marks exactly those bits used", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const nonces = [5n, 3n, 1000n, 2n ** 255n];
      const expected: Record<string, bigint> = {};
      for (const nonce of nonces) {
        const p = await pay(c, { nonce, amount: 1_000n });
        await settle(c, p);
        settlementDelta(expected, "usdc", "agent", "payee", 1_000n);
      }
      for (const nonce of nonces) expect(await c.escrow.read.isNonceUsed([c.addr.agent, nonce]), `nonce ${nonce}`).to.equal(true);
      for (const nonce of [0n, 1n, 2n, 4n, 6n, 999n, 1001n, 2n ** 255n - 1n, 2n ** 255n + 1n, 2n ** 256n - 1n]) {
        expect(await c.escrow.read.isNonceUsed([c.addr.agent, nonce]), `nonce ${nonce}`).to.equal(false);
      }
      // Word = nonce >> 8, bit = nonce & 0xff.
      expect(await c.escrow.read.nonceBitmap([c.addr.agent, 0n])).to.equal((1n << 5n) | (1n << 3n));
      expect(await c.escrow.read.nonceBitmap([c.addr.agent, 1000n >> 8n])).to.equal(1n << (1000n & 0xffn));
      expect(await c.escrow.read.nonceBitmap([c.addr.agent, 2n ** 247n])).to.equal(1n);
      for (const word of [1n, 2n, 4n, 2n ** 247n - 1n, 2n ** 247n + 1n]) {
        expect(await c.escrow.read.nonceBitmap([c.addr.agent, word]), `word ${word}`).to.equal(0n);
      }
      // Nonces are per payer: agent2's bitmap is untouched.
      expect(await c.escrow.read.nonceBitmap([c.addr.agent2, 0n])).to.equal(0n);
      expect(await c.escrow.read.isNonceUsed([c.addr.agent2, 5n])).to.equal(false);
    });

    it("accepts nonce 0 and the largest nonce 2**256 - 1", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      await settle(c, await pay(c, { nonce: 0n, amount: 1n }));
      await settle(c, await pay(c, { nonce: 2n ** 256n - 1n, amount: 1n }));
      expect(await c.escrow.read.nonceBitmap([c.addr.agent, 0n])).to.equal(1n);
      expect(await c.escrow.read.nonceBitmap([c.addr.agent, 2n ** 248n - 1n])).to.equal(1n << 255n);
    });

    it("lets two payers use the same nonce independently", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const expected = settlementDelta(settlementDelta({}, "usdc", "agent", "payee", 1_000n), "usdc", "agent2", "payee", 1_000n);
      await expectLedgerChange(
        c,
        async () => {
          await settle(c, await pay(c, { nonce: 77n, amount: 1_000n }));
          await settle(c, await pay(c, { payer: c.addr.agent2, nonce: 77n, amount: 1_000n }));
        },
        expected,
      );
    });
  });

  describe("no early cancellation", () => {
    it("offers the payer no way to cancel a signed authorization: only validBefore ends it", async () => {
      // A gateway serves the response before it settles; a cancel would let the payer keep the
      // response for free. The escrow therefore exposes no nonce-invalidation entry point.
      const c = await networkHelpers.loadFixture(fixture);
      const writers = c.escrow.abi
        .filter((f) => f.type === "function" && f.stateMutability !== "view" && f.stateMutability !== "pure")
        .map((f) => (f as { name: string }).name);
      for (const name of ["invalidateNonces", "invalidateNonce", "cancelAuthorization", "cancel"]) {
        expect(writers, name).to.not.include(name);
      }
      // A signed authorization therefore stays settleable until validBefore.
      const p = await pay(c);
      await networkHelpers.time.increase(ONE_HOUR - 5n);
      await expectLedgerChange(c, () => settle(c, p), settlementDelta({}, "usdc", "agent", "payee", PRICE.usdc));
    });
  });

  describe("EIP-712", () => {
    it("hashPaymentAuthorization equals viem's hashTypedData of the same message", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const { authorization } = await pay(c, { nonce: 2n ** 200n + 9n, validAfter: 17n, challengeHash: challenge("x402") });
      const expected = hashTypedData({
        domain: escrowDomain(c.domain),
        types: PAYMENT_AUTHORIZATION_TYPES,
        primaryType: "PaymentAuthorization",
        message: authorization,
      });
      expect(await c.escrow.read.hashPaymentAuthorization([authorization])).to.equal(expected);
    });

    it("uses the documented domain (name, version, chain id, escrow address) and type hash", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const domain = escrowDomain(c.domain);
      expect(await c.escrow.read.DOMAIN_SEPARATOR()).to.equal(
        hashDomain({
          domain: { ...domain, chainId: BigInt(domain.chainId) },
          types: {
            EIP712Domain: [
              { name: "name", type: "string" },
              { name: "version", type: "string" },
              { name: "chainId", type: "uint256" },
              { name: "verifyingContract", type: "address" },
            ],
          },
        }),
      );
      const [, name, version, chainId, verifyingContract] = await c.escrow.read.eip712Domain();
      expect({ name, version, chainId, verifyingContract: getAddress(verifyingContract) }).to.deep.equal({
        name: ESCROW_DOMAIN_NAME,
        version: ESCROW_DOMAIN_VERSION,
        chainId: BigInt(c.chainId),
        verifyingContract: getAddress(c.escrow.address),
      });
      expect(await c.escrow.read.PAYMENT_AUTHORIZATION_TYPEHASH()).to.equal(
        keccak256(
          toHex(
            "PaymentAuthorization(address payer,address payee,address token,uint256 amount,uint256 nonce,uint256 validAfter,uint256 validBefore,bytes32 challengeHash)",
          ),
        ),
      );
    });
  });

  // ----------------------------------------------------------------------------------------------

  describe("settleBatch", () => {
    it("reverts EmptyBatch on an empty list", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomError(settleBatch(c, []), c.escrow, "EmptyBatch");
    });

    it("reverts EnforcedPause while paused, settling nothing", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const payments = [await pay(c), await pay(c)];
      await c.escrow.write.pause();
      await expectLedgerChange(
        c,
        () => viem.assertions.revertWithCustomError(settleBatch(c, payments), c.escrow, "EnforcedPause"),
        {},
      );
    });

    it("settles an all-good batch from two payers to two payees in two tokens, in order, with fees", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      await c.escrow.write.setFee([FEE_BPS]);
      const payments: SignedPayment[] = [];
      const expected: Record<string, bigint> = {};
      const payers = ["agent", "agent2"] as const;
      const payees = ["payee", "payee2"] as const;
      const batchTokens = ["usdc", "skl"] as const;
      for (let i = 0; i < 16; i++) {
        const payer = payers[i % 2]!;
        const payee = payees[Math.floor(i / 2) % 2]!;
        const t = batchTokens[Math.floor(i / 4) % 2]!;
        const amount = PRICE[t] + BigInt(i);
        payments.push(
          await pay(c, { payer: c.addr[payer], payee: c.addr[payee], token: c.tokens[t], amount, challengeHash: challenge(`call ${i}`) }),
        );
        settlementDelta(expected, t, payer, payee, amount, FEE_BPS);
      }

      expect(await simulateBatch(c, payments)).to.deep.equal(payments.map(() => SettlementFailure.None));
      const hash = await expectLedgerChange(c, () => settleBatch(c, payments), expected);
      expect(await settledEvents(c, hash)).to.deep.equal(payments.map((p) => settledEventFor(p, FEE_BPS)));
      expect(await failedEvents(c, hash)).to.deep.equal([]);
      for (const p of payments) expect(await c.escrow.read.isNonceUsed([p.authorization.payer, p.authorization.nonce])).to.equal(true);
    });

    describe("skips a bad entry k, reports why in results[k] and PaymentFailed, and settles the others, when", () => {
      for (const r of REJECTIONS) {
        it(`${r.when} → ${Object.keys(SettlementFailure)[r.failure]}`, async () => {
          const c = await networkHelpers.loadFixture(fixture);
          const { payment: bad } = await r.prepare(c);
          const good1 = await pay(c, { amount: 1_000n });
          const good2 = await pay(c, { payer: c.addr.agent2, payee: c.addr.payee2, amount: 2_000n });
          const batch = [good1, bad, good2];
          const usedBefore = await c.escrow.read.isNonceUsed([bad.authorization.payer, bad.authorization.nonce]);

          expect(await simulateBatch(c, batch)).to.deep.equal([SettlementFailure.None, r.failure, SettlementFailure.None]);
          const expected = settlementDelta(settlementDelta({}, "usdc", "agent", "payee", 1_000n), "usdc", "agent2", "payee2", 2_000n);
          const hash = await expectLedgerChange(c, () => settleBatch(c, batch), expected);

          expect(await failedEvents(c, hash)).to.deep.equal([
            { payer: bad.authorization.payer, nonce: bad.authorization.nonce, reason: r.failure },
          ]);
          expect(await settledEvents(c, hash)).to.deep.equal([settledEventFor(good1), settledEventFor(good2)]);
          expect(await c.escrow.read.isNonceUsed([bad.authorization.payer, bad.authorization.nonce])).to.equal(usedBefore);
        });
      }
    });

    it("settles the same nonce only once when it appears twice in one batch", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const first = await pay(c, { nonce: 9n, amount: 1_000n });
      const again = await pay(c, { nonce: 9n, amount: 5_000n, challengeHash: challenge("another call") });
      expect(await simulateBatch(c, [first, again])).to.deep.equal([SettlementFailure.None, SettlementFailure.NonceUsed]);
      const hash = await expectLedgerChange(c, () => settleBatch(c, [first, again]), settlementDelta({}, "usdc", "agent", "payee", 1_000n));
      expect(await settledEvents(c, hash)).to.deep.equal([settledEventFor(first)]);
      expect(await failedEvents(c, hash)).to.deep.equal([{ payer: c.addr.agent, nonce: 9n, reason: SettlementFailure.NonceUsed }]);
    });

    it("settles only the entries the payer can afford when funds run out mid-batch; the rest stay settleable", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const price = 30_000_000n; // 30 USDT; the agent has 100 USDT deposited
      const payments: SignedPayment[] = [];
      for (let i = 0; i < 5; i++) payments.push(await pay(c, { token: c.tokens.usdt, amount: price }));
      const F = SettlementFailure;
      expect(await simulateBatch(c, payments)).to.deep.equal([F.None, F.None, F.None, F.InsufficientFunds, F.InsufficientFunds]);

      const expected = settlementDelta({}, "usdt", "agent", "payee", 3n * price);
      const hash = await expectLedgerChange(c, () => settleBatch(c, payments), expected);
      expect(await settledEvents(c, hash)).to.deep.equal(payments.slice(0, 3).map((p) => settledEventFor(p)));
      expect(await failedEvents(c, hash)).to.deep.equal(
        payments.slice(3).map((p) => ({ payer: c.addr.agent, nonce: p.authorization.nonce, reason: F.InsufficientFunds })),
      );
      expect(await c.escrow.read.balanceOf([c.tokens.usdt, c.addr.agent])).to.equal(10_000_000n);

      // After a top-up, the skipped authorizations are still good.
      await c.escrow.write.deposit([c.tokens.usdt, 50_000_000n], { account: c.addr.agent });
      expect(await simulateBatch(c, payments.slice(3))).to.deep.equal([F.None, F.None]);
    });

    it("re-reads the token policy whenever the token changes between entries", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      await c.registry.write.setStatus([c.tokens.usdt, TokenStatus.Removed]);
      const batch = [
        await pay(c, { token: zeroAddress, amount: 1n }), // first entry: the empty cache must not answer for token 0
        await pay(c, { token: zeroAddress, amount: 1n }),
        await pay(c, { token: c.tokens.usdc, amount: 1_000n }),
        await pay(c, { token: c.tokens.usdt, amount: 1_000n }),
        await pay(c, { token: c.tokens.usdc, amount: 1_000n }),
        await pay(c, { token: c.tokens.usdc, amount: 1_000n }),
        await pay(c, { token: c.tokens.skl, amount: 1_000n }),
      ];
      const F = SettlementFailure;
      expect(await simulateBatch(c, batch)).to.deep.equal([
        F.TokenNotAccepted,
        F.TokenNotAccepted,
        F.None,
        F.TokenNotAccepted,
        F.None,
        F.None,
        F.None,
      ]);
      const expected = settlementDelta(settlementDelta({}, "usdc", "agent", "payee", 3_000n), "skl", "agent", "payee", 1_000n);
      await expectLedgerChange(c, () => settleBatch(c, batch), expected);
    });
  });

  // ----------------------------------------------------------------------------------------------

  describe("gas", () => {
    /** Coverage instrumentation inflates gas; the bound only holds for the real bytecode. */
    const instrumented = globalOptions.coverage === true;

    async function batchOf(c: Ctx, n: number): Promise<SignedPayment[]> {
      const payments: SignedPayment[] = [];
      for (let i = 1; i <= n; i++) payments.push(await pay(c, { nonce: BigInt(i), amount: 1_000n }));
      return payments;
    }

    it("a single settle (printed for comparison)", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const { gasUsed } = await receiptOf(c, await settle(c, await pay(c, { nonce: 1n, amount: 1_000n })));
      console.log(`        single settle: ${gasUsed} gas`);
    });

    it("a batch of 10 from one payer (printed)", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const payments = await batchOf(c, 10);
      const { gasUsed } = await receiptOf(c, await settleBatch(c, payments));
      console.log(`        settleBatch(10): ${gasUsed} gas, ${gasUsed / 10n} per payment`);
      expect(await c.escrow.read.earningsOf([c.tokens.usdc, c.addr.payee])).to.equal(10_000n);
    });

    it("a batch of 100 from one payer (nonces 1..100, one token, one payee) costs ≤ 20,000 gas per payment", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const payments = await batchOf(c, 100);
      const hash = await expectLedgerChange(c, () => settleBatch(c, payments), settlementDelta({}, "usdc", "agent", "payee", 100_000n));
      const { gasUsed } = await receiptOf(c, hash);
      const perPayment = gasUsed / 100n;
      console.log(`        settleBatch(100): ${gasUsed} gas, ${perPayment} per payment${instrumented ? " (coverage-instrumented)" : ""}`);
      expect(await settledEvents(c, hash)).to.have.length(100);
      expect(await c.escrow.read.nonceBitmap([c.addr.agent, 0n])).to.equal(((1n << 101n) - 1n) ^ 1n); // bits 1..100
      if (!instrumented) expect(Number(perPayment)).to.be.at.most(20_000);
    });
  });
});
