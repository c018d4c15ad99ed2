/**
 * The deployment record: `deployments/<network>.json`.
 *
 * This module is deliberately free of Hardhat and viem imports so that the gateway (or any other
 * Node program) can read a record with the same types and the same validation the deploy script
 * writes it with:
 *
 * ```ts
 * import { readDeploymentRecord } from "../scripts/lib/deployment-record.js";
 * const record = readDeploymentRecord("deployments/skaleBaseSepolia.json");
 * record.contracts.SettlementEscrow?.address;
 * ```
 *
 * Every amount is a decimal string of atomic units (JSON has no bigint); every address is a
 * 0x-prefixed 20-byte hex string as the chain returned it (checksummed where viem checksums).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import path from "node:path";

export const DEPLOYMENT_RECORD_SCHEMA_VERSION = 1;

export type Hex = `0x${string}`;
export type AddressString = `0x${string}`;

/** What kind of chain a record belongs to; decides which safety rules apply. */
export type NetworkKind = "local" | "testnet" | "mainnet";
export const NETWORK_KINDS: readonly NetworkKind[] = ["local", "testnet", "mainnet"];

/** `ITokenRegistry.TokenStatus` by name, index = the Solidity enum value. */
export const TOKEN_STATUS_NAMES = ["None", "Active", "Deprecated", "Removed"] as const;
export type TokenStatusName = (typeof TOKEN_STATUS_NAMES)[number];

/** Collection-method flags, mirroring `contracts/interfaces/ITokenRegistry.sol`. */
export const METHOD_FLAGS = { eip3009: 1, permit: 2, erc20: 4 } as const;
export type CollectionMethodName = keyof typeof METHOD_FLAGS;
export const COLLECTION_METHOD_NAMES: readonly CollectionMethodName[] = ["eip3009", "permit", "erc20"];

/** Where a token's EIP-712 domain name/version came from. */
export type Eip712Source =
  /** ERC-5267 `eip712Domain()` on the token. */
  | "erc5267"
  /** `name()` plus `version()` / `EIP712_VERSION()` on the token. */
  | "name-version"
  /** `name()` plus a version candidate that reproduces the token's `DOMAIN_SEPARATOR()`. */
  | "domain-separator"
  /** The network config file: the chain could not answer. */
  | "config"
  /** The token has no EIP-712 domain (no permit, no EIP-3009). */
  | "none"
  /** Read back from the TokenRegistry; registered outside these scripts, provenance unknown. */
  | "registry";
export const EIP712_SOURCES: readonly Eip712Source[] = ["erc5267", "name-version", "domain-separator", "config", "none", "registry"];

export type TransactionTypeName = "legacy" | "eip2930" | "eip1559" | "eip4844" | "eip7702";
export const TRANSACTION_TYPES: readonly TransactionTypeName[] = ["legacy", "eip2930", "eip1559", "eip4844", "eip7702"];

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface CompilerRecord {
  /** e.g. "0.8.28". */
  solcVersion: string;
  /** e.g. "0.8.28+commit.7893614a", from the build info; null when the build info is unavailable. */
  solcLongVersion: string | null;
  evmVersion: string;
  optimizer: { enabled: boolean; runs: number };
  viaIR: boolean;
  /** Hardhat build profile the artifacts came from ("default" or "production"). Verify with the same one. */
  buildProfile: string;
}

export interface ContractRecord {
  /** Fully qualified name, e.g. "contracts/TokenRegistry.sol:TokenRegistry". */
  contract: string;
  address: AddressString;
  txHash: Hex;
  blockNumber: number;
  deployer: AddressString;
  /** Constructor arguments as JSON (bigints as decimal strings), in order. */
  constructorArgs: JsonValue[];
  /** keccak256 of the creation bytecode (without constructor arguments) that was deployed. */
  bytecodeHash: Hex;
  buildInfoId: string | null;
  deployedAt: string;
}

export interface TokenEip712Record {
  name: string;
  version: string;
  source: Eip712Source;
  /** True when name/version were checked against the token's own `DOMAIN_SEPARATOR()`. */
  verified: boolean;
}

