/**
 * Per-network deployment configuration: `scripts/networks/<network>.json`, plus environment
 * overrides for the escrow's constructor parameters and roles.
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { getAddress, isAddress, zeroAddress, type Address } from "viem";
import {
  COLLECTION_METHOD_NAMES,
  NETWORK_KINDS,
  type CollectionMethodName,
  type NetworkKind,
} from "./deployment-record.js";
import { parseDuration, splitList } from "./format.js";

/** Bounds enforced by SettlementEscrow (`MIN_WITHDRAWAL_DELAY`, `MAX_WITHDRAWAL_DELAY`). */
export const MIN_WITHDRAWAL_DELAY = 3_600;
export const MAX_WITHDRAWAL_DELAY = 30 * 86_400;
export const MAX_FEE_BPS = 1_000;
export const DEFAULT_WITHDRAWAL_DELAY = 86_400;
export const DEFAULT_ADMIN_TRANSFER_DELAY = 2 * 86_400;
const MAX_UINT48 = 2 ** 48 - 1;

export const MOCK_CONTRACTS = ["MockUSDC", "MockUSDT", "MockSKL", "WETH9"] as const;
export type MockContractName = (typeof MOCK_CONTRACTS)[number];

export interface TokenConfig {
  /** Stable name used in records and on the command line, e.g. "USDC.e". */
  key: string;
  /** The real token on this network; null until someone fills it in. */
  address: Address | null;
  /** Why the address is what it is (or why it is missing). Informational. */
  comment?: string;
  /** Where the address was found. Informational. */
  source?: string;
  /** Which mock stands in for this token when mocks are deployed. */
  mock: MockContractName;
  /** The on-chain `symbol()` must be one of these (guards against a wrong address). Empty: no check. */
  expectedSymbols: string[];
  /** "auto": probe the token; otherwise the explicit list (the probe still warns on disagreement). */
  collectionMethods: "auto" | CollectionMethodName[];
  /** Per-payment limits in whole tokens, e.g. "0.0001"; converted with the on-chain decimals. */
  limits: { min: string; max: string };
  /** Used only when the chain cannot answer (logged when used). */
  fallback: { symbol?: string; decimals?: number; eip712Name?: string; eip712Version?: string };
}

export interface EscrowConfig {
  admin: Address | null;
  feeRecipient: Address | null;
  withdrawalDelay: number;
  adminTransferDelay: number;
  feeBps: number | null;
  pausers: Address[] | null;
  operators: Address[];
}

export interface NetworkDeployConfig {
  /** File the config was read from, for messages. */
  file: string;
  kind: NetworkKind;
  /** Expected chain id; null for networks whose chain id varies (localhost). */
  chainId: number | null;
  escrow: EscrowConfig;
  registryOwner: Address | null;
  tokens: TokenConfig[];
}

export class NetworkConfigError extends Error {
  override name = "NetworkConfigError";
}

type Obj = Record<string, unknown>;

function fail(where: string, what: string): never {
  throw new NetworkConfigError(`${where}: ${what}`);
}
function obj(v: unknown, where: string, allowed: readonly string[]): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(where, "expected an object");
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k) && k !== "$comment" && k !== "comment") fail(where, `unknown field "${k}" (allowed: ${allowed.join(", ")})`);
  }
  return v as Obj;
}
function optionalAddress(v: unknown, where: string): Address | null {
  if (v === null || v === undefined) return null;
  return checkedAddress(v, where);
}
export function checkedAddress(v: unknown, where: string): Address {
  if (typeof v !== "string" || !isAddress(v, { strict: false })) fail(where, `expected an address, got ${JSON.stringify(v)}`);
  const a = getAddress(v);
  if (a === zeroAddress) fail(where, "the zero address is not allowed");
  return a;
}
function amountString(v: unknown, where: string): string {
  if (typeof v !== "string" || !/^\d+(\.\d+)?$/.test(v)) fail(where, `expected a decimal string of whole tokens like "0.01", got ${JSON.stringify(v)}`);
  return v;
}
function durationValue(v: unknown, where: string, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "string" && typeof v !== "number") fail(where, "expected seconds or a string like \"1d\"");
  try {
    return parseDuration(v, where);
  } catch (error) {
    fail(where, (error as Error).message);
  }
}

