/**
 * Commitments (funds reserved for one payee), the guard rails added after the attack review
 * (no payments to the escrow itself, permit fallback only for the owner) and the bounded
 * ERC-1271 call that keeps one hostile contract wallet from sinking a batch.
 */
import { network } from "hardhat";
import { expect } from "chai";
import { encodeFunctionData, getAddress, type Hex } from "viem";
import {
  ONE_DAY,
  SettlementFailure,
  USDC_DOMAIN_NAME,
  deployEscrowSystem,
  paymentFor,
  signPayment,
  signPermit,
} from "./helpers/escrow.js";

const { viem, networkHelpers } = await network.create();
const fixture = () => deployEscrowSystem(viem);

async function committedFixture() {
  const s = await deployEscrowSystem(viem);
  await s.escrow.write.deposit([s.usdc.address, 10_000_000n], { account: s.agent.account });
  await s.escrow.write.commit([s.usdc.address, s.payee.account.address, 4_000_000n], { account: s.agent.account });
  return s;
}

describe("SettlementEscrow commitments", () => {
  describe("commit", () => {
    it("moves balance into a commitment for one payee and emits Committed with the running total", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      const [token, agent, payee] = [s.usdc.address, s.agent.account.address, s.payee.account.address];
      await s.escrow.write.deposit([token, 10_000_000n], { account: s.agent.account });
      await viem.assertions.emitWithArgs(
        s.escrow.write.commit([token, payee, 3_000_000n], { account: s.agent.account }),
        s.escrow,
        "Committed",
        [getAddress(token), getAddress(agent), getAddress(payee), 3_000_000n, 3_000_000n],
      );
      await viem.assertions.emitWithArgs(
        s.escrow.write.commit([token, payee, 1_000_000n], { account: s.agent.account }),
        s.escrow,
        "Committed",
        [getAddress(token), getAddress(agent), getAddress(payee), 1_000_000n, 4_000_000n],
      );
      expect(await s.escrow.read.balanceOf([token, agent])).to.equal(6_000_000n);
      expect((await s.escrow.read.commitmentOf([token, agent, payee])).amount).to.equal(4_000_000n);
      expect(await s.escrow.read.spendableFor([token, agent, payee])).to.equal(10_000_000n);
      expect(await s.escrow.read.spendableFor([token, agent, s.stranger.account.address])).to.equal(6_000_000n);
      expect(await s.escrow.read.totalOwed([token])).to.equal(10_000_000n);
    });

    it("rejects a zero amount, a zero or escrow payee, more than the balance, and a paused escrow", async () => {
      const s = await networkHelpers.loadFixture(committedFixture);
      const token = s.usdc.address;
      const as = { account: s.agent.account };
      await viem.assertions.revertWithCustomError(s.escrow.write.commit([token, s.payee.account.address, 0n], as), s.escrow, "ZeroAmount");
      await viem.assertions.revertWithCustomError(
        s.escrow.write.commit([token, "0x0000000000000000000000000000000000000000", 1n], as),
        s.escrow,
        "InvalidPayee",
      );
      await viem.assertions.revertWithCustomError(s.escrow.write.commit([token, s.escrow.address, 1n], as), s.escrow, "InvalidPayee");
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.commit([token, s.payee.account.address, 6_000_001n], as),
        s.escrow,
        "InsufficientBalance",
        [6_000_000n, 6_000_001n],
      );
      await s.escrow.write.pause();
      await viem.assertions.revertWithCustomError(s.escrow.write.commit([token, s.payee.account.address, 1n], as), s.escrow, "EnforcedPause");
    });
  });

  describe("settlement against a commitment", () => {
    it("draws on the commitment to the signed payee first, then the balance", async () => {
      const s = await networkHelpers.loadFixture(committedFixture);
      const [token, agent, payee] = [s.usdc.address, s.agent.account.address, s.payee.account.address];
      const auth = await paymentFor(s.publicClient, { payer: agent, payee, token, amount: 5_000_000n });
      await s.escrow.write.settle([auth, await signPayment(s.agent, s.domain, auth)], { account: s.stranger.account });
      expect((await s.escrow.read.commitmentOf([token, agent, payee])).amount).to.equal(0n);
      expect(await s.escrow.read.balanceOf([token, agent])).to.equal(5_000_000n);
      expect(await s.escrow.read.earningsOf([token, payee])).to.equal(5_000_000n);
    });

    it("leaves the balance alone while the commitment covers the payment", async () => {
      const s = await networkHelpers.loadFixture(committedFixture);
      const [token, agent, payee] = [s.usdc.address, s.agent.account.address, s.payee.account.address];
      const auth = await paymentFor(s.publicClient, { payer: agent, payee, token, amount: 1_500_000n });
      await s.escrow.write.settle([auth, await signPayment(s.agent, s.domain, auth)]);
      expect((await s.escrow.read.commitmentOf([token, agent, payee])).amount).to.equal(2_500_000n);
      expect(await s.escrow.read.balanceOf([token, agent])).to.equal(6_000_000n);
    });

    it("cannot be drained by paying another payee (the payer's own second address included)", async () => {
      const s = await networkHelpers.loadFixture(committedFixture);
      const [token, agent] = [s.usdc.address, s.agent.account.address];
      const accomplice = s.agent2.account.address;
      const drain = await paymentFor(s.publicClient, { payer: agent, payee: accomplice, token, amount: 6_000_001n });
      const sig = await signPayment(s.agent, s.domain, drain);
      expect(await s.escrow.read.checkPayment([drain, sig])).to.equal(SettlementFailure.InsufficientFunds);
      await viem.assertions.revertWithCustomErrorWithArgs(s.escrow.write.settle([drain, sig]), s.escrow, "InsufficientFunds", [
        6_000_000n,
        6_000_001n,
      ]);
      // Everything uncommitted can go; the commitment to the original payee stays intact.
      const allowed = await paymentFor(s.publicClient, { payer: agent, payee: accomplice, token, amount: 6_000_000n });
      await s.escrow.write.settle([allowed, await signPayment(s.agent, s.domain, allowed)]);
      expect((await s.escrow.read.commitmentOf([token, agent, s.payee.account.address])).amount).to.equal(4_000_000n);
    });

    it("rejects payments to the escrow itself, whose money nobody could ever claim", async () => {
      const s = await networkHelpers.loadFixture(committedFixture);
      const auth = await paymentFor(s.publicClient, {
        payer: s.agent.account.address,
        payee: s.escrow.address,
        token: s.usdc.address,
        amount: 1n,
      });
      const sig = await signPayment(s.agent, s.domain, auth);
      expect(await s.escrow.read.checkPayment([auth, sig])).to.equal(SettlementFailure.InvalidPayee);
      await viem.assertions.revertWithCustomError(s.escrow.write.settle([auth, sig]), s.escrow, "InvalidPayee");
      const { timestamp } = await s.publicClient.getBlock();
      await viem.assertions.revertWithCustomError(
        s.escrow.write.authorize([s.usdc.address, s.escrow.address, 1n, 999n, timestamp + 100n, timestamp + 100n, auth.challengeHash], {
          account: s.agent.account,
        }),
        s.escrow,
        "InvalidPayee",
      );
    });
  });

  describe("release", () => {
    it("only after requestRelease and the withdrawal delay, returning the rest to the balance", async () => {
      const s = await networkHelpers.loadFixture(committedFixture);
      const [token, agent, payee] = [s.usdc.address, s.agent.account.address, s.payee.account.address];
      const as = { account: s.agent.account };
      await viem.assertions.revertWithCustomError(s.escrow.write.release([token, payee], as), s.escrow, "ReleaseNotRequested");

      const { timestamp } = await s.publicClient.getBlock();
      const releaseAt = timestamp + 1n + ONE_DAY;
      await viem.assertions.emitWithArgs(s.escrow.write.requestRelease([token, payee], as), s.escrow, "ReleaseRequested", [
        getAddress(token),
        getAddress(agent),
        getAddress(payee),
        releaseAt,
      ]);
      await viem.assertions.revertWithCustomErrorWithArgs(s.escrow.write.release([token, payee], as), s.escrow, "ReleaseLocked", [
        releaseAt,
      ]);

      // Until the release, the payee can still be paid from the commitment.
      const auth = await paymentFor(s.publicClient, { payer: agent, payee, token, amount: 1_000_000n });
      await s.escrow.write.settle([auth, await signPayment(s.agent, s.domain, auth)]);

      await networkHelpers.time.increaseTo(releaseAt);
      await s.escrow.write.pause(); // exits keep working while paused
      await viem.assertions.emitWithArgs(s.escrow.write.release([token, payee], as), s.escrow, "Released", [
        getAddress(token),
        getAddress(agent),
        getAddress(payee),
        3_000_000n,
      ]);
      expect(await s.escrow.read.balanceOf([token, agent])).to.equal(9_000_000n);
      expect(await s.escrow.read.commitmentOf([token, agent, payee])).to.deep.equal({ amount: 0n, releaseAt: 0n });
      await viem.assertions.revertWithCustomError(s.escrow.write.release([token, payee], as), s.escrow, "NothingCommitted");
    });

    it("is cancelled by committing more", async () => {
      const s = await networkHelpers.loadFixture(committedFixture);
      const [token, agent, payee] = [s.usdc.address, s.agent.account.address, s.payee.account.address];
      const as = { account: s.agent.account };
      await s.escrow.write.requestRelease([token, payee], as);
      await s.escrow.write.commit([token, payee, 1n], as);
      expect((await s.escrow.read.commitmentOf([token, agent, payee])).releaseAt).to.equal(0n);
      await networkHelpers.time.increase(ONE_DAY * 2n);
      await viem.assertions.revertWithCustomError(s.escrow.write.release([token, payee], as), s.escrow, "ReleaseNotRequested");
    });

    it("rejects requestRelease with nothing committed", async () => {
      const s = await networkHelpers.loadFixture(committedFixture);
      await viem.assertions.revertWithCustomError(
        s.escrow.write.requestRelease([s.usdc.address, s.stranger.account.address], { account: s.agent.account }),
        s.escrow,
        "NothingCommitted",
      );
    });
  });
});