export interface TokenRecord {
  /** Config key, e.g. "USDC.e"; the admin tasks accept it wherever a token is expected. */
  key: string;
  address: AddressString;
  /** Symbol registered in the TokenRegistry. */
  symbol: string;
  decimals: number;
  eip712: TokenEip712Record;
  /** Bit set of METHOD_FLAGS. */
  collectionMethods: number;
  methods: CollectionMethodName[];
  /** Per-payment limits, atomic units. */
  minAmount: string;
  maxAmount: string;
  status: TokenStatusName;
  mock: boolean;
  /** The registration transaction, null when the token was registered outside these scripts. */
  registration: { txHash: Hex; blockNumber: number } | null;
}

export interface RegistryStateRecord {
  owner: AddressString;
  pendingOwner: AddressString | null;
}

export interface EscrowStateRecord {
  admin: AddressString;
  feeRecipient: AddressString;
  /** Seconds. */
  withdrawalDelay: number;
  /** Seconds; fixed at deployment. */
  adminTransferDelay: number;
  feeBps: number;
  paused: boolean;
  pausers: AddressString[];
  operators: AddressString[];
}

/** A transaction that was broadcast but whose receipt was not recorded yet (the script stopped). */
export interface PendingTransactionRecord {
  step: string;
  hash: Hex;
  nonce: number;
  sentAt: string;
  /** For deployment steps: what is needed to complete the ContractRecord from the receipt. */
  deployment: Omit<ContractRecord, "address" | "txHash" | "blockNumber" | "deployedAt"> | null;
}

export interface TransactionRecord {
  step: string;
  hash: Hex;
  blockNumber: number;
  type: TransactionTypeName;
  gasUsed: string;
  /** Effective gas price in wei, decimal string. */
  gasPrice: string;
  at: string;
}

export interface DeploymentRecord {
  schemaVersion: typeof DEPLOYMENT_RECORD_SCHEMA_VERSION;
  /** Hardhat network name the record was written for. */
  network: string;
  chainId: number;
  /** Hash of block 0: tells a restarted local node (new chain, same chain id) from the recorded one. */
  genesisHash: Hex;
  kind: NetworkKind;
  /** "complete" once every deployment step succeeded; "in-progress" after an interrupted run. */
  status: "in-progress" | "complete";
  deployer: AddressString;
  /** Whether the registered tokens are the local mocks. */
  mocks: boolean;
  compiler: CompilerRecord;
  contracts: Partial<Record<DeployedContractName, ContractRecord>>;
  registry: RegistryStateRecord | null;
  escrow: EscrowStateRecord | null;
  tokens: TokenRecord[];
  pendingTransaction: PendingTransactionRecord | null;
  /** Every transaction sent by the deploy script and the admin tasks, oldest first. */
  transactions: TransactionRecord[];
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
}

export const DEPLOYED_CONTRACT_NAMES = ["TokenRegistry", "SettlementEscrow", "MockUSDC", "MockUSDT", "MockSKL", "WETH9"] as const;
export type DeployedContractName = (typeof DEPLOYED_CONTRACT_NAMES)[number];

// ---------------------------------------------------------------------------------------------
// Validation (by hand: no schema library is installed)
// ---------------------------------------------------------------------------------------------

export class DeploymentRecordError extends Error {
  override name = "DeploymentRecordError";
}

type Obj = Record<string, unknown>;

