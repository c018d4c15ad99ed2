import { z } from "zod";
import { type Address, getAddress, maxUint256 } from "viem";
import {
  BYTES32_BYTES,
  SIGNATURE_BYTES,
  addressSchema,
  bytes32Schema,
  hexBytesPattern,
  signatureSchema,
  uint256StringSchema,
} from "../../x402/primitives.js";
import type { JsonValue } from "../types.js";
import { ESCROW_DOMAIN_NAME, ESCROW_DOMAIN_VERSION, paymentAuthorizationTypes } from "./abi.js";

/**
 * The escrow scheme's payload: the `PaymentAuthorization` the payer signed, every number a
 * canonical decimal string (the nonce is a uint256, not bytes32 as in EIP-3009), and the
 * signature. Unknown keys are dropped, not refused, so a client adding fields does not break
 * payments.
 */
export const escrowAuthorizationSchema = z.object({
  payer: addressSchema,
  payee: addressSchema,
  token: addressSchema,
  amount: uint256StringSchema,
  nonce: uint256StringSchema,
  validAfter: uint256StringSchema,
  validBefore: uint256StringSchema,
  challengeHash: bytes32Schema,
});

export const escrowPayloadSchema = z.object({
  signature: signatureSchema,
  authorization: escrowAuthorizationSchema,
});

export type EscrowAuthorization = z.output<typeof escrowAuthorizationSchema>;
export type EscrowPayload = z.output<typeof escrowPayloadSchema>;
export type EscrowPayloadWire = z.input<typeof escrowPayloadSchema>;

/**
 * How a verified payment is to be settled. `async`: the response may be served now and the
 * payment joins a later `settleBatch`, which the payer's commitment guarantees. `sync`: it must be
 * settled (`settle`, mined) before the response is served.
 */
export const SETTLEMENT_MODES = ["async", "sync"] as const;
export type SettlementMode = (typeof SETTLEMENT_MODES)[number];

/**
 * `VerifiedPayment.settlementData`: the payload in canonical form plus what settlement needs
 * after a restart and must not guess: the mode chosen at verification and the escrow the
 * signature is bound to (a redeployed escrow must not receive payments signed for the old one).
 */
export const escrowSettlementDataSchema = escrowPayloadSchema.extend({
  mode: z.enum(SETTLEMENT_MODES),
  escrow: addressSchema,
});

export type EscrowSettlementData = z.output<typeof escrowSettlementDataSchema>;

/**
 * How a verified escrow payment must be settled: what the HTTP layer asks before answering
 * (`sync`: settle first) and the engine before batching. Throws TypeError for anything but a
 * payment this scheme verified.
 */
export function escrowSettlementMode(payment: { readonly settlementData: { readonly [key: string]: JsonValue } }): SettlementMode {
  const mode = payment.settlementData["mode"];
  if (mode !== "async" && mode !== "sync") throw new TypeError("not an escrow payment: settlementData has no mode");
  return mode;
}

/**
 * `z.encode(escrowSettlementDataSchema, data)`, written out: it runs on every escrow payment, and
 * zod's encode (check the value, encode it, check the result) was ~4.5 % of a paid request's
 * gateway CPU. Same output (checksummed addresses, lower-case hex, decimal strings, the schema's
 * key order) and the same values refused; test/gateway/escrow-settlement-data.test.ts holds it to
 * zod's answers.
 */
export function encodeEscrowSettlementData(data: EscrowSettlementData): { readonly [key: string]: JsonValue } {
  const a = data.authorization;
  if (!SETTLEMENT_MODES.includes(data.mode)) throw new TypeError(`mode: not a settlement mode`);
  return {
    signature: lowerHex(data.signature, SIGNATURE_PATTERN, "signature"),
    authorization: {
      payer: getAddress(a.payer),
      payee: getAddress(a.payee),
      token: getAddress(a.token),
      amount: uint256String(a.amount, "amount"),
      nonce: uint256String(a.nonce, "nonce"),
      validAfter: uint256String(a.validAfter, "validAfter"),
      validBefore: uint256String(a.validBefore, "validBefore"),
      challengeHash: lowerHex(a.challengeHash, BYTES32_PATTERN, "challengeHash"),
    },
    mode: data.mode,
    escrow: getAddress(data.escrow),
  };
}

const SIGNATURE_PATTERN = hexBytesPattern(SIGNATURE_BYTES);
const BYTES32_PATTERN = hexBytesPattern(BYTES32_BYTES);

function lowerHex(value: unknown, pattern: RegExp, field: string): string {
  if (typeof value !== "string" || !pattern.test(value)) throw new TypeError(`${field}: not hex of the expected length`);
  return value.toLowerCase();
}

function uint256String(value: unknown, field: string): string {
  if (typeof value !== "bigint" || value < 0n || value > maxUint256) throw new RangeError(`${field}: not a uint256`);
  return value.toString(10);
}

/** The escrow's EIP-712 domain, fixed by the contract; only chain and address vary. */
export interface EscrowDomain {
  readonly name: string;
  readonly version: string;
  readonly chainId: number;
  readonly verifyingContract: Address;
}

export function escrowDomain(chainId: number, escrow: Address): EscrowDomain {
  return { name: ESCROW_DOMAIN_NAME, version: ESCROW_DOMAIN_VERSION, chainId, verifyingContract: escrow };
}

export function paymentAuthorizationTypedData(domain: EscrowDomain, authorization: EscrowAuthorization) {
  return {
    domain,
    types: paymentAuthorizationTypes,
    primaryType: "PaymentAuthorization",
    message: authorization,
  } as const;
}

/**
 * The ledger's replay guard. Escrow nonces are scoped to the payer within one escrow (one bitmap
 * per payer), so that is the key; the nonce is decimal, as signed; lower case makes every
 * spelling of the addresses one key.
 */
export function escrowPaymentKey(chainId: number, escrow: Address, payer: Address, nonce: bigint): string {
  return `escrow:${chainId}:${escrow}:${payer}:${nonce.toString(10)}`.toLowerCase();
}

const WORD_LIMIT = 1n << 248n;

/**
 * A client nonce as the scheme recommends: a random 248-bit word in the high bits and a counter
 * in the low 8. The escrow's nonce bitmap keeps bit `nonce & 0xff` of word `nonce >> 8`, so the
 * 256 payments of one word share one storage slot (cheap batches), while the random word keeps
 * independent sessions and devices of one payer from colliding.
 */
export function escrowNonce(word: bigint, counter: number): bigint {
  if (word < 0n || word >= WORD_LIMIT) throw new RangeError("nonce word must be a 248-bit unsigned integer");
  if (!Number.isInteger(counter) || counter < 0 || counter > 0xff) throw new RangeError("nonce counter must be 0..255");
  return (word << 8n) | BigInt(counter);
}

/** A fresh random 248-bit nonce word (crypto-grade randomness). */
export function randomNonceWord(): bigint {
  const bytes = crypto.getRandomValues(new Uint8Array(31));
  return bytes.reduce((word, byte) => (word << 8n) | BigInt(byte), 0n);
}
