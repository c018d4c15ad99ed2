/**
 * Reads what a token says about itself (decimals, symbol, EIP-712 domain, permit / EIP-3009
 * support) and turns that plus the network config into the registration to make.
 *
 * The chain is the source of truth; the config file is only a fallback when the chain cannot
 * answer, and every fallback is reported. When the token exposes `DOMAIN_SEPARATOR()`, the
 * EIP-712 name and version are accepted only if they reproduce it: public sources disagree
 * about the version of USDC.e on SKALE, the token itself does not.
 */
import { domainSeparator, getAddress, zeroAddress, zeroHash, type Address, type Hex, type PublicClient } from "viem";
import {
  METHOD_FLAGS,
  methodsToFlags,
  type CollectionMethodName,
  type Eip712Source,
  type TokenEip712Record,
} from "./deployment-record.js";
import { tokenProbeAbi } from "./abis.js";
import { parseTokenAmount } from "./format.js";
import type { TokenConfig } from "./network-config.js";

const MAX_UINT128 = 2n ** 128n - 1n;

export class TokenProbeError extends Error {
  override name = "TokenProbeError";
}

/** The two client calls the probe needs (a viem PublicClient, or a stub in unit tests). */
export type TokenProbeClient = Pick<PublicClient, "getCode" | "readContract">;

export interface Eip5267Domain {
  fields: number;
  name: string;
  version: string;
  chainId: bigint;
  verifyingContract: Address;
  salt: Hex;
}

/** Raw answers of the token; null where the call reverted or does not exist. */
export interface TokenProbe {
  address: Address;
  decimals: number | null;
  symbol: string | null;
  name: string | null;
  /** `version()`, else `EIP712_VERSION()`. */
  version: string | null;
  eip5267: Eip5267Domain | null;
  domainSeparator: Hex | null;
  hasNonces: boolean;
  hasAuthorizationState: boolean;
}

async function attempt<T>(fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch {
    return null;
  }
}

/** Calls every optional view on the token. Throws only when there is no contract at `address`. */
export async function probeToken(client: TokenProbeClient, tokenAddress: Address): Promise<TokenProbe> {
  const address = getAddress(tokenAddress);
  const code = await client.getCode({ address });
  if (code === undefined || code === "0x") {
    throw new TokenProbeError(`no contract at ${address}: wrong address, or the wrong network?`);
  }
  const read = <F extends (typeof tokenProbeAbi)[number]["name"]>(functionName: F, args: readonly unknown[] = []) =>
    attempt(() => client.readContract({ address, abi: tokenProbeAbi, functionName, args } as never) as Promise<unknown>);

  const [decimals, symbol, name, version, eip712Version, domain, separator, nonces, authState] = await Promise.all([
    read("decimals"),
    read("symbol"),
    read("name"),
    read("version"),
    read("EIP712_VERSION"),
    read("eip712Domain"),
    read("DOMAIN_SEPARATOR"),
    read("nonces", [zeroAddress]),
    read("authorizationState", [zeroAddress, zeroHash]),
  ]);

  let eip5267: Eip5267Domain | null = null;
  if (Array.isArray(domain) && domain.length >= 6) {
    const [fields, dName, dVersion, dChainId, dContract, dSalt] = domain as [Hex, string, string, bigint, Address, Hex];
    eip5267 = { fields: Number.parseInt(fields, 16), name: dName, version: dVersion, chainId: dChainId, verifyingContract: dContract, salt: dSalt };
  }
  const asString = (v: unknown) => (typeof v === "string" ? v : null);
  return {
    address,
    decimals: typeof decimals === "number" ? decimals : null,
    symbol: asString(symbol),
    name: asString(name),
    version: asString(version) ?? asString(eip712Version),
    eip5267,
    domainSeparator: typeof separator === "string" ? (separator as Hex) : null,
    hasNonces: typeof nonces === "bigint",
    hasAuthorizationState: typeof authState === "boolean",
  };
}

