import type { Hex } from "viem";
import { keccak256 } from "./keccak.js";
import { type RecoveryBackend, recoveryBackend } from "./secp256k1.js";

const SIGNATURE_PATTERN = /^0x[0-9a-fA-F]{130}$/;

/** secp256k1 group order / 2, big-endian: the largest `s` EIP-2 (and OpenZeppelin's ECDSA) accepts. */
const HALF_CURVE_ORDER = Buffer.from("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0", "hex");

export interface CanonicalSignature {
  /** r ‖ s, 64 bytes. */
  readonly compact: Uint8Array;
  /** `v - 27`. */
  readonly recoveryBit: 0 | 1;
}

/**
 * The signature split for recovery, if it is in the only form an EOA signature is accepted in on
 * chain (FiatToken's and OpenZeppelin's ECDSA): 65 bytes, `v` 27 or 28, `s` in the lower half and
 * not zero. Everything else (64-byte EIP-2098 form, `v` 0/1, high-s twins) is undefined, because
 * recovery libraries would happily recover it and the contract would then refuse it.
 */
export function parseCanonicalSignature(signature: Hex): CanonicalSignature | undefined {
  if (!SIGNATURE_PATTERN.test(signature)) return undefined;
  const bytes = Buffer.from(signature.slice(2), "hex");
  const v = bytes[64];
  if (v !== 27 && v !== 28) return undefined;
  const s = bytes.subarray(32, 64);
  if (s.compare(HALF_CURVE_ORDER) > 0 || s.every((byte) => byte === 0)) return undefined;
  return { compact: bytes.subarray(0, 64), recoveryBit: v === 27 ? 0 : 1 };
}

/** The address of an uncompressed (0x04 ‖ x ‖ y) public key, lower-case hex. */
export function publicKeyAddress(publicKey: Uint8Array): Hex {
  const hash = keccak256(publicKey.subarray(1));
  return `0x${Buffer.from(hash.buffer, hash.byteOffset + 12, 20).toString("hex")}`;
}

/**
 * The lower-case address that signed `digest`, or undefined when the signature is not canonical
 * (see parseCanonicalSignature) or recovers nothing.
 */
export function recoverCanonicalSigner(
  digest: Uint8Array,
  signature: Hex,
  backend: RecoveryBackend = recoveryBackend,
): Hex | undefined {
  const parsed = parseCanonicalSignature(signature);
  if (parsed === undefined) return undefined;
  const publicKey = backend.recoverPublicKey(digest, parsed.compact, parsed.recoveryBit);
  return publicKey === undefined ? undefined : publicKeyAddress(publicKey);
}
