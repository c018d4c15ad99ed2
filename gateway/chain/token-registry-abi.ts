/**
 * The part of `contracts/interfaces/ITokenRegistry.sol` the gateway reads: `allTokens()`, `paymentPolicy` and the
 * events that announce a change. Human-readable, so viem types every read; a test checks each
 * signature against the compiled artifact, so a contract change cannot silently break it.
 */
import { parseAbi } from "viem";

export const tokenRegistryReadAbi = parseAbi([
  "struct TokenInfo { address token; string symbol; uint8 decimals; uint8 collectionMethods; uint8 status; string eip712Name; string eip712Version; uint128 minAmount; uint128 maxAmount; }",
  "function allTokens() view returns (TokenInfo[])",
  "function paymentPolicy(address token) view returns (uint8 status, uint128 minAmount, uint128 maxAmount)",
]);

/** Every event the registry emits when a token's data changes. */
export const tokenRegistryEventsAbi = parseAbi([
  "event TokenRegistered(address indexed token, string symbol, uint8 decimals, uint8 collectionMethods, string eip712Name, string eip712Version, uint128 minAmount, uint128 maxAmount)",
  "event TokenStatusChanged(address indexed token, uint8 previousStatus, uint8 newStatus)",
  "event AmountLimitsChanged(address indexed token, uint128 minAmount, uint128 maxAmount)",
  "event CollectionMethodsChanged(address indexed token, uint8 collectionMethods)",
  "event Eip712DomainChanged(address indexed token, string eip712Name, string eip712Version)",
]);

/** Collection-method flags (`METHOD_*` in ITokenRegistry.sol). */
export const METHOD_EIP3009 = 1;
export const METHOD_PERMIT = 2;
export const METHOD_ERC20 = 4;

/** `ITokenRegistry.TokenStatus`, indexed by its uint8 value. */
export const TOKEN_STATUSES = ["none", "active", "deprecated", "removed"] as const;
export type TokenStatus = (typeof TOKEN_STATUSES)[number];

/** Name of an on-chain status value; throws RangeError for a value the registry cannot hold. */
export function tokenStatus(value: number): TokenStatus {
  const status = TOKEN_STATUSES[value];
  if (status === undefined) throw new RangeError(`unknown token status ${value}`);
  return status;
}