function fail(where: string, what: string): never {
  throw new DeploymentRecordError(`${where}: ${what}`);
}
function obj(v: unknown, where: string): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(where, "expected an object");
  return v as Obj;
}
function str(v: unknown, where: string): string {
  if (typeof v !== "string") fail(where, "expected a string");
  return v;
}
function nonEmpty(v: unknown, where: string): string {
  const s = str(v, where);
  if (s.length === 0) fail(where, "expected a non-empty string");
  return s;
}
function bool(v: unknown, where: string): boolean {
  if (typeof v !== "boolean") fail(where, "expected a boolean");
  return v;
}
function int(v: unknown, where: string, min = 0): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) fail(where, `expected an integer >= ${min}`);
  return v;
}
function uintString(v: unknown, where: string): string {
  const s = str(v, where);
  if (!/^(0|[1-9][0-9]*)$/.test(s)) fail(where, "expected a decimal integer string");
  return s;
}
function address(v: unknown, where: string): AddressString {
  const s = str(v, where);
  if (!/^0x[0-9a-fA-F]{40}$/.test(s)) fail(where, "expected a 20-byte 0x address");
  return s as AddressString;
}
function hash(v: unknown, where: string): Hex {
  const s = str(v, where);
  if (!/^0x[0-9a-fA-F]{64}$/.test(s)) fail(where, "expected a 32-byte 0x hash");
  return s as Hex;
}
function isoDate(v: unknown, where: string): string {
  const s = str(v, where);
  if (Number.isNaN(Date.parse(s))) fail(where, "expected an ISO-8601 date");
  return s;
}
function oneOf<T extends string>(v: unknown, allowed: readonly T[], where: string): T {
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) fail(where, `expected one of ${allowed.join(", ")}`);
  return v as T;
}
function arr<T>(v: unknown, where: string, item: (x: unknown, where: string) => T): T[] {
  if (!Array.isArray(v)) fail(where, "expected an array");
  return v.map((x, i) => item(x, `${where}[${i}]`));
}
function nullable<T>(v: unknown, where: string, item: (x: unknown, where: string) => T): T | null {
  return v === null ? null : item(v, where);
}
function json(v: unknown, where: string): JsonValue {
  if (v === null || typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) fail(where, "expected a finite number");
    return v;
  }
  if (Array.isArray(v)) return v.map((x, i) => json(x, `${where}[${i}]`));
  const o = obj(v, where);
  return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, json(x, `${where}.${k}`)]));
}

function compiler(v: unknown, where: string): CompilerRecord {
  const o = obj(v, where);
  const opt = obj(o.optimizer, `${where}.optimizer`);
  return {
    solcVersion: nonEmpty(o.solcVersion, `${where}.solcVersion`),
    solcLongVersion: nullable(o.solcLongVersion, `${where}.solcLongVersion`, nonEmpty),
    evmVersion: nonEmpty(o.evmVersion, `${where}.evmVersion`),
    optimizer: { enabled: bool(opt.enabled, `${where}.optimizer.enabled`), runs: int(opt.runs, `${where}.optimizer.runs`) },
    viaIR: bool(o.viaIR, `${where}.viaIR`),
    buildProfile: nonEmpty(o.buildProfile, `${where}.buildProfile`),
  };
}

function contractRecord(v: unknown, where: string): ContractRecord {
  const o = obj(v, where);
  return {
    contract: nonEmpty(o.contract, `${where}.contract`),
    address: address(o.address, `${where}.address`),
    txHash: hash(o.txHash, `${where}.txHash`),
    blockNumber: int(o.blockNumber, `${where}.blockNumber`),
    deployer: address(o.deployer, `${where}.deployer`),
    constructorArgs: arr(o.constructorArgs, `${where}.constructorArgs`, json),
    bytecodeHash: hash(o.bytecodeHash, `${where}.bytecodeHash`),
    buildInfoId: nullable(o.buildInfoId, `${where}.buildInfoId`, nonEmpty),
    deployedAt: isoDate(o.deployedAt, `${where}.deployedAt`),
  };
}

