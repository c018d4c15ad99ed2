import { z } from "zod";
import { type Address, type Hex, getAddress, isAddress, maxUint256 } from "viem";

/**
 * Wire primitives shared by the envelopes and the scheme modules. Each is a zod codec: parsing
 * (`schema.parse`) turns wire JSON into domain values, `z.encode(schema, value)` turns them back.
 */

/**
 * Unsigned integer as x402 puts it on the wire: a decimal string in canonical form. Signs, decimals,
 * exponents, hex and leading zeros are refused rather than coerced, because two spellings of the
 * same amount would otherwise compare unequal wherever strings are compared.
 */
export const uintStringPattern = /^(0|[1-9][0-9]{0,77})$/;

export const uint256StringSchema = z.codec(
  z
    .string()
    .regex(uintStringPattern, "must be a decimal integer string without sign or leading zeros")
    // zod keeps checking after a failed regex; only well-formed strings may reach BigInt().
    .refine((s) => !uintStringPattern.test(s) || BigInt(s) <= maxUint256, "must not exceed 2^256-1"),
  z.bigint().min(0n).max(maxUint256),
  { decode: (s) => BigInt(s), encode: (n) => n.toString(10) },
);

const addressPattern = /^0x[0-9a-fA-F]{40}$/;

/**
 * EVM address, normalized to its EIP-55 checksum. A mixed-case input must already carry a valid
 * checksum: a wrong one means the address was mistyped or altered, not merely lower-cased.
 */
export const addressSchema = z.codec(
  z
    .string()
    .regex(addressPattern, "must be 0x followed by 40 hex digits")
    .refine((s) => !addressPattern.test(s) || isAddress(s, { strict: true }), "has an invalid EIP-55 checksum"),
  z.custom<Address>((v) => typeof v === "string" && isAddress(v, { strict: false }), "must be an address"),
  { decode: (s) => getAddress(s), encode: (a) => getAddress(a) },
);

export interface HexBytesBounds {
  readonly min: number;
  readonly max: number;
}

/** `0x` and between `min` and `max` bytes of hex digits, either case. */
export function hexBytesPattern(bounds: HexBytesBounds): RegExp {
  return new RegExp(`^0x(?:[0-9a-fA-F]{2}){${bounds.min},${bounds.max}}$`);
}

/** Bounds of `signatureSchema` and `bytes32Schema`, for code that checks the same forms by hand. */
export const SIGNATURE_BYTES: HexBytesBounds = { min: 64, max: 4096 };
export const BYTES32_BYTES: HexBytesBounds = { min: 32, max: 32 };

/**
 * 0x-prefixed byte string of bounded length, normalized to lower case so that case variants of one
 * nonce or signature collapse to a single key wherever they are stored or compared.
 */
export function hexBytesSchema(bounds: HexBytesBounds) {
  const { min, max } = bounds;
  const pattern = hexBytesPattern(bounds);
  const expectation = min === max ? `${min} bytes` : `${min} to ${max} bytes`;
  return z.codec(
    z.string().regex(pattern, `must be 0x-prefixed hex of ${expectation}`),
    z.custom<Hex>((v) => typeof v === "string" && pattern.test(v), `must be hex of ${expectation}`),
    { decode: (s) => s.toLowerCase() as Hex, encode: (h) => h.toLowerCase() as Hex },
  );
}

/** bytes32: EIP-3009 nonces, transaction hashes. */
export const bytes32Schema = hexBytesSchema(BYTES32_BYTES);

/**
 * Signatures: 64 (EIP-2098) or 65 bytes from EOAs, longer for ERC-1271 / ERC-6492 smart wallets.
 * The upper bound only has to stay above what fits in a header.
 */
export const signatureSchema = hexBytesSchema(SIGNATURE_BYTES);

/** Payment timeouts: whole seconds, at least one, within 32 bits. */
export const timeoutSecondsSchema = z.int().min(1).max(0xffff_ffff);

/** Scheme identifiers ("exact", "upto", …); whether one is supported is the dispatcher's call. */
export const schemeNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, "must be a scheme identifier");

/** Legacy v1 network names ("skale-base-sepolia"). */
export const v1NetworkSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/, "must be a v1 network name");

/** Arbitrary JSON object (extra, extensions, outputSchema, scheme payloads). */
export const jsonObjectSchema = z.record(z.string(), z.unknown());

/** Absolute http(s) URL, the form the v1 client's schema (and every browser) accepts. */
export const httpUrlSchema = z
  .string()
  .max(2048)
  .refine((s) => {
    if (!URL.canParse(s)) return false;
    const { protocol } = new URL(s);
    return protocol === "http:" || protocol === "https:";
  }, "must be an absolute http(s) URL");

/** Human-readable text fields (descriptions, MIME types, error messages). */
export const textSchema = z.string().max(4096);
