/**
 * The agent's escrow helpers against the deployed SettlementEscrow: deposits by permit (USDC)
 * and by approve + deposit (USDT, including its non-zero-allowance rule), commitments, balances,
 * and the delayed withdrawal, with refusals named by the contract's own errors.
 */
import hre, { network } from "hardhat";
import { expect } from "chai";
import { type Abi, type AbiFunction, type Address, getAddress, toFunctionSelector } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { AgentError, type EscrowAccount, createEscrowAccount, erc20Abi, escrowAccountAbi, tokenRegistryAbi } from "../../agent/sdk/index.js";
import { WITHDRAWAL_DELAY, deployEscrowSystem } from "../contracts/helpers/escrow.js";
import { type EscrowSystem, type FundedAgent, fundedAgent } from "./helpers/gateway.js";

const { viem, provider, networkHelpers } = await network.create();

async function rejection(promise: Promise<unknown>): Promise<AgentError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AgentError) return error;
    throw error;
  }
  throw new Error("expected an AgentError");
}

describe("agent escrow account helpers", function () {
  this.timeout(120_000);

  let s: EscrowSystem;
  let account: EscrowAccount;
  let me: Address;
  let agent: FundedAgent;
  const usdc = () => getAddress(s.usdc.address);
  const usdt = () => getAddress(s.usdt.address);

  before(async () => {
    s = await deployEscrowSystem(viem);
    const a = await fundedAgent(s, provider, generatePrivateKey(), { usdc: 1_000_000n, usdt: 1_000_000n });
    agent = a;
    me = a.address;
    account = createEscrowAccount({
      account: privateKeyToAccount(a.key),
      chainId: s.chainId,
      publicClient: s.publicClient,
      walletClient: a.walletClient,
      escrow: getAddress(s.escrow.address),
    });
  });

  it("deposits a permit token with one transaction and no allowance left behind", async () => {
    const result = await account.deposit(usdc(), 300_000n);
    expect(result.method).to.equal("permit");
    expect(result.transactions).to.have.length(1);
    expect(await s.escrow.read.balanceOf([usdc(), me])).to.equal(300_000n);
    expect(await s.usdc.read.balanceOf([me])).to.equal(700_000n);
    expect(await s.usdc.read.allowance([me, s.escrow.address])).to.equal(0n);
  });

  it("deposits USDT with approve + deposit, resetting a short non-zero allowance first", async () => {
    const first = await account.deposit(usdt(), 100_000n);
    expect(first).to.deep.include({ method: "approve" });
    expect(first.transactions).to.have.length(2);
    // Leave a non-zero allowance that is too small: USDT refuses to change it to another non-zero value.
    const hash = await agent.walletClient.writeContract({ address: usdt(), abi: erc20Abi, functionName: "approve", args: [s.escrow.address, 1n], chain: agent.walletClient.chain });
    await s.publicClient.waitForTransactionReceipt({ hash });
    const second = await account.deposit(usdt(), 50_000n);
    expect(second.transactions).to.have.length(3);
    expect(await s.escrow.read.balanceOf([usdt(), me])).to.equal(150_000n);
  });

  it("refuses a deposit the wallet cannot cover, sending nothing", async () => {
    const nonce = await s.publicClient.getTransactionCount({ address: me });
    const error = await rejection(account.deposit(usdt(), 10_000_000n));
    expect(error.code).to.equal("insufficient_funds");
    expect(await s.publicClient.getTransactionCount({ address: me })).to.equal(nonce);
    expect((await rejection(account.deposit(usdt(), 0n))).code).to.equal("invalid_argument");
  });

  it("commits to a payee and reports balance, commitment and spendable", async () => {
    const payee = getAddress(s.payee.account.address);
    await account.commit(usdc(), payee, 100_000n);
    const balance = await account.balance(usdc(), payee);
    expect(balance).to.deep.include({ token: usdc(), wallet: 700_000n, deposited: 200_000n, spendable: 300_000n });
    expect(balance.commitment).to.deep.equal({ payee, amount: 100_000n, releaseAt: 0n });
    expect(balance.pendingWithdrawal).to.deep.equal({ amount: 0n, unlockAt: 0n });
    const error = await rejection(account.commit(usdc(), payee, 10_000_000n));
    expect(error.code).to.equal("transaction_failed");
    expect(error.details?.["reason"]).to.equal("InsufficientBalance");
  });

  it("withdraws only after the delay, and names the lock when too early", async () => {
    const { unlockAt } = await account.requestWithdrawal(usdc(), 150_000n);
    const now = (await s.publicClient.getBlock()).timestamp;
    expect(unlockAt >= now + WITHDRAWAL_DELAY - 5n, `unlockAt ${unlockAt}`).to.equal(true);
    expect((await account.balance(usdc())).pendingWithdrawal.amount).to.equal(150_000n);

    const early = await rejection(account.withdraw(usdc()));
    expect(early.code).to.equal("transaction_failed");
    expect(early.details?.["reason"]).to.equal("WithdrawalLocked");

    await networkHelpers.time.increaseTo(Number(unlockAt) + 1);
    const { amount } = await account.withdraw(usdc());
    expect(amount).to.equal(150_000n);
    const after = await account.balance(usdc());
    expect(after).to.deep.include({ wallet: 850_000n, deposited: 50_000n });
    expect(after.pendingWithdrawal).to.deep.equal({ amount: 0n, unlockAt: 0n });
    expect((await rejection(account.withdraw(usdc()))).details?.["reason"]).to.equal("NoPendingWithdrawal");
  });

  it("the ABI slices match the compiled contracts", async () => {
    const check = async (artifact: string, slice: Abi) => {
      const { abi } = (await hre.artifacts.readArtifact(artifact)) as unknown as { abi: Abi };
      for (const item of slice) {
        if (item.type !== "function") continue;
        const match = abi.find((a) => a.type === "function" && a.name === item.name && toFunctionSelector(a) === toFunctionSelector(item));
        expect(match, `${artifact}.${item.name}`).to.not.equal(undefined);
        expect(item.outputs.map((o) => o.type), `${item.name} outputs`).to.deep.equal((match as AbiFunction).outputs.map((o) => o.type));
      }
    };
    await check("SettlementEscrow", escrowAccountAbi);
    await check("TokenRegistry", tokenRegistryAbi);
    await check("MockUSDC", erc20Abi.filter((i) => i.type === "function" && !["approve", "transfer"].includes(i.name)));
    await check("MockUSDT", erc20Abi.filter((i) => i.type === "function" && ["approve", "transfer", "balanceOf", "allowance"].includes(i.name)));
  });
});