function tokenRecord(v: unknown, where: string): TokenRecord {
  const o = obj(v, where);
  const e = obj(o.eip712, `${where}.eip712`);
  const methods = arr(o.methods, `${where}.methods`, (x, w) => oneOf(x, COLLECTION_METHOD_NAMES, w));
  const collectionMethods = int(o.collectionMethods, `${where}.collectionMethods`, 1);
  if (collectionMethods !== methodsToFlags(methods)) fail(where, "collectionMethods does not match methods");
  const minAmount = uintString(o.minAmount, `${where}.minAmount`);
  const maxAmount = uintString(o.maxAmount, `${where}.maxAmount`);
  if (BigInt(minAmount) > BigInt(maxAmount)) fail(where, "minAmount exceeds maxAmount");
  const decimals = int(o.decimals, `${where}.decimals`);
  if (decimals > 255) fail(`${where}.decimals`, "expected at most 255");
  return {
    key: nonEmpty(o.key, `${where}.key`),
    address: address(o.address, `${where}.address`),
    symbol: nonEmpty(o.symbol, `${where}.symbol`),
    decimals,
    eip712: {
      name: str(e.name, `${where}.eip712.name`),
      version: str(e.version, `${where}.eip712.version`),
      source: oneOf(e.source, EIP712_SOURCES, `${where}.eip712.source`),
      verified: bool(e.verified, `${where}.eip712.verified`),
    },
    collectionMethods,
    methods,
    minAmount,
    maxAmount,
    status: oneOf(o.status, TOKEN_STATUS_NAMES, `${where}.status`),
    mock: bool(o.mock, `${where}.mock`),
    registration: nullable(o.registration, `${where}.registration`, (x, w) => {
      const r = obj(x, w);
      return { txHash: hash(r.txHash, `${w}.txHash`), blockNumber: int(r.blockNumber, `${w}.blockNumber`) };
    }),
  };
}

/**
 * Checks that `value` (parsed JSON) is a well-formed deployment record and returns it typed.
 * Throws a `DeploymentRecordError` naming the first offending field.
 */
export function parseDeploymentRecord(value: unknown, where = "deployment record"): DeploymentRecord {
  const o = obj(value, where);
  if (o.schemaVersion !== DEPLOYMENT_RECORD_SCHEMA_VERSION) {
    fail(`${where}.schemaVersion`, `expected ${DEPLOYMENT_RECORD_SCHEMA_VERSION}, got ${JSON.stringify(o.schemaVersion)}`);
  }
  const contractsObj = obj(o.contracts, `${where}.contracts`);
  const contracts: Partial<Record<DeployedContractName, ContractRecord>> = {};
  for (const [name, c] of Object.entries(contractsObj)) {
    const contractName = oneOf(name, DEPLOYED_CONTRACT_NAMES, `${where}.contracts (key)`);
    contracts[contractName] = contractRecord(c, `${where}.contracts.${name}`);
  }
  const tokens = arr(o.tokens, `${where}.tokens`, tokenRecord);
  const seen = new Set<string>();
  for (const t of tokens) {
    for (const id of [`key:${t.key}`, `address:${t.address.toLowerCase()}`]) {
      if (seen.has(id)) fail(`${where}.tokens`, `duplicate token ${id}`);
      seen.add(id);
    }
  }
  return {
    schemaVersion: DEPLOYMENT_RECORD_SCHEMA_VERSION,
    network: nonEmpty(o.network, `${where}.network`),
    chainId: int(o.chainId, `${where}.chainId`, 1),
    genesisHash: hash(o.genesisHash, `${where}.genesisHash`),
    kind: oneOf(o.kind, NETWORK_KINDS, `${where}.kind`),
    status: oneOf(o.status, ["in-progress", "complete"] as const, `${where}.status`),
    deployer: address(o.deployer, `${where}.deployer`),
    mocks: bool(o.mocks, `${where}.mocks`),
    compiler: compiler(o.compiler, `${where}.compiler`),
    contracts,
    registry: nullable(o.registry, `${where}.registry`, (x, w) => {
      const r = obj(x, w);
      return { owner: address(r.owner, `${w}.owner`), pendingOwner: nullable(r.pendingOwner, `${w}.pendingOwner`, address) };
    }),
    escrow: nullable(o.escrow, `${where}.escrow`, (x, w) => {
      const e = obj(x, w);
      const feeBps = int(e.feeBps, `${w}.feeBps`);
      if (feeBps > 10_000) fail(`${w}.feeBps`, "expected at most 10000");
      return {
        admin: address(e.admin, `${w}.admin`),
        feeRecipient: address(e.feeRecipient, `${w}.feeRecipient`),
        withdrawalDelay: int(e.withdrawalDelay, `${w}.withdrawalDelay`),
        adminTransferDelay: int(e.adminTransferDelay, `${w}.adminTransferDelay`),
        feeBps,
        paused: bool(e.paused, `${w}.paused`),
        pausers: arr(e.pausers, `${w}.pausers`, address),
        operators: arr(e.operators, `${w}.operators`, address),
      };
    }),
    tokens,
    pendingTransaction: nullable(o.pendingTransaction, `${where}.pendingTransaction`, (x, w) => {
      const p = obj(x, w);
      return {
        step: nonEmpty(p.step, `${w}.step`),
        hash: hash(p.hash, `${w}.hash`),
        nonce: int(p.nonce, `${w}.nonce`),
        sentAt: isoDate(p.sentAt, `${w}.sentAt`),
        deployment: nullable(p.deployment, `${w}.deployment`, (d, dw) => {
          const dd = obj(d, dw);
          return {
            contract: nonEmpty(dd.contract, `${dw}.contract`),
            deployer: address(dd.deployer, `${dw}.deployer`),
            constructorArgs: arr(dd.constructorArgs, `${dw}.constructorArgs`, json),
            bytecodeHash: hash(dd.bytecodeHash, `${dw}.bytecodeHash`),
            buildInfoId: nullable(dd.buildInfoId, `${dw}.buildInfoId`, nonEmpty),
          };
        }),
      };
    }),
    transactions: arr(o.transactions, `${where}.transactions`, (x, w) => {
      const t = obj(x, w);
      return {
        step: nonEmpty(t.step, `${w}.step`),
        hash: hash(t.hash, `${w}.hash`),
        blockNumber: int(t.blockNumber, `${w}.blockNumber`),
        type: oneOf(t.type, TRANSACTION_TYPES, `${w}.type`),
        gasUsed: uintString(t.gasUsed, `${w}.gasUsed`),
        gasPrice: uintString(t.gasPrice, `${w}.gasPrice`),
        at: isoDate(t.at, `${w}.at`),
      };
    }),
    createdAt: isoDate(o.createdAt, `${where}.createdAt`),
    updatedAt: isoDate(o.updatedAt, `${where}.updatedAt`),
    completedAt: nullable(o.completedAt, `${where}.completedAt`, isoDate),
  };
}

