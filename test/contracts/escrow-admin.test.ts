/**
 * EscrowAccounts: deployment, admin settings, pausing, sweeping, roles and the EIP-712 domain.
 *
 * The admin (DEFAULT_ADMIN_ROLE, moved only by AccessControlDefaultAdminRules' two-step transfer)
 * can set the fee (at most 10 %), the fee recipient and the withdrawal delay (1 hour to 30 days),
 * grant roles and sweep tokens the escrow does not owe to anyone. PAUSER_ROLE stops new money
 * coming in; exits stay open. None of these powers reaches a user's deposit.
 */
import { network } from "hardhat";
import { expect } from "chai";
import { type Address, type Hash, type Hex, domainSeparator, getAddress, hashTypedData, keccak256, toHex, zeroAddress, zeroHash } from "viem";
import type { WalletClient } from "@nomicfoundation/hardhat-viem/types";

import {
  ADMIN_TRANSFER_DELAY,
  ESCROW_DOMAIN_NAME,
  ESCROW_DOMAIN_VERSION,
  ONE_DAY,
  ONE_HOUR,
  PAYMENT_AUTHORIZATION_TYPES,
  WITHDRAWAL_DELAY,
  deployEscrowSystem,
  paymentFor,
  signPayment,
} from "./helpers/escrow.js";
import { METHOD_ERC20, TokenStatus } from "./helpers/registry.js";

const { viem, networkHelpers } = await network.create();
const { time } = networkHelpers;

const fixture = () => deployEscrowSystem(viem);
type System = Awaited<ReturnType<typeof deployEscrowSystem>>;

const USDC = 1_000_000n;
const MAX_FEE_BPS = 1_000;
const MIN_WITHDRAWAL_DELAY = ONE_HOUR;
const MAX_WITHDRAWAL_DELAY = 30n * ONE_DAY;
const DEFAULT_ADMIN_ROLE = zeroHash;
const PAUSER_ROLE = keccak256(toHex("PAUSER_ROLE"));
const OPERATOR_ROLE = keccak256(toHex("OPERATOR_ROLE"));
const CHALLENGE: Hex = `0x${"ab".repeat(32)}`;

const addr = (wallet: WalletClient): Address => wallet.account.address;

/** Deploys a SettlementEscrow with the fixture's registry and the given overrides. */
function deployEscrow(
  s: System,
  overrides: Partial<{ registry: Address; admin: Address; adminDelay: number; withdrawalDelay: bigint; feeRecipient: Address }> = {},
) {
  return viem.deployContract("SettlementEscrow", [
    overrides.registry ?? s.registry.address,
    overrides.admin ?? addr(s.admin),
    overrides.adminDelay ?? Number(ADMIN_TRANSFER_DELAY),
    overrides.withdrawalDelay ?? WITHDRAWAL_DELAY,
    overrides.feeRecipient ?? addr(s.feeRecipient),
  ]);
}

/** Asserts the ERC-20 balance deltas caused by transaction `tx`; returns the hash. */
async function expectTokenDeltas(
  s: System,
  tx: Hash | Promise<Hash>,
  token: { read: { balanceOf: (args: readonly [Address], options: { blockNumber: bigint }) => Promise<bigint> } },
  deltas: Array<[who: Address, delta: bigint]>,
): Promise<Hash> {
  const hash = await tx;
  const receipt = await s.publicClient.waitForTransactionReceipt({ hash });
  expect(receipt.status).to.equal("success");
  for (const [who, delta] of deltas) {
    const before = await token.read.balanceOf([who], { blockNumber: receipt.blockNumber - 1n });
    const after = await token.read.balanceOf([who], { blockNumber: receipt.blockNumber });
    expect(after - before, `token balance change of ${who}`).to.equal(delta);
  }
  return hash;
}

/** The agent pays the fixture's payee `amount` of USDC with a signed authorization; returns it and the tx. */
async function settleUsdc(s: System, amount: bigint) {
  const auth = await paymentFor(s.publicClient, { payer: addr(s.agent), payee: addr(s.payee), token: s.usdc.address, amount });
  const signature = await signPayment(s.agent, s.domain, auth);
  const hash = await s.escrow.write.settle([auth, signature]);
  return { auth, hash };
}

/** Fixes the next block's timestamp a little in the future and returns it. */
async function nextTimestamp(secondsAhead = 10n): Promise<bigint> {
  const t = BigInt(await time.latest()) + secondsAhead;
  await time.setNextBlockTimestamp(t);
  return t;
}