describe("SettlementEscrow depositWithPermit fallback", () => {
  it("refuses a stranger who brings a failing permit, so approved wallet funds cannot be forced in", async () => {
    const s = await networkHelpers.loadFixture(fixture);
    const { timestamp } = await s.publicClient.getBlock();
    // The agent approved the escrow in the fixture; a junk signature must not let a stranger use that.
    await viem.assertions.revertWithCustomErrorWithArgs(
      s.escrow.write.depositWithPermit(
        [s.usdc.address, s.agent.account.address, 1_000_000n, timestamp + 100n, 27, `0x${"11".repeat(32)}`, `0x${"22".repeat(32)}`],
        { account: s.stranger.account },
      ),
      s.escrow,
      "PermitFailed",
      [getAddress(s.usdc.address), getAddress(s.agent.account.address)],
    );
    expect(await s.escrow.read.balanceOf([s.usdc.address, s.agent.account.address])).to.equal(0n);
  });

  it("lets a relayer deposit with a valid permit, credited to the owner", async () => {
    const s = await networkHelpers.loadFixture(fixture);
    const owner = s.agent.account.address;
    await s.usdc.write.approve([s.escrow.address, 0n], { account: s.agent.account });
    const { timestamp } = await s.publicClient.getBlock();
    const deadline = timestamp + 3_600n;
    const { v, r, s: sigS } = await signPermit(
      s.agent,
      { chainId: s.chainId, address: s.usdc.address, name: USDC_DOMAIN_NAME },
      { owner, spender: s.escrow.address, value: 2_000_000n, nonce: await s.usdc.read.nonces([owner]), deadline },
    );
    await s.escrow.write.depositWithPermit([s.usdc.address, owner, 2_000_000n, deadline, v, r, sigS], {
      account: s.stranger.account,
    });
    expect(await s.escrow.read.balanceOf([s.usdc.address, owner])).to.equal(2_000_000n);
  });
});

