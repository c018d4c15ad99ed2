import { keccak_256 } from "@noble/hashes/sha3.js";

/**
 * Keccak-256 of bytes, to bytes: the fast path's only hash, kept behind one function so the
 * implementation can be swapped in one place. @noble/hashes 2.x (audited, pure JS, the library
 * viem itself uses, one major version newer) hashes a 136-byte block about twice as fast as the
 * 1.8 release viem pins, and a verification hashes 4–5 blocks (bench/README.md, "Verification").
 * The differential test against viem guards that both agree.
 */
export function keccak256(data: Uint8Array): Uint8Array {
  return keccak_256(data);
}