describe("EscrowAccounts administration", function () {
  describe("constructor", function () {
    it("stores the registry, admin, admin-transfer delay, withdrawal delay and fee recipient, with no fee and not paused", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      expect(getAddress(await s.escrow.read.registry())).to.equal(getAddress(s.registry.address));
      expect(getAddress(await s.escrow.read.defaultAdmin())).to.equal(getAddress(addr(s.admin)));
      expect(getAddress(await s.escrow.read.owner())).to.equal(getAddress(addr(s.admin)));
      expect(await s.escrow.read.hasRole([DEFAULT_ADMIN_ROLE, addr(s.admin)])).to.equal(true);
      expect(await s.escrow.read.defaultAdminDelay()).to.equal(Number(ADMIN_TRANSFER_DELAY));
      expect(await s.escrow.read.withdrawalDelay()).to.equal(WITHDRAWAL_DELAY);
      expect(getAddress(await s.escrow.read.feeRecipient())).to.equal(getAddress(addr(s.feeRecipient)));
      expect(await s.escrow.read.feeBps()).to.equal(0);
      expect(await s.escrow.read.paused()).to.equal(false);
    });

    it("grants PAUSER_ROLE and OPERATOR_ROLE to nobody (the fixture grants them explicitly)", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const escrow = await deployEscrow(s);
      for (const role of [PAUSER_ROLE, OPERATOR_ROLE]) {
        expect(await escrow.read.hasRole([role, addr(s.admin)])).to.equal(false);
      }
      await viem.assertions.revertWithCustomErrorWithArgs(escrow.write.pause(), escrow, "AccessControlUnauthorizedAccount", [
        addr(s.admin),
        PAUSER_ROLE,
      ]);
    });

    it("exposes its constants: MAX_FEE_BPS = 1000, delay bounds 1 hour and 30 days, role ids", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      expect(await s.escrow.read.MAX_FEE_BPS()).to.equal(MAX_FEE_BPS);
      expect(await s.escrow.read.MIN_WITHDRAWAL_DELAY()).to.equal(MIN_WITHDRAWAL_DELAY);
      expect(await s.escrow.read.MAX_WITHDRAWAL_DELAY()).to.equal(MAX_WITHDRAWAL_DELAY);
      expect(await s.escrow.read.DEFAULT_ADMIN_ROLE()).to.equal(DEFAULT_ADMIN_ROLE);
      expect(await s.escrow.read.PAUSER_ROLE()).to.equal(PAUSER_ROLE);
      expect(await s.escrow.read.OPERATOR_ROLE()).to.equal(OPERATOR_ROLE);
    });

    it("reverts with ZeroAddress for a zero registry", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomError(deployEscrow(s, { registry: zeroAddress }), s.escrow, "ZeroAddress");
    });

    it("reverts with ZeroAddress for a zero fee recipient", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomError(deployEscrow(s, { feeRecipient: zeroAddress }), s.escrow, "ZeroAddress");
    });

    it("reverts with AccessControlInvalidDefaultAdmin for a zero admin", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        deployEscrow(s, { admin: zeroAddress }),
        s.escrow,
        "AccessControlInvalidDefaultAdmin",
        [zeroAddress],
      );
    });

    it("accepts withdrawal delays of exactly 1 hour and exactly 30 days", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      for (const delay of [MIN_WITHDRAWAL_DELAY, MAX_WITHDRAWAL_DELAY]) {
        const escrow = await deployEscrow(s, { withdrawalDelay: delay });
        expect(await escrow.read.withdrawalDelay()).to.equal(delay);
      }
    });

    for (const [label, delay] of [
      ["0", 0n],
      ["1 hour - 1 s", MIN_WITHDRAWAL_DELAY - 1n],
      ["30 days + 1 s", MAX_WITHDRAWAL_DELAY + 1n],
    ] as const) {
      it(`reverts with WithdrawalDelayOutOfBounds for a withdrawal delay of ${label}`, async function () {
        const s = await networkHelpers.loadFixture(fixture);
        await viem.assertions.revertWithCustomErrorWithArgs(
          deployEscrow(s, { withdrawalDelay: delay }),
          s.escrow,
          "WithdrawalDelayOutOfBounds",
          [delay],
        );
      });
    }
  });

  describe("admin-only functions", function () {
    const CALLS: Array<[name: string, call: (s: System, who: WalletClient) => Promise<Hash>]> = [
      ["setFee", (s, who) => s.escrow.write.setFee([100], { account: who.account })],
      ["setFeeRecipient", (s, who) => s.escrow.write.setFeeRecipient([addr(who)], { account: who.account })],
      ["setWithdrawalDelay", (s, who) => s.escrow.write.setWithdrawalDelay([2n * ONE_DAY], { account: who.account })],
      ["sweep", (s, who) => s.escrow.write.sweep([s.usdc.address, addr(who)], { account: who.account })],
    ];
    for (const [name, call] of CALLS) {
      it(`${name} reverts with AccessControlUnauthorizedAccount(caller, DEFAULT_ADMIN_ROLE) for a stranger, the operator and the fee recipient`, async function () {
        const s = await networkHelpers.loadFixture(fixture);
        for (const who of [s.stranger, s.operator, s.feeRecipient]) {
          await viem.assertions.revertWithCustomErrorWithArgs(call(s, who), s.escrow, "AccessControlUnauthorizedAccount", [
            addr(who),
            DEFAULT_ADMIN_ROLE,
          ]);
        }
      });
    }
  });

  describe("setFee", function () {
    it("lets the admin set any fee up to MAX_FEE_BPS, emitting FeeUpdated(previous, new)", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      let previous = 0;
      for (const bps of [1, 250, MAX_FEE_BPS, 0]) {
        await viem.assertions.emitWithArgs(s.escrow.write.setFee([bps]), s.escrow, "FeeUpdated", [previous, bps]);
        expect(await s.escrow.read.feeBps()).to.equal(bps);
        previous = bps;
      }
    });

    it("reverts with FeeTooHigh(1001, 1000) just above the maximum", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomErrorWithArgs(s.escrow.write.setFee([MAX_FEE_BPS + 1]), s.escrow, "FeeTooHigh", [
        MAX_FEE_BPS + 1,
        MAX_FEE_BPS,
      ]);
      await viem.assertions.revertWithCustomErrorWithArgs(s.escrow.write.setFee([65_535]), s.escrow, "FeeTooHigh", [
        65_535,
        MAX_FEE_BPS,
      ]);
      expect(await s.escrow.read.feeBps()).to.equal(0);
    });

    // fee = floor(amount * feeBps / 10_000); the payee gets the rest.
    const FEE_CASES: Array<[bps: number, amount: bigint, fee: bigint]> = [
      [0, 1_000_000n, 0n],
      [1, 9_999n, 0n], // rounds down to nothing: no fee accrues
      [1, 10_000n, 1n],
      [250, 1_000_001n, 25_000n], // 25_000.025 rounds down
      [333, 7n * USDC, 233_100n],
      [MAX_FEE_BPS, 999n, 99n], // 99.9 rounds down
      [MAX_FEE_BPS, 1_000n * USDC, 100n * USDC],
    ];
    for (const [bps, amount, fee] of FEE_CASES) {
      it(`at ${bps} bps takes a fee of ${fee} from a payment of ${amount} (PaymentSettled, earnings, accruedFees)`, async function () {
        const s = await networkHelpers.loadFixture(fixture);
        await s.escrow.write.setFee([bps]);
        await s.escrow.write.deposit([s.usdc.address, 1_000n * USDC], { account: s.agent.account });

        const { auth, hash } = await settleUsdc(s, amount);
        await viem.assertions.emitWithArgs(hash, s.escrow, "PaymentSettled", [
          addr(s.agent),
          addr(s.payee),
          s.usdc.address,
          auth.nonce,
          amount,
          fee,
          CHALLENGE,
        ]);
        expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal(amount - fee);
        expect(await s.escrow.read.accruedFees([s.usdc.address])).to.equal(fee);
        expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(1_000n * USDC - amount);
        expect(await s.escrow.read.totalOwed([s.usdc.address])).to.equal(1_000n * USDC);
      });
    }

    it("applies a fee change only to payments settled afterwards", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 100n * USDC], { account: s.agent.account });
      await s.escrow.write.setFee([100]);
      await settleUsdc(s, 10n * USDC); // 1 % of 10
      await s.escrow.write.setFee([500]);
      await settleUsdc(s, 10n * USDC); // 5 % of 10
      expect(await s.escrow.read.accruedFees([s.usdc.address])).to.equal(100_000n + 500_000n);
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal(20n * USDC - 600_000n);
    });
  });

  describe("setFeeRecipient", function () {
    it("lets the admin change the fee recipient, emitting FeeRecipientUpdated(previous, new)", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await viem.assertions.emitWithArgs(s.escrow.write.setFeeRecipient([addr(s.stranger)]), s.escrow, "FeeRecipientUpdated", [
        addr(s.feeRecipient),
        addr(s.stranger),
      ]);
      expect(getAddress(await s.escrow.read.feeRecipient())).to.equal(getAddress(addr(s.stranger)));
    });

    it("sends fees claimed afterwards to the new recipient, including fees accrued before the change", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.setFee([1_000]);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await settleUsdc(s, 10n * USDC);
      await s.escrow.write.setFeeRecipient([addr(s.stranger)]);

      const hash = s.escrow.write.claimFees([s.usdc.address]);
      await expectTokenDeltas(s, hash, s.usdc, [
        [addr(s.stranger), USDC],
        [addr(s.feeRecipient), 0n],
        [s.escrow.address, -USDC],
      ]);
      await viem.assertions.emitWithArgs(hash, s.escrow, "FeesClaimed", [s.usdc.address, addr(s.stranger), USDC]);
    });

    it("reverts with ZeroAddress for the zero address", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomError(s.escrow.write.setFeeRecipient([zeroAddress]), s.escrow, "ZeroAddress");
    });
  });

  describe("setWithdrawalDelay", function () {
    it("accepts exactly 1 hour and exactly 30 days, emitting WithdrawalDelayUpdated(previous, new)", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await viem.assertions.emitWithArgs(
        s.escrow.write.setWithdrawalDelay([MIN_WITHDRAWAL_DELAY]),
        s.escrow,
        "WithdrawalDelayUpdated",
        [WITHDRAWAL_DELAY, MIN_WITHDRAWAL_DELAY],
      );
      expect(await s.escrow.read.withdrawalDelay()).to.equal(MIN_WITHDRAWAL_DELAY);
      await viem.assertions.emitWithArgs(
        s.escrow.write.setWithdrawalDelay([MAX_WITHDRAWAL_DELAY]),
        s.escrow,
        "WithdrawalDelayUpdated",
        [MIN_WITHDRAWAL_DELAY, MAX_WITHDRAWAL_DELAY],
      );
      expect(await s.escrow.read.withdrawalDelay()).to.equal(MAX_WITHDRAWAL_DELAY);
    });

    for (const [label, delay] of [
      ["0", 0n],
      ["1 hour - 1 s", MIN_WITHDRAWAL_DELAY - 1n],
      ["30 days + 1 s", MAX_WITHDRAWAL_DELAY + 1n],
    ] as const) {
      it(`reverts with WithdrawalDelayOutOfBounds(${label})`, async function () {
        const s = await networkHelpers.loadFixture(fixture);
        await viem.assertions.revertWithCustomErrorWithArgs(
          s.escrow.write.setWithdrawalDelay([delay]),
          s.escrow,
          "WithdrawalDelayOutOfBounds",
          [delay],
        );
        expect(await s.escrow.read.withdrawalDelay()).to.equal(WITHDRAWAL_DELAY);
      });
    }

    it("applies to new requests only: a pending withdrawal keeps its unlock time", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent2.account });
      const t1 = await nextTimestamp();
      await s.escrow.write.requestWithdrawal([s.usdc.address, 5n * USDC], { account: s.agent.account });

      await s.escrow.write.setWithdrawalDelay([MAX_WITHDRAWAL_DELAY]);
      expect((await s.escrow.read.pendingWithdrawal([s.usdc.address, addr(s.agent)])).unlockAt).to.equal(t1 + WITHDRAWAL_DELAY);

      const t2 = await nextTimestamp();
      await viem.assertions.emitWithArgs(
        s.escrow.write.requestWithdrawal([s.usdc.address, 5n * USDC], { account: s.agent2.account }),
        s.escrow,
        "WithdrawalRequested",
        [s.usdc.address, addr(s.agent2), 5n * USDC, 5n * USDC, t2 + MAX_WITHDRAWAL_DELAY],
      );

      // The first request still unlocks after the old delay.
      await time.increaseTo(t1 + WITHDRAWAL_DELAY);
      await s.escrow.write.withdraw([s.usdc.address], { account: s.agent.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.withdraw([s.usdc.address], { account: s.agent2.account }),
        s.escrow,
        "WithdrawalLocked",
        [t2 + MAX_WITHDRAWAL_DELAY],
      );
    });

    it("after the delay is shortened, adding to a pending withdrawal restarts it with the new, shorter delay", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      const t1 = await nextTimestamp();
      await s.escrow.write.requestWithdrawal([s.usdc.address, 5n * USDC], { account: s.agent.account });
      await s.escrow.write.setWithdrawalDelay([MIN_WITHDRAWAL_DELAY]);
      const t2 = await nextTimestamp();
      await s.escrow.write.requestWithdrawal([s.usdc.address, 1n], { account: s.agent.account });
      const { unlockAt } = await s.escrow.read.pendingWithdrawal([s.usdc.address, addr(s.agent)]);
      expect(unlockAt).to.equal(t2 + MIN_WITHDRAWAL_DELAY);
      expect(unlockAt < t1 + WITHDRAWAL_DELAY).to.equal(true);
    });
  });

  describe("pause and unpause", function () {
    it("PAUSER_ROLE pauses (Paused(account)) and unpauses (Unpaused(account))", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const pauser = s.wallets[9]!;
      await s.escrow.write.grantRole([PAUSER_ROLE, addr(pauser)]);

      await viem.assertions.emitWithArgs(s.escrow.write.pause({ account: pauser.account }), s.escrow, "Paused", [addr(pauser)]);
      expect(await s.escrow.read.paused()).to.equal(true);
      await viem.assertions.emitWithArgs(s.escrow.write.unpause({ account: pauser.account }), s.escrow, "Unpaused", [addr(pauser)]);
      expect(await s.escrow.read.paused()).to.equal(false);
    });

    it("reverts with EnforcedPause when already paused and ExpectedPause when not paused", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomError(s.escrow.write.unpause(), s.escrow, "ExpectedPause");
      await s.escrow.write.pause();
      await viem.assertions.revertWithCustomError(s.escrow.write.pause(), s.escrow, "EnforcedPause");
    });

    it("reverts with AccessControlUnauthorizedAccount(caller, PAUSER_ROLE) for anyone without the role", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      for (const who of [s.stranger, s.operator]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          s.escrow.write.pause({ account: who.account }),
          s.escrow,
          "AccessControlUnauthorizedAccount",
          [addr(who), PAUSER_ROLE],
        );
      }
      await s.escrow.write.pause();
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.unpause({ account: s.stranger.account }),
        s.escrow,
        "AccessControlUnauthorizedAccount",
        [addr(s.stranger), PAUSER_ROLE],
      );
    });

    it("the default admin cannot pause without PAUSER_ROLE", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.revokeRole([PAUSER_ROLE, addr(s.admin)]);
      await viem.assertions.revertWithCustomErrorWithArgs(s.escrow.write.pause(), s.escrow, "AccessControlUnauthorizedAccount", [
        addr(s.admin),
        PAUSER_ROLE,
      ]);
    });

    it("stops every way of bringing money in or moving it to a payee: deposits, settlements, commitments and holds", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      const auth = await paymentFor(s.publicClient, { payer: addr(s.agent), payee: addr(s.payee), token: s.usdc.address, amount: USDC });
      const signature = await signPayment(s.agent, s.domain, auth);
      const now = BigInt(await time.latest());
      const junk = `0x${"00".repeat(32)}` as Hex;
      await s.escrow.write.pause();

      const as = { account: s.agent.account };
      const attempts: Array<Promise<Hash>> = [
        s.escrow.write.deposit([s.usdc.address, USDC], as),
        s.escrow.write.depositFor([s.usdc.address, addr(s.agent2), USDC], as),
        s.escrow.write.depositWithAuthorization([s.usdc.address, addr(s.agent), USDC, 0n, now + ONE_HOUR, junk, 27, junk, junk], as),
        s.escrow.write.depositWithPermit([s.usdc.address, addr(s.agent), USDC, now + ONE_HOUR, 27, junk, junk], as),
        s.escrow.write.settle([auth, signature]),
        s.escrow.write.settleBatch([[{ authorization: auth, signature }]]),
        s.escrow.write.commit([s.usdc.address, addr(s.payee), USDC], as),
        s.escrow.write.authorize([s.usdc.address, addr(s.payee), USDC, 99n, now + ONE_HOUR, now + ONE_DAY, CHALLENGE], as),
      ];
      for (const attempt of attempts) {
        await viem.assertions.revertWithCustomError(attempt, s.escrow, "EnforcedPause");
      }
      await s.escrow.write.unpause();
      await s.escrow.write.settle([auth, signature]);
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal(USDC);
    });

    it("keeps every exit open: request, cancel and withdraw, claim earnings, claim fees", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.setFee([1_000]);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await settleUsdc(s, 5n * USDC);
      await s.escrow.write.pause();

      await s.escrow.write.requestWithdrawal([s.usdc.address, 5n * USDC], { account: s.agent.account });
      await s.escrow.write.cancelWithdrawal([s.usdc.address], { account: s.agent.account });
      await s.escrow.write.requestWithdrawal([s.usdc.address, 5n * USDC], { account: s.agent.account });
      await time.increase(WITHDRAWAL_DELAY);
      await expectTokenDeltas(s, s.escrow.write.withdraw([s.usdc.address], { account: s.agent.account }), s.usdc, [
        [addr(s.agent), 5n * USDC],
      ]);
      await expectTokenDeltas(
        s,
        s.escrow.write.claimEarnings([s.usdc.address, addr(s.payee)], { account: s.payee.account }),
        s.usdc,
        [[addr(s.payee), 4_500_000n]],
      );
      await expectTokenDeltas(s, s.escrow.write.claimFees([s.usdc.address]), s.usdc, [[addr(s.feeRecipient), 500_000n]]);
      expect(await s.escrow.read.totalOwed([s.usdc.address])).to.equal(0n);
      expect(await s.usdc.read.balanceOf([s.escrow.address])).to.equal(0n);
    });
  });

  describe("sweep", function () {
    it("sends only the excess over totalOwed to `to` after someone transferred tokens directly to the escrow", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 100n * USDC], { account: s.agent.account });
      await s.usdc.write.transfer([s.escrow.address, 7n * USDC], { account: s.agent2.account }); // a donation / mistake
      const to = addr(s.stranger);

      const hash = s.escrow.write.sweep([s.usdc.address, to]);
      await expectTokenDeltas(s, hash, s.usdc, [
        [to, 7n * USDC],
        [addr(s.admin), 0n],
        [s.escrow.address, -7n * USDC],
      ]);
      await viem.assertions.emitWithArgs(hash, s.escrow, "Swept", [s.usdc.address, to, 7n * USDC]);
      expect(await s.escrow.read.totalOwed([s.usdc.address])).to.equal(100n * USDC);
      expect(await s.usdc.read.balanceOf([s.escrow.address])).to.equal(100n * USDC);

      // The depositor is untouched and can leave with everything.
      await s.escrow.write.requestWithdrawal([s.usdc.address, 100n * USDC], { account: s.agent.account });
      await time.increase(WITHDRAWAL_DELAY);
      await s.escrow.write.withdraw([s.usdc.address], { account: s.agent.account });
      expect(await s.usdc.read.balanceOf([s.escrow.address])).to.equal(0n);
    });

    it("reverts with NothingToSweep once the excess is gone", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 100n * USDC], { account: s.agent.account });
      await s.usdc.write.transfer([s.escrow.address, 1n], { account: s.agent2.account });
      await s.escrow.write.sweep([s.usdc.address, addr(s.admin)]);
      await viem.assertions.revertWithCustomError(s.escrow.write.sweep([s.usdc.address, addr(s.admin)]), s.escrow, "NothingToSweep");
    });

    it("reverts with NothingToSweep when the escrow holds exactly what it owes: the admin cannot reach deposits, earnings, fees or holds", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.setFee([1_000]);
      await s.escrow.write.deposit([s.usdc.address, 100n * USDC], { account: s.agent.account });
      await s.escrow.write.deposit([s.usdc.address, 50n * USDC], { account: s.agent2.account });
      await settleUsdc(s, 10n * USDC); // earnings and fees
      await s.escrow.write.requestWithdrawal([s.usdc.address, 20n * USDC], { account: s.agent.account }); // pending
      await s.escrow.write.commit([s.usdc.address, addr(s.payee), 5n * USDC], { account: s.agent2.account }); // commitment
      const now = BigInt(await time.latest());
      await s.escrow.write.authorize(
        [s.usdc.address, addr(s.payee), 5n * USDC, 42n, now + ONE_HOUR, now + ONE_DAY, CHALLENGE],
        { account: s.agent2.account },
      ); // hold
      expect(await s.usdc.read.balanceOf([s.escrow.address])).to.equal(150n * USDC);

      await viem.assertions.revertWithCustomError(s.escrow.write.sweep([s.usdc.address, addr(s.admin)]), s.escrow, "NothingToSweep");
      // Nor can the admin act on anyone's behalf: its own ledger is empty.
      await viem.assertions.revertWithCustomError(s.escrow.write.withdraw([s.usdc.address]), s.escrow, "NoPendingWithdrawal");
      await viem.assertions.revertWithCustomError(
        s.escrow.write.claimEarnings([s.usdc.address, addr(s.admin)]),
        s.escrow,
        "NothingToClaim",
      );
      // claimFees pays the fee recipient, never the caller.
      await expectTokenDeltas(s, s.escrow.write.claimFees([s.usdc.address]), s.usdc, [
        [addr(s.admin), 0n],
        [addr(s.feeRecipient), USDC],
      ]);
      expect(await s.usdc.read.balanceOf([s.escrow.address])).to.equal(149n * USDC);
      expect(await s.escrow.read.totalOwed([s.usdc.address])).to.equal(149n * USDC);
    });

    it("reverts with NothingToSweep for a token that rebased below what the escrow owes", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const rebasing = await viem.deployContract("RebasingToken");
      await s.registry.write.registerToken([
        {
          token: rebasing.address,
          symbol: "REBASE",
          decimals: 6,
          collectionMethods: METHOD_ERC20,
          status: TokenStatus.Active,
          eip712Name: "",
          eip712Version: "",
          minAmount: 1n,
          maxAmount: 1_000n * USDC,
        },
      ]);
      await rebasing.write.mint([addr(s.agent), 10n * USDC]);
      await rebasing.write.approve([s.escrow.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.deposit([rebasing.address, 10n * USDC], { account: s.agent.account });
      await rebasing.write.rebaseDown([500n]); // holds 9.5, owes 10
      await viem.assertions.revertWithCustomError(s.escrow.write.sweep([rebasing.address, addr(s.admin)]), s.escrow, "NothingToSweep");
    });

    it("hands back the whole balance of a token the escrow owes nothing in (e.g. an unregistered token sent by mistake)", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const stray = await viem.deployContract("MockSKL");
      await stray.write.mint([s.escrow.address, 5n * 10n ** 18n]);
      const hash = s.escrow.write.sweep([stray.address, addr(s.stranger)]);
      await expectTokenDeltas(s, hash, stray, [
        [addr(s.stranger), 5n * 10n ** 18n],
        [s.escrow.address, -5n * 10n ** 18n],
      ]);
      await viem.assertions.emitWithArgs(hash, s.escrow, "Swept", [stray.address, addr(s.stranger), 5n * 10n ** 18n]);
    });

    it("works with USDT, whose transfer returns no bool, and while paused", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdt.address, 10n * USDC], { account: s.agent.account });
      await s.usdt.write.transfer([s.escrow.address, 3n * USDC], { account: s.agent.account });
      await s.escrow.write.pause();
      await expectTokenDeltas(s, s.escrow.write.sweep([s.usdt.address, addr(s.stranger)]), s.usdt, [
        [addr(s.stranger), 3n * USDC],
        [s.escrow.address, -3n * USDC],
      ]);
      expect(await s.escrow.read.totalOwed([s.usdt.address])).to.equal(10n * USDC);
    });

    it("reverts with ZeroAddress for the zero recipient", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.usdc.write.transfer([s.escrow.address, USDC], { account: s.agent.account });
      await viem.assertions.revertWithCustomError(s.escrow.write.sweep([s.usdc.address, zeroAddress]), s.escrow, "ZeroAddress");
    });
  });

  describe("roles", function () {
    it("DEFAULT_ADMIN_ROLE administers PAUSER_ROLE and OPERATOR_ROLE", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      expect(await s.escrow.read.getRoleAdmin([PAUSER_ROLE])).to.equal(DEFAULT_ADMIN_ROLE);
      expect(await s.escrow.read.getRoleAdmin([OPERATOR_ROLE])).to.equal(DEFAULT_ADMIN_ROLE);
      expect(await s.escrow.read.getRoleAdmin([DEFAULT_ADMIN_ROLE])).to.equal(DEFAULT_ADMIN_ROLE);
    });

    it("the admin grants OPERATOR_ROLE (which may then void holds) and revokes it again", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const newOperator = s.wallets[9]!;
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      const now = BigInt(await time.latest());
      const openHold = async (nonce: bigint) => {
        await s.escrow.write.authorize(
          [s.usdc.address, addr(s.payee), USDC, nonce, now + ONE_DAY, now + 2n * ONE_DAY, CHALLENGE],
          { account: s.agent.account },
        );
        return s.escrow.read.holdIdFor([addr(s.agent), nonce]);
      };

      await viem.assertions.emitWithArgs(s.escrow.write.grantRole([OPERATOR_ROLE, addr(newOperator)]), s.escrow, "RoleGranted", [
        OPERATOR_ROLE,
        addr(newOperator),
        addr(s.admin),
      ]);
      expect(await s.escrow.read.hasRole([OPERATOR_ROLE, addr(newOperator)])).to.equal(true);
      const first = await openHold(1_001n);
      await viem.assertions.emit(s.escrow.write.voidHold([first], { account: newOperator.account }), s.escrow, "HoldVoided");

      await viem.assertions.emitWithArgs(s.escrow.write.revokeRole([OPERATOR_ROLE, addr(newOperator)]), s.escrow, "RoleRevoked", [
        OPERATOR_ROLE,
        addr(newOperator),
        addr(s.admin),
      ]);
      expect(await s.escrow.read.hasRole([OPERATOR_ROLE, addr(newOperator)])).to.equal(false);
      const second = await openHold(1_002n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.voidHold([second], { account: newOperator.account }),
        s.escrow,
        "NotAuthorizedForHold",
        [second, addr(newOperator)],
      );
    });

    it("a role holder can renounce its own role", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.renounceRole([OPERATOR_ROLE, addr(s.operator)], { account: s.operator.account });
      expect(await s.escrow.read.hasRole([OPERATOR_ROLE, addr(s.operator)])).to.equal(false);
    });

    it("nobody but the admin can grant or revoke roles: AccessControlUnauthorizedAccount(caller, DEFAULT_ADMIN_ROLE)", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      for (const who of [s.stranger, s.operator]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          s.escrow.write.grantRole([OPERATOR_ROLE, addr(s.stranger)], { account: who.account }),
          s.escrow,
          "AccessControlUnauthorizedAccount",
          [addr(who), DEFAULT_ADMIN_ROLE],
        );
        await viem.assertions.revertWithCustomErrorWithArgs(
          s.escrow.write.revokeRole([PAUSER_ROLE, addr(s.admin)], { account: who.account }),
          s.escrow,
          "AccessControlUnauthorizedAccount",
          [addr(who), DEFAULT_ADMIN_ROLE],
        );
      }
    });

    it("DEFAULT_ADMIN_ROLE cannot be granted or revoked directly (AccessControlEnforcedDefaultAdminRules)", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomError(
        s.escrow.write.grantRole([DEFAULT_ADMIN_ROLE, addr(s.stranger)]),
        s.escrow,
        "AccessControlEnforcedDefaultAdminRules",
      );
      await viem.assertions.revertWithCustomError(
        s.escrow.write.revokeRole([DEFAULT_ADMIN_ROLE, addr(s.admin)]),
        s.escrow,
        "AccessControlEnforcedDefaultAdminRules",
      );
    });
  });

  describe("two-step default admin transfer (AccessControlDefaultAdminRules)", function () {
    it("the new admin can accept only after the delay, and then holds every admin power while the old one has none", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const newAdmin = s.wallets[9]!;

      const t = await nextTimestamp();
      const schedule = Number(t + ADMIN_TRANSFER_DELAY);
      await viem.assertions.emitWithArgs(
        s.escrow.write.beginDefaultAdminTransfer([addr(newAdmin)]),
        s.escrow,
        "DefaultAdminTransferScheduled",
        [addr(newAdmin), schedule],
      );
      const [pending, acceptSchedule] = await s.escrow.read.pendingDefaultAdmin();
      expect(getAddress(pending)).to.equal(getAddress(addr(newAdmin)));
      expect(acceptSchedule).to.equal(schedule);

      // At the schedule itself the transfer is still locked; one second later it is not.
      await time.setNextBlockTimestamp(schedule);
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.acceptDefaultAdminTransfer({ account: newAdmin.account }),
        s.escrow,
        "AccessControlEnforcedDefaultAdminDelay",
        [schedule],
      );
      // The old admin keeps its powers until then.
      await s.escrow.write.setFee([10]);

      await time.setNextBlockTimestamp(schedule + 1);
      await viem.assertions.emitWithArgs(
        s.escrow.write.acceptDefaultAdminTransfer({ account: newAdmin.account }),
        s.escrow,
        "RoleGranted",
        [DEFAULT_ADMIN_ROLE, addr(newAdmin), addr(newAdmin)],
      );
      expect(getAddress(await s.escrow.read.defaultAdmin())).to.equal(getAddress(addr(newAdmin)));
      expect(await s.escrow.read.hasRole([DEFAULT_ADMIN_ROLE, addr(s.admin)])).to.equal(false);

      await viem.assertions.revertWithCustomErrorWithArgs(s.escrow.write.setFee([20]), s.escrow, "AccessControlUnauthorizedAccount", [
        addr(s.admin),
        DEFAULT_ADMIN_ROLE,
      ]);
      await viem.assertions.emitWithArgs(s.escrow.write.setFee([20], { account: newAdmin.account }), s.escrow, "FeeUpdated", [10, 20]);
      await s.escrow.write.grantRole([OPERATOR_ROLE, addr(s.stranger)], { account: newAdmin.account });
      expect(await s.escrow.read.hasRole([OPERATOR_ROLE, addr(s.stranger)])).to.equal(true);
    });

    it("only the pending admin can accept: AccessControlInvalidDefaultAdmin(caller)", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const newAdmin = s.wallets[9]!;
      await s.escrow.write.beginDefaultAdminTransfer([addr(newAdmin)]);
      await time.increase(ADMIN_TRANSFER_DELAY + 1n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.acceptDefaultAdminTransfer({ account: s.stranger.account }),
        s.escrow,
        "AccessControlInvalidDefaultAdmin",
        [addr(s.stranger)],
      );
    });

    it("only the admin can begin a transfer", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.beginDefaultAdminTransfer([addr(s.stranger)], { account: s.stranger.account }),
        s.escrow,
        "AccessControlUnauthorizedAccount",
        [addr(s.stranger), DEFAULT_ADMIN_ROLE],
      );
    });

    it("the admin can cancel a pending transfer, after which it cannot be accepted", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const newAdmin = s.wallets[9]!;
      await s.escrow.write.beginDefaultAdminTransfer([addr(newAdmin)]);
      await viem.assertions.emit(s.escrow.write.cancelDefaultAdminTransfer(), s.escrow, "DefaultAdminTransferCanceled");
      await time.increase(ADMIN_TRANSFER_DELAY + 1n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.acceptDefaultAdminTransfer({ account: newAdmin.account }),
        s.escrow,
        "AccessControlInvalidDefaultAdmin",
        [addr(newAdmin)],
      );
      expect(getAddress(await s.escrow.read.defaultAdmin())).to.equal(getAddress(addr(s.admin)));
    });
  });

  describe("EIP-712 domain", function () {
    it("eip712Domain (ERC-5267) reports name, version, chain id and the escrow's address", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const [fields, name, version, chainId, verifyingContract, salt, extensions] = await s.escrow.read.eip712Domain();
      expect(fields).to.equal("0x0f"); // name, version, chainId, verifyingContract
      expect(name).to.equal("PayPerAgent Settlement Escrow");
      expect(version).to.equal("1");
      expect(chainId).to.equal(BigInt(s.chainId));
      expect(getAddress(verifyingContract)).to.equal(getAddress(s.escrow.address));
      expect(salt).to.equal(zeroHash);
      expect(extensions).to.deep.equal([]);
      expect(await s.escrow.read.DOMAIN_NAME()).to.equal(ESCROW_DOMAIN_NAME);
      expect(await s.escrow.read.DOMAIN_VERSION()).to.equal(ESCROW_DOMAIN_VERSION);
    });

    it("DOMAIN_SEPARATOR is the standard EIP-712 hash of that domain", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const expected = domainSeparator({
        domain: { name: "PayPerAgent Settlement Escrow", version: "1", chainId: s.chainId, verifyingContract: s.escrow.address },
      });
      expect(await s.escrow.read.DOMAIN_SEPARATOR()).to.equal(expected);
    });

    it("hashPaymentAuthorization matches the digest a wallet signs for that domain", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const auth = await paymentFor(s.publicClient, { payer: addr(s.agent), payee: addr(s.payee), token: s.usdc.address, amount: USDC });
      const expected = hashTypedData({
        domain: { name: ESCROW_DOMAIN_NAME, version: ESCROW_DOMAIN_VERSION, chainId: s.chainId, verifyingContract: s.escrow.address },
        types: PAYMENT_AUTHORIZATION_TYPES,
        primaryType: "PaymentAuthorization",
        message: auth,
      });
      expect(await s.escrow.read.hashPaymentAuthorization([auth])).to.equal(expected);
    });
  });

  describe("registry()", function () {
    it("returns the registry given at deployment, and nothing can replace it", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const otherRegistry = await viem.deployContract("TokenRegistry", [addr(s.admin)]);
      const escrow = await deployEscrow(s, { registry: otherRegistry.address });
      expect(getAddress(await escrow.read.registry())).to.equal(getAddress(otherRegistry.address));
      expect(getAddress(await s.escrow.read.registry())).to.equal(getAddress(s.registry.address));
      // `registry` is immutable: the ABI has no function that writes it.
      const writers = s.escrow.abi.filter(
        (item) => item.type === "function" && /registry/i.test(item.name) && item.stateMutability !== "view",
      );
      expect(writers).to.deep.equal([]);
    });

    it("is the only registry the escrow consults: an escrow bound to an empty registry refuses the fixture's USDC", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const otherRegistry = await viem.deployContract("TokenRegistry", [addr(s.admin)]);
      const escrow = await deployEscrow(s, { registry: otherRegistry.address });
      await s.usdc.write.approve([escrow.address, USDC], { account: s.agent.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        escrow.write.deposit([s.usdc.address, USDC], { account: s.agent.account }),
        escrow,
        "TokenNotAccepted",
        [s.usdc.address, TokenStatus.None],
      );
    });
  });
});