// ---------------------------------------------------------------------------------------------
// Helpers shared with the gateway
// ---------------------------------------------------------------------------------------------

export function methodsToFlags(methods: readonly CollectionMethodName[]): number {
  return methods.reduce((flags, m) => flags | METHOD_FLAGS[m], 0);
}

export function flagsToMethods(flags: number): CollectionMethodName[] {
  return COLLECTION_METHOD_NAMES.filter((m) => (flags & METHOD_FLAGS[m]) !== 0);
}

/** Finds a token by config key, symbol or address (case-insensitive). */
export function findToken(record: DeploymentRecord, ref: string): TokenRecord | undefined {
  const r = ref.toLowerCase();
  return (
    record.tokens.find((t) => t.address.toLowerCase() === r) ??
    record.tokens.find((t) => t.key.toLowerCase() === r) ??
    record.tokens.find((t) => t.symbol.toLowerCase() === r)
  );
}

/** Where records live: `$DEPLOYMENTS_DIR`, or `<project root>/deployments`. */
export function deploymentsDir(projectRoot: string, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.DEPLOYMENTS_DIR?.trim();
  return fromEnv ? path.resolve(projectRoot, fromEnv) : path.join(projectRoot, "deployments");
}

export function deploymentRecordPath(dir: string, networkName: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(networkName)) throw new DeploymentRecordError(`unsafe network name for a file name: ${networkName}`);
  return path.join(dir, `${networkName}.json`);
}

/** Reads and validates a record; undefined when the file does not exist. */
export function readDeploymentRecordIfExists(file: string): DeploymentRecord | undefined {
  if (!existsSync(file)) return undefined;
  return readDeploymentRecord(file);
}

export function readDeploymentRecord(file: string): DeploymentRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new DeploymentRecordError(`${file}: not readable JSON (${(error as Error).message})`);
  }
  return parseDeploymentRecord(parsed, file);
}

/**
 * Validates and writes `record` atomically: a crash leaves either the old or the new file,
 * never a truncated one (write to a temporary file, fsync, rename over the target).
 */
export function writeDeploymentRecord(file: string, record: DeploymentRecord): void {
  parseDeploymentRecord(record, `record for ${file}`);
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, `${JSON.stringify(record, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
