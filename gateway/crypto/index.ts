export { type CanonicalSignature, parseCanonicalSignature, publicKeyAddress, recoverCanonicalSigner } from "./ecdsa.js";
export { type Eip712Domain, type StructField, type StructHasher, domainSeparator, structHasher, typedDataDigest } from "./eip712.js";
export { type RecoverPublicKey, type RecoveryBackend, nativeBackend, nobleBackend, recoveryBackend } from "./secp256k1.js";
