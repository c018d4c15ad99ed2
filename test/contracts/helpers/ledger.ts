/**
 * The funded escrow fixture and the whole-ledger assertions shared by the settlement and hold tests.
 *
 * A test wraps every state-changing call in `expectLedgerChange`, which reads every bucket the escrow
 * keeps (balances, commitments, pending withdrawals, earnings, fees, what open holds still reserve,
 * totalOwed) and the real ERC-20 balances of the escrow and every actor, before and after, and asserts
 * that exactly the listed entries moved by exactly the listed amounts. Each read also checks every hold
 * ever opened (`refunded <= captured <= authorized`) and the accounting identity
 * `sum(balances + commitments + pending + earnings) + fees + held == totalOwed == token.balanceOf(escrow)`.
 *
 * What differs between the test files (prices, hold sizes, fee rates, signing helpers) stays in them.
 */
import { expect } from "chai";
import type { Address, Hex } from "viem";
import type { HardhatViemHelpers } from "@nomicfoundation/hardhat-viem/types";
import { erc20Abi, getAddress, isAddressEqual, keccak256, toHex } from "viem";
import { deployEscrowSystem, HoldStatus } from "./escrow.js";

// ------------------------------------------------------------------------------------------------
// Fixture: the shared escrow system, with every agent's wallet tokens partly deposited.
// ------------------------------------------------------------------------------------------------

export const TOKENS = ["usdc", "usdt", "skl", "weth"] as const;
export type TokenName = (typeof TOKENS)[number];
export const ACCOUNTS = ["agent", "agent2", "payee", "payee2", "operator", "stranger", "feeRecipient"] as const;
export type AccountName = (typeof ACCOUNTS)[number];

/** Only the agents pay (and so only they can have commitments). */
export const PAYERS = ["agent", "agent2"] as const;
export type PayerName = (typeof PAYERS)[number];

/** What each agent deposits in the fixture. */
export const DEPOSIT: Record<TokenName, bigint> = {
  usdc: 100_000_000n, // 100 USDC
  usdt: 100_000_000n, // 100 USDT
  skl: 100n * 10n ** 18n, // 100 SKL
  weth: 10n ** 18n, // 1 WETH
};

/**
 * The fixture function for `networkHelpers.loadFixture`. Each test file has its own network
 * connection, so it passes its own `viem`; call this once per file (at module level), because
 * `loadFixture` keys its snapshot on the identity of the function, and the function must be named.
 */
export function fundedFixture(viem: HardhatViemHelpers) {
  return async function deployFunded() {
    const base = await deployEscrowSystem(viem);
    const escrow = await viem.getContractAt("SettlementEscrow", base.escrow.address);
    const registry = await viem.getContractAt("TokenRegistry", base.registry.address);
    const publicClient = await viem.getPublicClient();
    const payee2 = base.wallets[7]!;
    const wallet = {
      admin: base.admin,
      agent: base.agent,
      agent2: base.agent2,
      payee: base.payee,
      payee2,
      operator: base.operator,
      stranger: base.stranger,
      feeRecipient: base.feeRecipient,
    };
    const addr = Object.fromEntries(
      Object.entries(wallet).map(([name, w]) => [name, getAddress(w.account!.address)]),
    ) as Record<keyof typeof wallet, Address>;
    const tokens: Record<TokenName, Address> = {
      usdc: getAddress(base.usdc.address),
      usdt: getAddress(base.usdt.address),
      skl: getAddress(base.skl.address),
      weth: getAddress(base.weth.address),
    };
    for (const who of [addr.agent, addr.agent2]) {
      for (const t of TOKENS) await escrow.write.deposit([tokens[t], DEPOSIT[t]], { account: who });
    }
    return { escrow, registry, publicClient, wallet, addr, tokens, domain: base.domain, chainId: base.chainId };
  };
}

export type Ctx = Awaited<ReturnType<ReturnType<typeof fundedFixture>>>;
export type Wallet = Ctx["wallet"]["agent"];
export type Hold = Awaited<ReturnType<Ctx["escrow"]["read"]["getHold"]>>;

export function tokenName(c: Ctx, token: Address): TokenName {
  const found = TOKENS.find((t) => isAddressEqual(c.tokens[t], token));
  if (found === undefined) throw new Error(`not a fixture token: ${token}`);
  return found;
}

export function walletOf(c: Ctx, who: Address): Wallet {
  const found = Object.values(c.wallet).find((w) => isAddressEqual(w.account!.address, who));
  if (found === undefined) throw new Error(`no wallet for ${who}`);
  return found;
}

export async function latestTimestamp(c: Ctx): Promise<bigint> {
  return (await c.publicClient.getBlock()).timestamp;
}

export const challenge = (label: string): Hex => keccak256(toHex(label));

export const feeOf = (amount: bigint, bps: number) => (amount * BigInt(bps)) / 10_000n;

// ------------------------------------------------------------------------------------------------
// Ledger
// ------------------------------------------------------------------------------------------------

export type Ledger = Record<string, bigint>;

