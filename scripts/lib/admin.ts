/**
 * Admin operations on a recorded deployment: token registration and status, fee, withdrawal
 * delay, pause, local funding, inspection. Each one checks its preconditions first (role,
 * current value) and explains itself instead of sending a transaction that would revert; each
 * transaction is journaled in the record, and the record is refreshed from the chain after it.
 */
import {
  createWalletClient,
  custom,
  getAddress,
  isAddress,
  isAddressEqual,
  parseEther,
  zeroAddress,
  type Address,
  type Hex,
  type PublicClient,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { erc20Abi, mockMintAbi, settlementEscrowAbi, tokenRegistryAbi, weth9Abi } from "./abis.js";
import type { ChainContext } from "./context.js";
import {
  COLLECTION_METHOD_NAMES,
  findToken,
  type CollectionMethodName,
  type DeployedContractName,
  type DeploymentRecord,
  type TokenRecord,
  type TokenStatusName,
} from "./deployment-record.js";
import {
  formatBps,
  formatDuration,
  formatTokenAmount,
  formatUnlockTime,
  parseTokenAmount,
  renderKeyValues,
  renderTable,
  splitList,
} from "./format.js";
import { journaledTx, RecordStore } from "./journal.js";
import type { TokenConfig } from "./network-config.js";
import { readEscrowState, readTokenTable, refreshRecordFromChain, statusName, statusValue } from "./state.js";
import { planTokenRegistration, probeToken } from "./token-probe.js";
import { ScriptError, sendContractCall, sendValue, type SignerWallet, type TxContext } from "./tx.js";

// ---------------------------------------------------------------------------------------------
// Shared checks
// ---------------------------------------------------------------------------------------------

/** The record must describe this chain, and its contracts must be there. */
export async function assertRecordMatchesChain(client: PublicClient, chainId: number, record: DeploymentRecord, recordPath: string): Promise<void> {
  if (record.chainId !== chainId) throw new ScriptError(`${recordPath} is for chain ${record.chainId}, but the network is chain ${chainId}`);
  const genesis = (await client.getBlock({ blockNumber: 0n })).hash;
  if (genesis !== record.genesisHash) {
    throw new ScriptError(`${recordPath} belongs to another chain instance (block 0 differs): was the node restarted? Deploy again.`);
  }
  for (const name of ["TokenRegistry", "SettlementEscrow"] as const) {
    const c = record.contracts[name];
    if (c === undefined) throw new ScriptError(`${recordPath} has no ${name}: finish the deployment first (npx hardhat run scripts/deploy.ts)`);
    const code = await client.getCode({ address: c.address });
    if (code === undefined || code === "0x") throw new ScriptError(`${recordPath}: ${name} at ${c.address} has no code on this chain`);
  }
}

function registryOf(record: DeploymentRecord): Address {
  const c = record.contracts.TokenRegistry;
  if (!c) throw new ScriptError("the record has no TokenRegistry");
  return c.address;
}

function escrowOf(record: DeploymentRecord): Address {
  const c = record.contracts.SettlementEscrow;
  if (!c) throw new ScriptError("the record has no SettlementEscrow");
  return c.address;
}

function sender(ctx: TxContext): Address {
  return getAddress(ctx.wallet.account.address);
}

async function requireRegistryOwner(ctx: ChainContext, record: DeploymentRecord, action: string): Promise<void> {
  const owner = await ctx.publicClient.readContract({ address: registryOf(record), abi: tokenRegistryAbi, functionName: "owner" });
  if (!isAddressEqual(owner, sender(ctx))) {
    throw new ScriptError(`cannot ${action}: the registry owner is ${owner}, and this account is ${sender(ctx)}`);
  }
}

async function requireEscrowRole(ctx: ChainContext, record: DeploymentRecord, role: "DEFAULT_ADMIN_ROLE" | "PAUSER_ROLE", action: string): Promise<void> {
  const escrow = escrowOf(record);
  const roleId = await ctx.publicClient.readContract({ address: escrow, abi: settlementEscrowAbi, functionName: role });
  const has = await ctx.publicClient.readContract({ address: escrow, abi: settlementEscrowAbi, functionName: "hasRole", args: [roleId, sender(ctx)] });
  if (!has) {
    const admin = await ctx.publicClient.readContract({ address: escrow, abi: settlementEscrowAbi, functionName: "defaultAdmin" });
    const who = role === "DEFAULT_ADMIN_ROLE" ? `the escrow admin (${admin})` : `a PAUSER_ROLE holder (the admin ${admin} grants it)`;
    throw new ScriptError(`cannot ${action}: only ${who} can, and this account is ${sender(ctx)}`);
  }
}

/** Resolves a token reference (record key, symbol or address) to an address and record entry. */
export function resolveTokenRef(record: DeploymentRecord, ref: string): { address: Address; token: TokenRecord | undefined } {
  const token = findToken(record, ref);
  if (token) return { address: getAddress(token.address), token };
  if (isAddress(ref, { strict: false })) return { address: getAddress(ref), token: undefined };
  const known = record.tokens.map((t) => t.key).join(", ") || "none";
  throw new ScriptError(`unknown token "${ref}": give an address or one of the recorded tokens (${known})`);
}

async function refresh(ctx: ChainContext, store: RecordStore): Promise<void> {
  await refreshRecordFromChain(ctx.publicClient, store.record);
  store.save();
}

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

export interface RegisterTokenArgs {
  token: string;
  /** Per-payment limits in whole tokens. */
  min: string;
  max: string;
  /** Name in the record; default: the token's symbol. */
  key?: string;
  /** "auto" (probe) or a comma list of eip3009, permit, erc20. */
  methods?: string;
  /** Used only if the token cannot tell its EIP-712 domain. */
  eip712Name?: string;
  eip712Version?: string;
}

export async function registerToken(ctx: ChainContext, store: RecordStore, args: RegisterTokenArgs): Promise<TokenRecord> {
  if (!isAddress(args.token, { strict: false })) throw new ScriptError(`--token must be an address, got "${args.token}"`);
  const address = getAddress(args.token);
  const registry = registryOf(store.record);
  const status = statusName(await ctx.publicClient.readContract({ address: registry, abi: tokenRegistryAbi, functionName: "statusOf", args: [address] }));
  if (status !== "None") {
    throw new ScriptError(`${address} is already registered (status ${status}); use ppa activate-token / deprecate-token / remove-token to change its status`);
  }
  await requireRegistryOwner(ctx, store.record, `register ${address}`);

  let collectionMethods: TokenConfig["collectionMethods"] = "auto";
  if (args.methods !== undefined && args.methods.trim() !== "" && args.methods.trim() !== "auto") {
    collectionMethods = splitList(args.methods).map((m) => {
      if (!(COLLECTION_METHOD_NAMES as readonly string[]).includes(m)) {
        throw new ScriptError(`--methods: unknown method "${m}" (use auto, or a comma list of ${COLLECTION_METHOD_NAMES.join(", ")})`);
      }
      return m as CollectionMethodName;
    });
  }
  const probe = await probeToken(ctx.publicClient, address);
  const key = args.key ?? probe.symbol ?? address;
  const clash = store.record.tokens.find((t) => t.key === key && !isAddressEqual(t.address, address));
  if (clash) throw new ScriptError(`the record already has a token "${key}" (${clash.address}); pick another name with --key`);
  const fallback: TokenConfig["fallback"] = {};
  if (args.eip712Name !== undefined) fallback.eip712Name = args.eip712Name;
  if (args.eip712Version !== undefined) fallback.eip712Version = args.eip712Version;
  const plan = planTokenRegistration(
    probe,
    { key, address, mock: "MockUSDC", expectedSymbols: [], collectionMethods, limits: { min: args.min, max: args.max }, fallback },
    ctx.chainId,
    false,
  );
  for (const note of plan.notes) ctx.log.warn(`${key}: ${note}`);
  ctx.log.info(
    `Registering ${key} ${address}: symbol ${plan.symbol}, ${plan.decimals} decimals, methods ${plan.methods.join(",")}, ` +
      `EIP-712 ${plan.eip712.name === "" ? "none" : `("${plan.eip712.name}", "${plan.eip712.version}") from ${plan.eip712.source}${plan.eip712.verified ? ", verified" : ""}`}, ` +
      `limits ${args.min} .. ${args.max}`,
  );
  let registration: TokenRecord["registration"] = null;
  await journaledTx(
    ctx,
    store,
    `admin:register:${key}`,
    (p) =>
      sendContractCall(
        ctx,
        {
          address: registry,
          abi: tokenRegistryAbi,
          functionName: "registerToken",
          args: [
            {
              token: plan.address,
              symbol: plan.symbol,
              decimals: plan.decimals,
              collectionMethods: plan.collectionMethods,
              status: 1,
              eip712Name: plan.eip712.name,
              eip712Version: plan.eip712.version,
              minAmount: plan.minAmount,
              maxAmount: plan.maxAmount,
            },
          ],
        },
        p,
      ),
    { apply: (r) => (registration = { txHash: r.transactionHash, blockNumber: Number(r.blockNumber) }) },
  );
  store.record.tokens = await readTokenTable(ctx.publicClient, registry, {
    plans: [plan],
    previous: store.record.tokens,
    registrations: new Map([[key, registration]]),
  });
  store.save();
  const token = findToken(store.record, address);
  if (!token) throw new ScriptError(`internal: ${address} missing from the registry after registration`);
  return token;
}

/** Moves a token to Active, Deprecated or Removed. Returns false when it already was. */
export async function setTokenStatus(ctx: ChainContext, store: RecordStore, ref: string, target: Exclude<TokenStatusName, "None">): Promise<boolean> {
  const { address, token } = resolveTokenRef(store.record, ref);
  const label = token ? `${token.key} (${address})` : address;
  const registry = registryOf(store.record);
  const current = statusName(await ctx.publicClient.readContract({ address: registry, abi: tokenRegistryAbi, functionName: "statusOf", args: [address] }));
  if (current === "None") throw new ScriptError(`${label} is not registered`);
  if (current === target) {
    ctx.log.info(`${label} is already ${target}; nothing to do`);
    return false;
  }
  await requireRegistryOwner(ctx, store.record, `change the status of ${label}`);
  ctx.log.info(`${label}: ${current} -> ${target}`);
  await journaledTx(ctx, store, `admin:set-status:${token?.key ?? address}:${target}`, (p) =>
    sendContractCall(ctx, { address: registry, abi: tokenRegistryAbi, functionName: "setStatus", args: [address, statusValue(target)] }, p),
  );
  await refresh(ctx, store);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Escrow settings
// ---------------------------------------------------------------------------------------------

export async function setFee(ctx: ChainContext, store: RecordStore, bps: number): Promise<boolean> {
  const escrow = escrowOf(store.record);
  const max = await ctx.publicClient.readContract({ address: escrow, abi: settlementEscrowAbi, functionName: "MAX_FEE_BPS" });
  if (!Number.isInteger(bps) || bps < 0 || bps > max) throw new ScriptError(`the fee must be a whole number of basis points in [0, ${max}], got ${bps}`);
  const current = await ctx.publicClient.readContract({ address: escrow, abi: settlementEscrowAbi, functionName: "feeBps" });
  if (current === bps) {
    ctx.log.info(`the fee is already ${formatBps(bps)}; nothing to do`);
    return false;
  }
  await requireEscrowRole(ctx, store.record, "DEFAULT_ADMIN_ROLE", "set the fee");
  ctx.log.info(`fee: ${formatBps(current)} -> ${formatBps(bps)}`);
  await journaledTx(ctx, store, `admin:set-fee:${bps}`, (p) =>
    sendContractCall(ctx, { address: escrow, abi: settlementEscrowAbi, functionName: "setFee", args: [bps] }, p),
  );
  await refresh(ctx, store);
  return true;
}

export async function setWithdrawalDelay(ctx: ChainContext, store: RecordStore, seconds: number): Promise<boolean> {
  const escrow = escrowOf(store.record);
  const [min, max, current] = await Promise.all([
    ctx.publicClient.readContract({ address: escrow, abi: settlementEscrowAbi, functionName: "MIN_WITHDRAWAL_DELAY" }),
    ctx.publicClient.readContract({ address: escrow, abi: settlementEscrowAbi, functionName: "MAX_WITHDRAWAL_DELAY" }),
    ctx.publicClient.readContract({ address: escrow, abi: settlementEscrowAbi, functionName: "withdrawalDelay" }),
  ]);
  const delay = BigInt(seconds);
  if (delay < min || delay > max) {
    throw new ScriptError(`the withdrawal delay must be within [${formatDuration(min)}, ${formatDuration(max)}], got ${formatDuration(delay)}`);
  }
  if (current === delay) {
    ctx.log.info(`the withdrawal delay is already ${formatDuration(delay)}; nothing to do`);
    return false;
  }
  await requireEscrowRole(ctx, store.record, "DEFAULT_ADMIN_ROLE", "set the withdrawal delay");
  ctx.log.info(`withdrawal delay: ${formatDuration(current)} -> ${formatDuration(delay)} (applies to withdrawals requested from now on)`);
  await journaledTx(ctx, store, `admin:set-withdrawal-delay:${seconds}`, (p) =>
    sendContractCall(ctx, { address: escrow, abi: settlementEscrowAbi, functionName: "setWithdrawalDelay", args: [delay] }, p),
  );
  await refresh(ctx, store);
  return true;
}

export async function setPaused(ctx: ChainContext, store: RecordStore, paused: boolean): Promise<boolean> {
  const escrow = escrowOf(store.record);
  const current = await ctx.publicClient.readContract({ address: escrow, abi: settlementEscrowAbi, functionName: "paused" });
  if (current === paused) {
    ctx.log.info(`the escrow is already ${paused ? "paused" : "unpaused"}; nothing to do`);
    return false;
  }
  await requireEscrowRole(ctx, store.record, "PAUSER_ROLE", paused ? "pause the escrow" : "unpause the escrow");
  ctx.log.info(paused ? "pausing: deposits, settlements and new holds stop; withdrawals, claims and refunds stay open" : "unpausing");
  await journaledTx(ctx, store, paused ? "admin:pause" : "admin:unpause", (p) =>
    sendContractCall(ctx, { address: escrow, abi: settlementEscrowAbi, functionName: paused ? "pause" : "unpause", args: [] }, p),
  );
  await refresh(ctx, store);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Local funding
// ---------------------------------------------------------------------------------------------

export interface FundAgentArgs {
  /** Agent to fund; derived from `agentPrivateKey` when that is given. */
  agent?: string;
  /** When given, the agent approves and deposits from its own wallet. Never logged. */
  agentPrivateKey?: Hex;
  /** Token keys/symbols/addresses; empty: every mock token in the record. */
  tokens: string[];
  /** Whole tokens left in the agent's wallet. */
  walletAmount: string;
  /** Whole tokens deposited into the escrow for the agent. */
  depositAmount: string;
  /** Native balance (whole units) the agent is topped up to, for gas. */
  nativeAmount: string;
}

export interface FundAgentResult {
  agent: Address;
  rows: { key: string; wallet: bigint; escrow: bigint; decimals: number; symbol: string }[];
}

/** Mints mock tokens to an agent and deposits some into the escrow for it. Local networks only. */
export async function fundAgent(ctx: ChainContext, store: RecordStore, args: FundAgentArgs): Promise<FundAgentResult> {
  if (ctx.kind !== "local") throw new ScriptError(`fund-agent mints mock tokens and only runs on local networks; ${ctx.networkName} is ${ctx.kind}`);
  const record = store.record;
  const escrow = escrowOf(record);
  const registry = registryOf(record);
  const deployerAddress = sender(ctx);

  let agentCtx: TxContext | undefined;
  let agent: Address;
  if (args.agentPrivateKey !== undefined) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(args.agentPrivateKey)) throw new ScriptError("the agent private key must be 32 bytes of 0x-prefixed hex");
    const account = privateKeyToAccount(args.agentPrivateKey);
    if (args.agent !== undefined && !isAddressEqual(getAddress(args.agent), account.address)) {
      throw new ScriptError(`--agent ${args.agent} does not match the address of the given agent key (${account.address})`);
    }
    agent = account.address;
    const wallet = createWalletClient({ account, chain: ctx.publicClient.chain, transport: custom({ request: ctx.publicClient.request }) }) as SignerWallet;
    agentCtx = { ...ctx, wallet };
  } else {
    if (args.agent === undefined || !isAddress(args.agent, { strict: false })) {
      throw new ScriptError("give the agent: --agent <address>, or AGENT_PRIVATE_KEY in the environment");
    }
    agent = getAddress(args.agent);
  }
  if (isAddressEqual(agent, zeroAddress)) throw new ScriptError("the agent cannot be the zero address");

  const mockNameByAddress = new Map<string, DeployedContractName>();
  for (const [name, c] of Object.entries(record.contracts)) mockNameByAddress.set(c.address.toLowerCase(), name as DeployedContractName);
  const selected = args.tokens.length === 0 ? record.tokens.filter((t) => t.mock) : args.tokens.map((ref) => resolveTokenRef(record, ref).token);
  if (selected.length === 0) throw new ScriptError("the record has no mock tokens: deploy with DEPLOY_MOCKS=true first");
  const tokens = selected.map((t, i) => {
    if (t === undefined) throw new ScriptError(`"${args.tokens[i]}" is not a token of this deployment`);
    const mock = mockNameByAddress.get(t.address.toLowerCase());
    if (!t.mock || mock === undefined) throw new ScriptError(`${t.key} is not a mock token of this deployment; only mocks can be minted`);
    return { token: t, mock };
  });
  if (await ctx.publicClient.readContract({ address: escrow, abi: settlementEscrowAbi, functionName: "paused" })) {
    throw new ScriptError("the escrow is paused; unpause it before depositing (npx hardhat ppa unpause)");
  }

  // Gas money for the agent (local chains only).
  const nativeTarget = parseEther(args.nativeAmount);
  const nativeBalance = await ctx.publicClient.getBalance({ address: agent });
  if (nativeBalance < nativeTarget) {
    ctx.log.info(`topping up ${agent} to ${args.nativeAmount} native`);
    await journaledTx(ctx, store, `admin:fund:${agent}:native`, (p) => sendValue(ctx, agent, nativeTarget - nativeBalance, p));
  }

  const rows: FundAgentResult["rows"] = [];
  for (const { token, mock } of tokens) {
    const walletAtomic = parseTokenAmount(args.walletAmount, token.decimals, "wallet amount");
    const depositAtomic = parseTokenAmount(args.depositAmount, token.decimals, "deposit amount");
    const step = (what: string) => `admin:fund:${agent}:${token.key}:${what}`;
    const give = async (to: Address, amount: bigint) => {
      if (amount === 0n) return;
      if (mock === "WETH9") {
        await journaledTx(ctx, store, step("wrap"), (p) =>
          sendContractCall(ctx, { address: token.address, abi: weth9Abi, functionName: "deposit", args: [], value: amount }, p),
        );
        if (!isAddressEqual(to, deployerAddress)) {
          await journaledTx(ctx, store, step("transfer"), (p) =>
            sendContractCall(ctx, { address: token.address, abi: erc20Abi, functionName: "transfer", args: [to, amount] }, p),
          );
        }
      } else {
        const owner = await ctx.publicClient.readContract({ address: token.address, abi: mockMintAbi, functionName: "owner" });
        if (!isAddressEqual(owner, deployerAddress)) throw new ScriptError(`${token.key} mints only for its owner ${owner}, not ${deployerAddress}`);
        await journaledTx(ctx, store, step(isAddressEqual(to, agent) ? "mint-to-agent" : "mint-to-deployer"), (p) =>
          sendContractCall(ctx, { address: token.address, abi: mockMintAbi, functionName: "mint", args: [to, amount] }, p),
        );
      }
    };

    const depositor = agentCtx ?? ctx;
    const depositorAddress = getAddress(depositor.wallet.account.address);
    await give(agent, walletAtomic + (agentCtx ? depositAtomic : 0n));
    if (!agentCtx) await give(deployerAddress, depositAtomic);

    if (depositAtomic > 0n) {
      const status = statusName(await ctx.publicClient.readContract({ address: registry, abi: tokenRegistryAbi, functionName: "statusOf", args: [token.address] }));
      if (status !== "Active") {
        ctx.log.warn(`${token.key} is ${status}: the escrow takes deposits of Active tokens only; skipping its deposit`);
      } else {
        const allowance = await ctx.publicClient.readContract({ address: token.address, abi: erc20Abi, functionName: "allowance", args: [depositorAddress, escrow] });
        if (allowance < depositAtomic) {
          if (allowance > 0n) {
            // USDT refuses to change one non-zero allowance into another.
            await journaledTx(depositor, store, step("approve-reset"), (p) =>
              sendContractCall(depositor, { address: token.address, abi: erc20Abi, functionName: "approve", args: [escrow, 0n] }, p),
            );
          }
          await journaledTx(depositor, store, step("approve"), (p) =>
            sendContractCall(depositor, { address: token.address, abi: erc20Abi, functionName: "approve", args: [escrow, depositAtomic] }, p),
          );
        }
        if (agentCtx) {
          await journaledTx(depositor, store, step("deposit"), (p) =>
            sendContractCall(depositor, { address: escrow, abi: settlementEscrowAbi, functionName: "deposit", args: [token.address, depositAtomic] }, p),
          );
        } else {
          await journaledTx(ctx, store, step("deposit-for"), (p) =>
            sendContractCall(ctx, { address: escrow, abi: settlementEscrowAbi, functionName: "depositFor", args: [token.address, agent, depositAtomic] }, p),
          );
        }
      }
    }
    const [wallet, escrowBalance] = await Promise.all([
      ctx.publicClient.readContract({ address: token.address, abi: erc20Abi, functionName: "balanceOf", args: [agent] }),
      ctx.publicClient.readContract({ address: escrow, abi: settlementEscrowAbi, functionName: "balanceOf", args: [token.address, agent] }),
    ]);
    rows.push({ key: token.key, wallet, escrow: escrowBalance, decimals: token.decimals, symbol: token.symbol });
  }
  return { agent, rows };
}

export function formatFundAgentResult(result: FundAgentResult): string {
  return [
    `Agent ${result.agent}:`,
    renderTable(
      ["token", "wallet", "escrow balance"],
      result.rows.map((r) => [r.key, formatTokenAmount(r.wallet, r.decimals, r.symbol), formatTokenAmount(r.escrow, r.decimals, r.symbol)]),
    ),
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Inspection
// ---------------------------------------------------------------------------------------------

export interface InspectArgs {
  accounts: string[];
  holds: string[];
}

const HOLD_STATUS = ["None", "Open", "Closed"] as const;

/** A readable report of the escrow's state: per token, per account, per hold. Read-only. */
export async function inspectEscrow(client: PublicClient, record: DeploymentRecord, args: InspectArgs): Promise<string> {
  const escrow = escrowOf(record);
  const registry = registryOf(record);
  const accounts = args.accounts.map((a) => {
    if (!isAddress(a, { strict: false })) throw new ScriptError(`not an address: "${a}"`);
    return getAddress(a);
  });
  const holds = args.holds.map((h) => {
    if (!/^0x[0-9a-fA-F]{64}$/.test(h)) throw new ScriptError(`a hold id is 32 bytes of 0x-prefixed hex, got "${h}"`);
    return h as Hex;
  });
  const block = await client.getBlock();
  const tokens = await readTokenTable(client, registry, { previous: record.tokens });
  const state = await readEscrowState(client, escrow, { pausers: record.escrow?.pausers ?? [], operators: record.escrow?.operators ?? [] });
  const byAddress = new Map(tokens.map((t) => [t.address.toLowerCase(), t]));
  const amount = (token: Address, value: bigint) => {
    const t = byAddress.get(token.toLowerCase());
    return t ? formatTokenAmount(value, t.decimals, t.symbol) : `${value} (atomic)`;
  };
  const read = <T>(functionName: string, fnArgs: readonly unknown[]) =>
    client.readContract({ address: escrow, abi: settlementEscrowAbi, functionName, args: fnArgs } as never) as Promise<T>;

  const sections: string[] = [];
  sections.push(
    renderKeyValues([
      ["network", `${record.network} (chain ${record.chainId})`],
      ["block", `${block.number} at ${new Date(Number(block.timestamp) * 1000).toISOString()}`],
      ["registry", registry],
      ["escrow", escrow],
      ["admin", state.admin],
      ["fee", `${formatBps(state.feeBps)} to ${state.feeRecipient}`],
      ["withdrawal delay", formatDuration(state.withdrawalDelay)],
      ["paused", state.paused ? "YES" : "no"],
    ]),
  );

  const tokenRows: string[][] = [];
  for (const t of tokens) {
    const [held, owed, fees] = await Promise.all([
      client.readContract({ address: t.address, abi: erc20Abi, functionName: "balanceOf", args: [escrow] }),
      read<bigint>("totalOwed", [t.address]),
      read<bigint>("accruedFees", [t.address]),
    ]);
    const surplus = held >= owed ? amount(t.address, held - owed) : `SHORTFALL ${amount(t.address, owed - held)}`;
    tokenRows.push([t.key, t.status, amount(t.address, held), amount(t.address, owed), surplus, amount(t.address, fees)]);
  }
  sections.push(renderTable(["token", "status", "escrow holds", "total owed", "surplus", "accrued fees"], tokenRows));

  if (accounts.length > 0) {
    const rows: string[][] = [];
    for (const account of accounts) {
      for (const t of tokens) {
        const [balance, pending, earnings] = await Promise.all([
          read<bigint>("balanceOf", [t.address, account]),
          read<{ amount: bigint; unlockAt: bigint }>("pendingWithdrawal", [t.address, account]),
          read<bigint>("earningsOf", [t.address, account]),
        ]);
        rows.push([
          account,
          t.key,
          amount(t.address, balance),
          amount(t.address, pending.amount),
          pending.amount === 0n ? "-" : formatUnlockTime(pending.unlockAt, block.timestamp),
          amount(t.address, balance + pending.amount),
          amount(t.address, earnings),
        ]);
      }
    }
    sections.push(renderTable(["account", "token", "balance", "pending withdrawal", "unlocks", "spendable", "earnings"], rows));
  }

  if (holds.length > 0) {
    const rows: string[][] = [];
    for (const id of holds) {
      const h = await read<{
        payer: Address;
        payee: Address;
        token: Address;
        status: number;
        authorized: bigint;
        captured: bigint;
        refunded: bigint;
        captureDeadline: number;
        refundDeadline: number;
      }>("getHold", [id]);
      if (h.status === 0) {
        rows.push([id, "unknown hold", "", "", "", "", "", "", ""]);
        continue;
      }
      rows.push([
        id,
        HOLD_STATUS[h.status] ?? String(h.status),
        h.payer,
        h.payee,
        amount(h.token, h.authorized),
        amount(h.token, h.captured),
        amount(h.token, h.refunded),
        formatUnlockTime(BigInt(h.captureDeadline), block.timestamp).replace("unlocked", "passed"),
        formatUnlockTime(BigInt(h.refundDeadline), block.timestamp).replace("unlocked", "passed"),
      ]);
    }
    sections.push(renderTable(["hold", "status", "payer", "payee", "authorized", "captured", "refunded", "capture deadline", "refund deadline"], rows));
  }
  return sections.join("\n\n");
}