function parseToken(v: unknown, where: string): TokenConfig {
  const o = obj(v, where, ["key", "address", "source", "mock", "expectedSymbols", "collectionMethods", "limits", "fallback"]);
  if (typeof o.key !== "string" || o.key.length === 0) fail(`${where}.key`, "expected a non-empty string");
  if (typeof o.mock !== "string" || !(MOCK_CONTRACTS as readonly string[]).includes(o.mock)) {
    fail(`${where}.mock`, `expected one of ${MOCK_CONTRACTS.join(", ")}`);
  }
  let collectionMethods: TokenConfig["collectionMethods"] = "auto";
  if (o.collectionMethods !== undefined && o.collectionMethods !== "auto") {
    if (!Array.isArray(o.collectionMethods) || o.collectionMethods.length === 0) {
      fail(`${where}.collectionMethods`, `expected "auto" or a non-empty list of ${COLLECTION_METHOD_NAMES.join(", ")}`);
    }
    collectionMethods = o.collectionMethods.map((m, i) => {
      if (!(COLLECTION_METHOD_NAMES as readonly unknown[]).includes(m)) fail(`${where}.collectionMethods[${i}]`, `unknown method ${JSON.stringify(m)}`);
      return m as CollectionMethodName;
    });
  }
  const limits = obj(o.limits, `${where}.limits`, ["min", "max"]);
  const fb = o.fallback === undefined ? {} : obj(o.fallback, `${where}.fallback`, ["symbol", "decimals", "eip712Name", "eip712Version"]);
  const fallback: TokenConfig["fallback"] = {};
  if (fb.symbol !== undefined) fallback.symbol = String(fb.symbol);
  if (fb.decimals !== undefined) {
    if (typeof fb.decimals !== "number" || !Number.isInteger(fb.decimals) || fb.decimals < 0 || fb.decimals > 255) fail(`${where}.fallback.decimals`, "expected 0..255");
    fallback.decimals = fb.decimals;
  }
  if (fb.eip712Name !== undefined) fallback.eip712Name = String(fb.eip712Name);
  if (fb.eip712Version !== undefined) fallback.eip712Version = String(fb.eip712Version);
  const expectedSymbols = o.expectedSymbols === undefined ? [] : o.expectedSymbols;
  if (!Array.isArray(expectedSymbols) || expectedSymbols.some((s) => typeof s !== "string")) fail(`${where}.expectedSymbols`, "expected a list of strings");
  const token: TokenConfig = {
    key: o.key,
    address: optionalAddress(o.address, `${where}.address`),
    mock: o.mock as MockContractName,
    expectedSymbols: expectedSymbols as string[],
    collectionMethods,
    limits: { min: amountString(limits.min, `${where}.limits.min`), max: amountString(limits.max, `${where}.limits.max`) },
    fallback,
  };
  if (typeof o.comment === "string") token.comment = o.comment;
  if (typeof o.source === "string") token.source = o.source;
  return token;
}

/** Validates a parsed network config file. */
export function parseNetworkConfig(value: unknown, file: string): NetworkDeployConfig {
  const o = obj(value, file, ["kind", "chainId", "escrow", "registryOwner", "tokens"]);
  if (!(NETWORK_KINDS as readonly unknown[]).includes(o.kind)) fail(`${file}.kind`, `expected one of ${NETWORK_KINDS.join(", ")}`);
  let chainId: number | null = null;
  if (o.chainId !== null && o.chainId !== undefined) {
    if (typeof o.chainId !== "number" || !Number.isSafeInteger(o.chainId) || o.chainId <= 0) fail(`${file}.chainId`, "expected a positive integer or null");
    chainId = o.chainId;
  }
  const e = obj(o.escrow ?? {}, `${file}.escrow`, ["admin", "feeRecipient", "withdrawalDelay", "adminTransferDelay", "feeBps", "pausers", "operators"]);
  const addressList = (v: unknown, where: string): Address[] => {
    if (!Array.isArray(v)) fail(where, "expected a list of addresses");
    return v.map((a, i) => checkedAddress(a, `${where}[${i}]`));
  };
  let feeBps: number | null = null;
  if (e.feeBps !== undefined && e.feeBps !== null) {
    if (typeof e.feeBps !== "number" || !Number.isInteger(e.feeBps) || e.feeBps < 0 || e.feeBps > MAX_FEE_BPS) fail(`${file}.escrow.feeBps`, `expected 0..${MAX_FEE_BPS}`);
    feeBps = e.feeBps;
  }
  if (!Array.isArray(o.tokens)) fail(`${file}.tokens`, "expected a list");
  const tokens = o.tokens.map((t, i) => parseToken(t, `${file}.tokens[${i}]`));
  const keys = new Set<string>();
  for (const t of tokens) {
    if (keys.has(t.key)) fail(`${file}.tokens`, `duplicate key ${t.key}`);
    keys.add(t.key);
  }
  return {
    file,
    kind: o.kind as NetworkKind,
    chainId,
    escrow: {
      admin: optionalAddress(e.admin, `${file}.escrow.admin`),
      feeRecipient: optionalAddress(e.feeRecipient, `${file}.escrow.feeRecipient`),
      withdrawalDelay: durationValue(e.withdrawalDelay, `${file}.escrow.withdrawalDelay`, DEFAULT_WITHDRAWAL_DELAY),
      adminTransferDelay: durationValue(e.adminTransferDelay, `${file}.escrow.adminTransferDelay`, DEFAULT_ADMIN_TRANSFER_DELAY),
      feeBps,
      pausers: e.pausers === undefined || e.pausers === null ? null : addressList(e.pausers, `${file}.escrow.pausers`),
      operators: e.operators === undefined || e.operators === null ? [] : addressList(e.operators, `${file}.escrow.operators`),
    },
    registryOwner: optionalAddress(o.registryOwner, `${file}.registryOwner`),
    tokens,
  };
}