/** Methods the probe can see: ERC-20 always; permit with DOMAIN_SEPARATOR + nonces; EIP-3009 with authorizationState + a domain. */
export function detectMethods(probe: TokenProbe): CollectionMethodName[] {
  const methods: CollectionMethodName[] = [];
  const hasDomain = probe.domainSeparator !== null || probe.eip5267 !== null;
  if (probe.hasAuthorizationState && hasDomain) methods.push("eip3009");
  if (probe.domainSeparator !== null && probe.hasNonces) methods.push("permit");
  methods.push("erc20");
  return methods;
}

function separatorFor(name: string, version: string, chainId: number, verifyingContract: Address, fields = 0b01111, salt?: Hex): Hex {
  const domain: Record<string, unknown> = {};
  if (fields & 1) domain.name = name;
  if (fields & 2) domain.version = version;
  if (fields & 4) domain.chainId = chainId;
  if (fields & 8) domain.verifyingContract = verifyingContract;
  if (fields & 16 && salt !== undefined) domain.salt = salt;
  return domainSeparator({ domain: domain as Parameters<typeof domainSeparator>[0]["domain"] });
}

export interface ResolvedEip712 extends TokenEip712Record {
  notes: string[];
}

/**
 * Picks the EIP-712 name and version to register. Candidates, in order: ERC-5267
 * `eip712Domain()`; `name()` + `version()`/`EIP712_VERSION()`; when the token has a
 * `DOMAIN_SEPARATOR()`, `name()` + "2" / "1" (accepted only if they reproduce it); the config
 * fallback. With a `DOMAIN_SEPARATOR()` the first candidate reproducing it wins (verified);
 * without one, the first candidate the token itself answered wins.
 */
export function resolveEip712(
  probe: TokenProbe,
  fallback: TokenConfig["fallback"],
  chainId: number,
  needsDomain: boolean,
): ResolvedEip712 {
  const notes: string[] = [];
  type Candidate = { name: string; version: string; source: Eip712Source; fields?: number; salt?: Hex; guess?: boolean };
  const candidates: Candidate[] = [];
  if (probe.eip5267) {
    const d = probe.eip5267;
    candidates.push({ name: d.fields & 1 ? d.name : "", version: d.fields & 2 ? d.version : "", source: "erc5267", fields: d.fields, salt: d.salt });
  }
  if (probe.name !== null && probe.version !== null) candidates.push({ name: probe.name, version: probe.version, source: "name-version" });
  if (probe.name !== null && probe.domainSeparator !== null) {
    for (const v of ["2", "1"]) candidates.push({ name: probe.name, version: v, source: "domain-separator", guess: true });
  }
  const configCandidate: Candidate | undefined =
    fallback.eip712Name !== undefined ? { name: fallback.eip712Name, version: fallback.eip712Version ?? "", source: "config" } : undefined;

  if (probe.domainSeparator !== null) {
    for (const c of configCandidate ? [...candidates, configCandidate] : candidates) {
      if (separatorFor(c.name, c.version, chainId, probe.address, c.fields, c.salt) === probe.domainSeparator) {
        if (c.source === "config") notes.push(`EIP-712 domain taken from the config file; it reproduces the token's DOMAIN_SEPARATOR`);
        return { name: c.name, version: c.version, source: c.source, verified: true, notes };
      }
    }
    const tried = [...candidates, ...(configCandidate ? [configCandidate] : [])].map((c) => `("${c.name}", "${c.version}")`).join(", ");
    if (configCandidate) {
      notes.push(
        `WARNING: no candidate reproduces the token's DOMAIN_SEPARATOR (tried ${tried}); using the config file's ("${configCandidate.name}", "${configCandidate.version}") UNVERIFIED`,
      );
      return { name: configCandidate.name, version: configCandidate.version, source: "config", verified: false, notes };
    }
    throw new TokenProbeError(
      `token ${probe.address}: no EIP-712 name/version reproduces its DOMAIN_SEPARATOR ${probe.domainSeparator} on chain ${chainId} (tried ${tried || "nothing: the token has no name()"}). ` +
        `Set fallback.eip712Name and fallback.eip712Version for it in the network config after checking the token's source.`,
    );
  }

  const answered = candidates.find((c) => !c.guess);
  if (answered) {
    if (!needsDomain && answered.source === "name-version") {
      // A plain ERC-20 with a version() but no permit/EIP-3009: nothing signs against a domain.
      return { name: "", version: "", source: "none", verified: false, notes };
    }
    return { name: answered.name, version: answered.version, source: answered.source, verified: false, notes };
  }
  if (!needsDomain) return { name: "", version: "", source: "none", verified: false, notes };
  if (configCandidate) {
    notes.push(`the token does not answer eip712Domain()/name()+version(); EIP-712 domain ("${configCandidate.name}", "${configCandidate.version}") taken from the config file`);
    return { name: configCandidate.name, version: configCandidate.version, source: "config", verified: false, notes };
  }
  throw new TokenProbeError(
    `token ${probe.address}: permit/EIP-3009 collection needs an EIP-712 domain, but the token does not expose one; set fallback.eip712Name/eip712Version in the network config`,
  );
}