/** Ledger keys, e.g. `usdc.balance.agent`; `usdc.held` is what open holds still reserve. */
export const key = {
  balance: (t: TokenName, a: AccountName) => `${t}.balance.${a}`,
  committed: (t: TokenName, payer: PayerName, payee: AccountName) => `${t}.committed.${payer}->${payee}`,
  pending: (t: TokenName, a: AccountName) => `${t}.pending.${a}`,
  earnings: (t: TokenName, a: AccountName) => `${t}.earnings.${a}`,
  wallet: (t: TokenName, a: AccountName) => `${t}.wallet.${a}`,
  fees: (t: TokenName) => `${t}.fees`,
  held: (t: TokenName) => `${t}.held`,
  totalOwed: (t: TokenName) => `${t}.totalOwed`,
  escrowTokens: (t: TokenName) => `${t}.escrowTokenBalance`,
};

/** Every hold ever opened on this chain (from the HoldAuthorized logs), with its current state. */
export async function allHolds(c: Ctx): Promise<{ holdId: Hex; hold: Hold }[]> {
  const logs = await c.publicClient.getContractEvents({
    address: c.escrow.address,
    abi: c.escrow.abi,
    eventName: "HoldAuthorized",
    fromBlock: 0n,
  });
  return Promise.all(
    logs.map(async (l) => ({ holdId: l.args.holdId!, hold: await c.escrow.read.getHold([l.args.holdId!]) })),
  );
}

export function expectHoldInvariant(holdId: Hex, h: Hold) {
  expect(h.refunded <= h.captured, `hold ${holdId}: refunded <= captured`).to.equal(true);
  expect(h.captured <= h.authorized, `hold ${holdId}: captured <= authorized`).to.equal(true);
  if (h.status === HoldStatus.Open) expect(h.captured < h.authorized, `open hold ${holdId} has something left`).to.equal(true);
}

/** Reads every ledger entry and checks each hold's invariant and each token's accounting identity. */
export async function readLedger(c: Ctx): Promise<Ledger> {
  const reads: Promise<[string, bigint]>[] = [];
  const entry = (k: string, p: Promise<bigint>) => reads.push(p.then((v) => [k, v] as [string, bigint]));
  const erc20Balance = (token: Address, who: Address) =>
    c.publicClient.readContract({ address: token, abi: erc20Abi, functionName: "balanceOf", args: [who] });
  for (const t of TOKENS) {
    const token = c.tokens[t];
    for (const a of ACCOUNTS) {
      const who = c.addr[a];
      entry(key.balance(t, a), c.escrow.read.balanceOf([token, who]));
      entry(key.pending(t, a), c.escrow.read.pendingWithdrawal([token, who]).then((p) => p.amount));
      entry(key.earnings(t, a), c.escrow.read.earningsOf([token, who]));
      entry(key.wallet(t, a), erc20Balance(token, who));
    }
    for (const payer of PAYERS) {
      for (const payee of ACCOUNTS) {
        entry(
          key.committed(t, payer, payee),
          c.escrow.read.commitmentOf([token, c.addr[payer], c.addr[payee]]).then((x) => x.amount),
        );
      }
    }
    entry(key.fees(t), c.escrow.read.accruedFees([token]));
    entry(key.totalOwed(t), c.escrow.read.totalOwed([token]));
    entry(key.escrowTokens(t), erc20Balance(token, c.escrow.address));
  }
  const ledger: Ledger = Object.fromEntries(await Promise.all(reads));
  for (const t of TOKENS) ledger[key.held(t)] = 0n;
  for (const { holdId, hold } of await allHolds(c)) {
    expectHoldInvariant(holdId, hold);
    // A hold can only be opened in a registered token, and the fixture registers only its own four;
    // `tokenName` throws rather than leave a hold out of the identity below.
    if (hold.status === HoldStatus.Open) ledger[key.held(tokenName(c, hold.token))]! += hold.authorized - hold.captured;
  }
  for (const t of TOKENS) {
    let owed = ledger[key.fees(t)]! + ledger[key.held(t)]!;
    for (const a of ACCOUNTS) owed += ledger[key.balance(t, a)]! + ledger[key.pending(t, a)]! + ledger[key.earnings(t, a)]!;
    for (const payer of PAYERS) for (const payee of ACCOUNTS) owed += ledger[key.committed(t, payer, payee)]!;
    expect(ledger[key.totalOwed(t)], `${t}: totalOwed equals the sum of all buckets`).to.equal(owed);
    expect(ledger[key.escrowTokens(t)], `${t}: the escrow holds exactly what it owes`).to.equal(owed);
  }
  return ledger;
}

/** Asserts that exactly the entries of `expected` moved, by exactly those amounts. */
export function expectDelta(before: Ledger, after: Ledger, expected: Record<string, bigint>) {
  for (const k of Object.keys(expected)) expect(before, `unknown ledger key ${k}`).to.have.property(k);
  const actual: Record<string, bigint> = {};
  for (const k of Object.keys(after)) {
    const d = after[k]! - before[k]!;
    if (d !== 0n) actual[k] = d;
  }
  const wanted = Object.fromEntries(Object.entries(expected).filter(([, v]) => v !== 0n));
  expect(actual, "ledger movement").to.deep.equal(wanted);
}

/** Runs `action` between two ledger reads and asserts that exactly `expected` moved. */
export async function expectLedgerChange<T>(c: Ctx, action: () => Promise<T>, expected: Record<string, bigint>): Promise<T> {
  const before = await readLedger(c);
  const result = await action();
  expectDelta(before, await readLedger(c), expected);
  return result;
}

/** Runs `action`, which must revert, and checks that nothing at all moved. */
export function expectNoChange(c: Ctx, action: () => Promise<void>) {
  return expectLedgerChange(c, action, {});
}