/** `$DEPLOY_CONFIG`, or `scripts/networks/<network>.json`. */
export function networkConfigPath(projectRoot: string, networkName: string, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.DEPLOY_CONFIG?.trim();
  return fromEnv ? path.resolve(projectRoot, fromEnv) : path.join(projectRoot, "scripts", "networks", `${networkName}.json`);
}

export function loadNetworkConfig(file: string): NetworkDeployConfig {
  if (!existsSync(file)) {
    throw new NetworkConfigError(
      `no deployment config at ${file}. Create it (see scripts/networks/*.json for examples) or point DEPLOY_CONFIG at one.`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new NetworkConfigError(`${file}: not valid JSON (${(error as Error).message})`);
  }
  return parseNetworkConfig(parsed, file);
}

/** The escrow's constructor parameters and the roles to set up, after defaults and env overrides. */
export interface DeployParams {
  admin: Address;
  feeRecipient: Address;
  withdrawalDelay: number;
  adminTransferDelay: number;
  /** Fee to set right after deployment (deployer must be the admin); null leaves the contract's 0. */
  feeBps: number | null;
  pausers: Address[];
  operators: Address[];
  registryOwner: Address;
}

/** Environment variables that override the config file (documented in the scripts README). */
export const DEPLOY_ENV_OVERRIDES = [
  "ESCROW_ADMIN",
  "ESCROW_FEE_RECIPIENT",
  "ESCROW_WITHDRAWAL_DELAY",
  "ESCROW_ADMIN_TRANSFER_DELAY",
  "ESCROW_FEE_BPS",
  "ESCROW_PAUSERS",
  "ESCROW_OPERATORS",
  "REGISTRY_OWNER",
] as const;

/**
 * Applies defaults and env overrides. Defaults: admin = deployer, fee recipient = admin,
 * registry owner = admin, pausers = [admin], no operators, withdrawal delay 1 day, admin
 * transfer delay 2 days.
 */
export function resolveDeployParams(config: NetworkDeployConfig, deployer: Address, env: NodeJS.ProcessEnv = process.env): DeployParams {
  const envValue = (name: (typeof DEPLOY_ENV_OVERRIDES)[number]) => {
    const v = env[name]?.trim();
    return v === undefined || v === "" ? undefined : v;
  };
  const envAddress = (name: (typeof DEPLOY_ENV_OVERRIDES)[number]) => {
    const v = envValue(name);
    return v === undefined ? undefined : checkedAddress(v, `env ${name}`);
  };
  const envAddressList = (name: (typeof DEPLOY_ENV_OVERRIDES)[number]) => {
    const v = envValue(name);
    return v === undefined ? undefined : splitList(v).map((a, i) => checkedAddress(a, `env ${name}[${i}]`));
  };
  const envDuration = (name: (typeof DEPLOY_ENV_OVERRIDES)[number]) => {
    const v = envValue(name);
    return v === undefined ? undefined : parseDuration(v, `env ${name}`);
  };

  const admin = envAddress("ESCROW_ADMIN") ?? config.escrow.admin ?? getAddress(deployer);
  const feeRecipient = envAddress("ESCROW_FEE_RECIPIENT") ?? config.escrow.feeRecipient ?? admin;
  const withdrawalDelay = envDuration("ESCROW_WITHDRAWAL_DELAY") ?? config.escrow.withdrawalDelay;
  const adminTransferDelay = envDuration("ESCROW_ADMIN_TRANSFER_DELAY") ?? config.escrow.adminTransferDelay;
  const feeEnv = envValue("ESCROW_FEE_BPS");
  let feeBps = config.escrow.feeBps;
  if (feeEnv !== undefined) {
    if (!/^\d+$/.test(feeEnv) || Number(feeEnv) > MAX_FEE_BPS) throw new NetworkConfigError(`env ESCROW_FEE_BPS: expected 0..${MAX_FEE_BPS}, got "${feeEnv}"`);
    feeBps = Number(feeEnv);
  }
  if (withdrawalDelay < MIN_WITHDRAWAL_DELAY || withdrawalDelay > MAX_WITHDRAWAL_DELAY) {
    throw new NetworkConfigError(
      `withdrawal delay ${withdrawalDelay}s is outside the escrow's bounds [${MIN_WITHDRAWAL_DELAY}s, ${MAX_WITHDRAWAL_DELAY}s]`,
    );
  }
  if (adminTransferDelay > MAX_UINT48) throw new NetworkConfigError(`admin transfer delay ${adminTransferDelay}s does not fit in uint48`);
  return {
    admin,
    feeRecipient,
    withdrawalDelay,
    adminTransferDelay,
    feeBps,
    pausers: envAddressList("ESCROW_PAUSERS") ?? config.escrow.pausers ?? [admin],
    operators: envAddressList("ESCROW_OPERATORS") ?? config.escrow.operators,
    registryOwner: envAddress("REGISTRY_OWNER") ?? config.registryOwner ?? admin,
  };
}