/** Everything `registerToken` needs, plus notes worth printing. */
export interface TokenPlan {
  key: string;
  address: Address;
  symbol: string;
  decimals: number;
  eip712: TokenEip712Record;
  methods: CollectionMethodName[];
  collectionMethods: number;
  minAmount: bigint;
  maxAmount: bigint;
  mock: boolean;
  notes: string[];
}

/** Combines the probe with the token's config entry. Pure. */
export function planTokenRegistration(probe: TokenProbe, token: TokenConfig, chainId: number, mock: boolean): TokenPlan {
  const notes: string[] = [];
  const where = `${token.key} (${probe.address})`;

  let decimals = probe.decimals;
  if (decimals === null) {
    if (token.fallback.decimals === undefined) throw new TokenProbeError(`${where}: decimals() does not answer and the config has no fallback.decimals`);
    decimals = token.fallback.decimals;
    notes.push(`decimals() did not answer; using ${decimals} from the config file`);
  } else if (token.fallback.decimals !== undefined && token.fallback.decimals !== decimals) {
    notes.push(`WARNING: the chain says ${decimals} decimals, the config file says ${token.fallback.decimals}; using the chain's`);
  }

  let symbol = probe.symbol;
  if (symbol === null || symbol.length === 0) {
    symbol = token.fallback.symbol ?? token.key;
    notes.push(`symbol() did not answer; registering "${symbol}" from the config file`);
  } else if (token.expectedSymbols.length > 0 && !token.expectedSymbols.includes(symbol)) {
    throw new TokenProbeError(
      `${where}: the token reports symbol "${symbol}", expected one of ${token.expectedSymbols.map((s) => `"${s}"`).join(", ")}. Wrong address in the network config?`,
    );
  }

  const detected = detectMethods(probe);
  let methods: CollectionMethodName[];
  if (token.collectionMethods === "auto") {
    methods = detected;
  } else {
    methods = [...token.collectionMethods].sort((a, b) => METHOD_FLAGS[a] - METHOD_FLAGS[b]);
    for (const m of methods) if (!detected.includes(m)) notes.push(`WARNING: config declares "${m}" but the probe could not confirm it on the token`);
    for (const m of detected) if (!methods.includes(m)) notes.push(`the token seems to support "${m}", which the config leaves out`);
  }
  const needsDomain = methods.includes("eip3009") || methods.includes("permit");
  const { notes: eipNotes, ...eip712 } = resolveEip712(probe, token.fallback, chainId, needsDomain);
  notes.push(...eipNotes);

  const minAmount = parseTokenAmount(token.limits.min, decimals, `${token.key} limits.min`);
  const maxAmount = parseTokenAmount(token.limits.max, decimals, `${token.key} limits.max`);
  if (minAmount === 0n) throw new TokenProbeError(`${where}: limits.min must be more than zero`);
  if (minAmount > maxAmount) throw new TokenProbeError(`${where}: limits.min (${token.limits.min}) exceeds limits.max (${token.limits.max})`);
  if (maxAmount > MAX_UINT128) throw new TokenProbeError(`${where}: limits.max does not fit in uint128`);

  return {
    key: token.key,
    address: probe.address,
    symbol,
    decimals,
    eip712,
    methods,
    collectionMethods: methodsToFlags(methods),
    minAmount,
    maxAmount,
    mock,
    notes,
  };
}
