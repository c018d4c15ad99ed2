/**
 * SettlementEscrow — `settleBatchFor(token, payee, CompactPayment[])`: the batch shape a gateway
 * sends (one payee, one token), with payee and token given once and EIP-2098 compact signatures.
 *
 * What it must keep from `settleBatch` (escrow-settlement.test.ts): the payer signs the very same
 * `PaymentAuthorization`, every entry goes through the same checks in the same order, a bad entry
 * is skipped and reported (`PaymentFailed`, results[k]) without touching its state, and the
 * ledger moves exactly as if the entries had gone through `settleBatch`. What it adds: the batch's
 * payee and token are part of what is verified, so an entry cannot be moved to another payee's or
 * token's batch.
 *
 * Conventions as in escrow-settlement.test.ts: every state-changing call is wrapped in
 * `expectLedgerChange` (helpers/ledger.ts), which checks that exactly the listed ledger entries
 * moved; submissions come from an unrelated `stranger`.
 */
import { globalOptions, network } from "hardhat";
import { expect } from "chai";
import type { Address, Hex } from "viem";
import { decodeErrorResult, encodeFunctionData, getAddress, isAddressEqual, maxUint256, parseEventLogs, zeroAddress } from "viem";
import {
  compactPayment,
  ONE_HOUR,
  paymentFor,
  SettlementFailure,
  signPayment,
  type CompactPayment,
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
  readLedger,
  walletOf,
  type AccountName,
  type Ctx,
  type PayerName,
  type TokenName,
  type Wallet,
} from "./helpers/ledger.js";
import { METHOD_ERC20, TokenStatus } from "./helpers/registry.js";
import { escrowNonce, randomNonceWord } from "../../gateway/schemes/escrow/payload.js";

const { viem, networkHelpers } = await network.create();
const fixture = fundedFixture(viem);

const F = SettlementFailure;
const FEE_BPS = 250; // 2.5 %
const PRICE = 1_234_567n; // USDC atomic units

interface Signed {
  authorization: PaymentAuthorization;
  signature: Hex;
}

/** A payment signed by its payer (or `signer`): agent pays payee PRICE USDC, fresh nonce, valid an hour. */
async function pay(c: Ctx, overrides: Partial<PaymentAuthorization> = {}, signer?: Wallet): Promise<Signed> {
  const authorization = await paymentFor(
    c.publicClient,
    { payer: c.addr.agent, payee: c.addr.payee, token: c.tokens.usdc, amount: PRICE },
    overrides,
  );
  const signature = await signPayment(signer ?? walletOf(c, authorization.payer), c.domain, authorization);
  return { authorization, signature };
}

const compact = (p: Signed): CompactPayment => compactPayment(p.authorization, p.signature);

function settleBatchFor(c: Ctx, payments: readonly Signed[], token = c.tokens.usdc, payee = c.addr.payee) {
  return c.escrow.write.settleBatchFor([token, payee, payments.map(compact)], { account: c.addr.stranger });
}

async function simulateFor(c: Ctx, payments: readonly Signed[], token = c.tokens.usdc, payee = c.addr.payee): Promise<number[]> {
  const { result } = await c.escrow.simulate.settleBatchFor([token, payee, payments.map(compact)], { account: c.addr.stranger });
  return [...result];
}

async function receiptOf(c: Ctx, hash: Hex) {
  const receipt = await c.publicClient.waitForTransactionReceipt({ hash });
  expect(receipt.status).to.equal("success");
  return receipt;
}

/** The escrow's PaymentSettled and PaymentFailed events of `hash`, in order. */
async function eventsOf(c: Ctx, hash: Hex) {
  const logs = (await receiptOf(c, hash)).logs.filter((l) => isAddressEqual(l.address, c.escrow.address));
  return {
    settled: parseEventLogs({ abi: c.escrow.abi, eventName: "PaymentSettled", logs }).map((l) => l.args),
    failed: parseEventLogs({ abi: c.escrow.abi, eventName: "PaymentFailed", logs }).map((l) => l.args),
  };
}

function settledEventFor(p: Signed, bps = 0) {
  const a = p.authorization;
  return { payer: a.payer, payee: a.payee, token: a.token, nonce: a.nonce, amount: a.amount, fee: feeOf(a.amount, bps), challengeHash: a.challengeHash };
}

const failedEventFor = (p: Signed, reason: number) => ({ payer: p.authorization.payer, nonce: p.authorization.nonce, reason });

