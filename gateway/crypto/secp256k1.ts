import { createRequire } from "node:module";
import { secp256k1 as noble } from "@noble/curves/secp256k1";

/**
 * Public-key recovery from a 64-byte compact (r ‖ s) ECDSA signature, its recovery bit and the
 * 32-byte digest: the 65-byte uncompressed key, or undefined when the signature recovers nothing
 * (r or s zero or not below the group order, r not an x coordinate on the curve).
 */
export type RecoverPublicKey = (digest: Uint8Array, compact: Uint8Array, recoveryBit: 0 | 1) => Uint8Array | undefined;

export interface RecoveryBackend {
  readonly name: "libsecp256k1" | "noble";
  readonly recoverPublicKey: RecoverPublicKey;
}

/**
 * @noble/curves, the library viem itself recovers with: pure JS, ~1.7 ms a recovery on the
 * project's machines. Always available, so it is the fallback.
 */
export const nobleBackend: RecoveryBackend = {
  name: "noble",
  recoverPublicKey(digest, compact, recoveryBit) {
    try {
      return noble.Signature.fromCompact(compact).addRecoveryBit(recoveryBit).recoverPublicKey(digest).toRawBytes(false);
    } catch {
      return undefined;
    }
  },
};

interface NativeSecp256k1 {
  ecdsaRecover(signature: Uint8Array, recid: number, message: Uint8Array, compressed: false): Uint8Array;
}

/**
 * libsecp256k1 through the npm `secp256k1` package's prebuilt N-API addon (~60 µs a recovery).
 * `secp256k1/bindings` is required directly: the package's main entry silently falls back to
 * `elliptic` (pure JS, slower than noble) when the addon does not load, and then noble is the
 * better fallback. The addon ships as prebuilds (linux-x64 glibc/musl, darwin-arm64, win32-x64),
 * so it loads without the install script npm 11 no longer runs.
 */
function loadNativeBackend(): RecoveryBackend | undefined {
  let native: NativeSecp256k1;
  try {
    native = createRequire(import.meta.url)("secp256k1/bindings") as NativeSecp256k1;
  } catch {
    return undefined;
  }
  return {
    name: "libsecp256k1",
    recoverPublicKey(digest, compact, recoveryBit) {
      try {
        return native.ecdsaRecover(compact, recoveryBit, digest, false);
      } catch {
        // "couldn't parse signature" (r or s ≥ n) or "public key could not be recover" (r, s = 0; r off the curve).
        return undefined;
      }
    },
  };
}

export const nativeBackend: RecoveryBackend | undefined = loadNativeBackend();

/** What the gateway recovers with: native where the addon loads, noble elsewhere. */
export const recoveryBackend: RecoveryBackend = nativeBackend ?? nobleBackend;
