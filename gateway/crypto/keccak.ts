import { keccak256 as viemKeccak256 } from "viem";

/**
 * Keccak-256 of bytes, to bytes: the fast path's only hash, kept behind one function so the
 * implementation can be swapped in one place. viem's (@noble/hashes 1.8, pure JS) costs ~8 µs per
 * 136-byte block here and a verification hashes 4–5 blocks; @noble/hashes 2.x measured ~1.7×
 * faster (bench/README.md, "Verification").
 */
export function keccak256(data: Uint8Array): Uint8Array {
  return viemKeccak256(data, "bytes");
}