/** Ledger movement of settled USDC payments: the payer pays `amount`, the payee earns it minus the fee. */
function settlementDelta(entries: readonly [PayerName, bigint][], payee: AccountName = "payee", bps = 0, t: TokenName = "usdc") {
  const deltas: Record<string, bigint> = {};
  const add = (k: string, v: bigint) => (deltas[k] = (deltas[k] ?? 0n) + v);
  for (const [payer, amount] of entries) {
    const fee = feeOf(amount, bps);
    add(key.balance(t, payer), -amount);
    add(key.earnings(t, payee), amount - fee);
    add(key.fees(t), fee);
  }
  return deltas;
}

/** The same signature with its EIP-2098 parity bit flipped: the other point, another signer. */
function flipParity(entry: CompactPayment): CompactPayment {
  const vs = BigInt(entry.vs) ^ (1n << 255n);
  return { ...entry, vs: `0x${vs.toString(16).padStart(64, "0")}` };
}

// ------------------------------------------------------------------------------------------------
// Entries that fail on their own: each is placed between two good entries (one per payer).
// ------------------------------------------------------------------------------------------------

interface BadEntry {
  when: string;
  failure: number;
  /** The bad entry as signed, and (for tampering) the compact entry actually submitted. */
  prepare: (c: Ctx) => Promise<{ payment: Signed; submitted?: CompactPayment }>;
}

const SKL_MIN = 1_000n;
const SKL_MAX = 10n ** 21n;

const BAD_ENTRIES: BadEntry[] = [
  {
    when: "validAfter is still in the future",
    failure: F.NotYetValid,
    prepare: async (c) => {
      const now = await latestTimestamp(c);
      return { payment: await pay(c, { validAfter: now + ONE_HOUR, validBefore: now + 2n * ONE_HOUR }) };
    },
  },
  {
    when: "validBefore has passed",
    failure: F.Expired,
    prepare: async (c) => ({ payment: await pay(c, { validBefore: await latestTimestamp(c) }) }),
  },
  {
    when: "the amount is below the token's minimum",
    failure: F.AmountOutOfRange,
    prepare: async (c) => {
      await c.registry.write.setAmountLimits([c.tokens.usdc, SKL_MIN, SKL_MAX]);
      return { payment: await pay(c, { amount: SKL_MIN - 1n }) };
    },
  },
  {
    when: "the amount is above the token's maximum (checked before funds)",
    failure: F.AmountOutOfRange,
    prepare: async (c) => {
      await c.registry.write.setAmountLimits([c.tokens.usdc, SKL_MIN, SKL_MAX]);
      return { payment: await pay(c, { amount: SKL_MAX + 1n }) };
    },
  },
  {
    when: "its nonce was already used by a settled payment",
    failure: F.NonceUsed,
    prepare: async (c) => {
      const first = await pay(c, { amount: 1n });
      await c.escrow.write.settle([first.authorization, first.signature], { account: c.addr.stranger });
      return { payment: await pay(c, { amount: 2n, nonce: first.authorization.nonce }) };
    },
  },
  {
    when: "its nonce was already used by a hold",
    failure: F.NonceUsed,
    prepare: async (c) => {
      const nonce = (9n << 8n) | 7n;
      const now = await latestTimestamp(c);
      await c.escrow.write.authorize([c.tokens.usdt, c.addr.payee, 1_000n, nonce, now + ONE_HOUR, now + ONE_HOUR, challenge("hold")], {
        account: c.addr.agent,
      });
      return { payment: await pay(c, { nonce }) };
    },
  },
  {
    when: "the payer's spendable funds are short by one unit",
    failure: F.InsufficientFunds,
    prepare: async (c) => ({ payment: await pay(c, { amount: DEPOSIT.usdc + 1n }) }),
  },
  {
    when: "it is signed by someone other than the payer",
    failure: F.InvalidSignature,
    prepare: async (c) => ({ payment: await pay(c, {}, c.wallet.agent2) }),
  },
  {
    when: "the submitted amount differs from the signed one",
    failure: F.InvalidSignature,
    prepare: async (c) => {
      const payment = await pay(c, { amount: 1_000n });
      return { payment, submitted: { ...compact(payment), amount: 1_001n } };
    },
  },
  {
    when: "the submitted validBefore differs from the signed one",
    failure: F.InvalidSignature,
    prepare: async (c) => {
      const payment = await pay(c);
      return { payment, submitted: { ...compact(payment), validBefore: payment.authorization.validBefore + 1n } };
    },
  },
  {
    when: "the submitted challengeHash differs from the signed one",
    failure: F.InvalidSignature,
    prepare: async (c) => {
      const payment = await pay(c, { challengeHash: challenge("request A") });
      return { payment, submitted: { ...compact(payment), challengeHash: challenge("request B") } };
    },
  },
  {
    when: "the signature's parity bit is flipped (recovers another address)",
    failure: F.InvalidSignature,
    prepare: async (c) => {
      const payment = await pay(c);
      return { payment, submitted: flipParity(compact(payment)) };
    },
  },
  {
    when: "r is zero",
    failure: F.InvalidSignature,
    prepare: async (c) => {
      const payment = await pay(c);
      return { payment, submitted: { ...compact(payment), r: `0x${"00".repeat(32)}` } };
    },
  },
  {
    when: "the signature was made for another escrow's EIP-712 domain",
    failure: F.InvalidSignature,
    prepare: async (c) => {
      const authorization = await paymentFor(c.publicClient, { payer: c.addr.agent, payee: c.addr.payee, token: c.tokens.usdc, amount: PRICE });
      const signature = await signPayment(c.wallet.agent, { chainId: c.chainId, verifyingContract: c.registry.address }, authorization);
      return { payment: { authorization, signature } };
    },
  },
];

