import { z } from "zod";
import { type Address, type Hex, hexToNumber, size, slice } from "viem";
import { addressSchema, bytes32Schema, signatureSchema, uint256StringSchema } from "../../x402/primitives.js";
import type { JsonValue } from "../types.js";
import { transferWithAuthorizationTypes } from "./abi.js";

/**
 * The exact scheme's payload, as both client generations send it (`x402-fetch` 1.x and
 * `@x402/evm` 2.x): the EIP-3009 authorization with every number as a decimal string, and the
 * payer's signature over it. Unknown keys are dropped, not refused, so a client adding fields does
 * not break payments.
 */
export const authorizationSchema = z.object({
  from: addressSchema,
  to: addressSchema,
  value: uint256StringSchema,
  validAfter: uint256StringSchema,
  validBefore: uint256StringSchema,
  nonce: bytes32Schema,
});

export const exactPayloadSchema = z.object({
  signature: signatureSchema,
  authorization: authorizationSchema,
});

export type Authorization = z.output<typeof authorizationSchema>;
export type ExactPayload = z.output<typeof exactPayloadSchema>;
export type ExactPayloadWire = z.input<typeof exactPayloadSchema>;

/** The payload in canonical wire form (checksummed addresses, lower-case hex): the settlement data. */
export function encodeExactPayload(payload: ExactPayload): { readonly [key: string]: JsonValue } {
  return z.encode(exactPayloadSchema, payload);
}

/** The token's EIP-712 domain: what the token contract hashes with, not what a client claims. */
export interface TokenDomain {
  readonly name: string;
  readonly version: string;
  readonly chainId: number;
  readonly verifyingContract: Address;
}

export function transferWithAuthorizationTypedData(domain: TokenDomain, authorization: Authorization) {
  return {
    domain,
    types: transferWithAuthorizationTypes,
    primaryType: "TransferWithAuthorization",
    message: authorization,
  } as const;
}

/**
 * The ledger's replay guard. EIP-3009 nonces are scoped to (token, authorizer), exactly as the
 * token's `authorizationState` is, so that is the key; lower case makes every spelling one key.
 */
export function exactPaymentKey(chainId: number, token: Address, authorization: Authorization): string {
  return `exact:${chainId}:${token}:${authorization.from}:${authorization.nonce}`.toLowerCase();
}

/**
 * Arguments of the `transferWithAuthorization` overload that settles this payload. A 65-byte
 * signature goes as (v, r, s), the form every FiatToken version has; the token packs it back into
 * the same 65 bytes, so contract wallets signing with 65 bytes are served too. Any other length
 * (ERC-1271 wallets) needs the `bytes` overload of FiatToken v2.2+.
 */
export function transferWithAuthorizationArgs({ authorization: a, signature }: ExactPayload) {
  const head = [a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce] as const;
  if (size(signature) === 65) {
    const v = hexToNumber(slice(signature, 64, 65));
    const r: Hex = slice(signature, 0, 32);
    const s: Hex = slice(signature, 32, 64);
    return [...head, v, r, s] as const;
  }
  return [...head, signature] as const;
}