describe("SettlementEscrow bounded ERC-1271 check", () => {
  async function hostileBatch(walletContract: "GasBurningWallet" | "ReturnBombWallet") {
    const s = await deployEscrowSystem(viem);
    const wallet = await viem.deployContract(walletContract, []);
    // Fund the hostile wallet's escrow balance through depositFor so it passes the funds check.
    await s.escrow.write.depositFor([s.usdc.address, wallet.address, 1_000n], { account: s.agent.account });
    await s.escrow.write.deposit([s.usdc.address, 10_000_000n], { account: s.agent.account });
    const payee = s.payee.account.address;
    const good = [];
    for (let i = 0; i < 5; i++) {
      const auth = await paymentFor(s.publicClient, { payer: s.agent.account.address, payee, token: s.usdc.address, amount: 1_000n });
      good.push({ authorization: auth, signature: await signPayment(s.agent, s.domain, auth) });
    }
    const hostileAuth = await paymentFor(s.publicClient, { payer: wallet.address, payee, token: s.usdc.address, amount: 1_000n });
    const batch = [good[0]!, { authorization: hostileAuth, signature: "0x1234" as Hex }, ...good.slice(1)];
    return { s, batch };
  }

  it("a wallet that burns all gas in isValidSignature fails alone; the rest of the batch settles", async () => {
    const { s, batch } = await hostileBatch("GasBurningWallet");
    const hash = await s.escrow.write.settleBatch([batch], { gas: 3_000_000n });
    const receipt = await s.publicClient.waitForTransactionReceipt({ hash });
    expect(receipt.status).to.equal("success");
    expect(await s.escrow.read.earningsOf([s.usdc.address, s.payee.account.address])).to.equal(5_000n);
  });

  it("a wallet that answers with a huge blob is read only up to the magic value and accepted", async () => {
    const { s, batch } = await hostileBatch("ReturnBombWallet");
    const data = encodeFunctionData({ abi: s.escrow.abi, functionName: "settleBatch", args: [batch] });
    const gas = await s.publicClient.estimateGas({ to: s.escrow.address, data, account: s.admin.account });
    // Copying 200 KB of return data would cost far more than this.
    expect(gas < 600_000n).to.equal(true);
    await s.escrow.write.settleBatch([batch]);
    expect(await s.escrow.read.earningsOf([s.usdc.address, s.payee.account.address])).to.equal(6_000n);
  });
});
