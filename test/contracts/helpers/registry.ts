import type { Address } from "viem";

/** Collection-method flags, mirroring the constants in `contracts/interfaces/ITokenRegistry.sol`. */
export const METHOD_EIP3009 = 1;
export const METHOD_PERMIT = 2;
export const METHOD_ERC20 = 4;
export const METHOD_ALL = METHOD_EIP3009 | METHOD_PERMIT | METHOD_ERC20;

/** `ITokenRegistry.TokenStatus`, as the uint8 values viem uses for Solidity enums. */
export const TokenStatus = {
  None: 0,
  Active: 1,
  Deprecated: 2,
  Removed: 3,
} as const;
export type TokenStatusValue = (typeof TokenStatus)[keyof typeof TokenStatus];

/** `ITokenRegistry.TokenInfo` as viem encodes and decodes it. */
export interface TokenInfo {
  token: Address;
  symbol: string;
  decimals: number;
  collectionMethods: number;
  status: number;
  eip712Name: string;
  eip712Version: string;
  minAmount: bigint;
  maxAmount: bigint;
}

export const MAX_UINT128 = 2n ** 128n - 1n;

/**
 * A valid USDC-like registration for `token` (6 decimals, every method, 0.001 to 1,000 USDC),
 * with `overrides` applied on top.
 */
export function usdcInfo(token: Address, overrides: Partial<TokenInfo> = {}): TokenInfo {
  return {
    token,
    symbol: "USDC",
    decimals: 6,
    collectionMethods: METHOD_ALL,
    status: TokenStatus.Active,
    eip712Name: "USD Coin",
    eip712Version: "2",
    minAmount: 1_000n,
    maxAmount: 1_000_000_000n,
    ...overrides,
  };
}
