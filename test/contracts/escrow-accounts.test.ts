/**
 * EscrowAccounts: the escrow's ledger seen from its users.
 *
 * Deposits (four ways, four production tokens, adversarial tokens), delayed withdrawals, payee
 * earnings and operator fees. Every state change is checked on both sides: the escrow's own
 * ledger (balanceOf / pendingWithdrawal / spendableBalance / earningsOf / accruedFees / totalOwed)
 * and the real token balances. Admin settings are covered in `escrow-admin.test.ts`.
 */
import { network } from "hardhat";
import { expect } from "chai";
import { type Address, type Hash, type Hex, getAddress, keccak256, toHex, zeroAddress } from "viem";
import type { WalletClient } from "@nomicfoundation/hardhat-viem/types";

import {
  HoldStatus,
  ONE_HOUR,
  WITHDRAWAL_DELAY,
  deployEscrowSystem,
  paymentFor,
  signPayment,
  signPermit,
  signReceiveWithAuthorization,
} from "./helpers/escrow.js";
import { METHOD_ERC20, TokenStatus } from "./helpers/registry.js";

const { viem, networkHelpers } = await network.create();
const { time } = networkHelpers;

const fixture = () => deployEscrowSystem(viem);
type System = Awaited<ReturnType<typeof deployEscrowSystem>>;

/** The shared system plus two adversarial tokens registered as Active and funded like the real ones. */
async function adversarialTokensFixture() {
  const s = await deployEscrowSystem(viem);
  const fot = await viem.deployContract("FeeOnTransferToken");
  const rebasing = await viem.deployContract("RebasingToken");
  for (const [token, symbol] of [
    [fot.address, "FOT"],
    [rebasing.address, "REBASE"],
  ] as const) {
    await s.registry.write.registerToken([
      {
        token,
        symbol,
        decimals: 6,
        collectionMethods: METHOD_ERC20,
        status: TokenStatus.Active,
        eip712Name: "",
        eip712Version: "",
        minAmount: 1n,
        maxAmount: 1_000_000_000n,
      },
    ]);
  }
  for (const wallet of [s.agent, s.agent2]) {
    await fot.write.mint([wallet.account.address, 1_000_000_000n]);
    await fot.write.approve([s.escrow.address, 2n ** 255n], { account: wallet.account });
    await rebasing.write.mint([wallet.account.address, 1_000_000_000n]);
    await rebasing.write.approve([s.escrow.address, 2n ** 255n], { account: wallet.account });
  }
  return { ...s, fot, rebasing };
}

// ------------------------------------------------------------------ helpers

const addr = (wallet: WalletClient): Address => wallet.account.address;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type TokenLike = { address: Address; read: { balanceOf: (...args: any[]) => Promise<bigint> } };

const USDC = 1_000_000n; // one USDC / USDT in atomic units

/**
 * Asserts the ERC-20 balance deltas that transaction `tx` caused (compares the block before with
 * the transaction's block; each test mines one transaction per block). Returns the hash.
 */
async function expectTokenDeltas(
  s: System,
  tx: Hash | Promise<Hash>,
  token: TokenLike,
  deltas: Array<[who: Address, delta: bigint]>,
): Promise<Hash> {
  const hash = await tx;
  const receipt = await s.publicClient.waitForTransactionReceipt({ hash });
  expect(receipt.status).to.equal("success");
  for (const [who, delta] of deltas) {
    const before: bigint = await token.read.balanceOf([who], { blockNumber: receipt.blockNumber - 1n });
    const after: bigint = await token.read.balanceOf([who], { blockNumber: receipt.blockNumber });
    expect(after - before, `token balance change of ${who}`).to.equal(delta);
  }
  return hash;
}

/** One account's position in the escrow ledger for `token`. */
async function ledgerOf(s: System, token: Address, account: Address) {
  const [balance, pending, spendable] = await Promise.all([
    s.escrow.read.balanceOf([token, account]) as Promise<bigint>,
    s.escrow.read.pendingWithdrawal([token, account]) as Promise<{ amount: bigint; unlockAt: bigint }>,
    s.escrow.read.spendableBalance([token, account]) as Promise<bigint>,
  ]);
  return { balance, pending: pending.amount, unlockAt: pending.unlockAt, spendable };
}

/**
 * The solvency invariant: `totalOwed(token)` equals the sum of every bucket (balances, pending
 * withdrawals, commitments and earnings of the first ten wallets, which are the only accounts these
 * tests use; accrued fees; and the `openHolds` the test opened), and equals the escrow's real token
 * balance minus what was donated to it by plain transfers.
 */
async function expectBooksBalance(
  s: System,
  token: TokenLike,
  { donations = 0n, openHolds = 0n }: { donations?: bigint; openHolds?: bigint } = {},
) {
  const accounts = s.wallets.slice(0, 10).map(addr);
  const perAccount = await Promise.all(
    accounts.map(async (account) => {
      const [balance, pending, earnings, ...commitments] = await Promise.all([
        s.escrow.read.balanceOf([token.address, account]),
        s.escrow.read.pendingWithdrawal([token.address, account]),
        s.escrow.read.earningsOf([token.address, account]),
        ...accounts.map((payee) => s.escrow.read.commitmentOf([token.address, account, payee])),
      ]);
      const committed = commitments.reduce((sum, c) => sum + c.amount, 0n);
      return balance + pending.amount + earnings + committed;
    }),
  );
  const fees = await s.escrow.read.accruedFees([token.address]);
  const buckets = perAccount.reduce((a, b) => a + b, 0n) + fees + openHolds;
  const owed = await s.escrow.read.totalOwed([token.address]);
  expect(owed, "totalOwed == balances + pending + commitments + holds + earnings + fees").to.equal(buckets);
  const held = await token.read.balanceOf([s.escrow.address]);
  expect(held - donations, "token.balanceOf(escrow) - donations == totalOwed").to.equal(owed);
}

/** Signs a payment from `payer` to the fixture's payee and settles it; returns the tx hash. */
async function settlePayment(s: System, payer: WalletClient, token: Address, amount: bigint): Promise<Hash> {
  const auth = await paymentFor(s.publicClient, { payer: addr(payer), payee: addr(s.payee), token, amount });
  const signature = await signPayment(payer, s.domain, auth);
  return s.escrow.write.settle([auth, signature]);
}

/** Fixes the next block's timestamp a little in the future and returns it. */
async function nextTimestamp(secondsAhead = 10n): Promise<bigint> {
  const t = BigInt(await time.latest()) + secondsAhead;
  await time.setNextBlockTimestamp(t);
  return t;
}

/** A fresh random EIP-3009 nonce. */
const randomNonce = (): Hex => keccak256(toHex(`${Date.now()}-${Math.random()}`));

// ------------------------------------------------------------------ tests