// ================================================================================================

describe("SettlementEscrow — settleBatchFor (one payee, one token, compact signatures)", () => {
  describe("guards", () => {
    it("reverts EmptyBatch on an empty list", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomError(settleBatchFor(c, []), c.escrow, "EmptyBatch");
    });

    it("reverts EnforcedPause while paused, settling nothing; the same entries settle once unpaused", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const payments = [await pay(c), await pay(c, { payer: c.addr.agent2 })];
      await c.escrow.write.pause();
      await expectLedgerChange(c, () => viem.assertions.revertWithCustomError(settleBatchFor(c, payments), c.escrow, "EnforcedPause"), {});
      await c.escrow.write.unpause();
      await expectLedgerChange(c, () => settleBatchFor(c, payments), settlementDelta([["agent", PRICE], ["agent2", PRICE]]));
    });

    it("cannot be entered from a token callback: ReentrancyGuardReentrantCall, the entry stays unused", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const reent = await viem.deployContract("ReentrantToken", []);
      await c.registry.write.registerToken([
        { token: reent.address, symbol: "REENT", decimals: 6, collectionMethods: METHOD_ERC20, status: TokenStatus.Active, eip712Name: "", eip712Version: "", minAmount: 1n, maxAmount: 10n ** 15n },
      ]);
      const token = getAddress(reent.address);
      for (const who of [c.addr.agent, c.addr.agent2]) {
        await reent.write.mint([who, 1_000_000_000n]);
        await reent.write.approve([c.escrow.address, maxUint256], { account: who });
      }
      await c.escrow.write.deposit([token, 100_000_000n], { account: c.addr.agent2 });
      const payment = await pay(c, { payer: c.addr.agent2, token, amount: 10_000_000n });
      const args = [token, c.addr.payee, [compact(payment)]] as const;
      expect((await c.escrow.simulate.settleBatchFor(args)).result).to.deep.equal([F.None]);

      await reent.write.arm([c.escrow.address, encodeFunctionData({ abi: c.escrow.abi, functionName: "settleBatchFor", args })]);
      await c.escrow.write.deposit([token, 20_000_000n], { account: c.addr.agent });

      expect(await reent.read.lastCallSucceeded()).to.equal(false);
      expect(decodeErrorResult({ abi: c.escrow.abi, data: await reent.read.lastReturnData() }).errorName).to.equal("ReentrancyGuardReentrantCall");
      expect(await c.escrow.read.isNonceUsed([c.addr.agent2, payment.authorization.nonce])).to.equal(false);
      expect(await c.escrow.read.earningsOf([token, c.addr.payee])).to.equal(0n);
      // Outside the callback it settles, once.
      await c.escrow.write.settleBatchFor(args);
      expect(await c.escrow.read.earningsOf([token, c.addr.payee])).to.equal(10_000_000n);
      expect(await c.escrow.read.totalOwed([token])).to.equal(120_000_000n);
    });
  });

  describe("settling", () => {
    it("settles an all-good batch from two payers in order, with fees, and reports None for each", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      await c.escrow.write.setFee([FEE_BPS]);
      const payments: Signed[] = [];
      const paid: [PayerName, bigint][] = [];
      for (let i = 0; i < 12; i++) {
        const payer = i % 3 === 0 ? "agent2" : "agent";
        const amount = PRICE + BigInt(i);
        payments.push(await pay(c, { payer: c.addr[payer], amount, challengeHash: challenge(`call ${i}`) }));
        paid.push([payer, amount]);
      }
      expect(await simulateFor(c, payments)).to.deep.equal(payments.map(() => F.None));
      const hash = await expectLedgerChange(c, () => settleBatchFor(c, payments), settlementDelta(paid, "payee", FEE_BPS));
      const events = await eventsOf(c, hash);
      expect(events.settled).to.deep.equal(payments.map((p) => settledEventFor(p, FEE_BPS)));
      expect(events.failed).to.deep.equal([]);
      for (const p of payments) expect(await c.escrow.read.isNonceUsed([p.authorization.payer, p.authorization.nonce])).to.equal(true);
    });

    it("rounds each payment's fee down on its own: three 39-unit payments at 2.5% pay no fee (the fee of their sum would be 2)", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      await c.escrow.write.setFee([FEE_BPS]);
      const payments = [await pay(c, { amount: 39n }), await pay(c, { amount: 39n }), await pay(c, { amount: 39n })];
      const hash = await expectLedgerChange(c, () => settleBatchFor(c, payments), settlementDelta([["agent", 117n]], "payee", 0));
      expect((await eventsOf(c, hash)).settled.map((e) => e.fee)).to.deep.equal([0n, 0n, 0n]);
    });

    it("draws on the commitment to this payee, then the balance, then the pending withdrawal, across entries", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const balance = DEPOSIT.usdc;
      await c.escrow.write.commit([c.tokens.usdc, c.addr.payee, 3_000_000n], { account: c.addr.agent });
      await c.escrow.write.requestWithdrawal([c.tokens.usdc, balance - 3_000_000n - 4_000_000n], { account: c.addr.agent });
      // Now: 3 committed to payee, 4 free, the rest pending. Payments of 2, 2, 2, 2 (USDC).
      const payments: Signed[] = [];
      for (let i = 0; i < 4; i++) payments.push(await pay(c, { amount: 2_000_000n }));
      await expectLedgerChange(c, () => settleBatchFor(c, payments), {
        [key.committed("usdc", "agent", "payee")]: -3_000_000n,
        [key.balance("usdc", "agent")]: -4_000_000n,
        [key.pending("usdc", "agent")]: -1_000_000n,
        [key.earnings("usdc", "payee")]: 8_000_000n,
      });
    });

    it("ignores a commitment to another payee (its payments cannot draw on it)", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      await c.escrow.write.commit([c.tokens.usdc, c.addr.payee2, DEPOSIT.usdc], { account: c.addr.agent });
      const payments = [await pay(c, { amount: 1_000n }), await pay(c, { payer: c.addr.agent2, amount: 1_000n })];
      expect(await simulateFor(c, payments)).to.deep.equal([F.InsufficientFunds, F.None]);
      await expectLedgerChange(c, () => settleBatchFor(c, payments), settlementDelta([["agent2", 1_000n]]));
    });

    it("settles in a Deprecated token (signed payments must reach their payee)", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const payment = await pay(c);
      await c.registry.write.setStatus([c.tokens.usdc, TokenStatus.Deprecated]);
      await expectLedgerChange(c, () => settleBatchFor(c, [payment]), settlementDelta([["agent", PRICE]]));
    });

    it("settles the same nonce only once when it appears twice in one batch", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const first = await pay(c, { nonce: 77n, amount: 1_000n });
      const again = await pay(c, { nonce: 77n, amount: 5_000n, challengeHash: challenge("another call") });
      expect(await simulateFor(c, [first, again])).to.deep.equal([F.None, F.NonceUsed]);
      const hash = await expectLedgerChange(c, () => settleBatchFor(c, [first, again]), settlementDelta([["agent", 1_000n]]));
      expect(await eventsOf(c, hash)).to.deep.equal({ settled: [settledEventFor(first)], failed: [failedEventFor(again, F.NonceUsed)] });
    });
  });

  describe("skips a bad entry k, reports why in results[k] and PaymentFailed, and settles the others, when", () => {
    for (const r of BAD_ENTRIES) {
      it(`${r.when} → ${Object.keys(F)[r.failure]}`, async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { payment: bad, submitted } = await r.prepare(c);
        const good1 = await pay(c, { amount: 1_000n });
        const good2 = await pay(c, { payer: c.addr.agent2, amount: 2_000n });
        const entries = [compact(good1), submitted ?? compact(bad), compact(good2)];
        const usedBefore = await c.escrow.read.isNonceUsed([bad.authorization.payer, bad.authorization.nonce]);
        const args = [c.tokens.usdc, c.addr.payee, entries] as const;

        expect((await c.escrow.simulate.settleBatchFor(args, { account: c.addr.stranger })).result).to.deep.equal([F.None, r.failure, F.None]);
        const hash = await expectLedgerChange(
          c,
          () => c.escrow.write.settleBatchFor(args, { account: c.addr.stranger }),
          settlementDelta([["agent", 1_000n], ["agent2", 2_000n]]),
        );
        expect(await eventsOf(c, hash)).to.deep.equal({
          settled: [settledEventFor(good1), settledEventFor(good2)],
          failed: [{ payer: entries[1]!.payer, nonce: entries[1]!.nonce, reason: r.failure }],
        });
        expect(await c.escrow.read.isNonceUsed([bad.authorization.payer, bad.authorization.nonce])).to.equal(usedBefore);
      });
    }
  });

  describe("a batch-wide problem fails every entry with the reason settleBatch gives each, moving nothing", () => {
    const cases: { when: string; failure: number; batch: (c: Ctx) => Promise<{ token: Address; payee: Address; payments: Signed[] }> }[] = [
      {
        when: "the payee is the zero address",
        failure: F.InvalidPayee,
        batch: async (c) => ({ token: c.tokens.usdc, payee: zeroAddress, payments: [await pay(c, { payee: zeroAddress }), await pay(c, { payee: zeroAddress })] }),
      },
      {
        when: "the payee is the escrow itself",
        failure: F.InvalidPayee,
        batch: async (c) => ({ token: c.tokens.usdc, payee: c.escrow.address, payments: [await pay(c, { payee: c.escrow.address })] }),
      },
      {
        when: "the token was never registered (even for the zero address, which no cache may answer for)",
        failure: F.TokenNotAccepted,
        batch: async (c) => ({ token: zeroAddress, payee: c.addr.payee, payments: [await pay(c, { token: zeroAddress, amount: 1n }), await pay(c, { token: zeroAddress, amount: 1n })] }),
      },
      {
        when: "the token was Removed",
        failure: F.TokenNotAccepted,
        batch: async (c) => {
          await c.registry.write.setStatus([c.tokens.usdt, TokenStatus.Removed]);
          return { token: c.tokens.usdt, payee: c.addr.payee, payments: [await pay(c, { token: c.tokens.usdt }), await pay(c, { token: c.tokens.usdt, payer: c.addr.agent2 })] };
        },
      },
    ];
    for (const r of cases) {
      it(`${r.when} → ${Object.keys(F)[r.failure]} for every entry`, async () => {
        const c = await networkHelpers.loadFixture(fixture);
        const { token, payee, payments } = await r.batch(c);
        const viaSettleBatch = await c.escrow.simulate.settleBatch([payments], { account: c.addr.stranger });
        expect([...viaSettleBatch.result]).to.deep.equal(payments.map(() => r.failure));
        expect(await simulateFor(c, payments, token, payee)).to.deep.equal(payments.map(() => r.failure));
        const hash = await expectLedgerChange(c, () => settleBatchFor(c, payments, token, payee), {});
        expect(await eventsOf(c, hash)).to.deep.equal({ settled: [], failed: payments.map((p) => failedEventFor(p, r.failure)) });
      });
    }
  });

  describe("payee and token are verified: an entry cannot be moved to another batch", () => {
    it("a payment signed for payee, submitted in payee2's batch → InvalidSignature, and it still settles to payee", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const payment = await pay(c);
      const other = await pay(c, { payer: c.addr.agent2, payee: c.addr.payee2, amount: 1_000n });
      expect(await simulateFor(c, [payment, other], c.tokens.usdc, c.addr.payee2)).to.deep.equal([F.InvalidSignature, F.None]);
      const hash = await expectLedgerChange(c, () => settleBatchFor(c, [payment, other], c.tokens.usdc, c.addr.payee2), settlementDelta([["agent2", 1_000n]], "payee2"));
      expect((await eventsOf(c, hash)).failed).to.deep.equal([failedEventFor(payment, F.InvalidSignature)]);
      await expectLedgerChange(c, () => settleBatchFor(c, [payment]), settlementDelta([["agent", PRICE]]));
    });

    it("a payment signed in USDC, submitted in a USDT batch → InvalidSignature (USDT untouched), and it still settles in USDC", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const payment = await pay(c, { amount: 1_000n });
      expect(await simulateFor(c, [payment], c.tokens.usdt)).to.deep.equal([F.InvalidSignature]);
      await expectLedgerChange(c, () => settleBatchFor(c, [payment], c.tokens.usdt), {});
      await expectLedgerChange(c, () => settleBatchFor(c, [payment]), settlementDelta([["agent", 1_000n]]));
    });

    it("a payment to the payer itself cannot be redirected to the gateway's batch (nor the reverse)", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const toSelf = await pay(c, { payee: c.addr.agent, amount: 1_000n });
      const toPayee = await pay(c, { amount: 1_000n });
      expect(await simulateFor(c, [toSelf], c.tokens.usdc, c.addr.payee)).to.deep.equal([F.InvalidSignature]);
      expect(await simulateFor(c, [toPayee], c.tokens.usdc, c.addr.agent)).to.deep.equal([F.InvalidSignature]);
    });
  });

  describe("contract-wallet (ERC-1271) payers", () => {
    async function walletPayer(c: Ctx) {
      const smartWallet = await viem.deployContract("MockERC1271Wallet", [c.addr.agent2]);
      const payer = getAddress(smartWallet.address);
      await c.escrow.write.depositFor([c.tokens.usdc, payer, 10_000n], { account: c.addr.agent });
      return payer;
    }

    it("settles an entry whose 65-byte form is the wallet owner's signature, beside EOA entries", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const payer = await walletPayer(c);
      const fromWallet = await pay(c, { payer, amount: 4_000n }, c.wallet.agent2);
      const fromEoa = await pay(c, { amount: 1_000n });
      expect(await simulateFor(c, [fromWallet, fromEoa])).to.deep.equal([F.None, F.None]);
      // The wallet is not one of the ledger's named accounts, so its movements are read one by one.
      const hash = await settleBatchFor(c, [fromWallet, fromEoa]);
      expect(await c.escrow.read.balanceOf([c.tokens.usdc, c.addr.agent])).to.equal(DEPOSIT.usdc - 1_000n);
      expect(await c.escrow.read.earningsOf([c.tokens.usdc, c.addr.payee])).to.equal(5_000n);
      expect((await eventsOf(c, hash)).settled).to.deep.equal([settledEventFor(fromWallet), settledEventFor(fromEoa)]);
      expect(await c.escrow.read.balanceOf([c.tokens.usdc, payer])).to.equal(6_000n);
    });

    it("refuses an entry the wallet does not accept (signed by someone but its owner) → InvalidSignature", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      const payer = await walletPayer(c);
      const forged = await pay(c, { payer, amount: 1_000n }, c.wallet.agent);
      expect(await simulateFor(c, [forged])).to.deep.equal([F.InvalidSignature]);
      const hash = await settleBatchFor(c, [forged]);
      expect((await eventsOf(c, hash)).failed).to.deep.equal([failedEventFor(forged, F.InvalidSignature)]);
      expect(await c.escrow.read.balanceOf([c.tokens.usdc, payer])).to.equal(10_000n);
    });
  });

  describe("equivalence with settleBatch", () => {
    /** The state both runs start from: a fee, USDC limits, and one payment already settled. */
    async function prepareState(c: Ctx, spent: Signed) {
      await c.escrow.write.setFee([FEE_BPS]);
      await c.registry.write.setAmountLimits([c.tokens.usdc, 1n, 10n ** 12n]);
      await c.escrow.write.settle([spent.authorization, spent.signature], { account: c.addr.stranger });
    }

    /** Good entries from both payers, interleaved with one entry of every per-entry failure. */
    async function mixedBatch(c: Ctx, spent: Signed): Promise<Signed[]> {
      const now = await latestTimestamp(c);
      const batch: Signed[] = [];
      for (let i = 0; i < 6; i++) batch.push(await pay(c, { payer: i % 2 === 0 ? c.addr.agent : c.addr.agent2, amount: 40n + BigInt(i) * 1_001n }));
      batch.splice(1, 0, await pay(c, { validAfter: now + ONE_HOUR, validBefore: now + 2n * ONE_HOUR }));
      batch.splice(3, 0, await pay(c, { validBefore: now }));
      batch.splice(4, 0, await pay(c, { amount: 0n }));
      batch.splice(5, 0, await pay(c, { nonce: spent.authorization.nonce, amount: 6n }));
      batch.splice(6, 0, await pay(c, { payer: c.addr.agent2, amount: DEPOSIT.usdc + 1n }));
      batch.splice(7, 0, await pay(c, {}, c.wallet.agent2));
      batch.push(batch[0]!); // a duplicate: NonceUsed the second time
      return batch;
    }

    it("gives the same results, events and ledger movements for the same entries", async () => {
      const viaBatch = await networkHelpers.loadFixture(fixture);
      const spent = await pay(viaBatch, { amount: 5n });
      await prepareState(viaBatch, spent);
      const payments = await mixedBatch(viaBatch, spent);
      const results = [...(await viaBatch.escrow.simulate.settleBatch([payments], { account: viaBatch.addr.stranger })).result];
      expect(new Set(results)).to.deep.equal(
        new Set([F.None, F.NotYetValid, F.Expired, F.AmountOutOfRange, F.NonceUsed, F.InsufficientFunds, F.InvalidSignature]),
      );
      const before = await readLedger(viaBatch);
      const batchEvents = await eventsOf(viaBatch, await viaBatch.escrow.write.settleBatch([payments], { account: viaBatch.addr.stranger }));
      const afterBatch = await readLedger(viaBatch);
      expect(batchEvents.settled).to.have.length(6);

      // The same signed entries from the same state: the fixture snapshot again (same escrow
      // address, so the signatures still hold), with the same setup.
      const viaFor = await networkHelpers.loadFixture(fixture);
      await prepareState(viaFor, spent);
      expect(await readLedger(viaFor)).to.deep.equal(before);
      expect(await simulateFor(viaFor, payments)).to.deep.equal(results);
      expect(await eventsOf(viaFor, await settleBatchFor(viaFor, payments))).to.deep.equal(batchEvents);
      expect(await readLedger(viaFor)).to.deep.equal(afterBatch);
    });
  });

  describe("gas", () => {
    /** Coverage instrumentation inflates gas; the bound only holds for the real bytecode. */
    const instrumented = globalOptions.coverage === true;

    /** 100 payments as the SDK numbers them: one random 248-bit word, counter 1..100. */
    async function sdkBatch(c: Ctx): Promise<Signed[]> {
      const word = randomNonceWord();
      const payments: Signed[] = [];
      for (let i = 1; i <= 100; i++) {
        payments.push(await pay(c, { nonce: escrowNonce(word, i), amount: 1_000n + BigInt(i), challengeHash: challenge(`request ${i}`) }));
      }
      return payments;
    }

    it("a batch of 100 with SDK nonces (random word + counter) costs ≤ 20,000 gas per payment", async () => {
      const c = await networkHelpers.loadFixture(fixture);
      await c.escrow.write.setFee([FEE_BPS]);
      const payments = await sdkBatch(c);
      const paid = payments.map((p): [PayerName, bigint] => ["agent", p.authorization.amount]);
      const hash = await expectLedgerChange(c, () => settleBatchFor(c, payments), settlementDelta(paid, "payee", FEE_BPS));
      const { gasUsed } = await receiptOf(c, hash);
      const perPayment = gasUsed / 100n;
      expect((await eventsOf(c, hash)).settled).to.have.length(100);

      // The same payments through settleBatch, from the same state, for comparison.
      const c2 = await networkHelpers.loadFixture(fixture);
      await c2.escrow.write.setFee([FEE_BPS]);
      const { gasUsed: oldGas } = await receiptOf(c2, await c2.escrow.write.settleBatch([payments], { account: c2.addr.stranger }));
      console.log(
        `        settleBatchFor(100): ${gasUsed} gas, ${perPayment} per payment; settleBatch(100): ${oldGas / 100n} per payment${instrumented ? " (coverage-instrumented)" : ""}`,
      );
      if (!instrumented) {
        expect(Number(perPayment)).to.be.at.most(20_000);
        expect(Number(gasUsed)).to.be.lessThan(Number(oldGas));
      }
    });
  });
});
