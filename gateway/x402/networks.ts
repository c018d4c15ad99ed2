import { z } from "zod";

/** CAIP-2 chain id ("namespace:reference"), the v2 network format. */
export type Caip2 = `${string}:${string}`;

/** CAIP-2 id of an EVM chain. */
export type Eip155Network = `eip155:${number}`;

const caip2Pattern = /^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$/;

/** Decimal chain id without leading zeros, so each chain has exactly one network string. */
const eip155Pattern = /^eip155:([1-9][0-9]{0,15})$/;

export const caip2NetworkSchema = z.codec(
  z.string().regex(caip2Pattern, "must be a CAIP-2 chain id such as eip155:324705682"),
  z.custom<Caip2>((v) => typeof v === "string" && caip2Pattern.test(v), "must be a CAIP-2 chain id"),
  { decode: (s) => s as Caip2, encode: (s) => s },
);

export function isCaip2(value: string): value is Caip2 {
  return caip2Pattern.test(value);
}

export function caip2(chainId: number): Eip155Network {
  if (!Number.isSafeInteger(chainId) || chainId <= 0) throw new RangeError(`invalid chain id ${chainId}`);
  return `eip155:${chainId}`;
}

/** Chain id of a canonical eip155 network id; undefined for other namespaces or non-canonical ids. */
export function parseCaip2(network: string): number | undefined {
  const digits = eip155Pattern.exec(network)?.[1];
  if (digits === undefined) return undefined;
  const chainId = Number(digits);
  return Number.isSafeInteger(chainId) ? chainId : undefined;
}

export interface SkaleChain {
  readonly chainId: number;
  readonly name: string;
  readonly network: Eip155Network;
  readonly testnet: boolean;
}

export const skaleBaseSepolia = {
  chainId: 324705682,
  name: "SKALE Base Sepolia",
  network: "eip155:324705682",
  testnet: true,
} as const satisfies SkaleChain;

export const skaleBase = {
  chainId: 1187947933,
  name: "SKALE Base",
  network: "eip155:1187947933",
  testnet: false,
} as const satisfies SkaleChain;

export const skaleChains: readonly SkaleChain[] = [skaleBaseSepolia, skaleBase];

export function skaleChain(chainId: number): SkaleChain | undefined {
  return skaleChains.find((chain) => chain.chainId === chainId);
}

/**
 * v1 network names. The v1 client (`x402-fetch` 1.x) validates `network` against a closed list, and
 * one unknown entry makes it reject the whole 402, so only names on that list may appear here.
 */
const v1Names = {
  "skale-base-sepolia": skaleBaseSepolia.chainId,
} as const satisfies Record<string, number>;

export type V1NetworkName = keyof typeof v1Names;

/** The v1 name of a chain, or undefined when v1 clients cannot pay on it (omit the v1 offer then). */
export function v1NetworkName(chainId: number): V1NetworkName | undefined {
  for (const [name, id] of Object.entries(v1Names) as [V1NetworkName, number][]) {
    if (id === chainId) return name;
  }
  return undefined;
}

export function v1NetworkChainId(name: string): number | undefined {
  return Object.hasOwn(v1Names, name) ? v1Names[name as V1NetworkName] : undefined;
}