describe("EscrowAccounts", function () {
  describe("deposit", function () {
    const CASES = [
      { key: "usdc", label: "USDC", amount: 25n * USDC },
      { key: "usdt", label: "USDT (transfer functions return no bool)", amount: 25n * USDC },
      { key: "skl", label: "SKL (plain 18-decimal ERC-20)", amount: 25n * 10n ** 18n },
      { key: "weth", label: "WETH (WETH9)", amount: 3n * 10n ** 18n },
    ] as const;

    for (const { key, label, amount } of CASES) {
      it(`credits the caller and pulls exactly the amount of ${label}`, async function () {
        const s = await networkHelpers.loadFixture(fixture);
        const token = s[key];
        const agent = addr(s.agent);

        const hash = s.escrow.write.deposit([token.address, amount], { account: s.agent.account });
        await expectTokenDeltas(s, hash, token, [
          [agent, -amount],
          [s.escrow.address, amount],
        ]);
        await viem.assertions.emitWithArgs(hash, s.escrow, "Deposited", [token.address, agent, agent, amount]);

        expect(await ledgerOf(s, token.address, agent)).to.deep.equal({
          balance: amount,
          pending: 0n,
          unlockAt: 0n,
          spendable: amount,
        });
        expect(await s.escrow.read.totalOwed([token.address])).to.equal(amount);
        await expectBooksBalance(s, token);
      });
    }

    it("adds repeated deposits up", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 3n * USDC], { account: s.agent.account });
      await s.escrow.write.deposit([s.usdc.address, 4n * USDC], { account: s.agent.account });
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(7n * USDC);
      expect(await s.escrow.read.totalOwed([s.usdc.address])).to.equal(7n * USDC);
      await expectBooksBalance(s, s.usdc);
    });

    it("reverts with ZeroAmount for a zero amount", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomError(
        s.escrow.write.deposit([s.usdc.address, 0n], { account: s.agent.account }),
        s.escrow,
        "ZeroAmount",
      );
    });

    it("reverts with TokenNotAccepted(token, None) for an unregistered token", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const unregistered = await viem.deployContract("MockSKL");
      await unregistered.write.mint([addr(s.agent), 10n ** 18n]);
      await unregistered.write.approve([s.escrow.address, 10n ** 18n], { account: s.agent.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.deposit([unregistered.address, 10n ** 18n], { account: s.agent.account }),
        s.escrow,
        "TokenNotAccepted",
        [unregistered.address, TokenStatus.None],
      );
    });

    for (const status of [TokenStatus.Deprecated, TokenStatus.Removed] as const) {
      const name = status === TokenStatus.Deprecated ? "Deprecated" : "Removed";
      it(`reverts with TokenNotAccepted(token, ${name}) for a ${name} token`, async function () {
        const s = await networkHelpers.loadFixture(fixture);
        await s.registry.write.setStatus([s.usdc.address, status]);
        await viem.assertions.revertWithCustomErrorWithArgs(
          s.escrow.write.deposit([s.usdc.address, USDC], { account: s.agent.account }),
          s.escrow,
          "TokenNotAccepted",
          [s.usdc.address, status],
        );
      });
    }

    it("accepts the token again once the registry re-activates it", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.registry.write.setStatus([s.usdc.address, TokenStatus.Deprecated]);
      await s.registry.write.setStatus([s.usdc.address, TokenStatus.Active]);
      await s.escrow.write.deposit([s.usdc.address, USDC], { account: s.agent.account });
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(USDC);
    });

    it("reverts with EnforcedPause while paused, and works again after unpause", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.pause();
      await viem.assertions.revertWithCustomError(
        s.escrow.write.deposit([s.usdc.address, USDC], { account: s.agent.account }),
        s.escrow,
        "EnforcedPause",
      );
      await s.escrow.write.unpause();
      await s.escrow.write.deposit([s.usdc.address, USDC], { account: s.agent.account });
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(USDC);
    });

    it("reverts with the token's own error when the caller has not approved the escrow", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.usdc.write.mint([addr(s.stranger), USDC]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.deposit([s.usdc.address, USDC], { account: s.stranger.account }),
        s.usdc,
        "ERC20InsufficientAllowance",
        [s.escrow.address, 0n, USDC],
      );
    });

    it("rejects a fee-on-transfer token with UnsupportedTokenBehavior(token, expected, received)", async function () {
      const s = await networkHelpers.loadFixture(adversarialTokensFixture);
      // The token burns 1 %: 1 USDC-worth sent, 0.99 received.
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.deposit([s.fot.address, USDC], { account: s.agent.account }),
        s.escrow,
        "UnsupportedTokenBehavior",
        [s.fot.address, USDC, (99n * USDC) / 100n],
      );
      expect(await s.escrow.read.balanceOf([s.fot.address, addr(s.agent)])).to.equal(0n);
      expect(await s.escrow.read.totalOwed([s.fot.address])).to.equal(0n);
      expect(await s.fot.read.balanceOf([s.escrow.address])).to.equal(0n);
    });

    it("accepts a rebasing token while it has not rebased", async function () {
      const s = await networkHelpers.loadFixture(adversarialTokensFixture);
      await s.escrow.write.deposit([s.rebasing.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.deposit([s.rebasing.address, 5n * USDC], { account: s.agent2.account });
      expect(await s.escrow.read.totalOwed([s.rebasing.address])).to.equal(15n * USDC);
      await expectBooksBalance(s, s.rebasing);
    });

    it("refuses further deposits with BalanceShortfall(token, held, owed) once a token rebased below what is owed", async function () {
      const s = await networkHelpers.loadFixture(adversarialTokensFixture);
      await s.escrow.write.deposit([s.rebasing.address, 10n * USDC], { account: s.agent.account });
      await s.rebasing.write.rebaseDown([1_000n]); // -10 %: the escrow now holds 9 but owes 10
      expect(await s.rebasing.read.balanceOf([s.escrow.address])).to.equal(9n * USDC);

      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.deposit([s.rebasing.address, USDC], { account: s.agent2.account }),
        s.escrow,
        "BalanceShortfall",
        [s.rebasing.address, 9n * USDC, 10n * USDC],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.depositFor([s.rebasing.address, addr(s.agent), USDC], { account: s.agent2.account }),
        s.escrow,
        "BalanceShortfall",
        [s.rebasing.address, 9n * USDC, 10n * USDC],
      );
    });
  });

  describe("depositFor", function () {
    it("credits `account` with tokens pulled from the caller", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const [funder, beneficiary] = [addr(s.agent), addr(s.stranger)];

      const hash = s.escrow.write.depositFor([s.usdt.address, beneficiary, 7n * USDC], { account: s.agent.account });
      await expectTokenDeltas(s, hash, s.usdt, [
        [funder, -7n * USDC],
        [beneficiary, 0n],
        [s.escrow.address, 7n * USDC],
      ]);
      await viem.assertions.emitWithArgs(hash, s.escrow, "Deposited", [s.usdt.address, beneficiary, funder, 7n * USDC]);

      expect(await s.escrow.read.balanceOf([s.usdt.address, beneficiary])).to.equal(7n * USDC);
      expect(await s.escrow.read.balanceOf([s.usdt.address, funder])).to.equal(0n);
      await expectBooksBalance(s, s.usdt);
    });

    it("lets the caller name itself as `account`", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const agent = addr(s.agent);
      const hash = s.escrow.write.depositFor([s.skl.address, agent, 10n ** 18n], { account: s.agent.account });
      await viem.assertions.emitWithArgs(hash, s.escrow, "Deposited", [s.skl.address, agent, agent, 10n ** 18n]);
      expect(await s.escrow.read.balanceOf([s.skl.address, agent])).to.equal(10n ** 18n);
    });

    it("reverts with ZeroAddress for the zero account", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomError(
        s.escrow.write.depositFor([s.usdc.address, zeroAddress, USDC], { account: s.agent.account }),
        s.escrow,
        "ZeroAddress",
      );
    });

    it("reverts with ZeroAmount, TokenNotAccepted and EnforcedPause like deposit", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const beneficiary = addr(s.stranger);
      await viem.assertions.revertWithCustomError(
        s.escrow.write.depositFor([s.usdc.address, beneficiary, 0n], { account: s.agent.account }),
        s.escrow,
        "ZeroAmount",
      );
      await s.registry.write.setStatus([s.skl.address, TokenStatus.Deprecated]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.depositFor([s.skl.address, beneficiary, 1n], { account: s.agent.account }),
        s.escrow,
        "TokenNotAccepted",
        [s.skl.address, TokenStatus.Deprecated],
      );
      await s.escrow.write.pause();
      await viem.assertions.revertWithCustomError(
        s.escrow.write.depositFor([s.usdc.address, beneficiary, USDC], { account: s.agent.account }),
        s.escrow,
        "EnforcedPause",
      );
    });

    it("rejects a fee-on-transfer token with UnsupportedTokenBehavior", async function () {
      const s = await networkHelpers.loadFixture(adversarialTokensFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.depositFor([s.fot.address, addr(s.stranger), 100n], { account: s.agent.account }),
        s.escrow,
        "UnsupportedTokenBehavior",
        [s.fot.address, 100n, 99n],
      );
    });
  });

  describe("depositWithAuthorization (EIP-3009 receiveWithAuthorization)", function () {
    /** A receive authorization from the agent to the escrow, valid for an hour. */
    async function authorization(s: System, overrides: { to?: Address; value?: bigint; validBefore?: bigint } = {}) {
      const message = {
        from: addr(s.agent),
        to: overrides.to ?? s.escrow.address,
        value: overrides.value ?? 20n * USDC,
        validAfter: 0n,
        validBefore: overrides.validBefore ?? BigInt(await time.latest()) + ONE_HOUR,
        nonce: randomNonce(),
      };
      const sig = await signReceiveWithAuthorization(s.agent, { chainId: s.chainId, address: s.usdc.address }, message);
      return { message, ...sig };
    }

    function submit(s: System, a: Awaited<ReturnType<typeof authorization>>, amount: bigint, relayer: WalletClient) {
      const m = a.message;
      return s.escrow.write.depositWithAuthorization(
        [s.usdc.address, m.from, amount, m.validAfter, m.validBefore, m.nonce, a.v, a.r, a.s],
        { account: relayer.account },
      );
    }

    it("credits `from` when `from` submits it", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const a = await authorization(s);
      const hash = submit(s, a, 20n * USDC, s.agent);
      await expectTokenDeltas(s, hash, s.usdc, [
        [addr(s.agent), -20n * USDC],
        [s.escrow.address, 20n * USDC],
      ]);
      await viem.assertions.emitWithArgs(hash, s.escrow, "Deposited", [s.usdc.address, addr(s.agent), addr(s.agent), 20n * USDC]);
      await viem.assertions.emitWithArgs(hash, s.usdc, "AuthorizationUsed", [addr(s.agent), a.message.nonce]);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(20n * USDC);
      await expectBooksBalance(s, s.usdc);
    });

    it("credits `from`, never the relayer, when a third party submits it", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const a = await authorization(s);
      const hash = submit(s, a, 20n * USDC, s.stranger);
      await expectTokenDeltas(s, hash, s.usdc, [
        [addr(s.agent), -20n * USDC],
        [addr(s.stranger), 0n],
        [s.escrow.address, 20n * USDC],
      ]);
      // The funder recorded is `from` too: the relayer only paid gas.
      await viem.assertions.emitWithArgs(hash, s.escrow, "Deposited", [s.usdc.address, addr(s.agent), addr(s.agent), 20n * USDC]);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(20n * USDC);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.stranger)])).to.equal(0n);
    });

    it("rejects a signature made for another recipient (the token reports InvalidSignature)", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const a = await authorization(s, { to: addr(s.stranger) });
      // Decoded against MockUSDC: the error is the token's (the escrow's InvalidSignature() has the same selector).
      await viem.assertions.revertWithCustomError(submit(s, a, 20n * USDC, s.stranger), s.usdc, "InvalidSignature");
      expect(await s.usdc.read.authorizationState([addr(s.agent), a.message.nonce])).to.equal(false);
      expect(await s.escrow.read.totalOwed([s.usdc.address])).to.equal(0n);
    });

    it("rejects a signature used with a different value", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const a = await authorization(s, { value: 20n * USDC });
      await viem.assertions.revertWithCustomError(submit(s, a, 21n * USDC, s.agent), s.usdc, "InvalidSignature");
      await viem.assertions.revertWithCustomError(submit(s, a, 19n * USDC, s.agent), s.usdc, "InvalidSignature");
      expect(await s.escrow.read.totalOwed([s.usdc.address])).to.equal(0n);
    });

    it("rejects a reused nonce with the token's AuthorizationUsedOrCanceled", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const a = await authorization(s);
      await submit(s, a, 20n * USDC, s.agent);
      await viem.assertions.revertWithCustomErrorWithArgs(
        submit(s, a, 20n * USDC, s.stranger),
        s.usdc,
        "AuthorizationUsedOrCanceled",
        [addr(s.agent), a.message.nonce],
      );
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(20n * USDC);
    });

    it("rejects an expired authorization with the token's AuthorizationExpired", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const a = await authorization(s);
      await time.increaseTo(a.message.validBefore);
      await viem.assertions.revertWithCustomErrorWithArgs(
        submit(s, a, 20n * USDC, s.agent),
        s.usdc,
        "AuthorizationExpired",
        [a.message.validBefore],
      );
    });

    it("cannot be front-run: nobody but the escrow can submit a receive authorization naming it", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const a = await authorization(s);
      const m = a.message;
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.usdc.write.receiveWithAuthorization([m.from, m.to, m.value, m.validAfter, m.validBefore, m.nonce, a.v, a.r, a.s], {
          account: s.stranger.account,
        }),
        s.usdc,
        "CallerMustBePayee",
        [addr(s.stranger), s.escrow.address],
      );
      await submit(s, a, m.value, s.stranger);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(m.value);
    });

    it("checks amount, token status and pause before touching the token, leaving the authorization unused", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const a = await authorization(s);
      await viem.assertions.revertWithCustomError(submit(s, a, 0n, s.agent), s.escrow, "ZeroAmount");

      await s.registry.write.setStatus([s.usdc.address, TokenStatus.Removed]);
      await viem.assertions.revertWithCustomErrorWithArgs(submit(s, a, 20n * USDC, s.agent), s.escrow, "TokenNotAccepted", [
        s.usdc.address,
        TokenStatus.Removed,
      ]);
      await s.registry.write.setStatus([s.usdc.address, TokenStatus.Active]);

      await s.escrow.write.pause();
      await viem.assertions.revertWithCustomError(submit(s, a, 20n * USDC, s.agent), s.escrow, "EnforcedPause");
      expect(await s.usdc.read.authorizationState([addr(s.agent), a.message.nonce])).to.equal(false);

      await s.escrow.write.unpause();
      await submit(s, a, 20n * USDC, s.agent);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(20n * USDC);
    });

    it("reverts for an Active token that has no receiveWithAuthorization (SKL)", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const now = BigInt(await time.latest());
      await viem.assertions.revert(
        s.escrow.write.depositWithAuthorization(
          [s.skl.address, addr(s.agent), 10n ** 18n, 0n, now + ONE_HOUR, randomNonce(), 27, `0x${"11".repeat(32)}`, `0x${"22".repeat(32)}`],
          { account: s.agent.account },
        ),
      );
      expect(await s.escrow.read.totalOwed([s.skl.address])).to.equal(0n);
    });
  });

  describe("depositWithPermit (EIP-2612)", function () {
    /** wallets[7]: holds USDC but has never approved the escrow. */
    async function holderWith(s: System, amount: bigint) {
      const holder = s.wallets[7]!;
      await s.usdc.write.mint([addr(holder), amount]);
      return holder;
    }

    async function permitFor(s: System, owner: WalletClient, value: bigint, overrides: { deadline?: bigint; spender?: Address } = {}) {
      const deadline = overrides.deadline ?? BigInt(await time.latest()) + ONE_HOUR;
      const nonce: bigint = await s.usdc.read.nonces([addr(owner)]);
      const sig = await signPermit(owner, { chainId: s.chainId, address: s.usdc.address }, {
        owner: addr(owner),
        spender: overrides.spender ?? s.escrow.address,
        value,
        nonce,
        deadline,
      });
      return { deadline, ...sig };
    }

    it("credits `owner` from a valid permit, whoever submits it, and uses up the allowance", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const holder = await holderWith(s, 50n * USDC);
      const p = await permitFor(s, holder, 30n * USDC);

      const hash = s.escrow.write.depositWithPermit([s.usdc.address, addr(holder), 30n * USDC, p.deadline, p.v, p.r, p.s], {
        account: s.stranger.account,
      });
      await expectTokenDeltas(s, hash, s.usdc, [
        [addr(holder), -30n * USDC],
        [addr(s.stranger), 0n],
        [s.escrow.address, 30n * USDC],
      ]);
      await viem.assertions.emitWithArgs(hash, s.escrow, "Deposited", [s.usdc.address, addr(holder), addr(holder), 30n * USDC]);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(holder)])).to.equal(30n * USDC);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.stranger)])).to.equal(0n);
      expect(await s.usdc.read.allowance([addr(holder), s.escrow.address])).to.equal(0n);
      expect(await s.usdc.read.nonces([addr(holder)])).to.equal(1n);
      await expectBooksBalance(s, s.usdc);
    });

    it("still deposits when someone front-ran the permit by submitting it to the token directly", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const holder = await holderWith(s, 50n * USDC);
      const p = await permitFor(s, holder, 30n * USDC);
      const frontRunner = s.wallets[8]!;

      await s.usdc.write.permit([addr(holder), s.escrow.address, 30n * USDC, p.deadline, p.v, p.r, p.s], {
        account: frontRunner.account,
      });
      expect(await s.usdc.read.allowance([addr(holder), s.escrow.address])).to.equal(30n * USDC);

      const hash = s.escrow.write.depositWithPermit([s.usdc.address, addr(holder), 30n * USDC, p.deadline, p.v, p.r, p.s], {
        account: holder.account,
      });
      await expectTokenDeltas(s, hash, s.usdc, [
        [addr(holder), -30n * USDC],
        [s.escrow.address, 30n * USDC],
      ]);
      await viem.assertions.emitWithArgs(hash, s.escrow, "Deposited", [s.usdc.address, addr(holder), addr(holder), 30n * USDC]);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(holder)])).to.equal(30n * USDC);
    });

    it("reverts with the token's ERC20InsufficientAllowance when the permit is invalid and there is no allowance", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const holder = await holderWith(s, 50n * USDC);
      const forLess = await permitFor(s, holder, 29n * USDC); // signed for another value
      const forOther = await permitFor(s, holder, 30n * USDC, { spender: addr(s.stranger) }); // another spender

      for (const p of [forLess, forOther]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          s.escrow.write.depositWithPermit([s.usdc.address, addr(holder), 30n * USDC, p.deadline, p.v, p.r, p.s], {
            account: holder.account,
          }),
          s.usdc,
          "ERC20InsufficientAllowance",
          [s.escrow.address, 0n, 30n * USDC],
        );
      }
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(holder)])).to.equal(0n);
      expect(await s.usdc.read.balanceOf([addr(holder)])).to.equal(50n * USDC);
    });

    it("reverts with the token's ERC20InsufficientAllowance when the permit expired and there is no allowance", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const holder = await holderWith(s, 50n * USDC);
      const p = await permitFor(s, holder, 30n * USDC);
      await time.increaseTo(p.deadline + 1n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.depositWithPermit([s.usdc.address, addr(holder), 30n * USDC, p.deadline, p.v, p.r, p.s], {
          account: holder.account,
        }),
        s.usdc,
        "ERC20InsufficientAllowance",
        [s.escrow.address, 0n, 30n * USDC],
      );
    });

    it("falls back to an existing allowance for a token without permit (SKL)", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const agent = addr(s.agent);
      const junk = `0x${"00".repeat(32)}` as Hex;
      const hash = s.escrow.write.depositWithPermit([s.skl.address, agent, 10n ** 18n, 0n, 0, junk, junk], {
        account: s.agent.account,
      });
      await expectTokenDeltas(s, hash, s.skl, [
        [agent, -(10n ** 18n)],
        [s.escrow.address, 10n ** 18n],
      ]);
      await viem.assertions.emitWithArgs(hash, s.escrow, "Deposited", [s.skl.address, agent, agent, 10n ** 18n]);
    });

    it("reverts with ZeroAmount, TokenNotAccepted and EnforcedPause like deposit", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const holder = await holderWith(s, 50n * USDC);
      const p = await permitFor(s, holder, 30n * USDC);
      const call = (amount: bigint) =>
        s.escrow.write.depositWithPermit([s.usdc.address, addr(holder), amount, p.deadline, p.v, p.r, p.s], {
          account: holder.account,
        });

      await viem.assertions.revertWithCustomError(call(0n), s.escrow, "ZeroAmount");
      await s.registry.write.setStatus([s.usdc.address, TokenStatus.Deprecated]);
      await viem.assertions.revertWithCustomErrorWithArgs(call(30n * USDC), s.escrow, "TokenNotAccepted", [
        s.usdc.address,
        TokenStatus.Deprecated,
      ]);
      await s.registry.write.setStatus([s.usdc.address, TokenStatus.Active]);
      await s.escrow.write.pause();
      await viem.assertions.revertWithCustomError(call(30n * USDC), s.escrow, "EnforcedPause");
      // None of the failed attempts consumed the permit or moved tokens.
      expect(await s.usdc.read.nonces([addr(holder)])).to.equal(0n);
      expect(await s.usdc.read.balanceOf([addr(holder)])).to.equal(50n * USDC);
    });

    it("rejects an unregistered token with TokenNotAccepted(token, None)", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const unregistered = await viem.deployContract("MockSKL");
      await unregistered.write.mint([addr(s.agent), 10n ** 18n]);
      await unregistered.write.approve([s.escrow.address, 10n ** 18n], { account: s.agent.account });
      const junk = `0x${"00".repeat(32)}` as Hex;
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.depositWithPermit([unregistered.address, addr(s.agent), 10n ** 18n, 0n, 0, junk, junk], {
          account: s.agent.account,
        }),
        s.escrow,
        "TokenNotAccepted",
        [unregistered.address, TokenStatus.None],
      );
    });

    it("reverts with PermitFailed(token, owner) when a third party submits an invalid permit, even if the owner approved the escrow", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const junk = `0x${"00".repeat(32)}` as Hex;
      // The agent approved the escrow (as every depositor does) but signed nothing: a stranger must
      // not be able to force its wallet funds into the escrow, behind the withdrawal delay.
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.depositWithPermit([s.usdc.address, addr(s.agent), 1_000n * USDC, 0n, 27, junk, junk], {
          account: s.stranger.account,
        }),
        s.escrow,
        "PermitFailed",
        [s.usdc.address, addr(s.agent)],
      );
      expect(await s.usdc.read.balanceOf([addr(s.agent)])).to.equal(1_000n * USDC);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(0n);
    });

    it("after a front-run, only the owner can complete the deposit: a relayer gets PermitFailed", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const holder = await holderWith(s, 50n * USDC);
      const p = await permitFor(s, holder, 30n * USDC);
      await s.usdc.write.permit([addr(holder), s.escrow.address, 30n * USDC, p.deadline, p.v, p.r, p.s], {
        account: s.wallets[8]!.account,
      });
      const args = [s.usdc.address, addr(holder), 30n * USDC, p.deadline, p.v, p.r, p.s] as const;
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.depositWithPermit(args, { account: s.stranger.account }),
        s.escrow,
        "PermitFailed",
        [s.usdc.address, addr(holder)],
      );
      await s.escrow.write.depositWithPermit(args, { account: holder.account });
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(holder)])).to.equal(30n * USDC);
    });
  });

  describe("requestWithdrawal", function () {
    it("moves the amount from balance to pending, unlocking at now + withdrawalDelay", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const agent = addr(s.agent);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });

      const t = await nextTimestamp();
      const hash = s.escrow.write.requestWithdrawal([s.usdc.address, 4n * USDC], { account: s.agent.account });
      // Nothing leaves the escrow yet.
      await expectTokenDeltas(s, hash, s.usdc, [
        [agent, 0n],
        [s.escrow.address, 0n],
      ]);
      await viem.assertions.emitWithArgs(hash, s.escrow, "WithdrawalRequested", [
        s.usdc.address,
        agent,
        4n * USDC,
        4n * USDC,
        t + WITHDRAWAL_DELAY,
      ]);
      expect(await ledgerOf(s, s.usdc.address, agent)).to.deep.equal({
        balance: 6n * USDC,
        pending: 4n * USDC,
        unlockAt: t + WITHDRAWAL_DELAY,
        spendable: 10n * USDC,
      });
      expect(await s.escrow.read.totalOwed([s.usdc.address])).to.equal(10n * USDC);
      await expectBooksBalance(s, s.usdc);
    });

    it("adds to an existing pending withdrawal and restarts its delay", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const agent = addr(s.agent);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.requestWithdrawal([s.usdc.address, 4n * USDC], { account: s.agent.account });

      const t2 = await nextTimestamp(ONE_HOUR);
      await viem.assertions.emitWithArgs(
        s.escrow.write.requestWithdrawal([s.usdc.address, 5n * USDC], { account: s.agent.account }),
        s.escrow,
        "WithdrawalRequested",
        [s.usdc.address, agent, 5n * USDC, 9n * USDC, t2 + WITHDRAWAL_DELAY],
      );
      expect(await ledgerOf(s, s.usdc.address, agent)).to.deep.equal({
        balance: 1n * USDC,
        pending: 9n * USDC,
        unlockAt: t2 + WITHDRAWAL_DELAY,
        spendable: 10n * USDC,
      });
    });

    it("accepts the whole balance", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.requestWithdrawal([s.usdc.address, 10n * USDC], { account: s.agent.account });
      const l = await ledgerOf(s, s.usdc.address, addr(s.agent));
      expect([l.balance, l.pending, l.spendable]).to.deep.equal([0n, 10n * USDC, 10n * USDC]);
    });

    it("reverts with InsufficientBalance(available, required) above the balance", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.requestWithdrawal([s.usdc.address, 10n * USDC + 1n], { account: s.agent.account }),
        s.escrow,
        "InsufficientBalance",
        [10n * USDC, 10n * USDC + 1n],
      );
      // Pending funds are not balance: they cannot be requested twice.
      await s.escrow.write.requestWithdrawal([s.usdc.address, 6n * USDC], { account: s.agent.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.requestWithdrawal([s.usdc.address, 5n * USDC], { account: s.agent.account }),
        s.escrow,
        "InsufficientBalance",
        [4n * USDC, 5n * USDC],
      );
    });

    it("reverts with InsufficientBalance(0, amount) for an account that never deposited", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.requestWithdrawal([s.usdc.address, 1n], { account: s.stranger.account }),
        s.escrow,
        "InsufficientBalance",
        [0n, 1n],
      );
    });

    it("reverts with ZeroAmount for a zero amount", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await viem.assertions.revertWithCustomError(
        s.escrow.write.requestWithdrawal([s.usdc.address, 0n], { account: s.agent.account }),
        s.escrow,
        "ZeroAmount",
      );
    });

    it("works while paused and for Deprecated and Removed tokens", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.deposit([s.usdt.address, 10n * USDC], { account: s.agent.account });
      await s.registry.write.setStatus([s.usdc.address, TokenStatus.Deprecated]);
      await s.registry.write.setStatus([s.usdt.address, TokenStatus.Removed]);
      await s.escrow.write.pause();
      for (const token of [s.usdc.address, s.usdt.address]) {
        await viem.assertions.emit(
          s.escrow.write.requestWithdrawal([token, 10n * USDC], { account: s.agent.account }),
          s.escrow,
          "WithdrawalRequested",
        );
        expect((await ledgerOf(s, token, addr(s.agent))).pending).to.equal(10n * USDC);
      }
    });
  });

  describe("cancelWithdrawal", function () {
    it("moves the whole pending withdrawal back to the balance", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const agent = addr(s.agent);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.requestWithdrawal([s.usdc.address, 3n * USDC], { account: s.agent.account });
      await s.escrow.write.requestWithdrawal([s.usdc.address, 4n * USDC], { account: s.agent.account });

      const hash = s.escrow.write.cancelWithdrawal([s.usdc.address], { account: s.agent.account });
      await expectTokenDeltas(s, hash, s.usdc, [
        [agent, 0n],
        [s.escrow.address, 0n],
      ]);
      await viem.assertions.emitWithArgs(hash, s.escrow, "WithdrawalCancelled", [s.usdc.address, agent, 7n * USDC]);
      expect(await ledgerOf(s, s.usdc.address, agent)).to.deep.equal({
        balance: 10n * USDC,
        pending: 0n,
        unlockAt: 0n,
        spendable: 10n * USDC,
      });
      expect(await s.escrow.read.totalOwed([s.usdc.address])).to.equal(10n * USDC);
    });

    it("reverts with NoPendingWithdrawal when nothing is pending, including after a cancel", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomError(
        s.escrow.write.cancelWithdrawal([s.usdc.address], { account: s.agent.account }),
        s.escrow,
        "NoPendingWithdrawal",
      );
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.requestWithdrawal([s.usdc.address, 3n * USDC], { account: s.agent.account });
      await s.escrow.write.cancelWithdrawal([s.usdc.address], { account: s.agent.account });
      await viem.assertions.revertWithCustomError(
        s.escrow.write.cancelWithdrawal([s.usdc.address], { account: s.agent.account }),
        s.escrow,
        "NoPendingWithdrawal",
      );
    });

    it("only touches the caller's own pending withdrawal", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.requestWithdrawal([s.usdc.address, 3n * USDC], { account: s.agent.account });
      await viem.assertions.revertWithCustomError(
        s.escrow.write.cancelWithdrawal([s.usdc.address], { account: s.stranger.account }),
        s.escrow,
        "NoPendingWithdrawal",
      );
      expect((await ledgerOf(s, s.usdc.address, addr(s.agent))).pending).to.equal(3n * USDC);
    });

    it("works while paused", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.requestWithdrawal([s.usdc.address, 3n * USDC], { account: s.agent.account });
      await s.escrow.write.pause();
      await s.escrow.write.cancelWithdrawal([s.usdc.address], { account: s.agent.account });
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(10n * USDC);
    });
  });

  describe("withdraw", function () {
    it("reverts with WithdrawalLocked(unlockAt) until unlockAt, then pays out exactly the pending amount", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const agent = addr(s.agent);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      const t = await nextTimestamp();
      await s.escrow.write.requestWithdrawal([s.usdc.address, 4n * USDC], { account: s.agent.account });
      const unlockAt = t + WITHDRAWAL_DELAY;

      for (const at of [t + 1n, unlockAt - 1n]) {
        await time.setNextBlockTimestamp(at);
        await viem.assertions.revertWithCustomErrorWithArgs(
          s.escrow.write.withdraw([s.usdc.address], { account: s.agent.account }),
          s.escrow,
          "WithdrawalLocked",
          [unlockAt],
        );
      }

      await time.setNextBlockTimestamp(unlockAt);
      const hash = s.escrow.write.withdraw([s.usdc.address], { account: s.agent.account });
      await expectTokenDeltas(s, hash, s.usdc, [
        [agent, 4n * USDC],
        [s.escrow.address, -4n * USDC],
      ]);
      await viem.assertions.emitWithArgs(hash, s.escrow, "Withdrawn", [s.usdc.address, agent, 4n * USDC]);
      expect(await ledgerOf(s, s.usdc.address, agent)).to.deep.equal({
        balance: 6n * USDC,
        pending: 0n,
        unlockAt: 0n,
        spendable: 6n * USDC,
      });
      expect(await s.escrow.read.totalOwed([s.usdc.address])).to.equal(6n * USDC);
      await expectBooksBalance(s, s.usdc);
    });

    for (const key of ["usdc", "usdt", "skl", "weth"] as const) {
      it(`returns a whole ${key.toUpperCase()} deposit through request, delay and withdraw`, async function () {
        const s = await networkHelpers.loadFixture(fixture);
        const token = s[key];
        const agent = addr(s.agent);
        const amount = key === "usdc" || key === "usdt" ? 12n * USDC : 2n * 10n ** 18n;
        const walletBefore: bigint = await token.read.balanceOf([agent]);

        await s.escrow.write.deposit([token.address, amount], { account: s.agent.account });
        await s.escrow.write.requestWithdrawal([token.address, amount], { account: s.agent.account });
        await time.increase(WITHDRAWAL_DELAY);
        const hash = s.escrow.write.withdraw([token.address], { account: s.agent.account });
        await expectTokenDeltas(s, hash, token, [
          [agent, amount],
          [s.escrow.address, -amount],
        ]);
        expect(await token.read.balanceOf([agent])).to.equal(walletBefore);
        expect(await s.escrow.read.totalOwed([token.address])).to.equal(0n);
        await expectBooksBalance(s, token);
      });
    }

    it("reverts with NoPendingWithdrawal when nothing was requested, and after the withdrawal", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await viem.assertions.revertWithCustomError(
        s.escrow.write.withdraw([s.usdc.address], { account: s.agent.account }),
        s.escrow,
        "NoPendingWithdrawal",
      );
      await s.escrow.write.requestWithdrawal([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await time.increase(WITHDRAWAL_DELAY);
      await s.escrow.write.withdraw([s.usdc.address], { account: s.agent.account });
      await viem.assertions.revertWithCustomError(
        s.escrow.write.withdraw([s.usdc.address], { account: s.agent.account }),
        s.escrow,
        "NoPendingWithdrawal",
      );
    });

    it("works while paused", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.requestWithdrawal([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.pause();
      await time.increase(WITHDRAWAL_DELAY);
      const hash = s.escrow.write.withdraw([s.usdc.address], { account: s.agent.account });
      await expectTokenDeltas(s, hash, s.usdc, [
        [addr(s.agent), 10n * USDC],
        [s.escrow.address, -10n * USDC],
      ]);
    });

    for (const status of [TokenStatus.Deprecated, TokenStatus.Removed] as const) {
      const name = status === TokenStatus.Deprecated ? "Deprecated" : "Removed";
      it(`works for a token that became ${name} after the deposit`, async function () {
        const s = await networkHelpers.loadFixture(fixture);
        await s.escrow.write.deposit([s.skl.address, 10n ** 18n], { account: s.agent.account });
        await s.escrow.write.requestWithdrawal([s.skl.address, 10n ** 18n], { account: s.agent.account });
        await s.registry.write.setStatus([s.skl.address, status]);
        await time.increase(WITHDRAWAL_DELAY);
        const hash = s.escrow.write.withdraw([s.skl.address], { account: s.agent.account });
        await expectTokenDeltas(s, hash, s.skl, [
          [addr(s.agent), 10n ** 18n],
          [s.escrow.address, -(10n ** 18n)],
        ]);
        expect(await s.escrow.read.totalOwed([s.skl.address])).to.equal(0n);
      });
    }
  });

  describe("settlements drawing on pending withdrawals", function () {
    it("spendableBalance is balance plus pending withdrawal", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const agent = addr(s.agent);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.requestWithdrawal([s.usdc.address, 7n * USDC], { account: s.agent.account });
      expect(await s.escrow.read.balanceOf([s.usdc.address, agent])).to.equal(3n * USDC);
      expect(await s.escrow.read.spendableBalance([s.usdc.address, agent])).to.equal(10n * USDC);
    });

    it("a settlement the balance covers leaves the pending withdrawal untouched", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const agent = addr(s.agent);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.requestWithdrawal([s.usdc.address, 7n * USDC], { account: s.agent.account });
      const before = await ledgerOf(s, s.usdc.address, agent);

      await settlePayment(s, s.agent, s.usdc.address, 3n * USDC); // exactly the balance
      expect(await ledgerOf(s, s.usdc.address, agent)).to.deep.equal({ ...before, balance: 0n, spendable: 7n * USDC });
      await expectBooksBalance(s, s.usdc);
    });

    it("a settlement larger than the balance takes the rest from the pending withdrawal; withdraw then pays only what is left", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const agent = addr(s.agent);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      const t = await nextTimestamp();
      await s.escrow.write.requestWithdrawal([s.usdc.address, 8n * USDC], { account: s.agent.account });

      // Balance 2, pending 8: a payment of 5 takes the 2 and 3 of the pending 8.
      const hash = await settlePayment(s, s.agent, s.usdc.address, 5n * USDC);
      await viem.assertions.emitWithArgs(hash, s.escrow, "PaymentSettled", [
        agent,
        addr(s.payee),
        s.usdc.address,
        (n: bigint) => n > 0n,
        5n * USDC,
        0n,
        `0x${"ab".repeat(32)}`,
      ]);
      expect(await ledgerOf(s, s.usdc.address, agent)).to.deep.equal({
        balance: 0n,
        pending: 5n * USDC,
        unlockAt: t + WITHDRAWAL_DELAY, // drawing on it does not move the unlock time
        spendable: 5n * USDC,
      });
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal(5n * USDC);
      await expectBooksBalance(s, s.usdc);

      await time.increaseTo(t + WITHDRAWAL_DELAY);
      const withdrawal = s.escrow.write.withdraw([s.usdc.address], { account: s.agent.account });
      await expectTokenDeltas(s, withdrawal, s.usdc, [
        [agent, 5n * USDC],
        [s.escrow.address, -5n * USDC],
      ]);
      await viem.assertions.emitWithArgs(withdrawal, s.escrow, "Withdrawn", [s.usdc.address, agent, 5n * USDC]);
      await expectBooksBalance(s, s.usdc);
    });

    it("a settlement that consumes the whole pending withdrawal leaves nothing to withdraw", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const agent = addr(s.agent);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.requestWithdrawal([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await settlePayment(s, s.agent, s.usdc.address, 10n * USDC);

      const l = await ledgerOf(s, s.usdc.address, agent);
      expect([l.balance, l.pending, l.spendable]).to.deep.equal([0n, 0n, 0n]);
      await time.increase(WITHDRAWAL_DELAY);
      await viem.assertions.revertWithCustomError(
        s.escrow.write.withdraw([s.usdc.address], { account: s.agent.account }),
        s.escrow,
        "NoPendingWithdrawal",
      );
      await viem.assertions.revertWithCustomError(
        s.escrow.write.cancelWithdrawal([s.usdc.address], { account: s.agent.account }),
        s.escrow,
        "NoPendingWithdrawal",
      );
      await expectBooksBalance(s, s.usdc);
    });

    it("a settlement draws on the commitment to its payee first, then the balance, then the pending withdrawal", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const [agent, payee] = [addr(s.agent), addr(s.payee)];
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.commit([s.usdc.address, payee, 3n * USDC], { account: s.agent.account });
      await s.escrow.write.requestWithdrawal([s.usdc.address, 4n * USDC], { account: s.agent.account });
      // Commitment 3 (payee only) + balance 3 + pending 4.
      expect(await s.escrow.read.spendableBalance([s.usdc.address, agent])).to.equal(7n * USDC);
      expect(await s.escrow.read.spendableFor([s.usdc.address, agent, payee])).to.equal(10n * USDC);

      // 2 fits in the commitment: nothing else moves.
      await settlePayment(s, s.agent, s.usdc.address, 2n * USDC);
      expect((await s.escrow.read.commitmentOf([s.usdc.address, agent, payee])).amount).to.equal(1n * USDC);
      expect((await ledgerOf(s, s.usdc.address, agent)).spendable).to.equal(7n * USDC);

      // 6 more: the last 1 of the commitment, all 3 of the balance, then 2 of the pending 4.
      await settlePayment(s, s.agent, s.usdc.address, 6n * USDC);
      expect((await s.escrow.read.commitmentOf([s.usdc.address, agent, payee])).amount).to.equal(0n);
      const l = await ledgerOf(s, s.usdc.address, agent);
      expect([l.balance, l.pending, l.spendable]).to.deep.equal([0n, 2n * USDC, 2n * USDC]);
      expect(await s.escrow.read.earningsOf([s.usdc.address, payee])).to.equal(8n * USDC);
      await expectBooksBalance(s, s.usdc);
    });

    it("a settlement above balance plus pending reverts with InsufficientFunds(spendable, required)", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.requestWithdrawal([s.usdc.address, 4n * USDC], { account: s.agent.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        settlePayment(s, s.agent, s.usdc.address, 10n * USDC + 1n),
        s.escrow,
        "InsufficientFunds",
        [10n * USDC, 10n * USDC + 1n],
      );
    });
  });

  describe("claimEarnings", function () {
    /** The agent deposits 10 USDC and pays the payee 4. */
    async function withEarnings(s: System) {
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await settlePayment(s, s.agent, s.usdc.address, 4n * USDC);
    }

    it("sends all of the caller's earnings to the chosen address and zeroes them", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await withEarnings(s);
      const [payee, to] = [addr(s.payee), addr(s.stranger)];

      const hash = s.escrow.write.claimEarnings([s.usdc.address, to], { account: s.payee.account });
      await expectTokenDeltas(s, hash, s.usdc, [
        [to, 4n * USDC],
        [payee, 0n],
        [s.escrow.address, -4n * USDC],
      ]);
      await viem.assertions.emitWithArgs(hash, s.escrow, "EarningsClaimed", [s.usdc.address, payee, to, 4n * USDC]);
      expect(await s.escrow.read.earningsOf([s.usdc.address, payee])).to.equal(0n);
      expect(await s.escrow.read.totalOwed([s.usdc.address])).to.equal(6n * USDC);
      await expectBooksBalance(s, s.usdc);
    });

    it("can send the earnings to the payee itself", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await withEarnings(s);
      const payee = addr(s.payee);
      const hash = s.escrow.write.claimEarnings([s.usdc.address, payee], { account: s.payee.account });
      await expectTokenDeltas(s, hash, s.usdc, [
        [payee, 4n * USDC],
        [s.escrow.address, -4n * USDC],
      ]);
    });

    it("reverts with ZeroAddress for the zero recipient", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await withEarnings(s);
      await viem.assertions.revertWithCustomError(
        s.escrow.write.claimEarnings([s.usdc.address, zeroAddress], { account: s.payee.account }),
        s.escrow,
        "ZeroAddress",
      );
    });

    it("reverts with NothingToClaim without earnings, including right after a claim", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomError(
        s.escrow.write.claimEarnings([s.usdc.address, addr(s.payee)], { account: s.payee.account }),
        s.escrow,
        "NothingToClaim",
      );
      await withEarnings(s);
      await s.escrow.write.claimEarnings([s.usdc.address, addr(s.payee)], { account: s.payee.account });
      await viem.assertions.revertWithCustomError(
        s.escrow.write.claimEarnings([s.usdc.address, addr(s.payee)], { account: s.payee.account }),
        s.escrow,
        "NothingToClaim",
      );
    });

    it("cannot touch another payee's earnings: a stranger claiming gets NothingToClaim", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await withEarnings(s);
      await viem.assertions.revertWithCustomError(
        s.escrow.write.claimEarnings([s.usdc.address, addr(s.stranger)], { account: s.stranger.account }),
        s.escrow,
        "NothingToClaim",
      );
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal(4n * USDC);
    });

    it("works while paused and for a Removed token", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await withEarnings(s);
      await s.registry.write.setStatus([s.usdc.address, TokenStatus.Removed]);
      await s.escrow.write.pause();
      const hash = s.escrow.write.claimEarnings([s.usdc.address, addr(s.payee)], { account: s.payee.account });
      await expectTokenDeltas(s, hash, s.usdc, [
        [addr(s.payee), 4n * USDC],
        [s.escrow.address, -4n * USDC],
      ]);
    });
  });

  describe("claimFees", function () {
    it("sends the accrued fees to feeRecipient whoever triggers it", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.setFee([100]); // 1 %
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await settlePayment(s, s.agent, s.usdc.address, 5n * USDC);
      expect(await s.escrow.read.accruedFees([s.usdc.address])).to.equal(50_000n);

      const hash = s.escrow.write.claimFees([s.usdc.address], { account: s.stranger.account });
      await expectTokenDeltas(s, hash, s.usdc, [
        [addr(s.feeRecipient), 50_000n],
        [addr(s.stranger), 0n],
        [s.escrow.address, -50_000n],
      ]);
      await viem.assertions.emitWithArgs(hash, s.escrow, "FeesClaimed", [s.usdc.address, addr(s.feeRecipient), 50_000n]);
      expect(await s.escrow.read.accruedFees([s.usdc.address])).to.equal(0n);
      expect(await s.escrow.read.totalOwed([s.usdc.address])).to.equal(10n * USDC - 50_000n);
      await expectBooksBalance(s, s.usdc);
    });

    it("reverts with NothingToClaim when no fee accrued (fee 0) and after the fees were claimed", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await settlePayment(s, s.agent, s.usdc.address, 5n * USDC); // fee is 0 by default
      await viem.assertions.revertWithCustomError(s.escrow.write.claimFees([s.usdc.address]), s.escrow, "NothingToClaim");

      await s.escrow.write.setFee([100]);
      await settlePayment(s, s.agent, s.usdc.address, 5n * USDC);
      await s.escrow.write.claimFees([s.usdc.address]);
      await viem.assertions.revertWithCustomError(s.escrow.write.claimFees([s.usdc.address]), s.escrow, "NothingToClaim");
    });

    it("works while paused", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.setFee([1_000]);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await settlePayment(s, s.agent, s.usdc.address, 10n * USDC);
      await s.escrow.write.pause();
      const hash = s.escrow.write.claimFees([s.usdc.address], { account: s.stranger.account });
      await expectTokenDeltas(s, hash, s.usdc, [
        [addr(s.feeRecipient), USDC],
        [s.escrow.address, -USDC],
      ]);
    });
  });

  describe("views", function () {
    it("are all zero for an account and token the escrow never saw", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const nobody = addr(s.stranger);
      const token = s.weth.address;
      expect(await s.escrow.read.balanceOf([token, nobody])).to.equal(0n);
      expect(await s.escrow.read.spendableBalance([token, nobody])).to.equal(0n);
      expect(await s.escrow.read.pendingWithdrawal([token, nobody])).to.deep.equal({ amount: 0n, unlockAt: 0n });
      expect(await s.escrow.read.earningsOf([token, nobody])).to.equal(0n);
      expect(await s.escrow.read.accruedFees([token])).to.equal(0n);
      expect(await s.escrow.read.totalOwed([token])).to.equal(0n);
    });

    it("keep tokens apart: a USDC deposit shows nothing under USDT", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      expect(await s.escrow.read.balanceOf([s.usdt.address, addr(s.agent)])).to.equal(0n);
      expect(await s.escrow.read.totalOwed([s.usdt.address])).to.equal(0n);
    });
  });

  describe("totalOwed", function () {
    it("equals the sum of every bucket, and the escrow's token balance minus donations, through a full lifecycle", async function () {
      const s = await networkHelpers.loadFixture(fixture);
      const token = s.usdc;
      const check = (extra: { donations?: bigint; openHolds?: bigint } = {}) => expectBooksBalance(s, token, extra);

      await check();
      await s.escrow.write.deposit([token.address, 100n * USDC], { account: s.agent.account });
      await check();
      await s.escrow.write.depositFor([token.address, addr(s.agent2), 50n * USDC], { account: s.agent.account });
      await check();

      // A plain transfer is a donation: held grows, owed does not.
      await token.write.transfer([s.escrow.address, 3n * USDC], { account: s.agent2.account });
      await check({ donations: 3n * USDC });

      await s.escrow.write.setFee([250]);
      await settlePayment(s, s.agent, token.address, 20n * USDC);
      await check({ donations: 3n * USDC });

      await s.escrow.write.requestWithdrawal([token.address, 70n * USDC], { account: s.agent.account });
      await check({ donations: 3n * USDC });
      await settlePayment(s, s.agent, token.address, 15n * USDC); // 10 from balance, 5 from pending
      await check({ donations: 3n * USDC });

      // A commitment moves funds out of the balance into a per-payee bucket.
      await s.escrow.write.commit([token.address, addr(s.payee), 5n * USDC], { account: s.agent2.account });
      await check({ donations: 3n * USDC });

      // A hold moves funds out of the balance into the hold bucket.
      const now = BigInt(await time.latest());
      await s.escrow.write.authorize(
        [token.address, addr(s.payee), 8n * USDC, 777_777n, now + ONE_HOUR, now + 2n * ONE_HOUR, `0x${"cd".repeat(32)}`],
        { account: s.agent2.account },
      );
      const holdId: Hex = await s.escrow.read.holdIdFor([addr(s.agent2), 777_777n]);
      expect((await s.escrow.read.getHold([holdId])).status).to.equal(HoldStatus.Open);
      await check({ donations: 3n * USDC, openHolds: 8n * USDC });

      await s.escrow.write.claimEarnings([token.address, addr(s.payee)], { account: s.payee.account });
      await check({ donations: 3n * USDC, openHolds: 8n * USDC });
      await s.escrow.write.claimFees([token.address]);
      await check({ donations: 3n * USDC, openHolds: 8n * USDC });

      await s.escrow.write.cancelWithdrawal([token.address], { account: s.agent.account });
      await check({ donations: 3n * USDC, openHolds: 8n * USDC });
      await s.escrow.write.requestWithdrawal([token.address, 20n * USDC], { account: s.agent.account });
      await time.increase(WITHDRAWAL_DELAY);
      await s.escrow.write.withdraw([token.address], { account: s.agent.account });
      await check({ donations: 3n * USDC, openHolds: 8n * USDC });

      await s.escrow.write.sweep([token.address, addr(s.admin)]);
      await check({ openHolds: 8n * USDC });

      // Final figures: 150 deposited; 35 paid out as earnings (minus fees) and fees; 20 withdrawn.
      expect(await s.escrow.read.totalOwed([token.address])).to.equal(150n * USDC - 35n * USDC - 20n * USDC);
      expect(getAddress((await s.escrow.read.getHold([holdId])).payer)).to.equal(getAddress(addr(s.agent2)));
    });
  });
});
