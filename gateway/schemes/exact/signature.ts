import { type Address, type Hash, type Hex, getAddress, hashTypedData } from "viem";
import { parseCanonicalSignature, recoverCanonicalSigner, structHasher, typedDataDigest } from "../../crypto/index.js";
import { PaymentError } from "../../x402/errors.js";
import { chainUnavailable, classifyCallError } from "../chain.js";
import type { ChainReader } from "../types.js";
import { ERC1271_MAGIC_VALUE, erc1271Abi, transferWithAuthorizationTypes } from "./abi.js";
import { type Authorization, type TokenDomain, transferWithAuthorizationTypedData } from "./payload.js";

/**
 * Whether `signature` is in the only ECDSA form the token accepts from an EOA: 65 bytes, `v` 27
 * or 28, `s` in the lower half. Recovery libraries (viem included) happily recover high-s twins
 * and 0/1 `v`, which the token then rejects on chain, so this has to be checked first.
 */
export function isCanonicalEcdsaSignature(signature: Hex): boolean {
  return parseCanonicalSignature(signature) !== undefined;
}

const hashTransferWithAuthorization = structHasher(
  "TransferWithAuthorization",
  transferWithAuthorizationTypes.TransferWithAuthorization,
);

/**
 * The lower-case EOA address that signed, or undefined. The hand-made EIP-712 hash plus native
 * recovery (gateway/crypto) replace viem's recoverTypedDataAddress, ~30× cheaper; the
 * differential test (test/gateway/crypto-differential.test.ts) holds them to the same answers.
 */
function ecdsaSigner(domain: TokenDomain, authorization: Authorization, signature: Hex): Hex | undefined {
  try {
    return recoverCanonicalSigner(typedDataDigest(domain, hashTransferWithAuthorization(authorization)), signature);
  } catch {
    // A field outside its type (viem refuses to hash those too): not a signature by anyone.
    return undefined;
  }
}

/**
 * The EOA that signed the authorization under `domain`, or undefined when the signature is not a
 * canonical ECDSA signature or recovers nothing.
 */
export async function recoverAuthorizationSigner(
  domain: TokenDomain,
  authorization: Authorization,
  signature: Hex,
): Promise<Address | undefined> {
  const signer = ecdsaSigner(domain, authorization, signature);
  return signer === undefined ? undefined : getAddress(signer);
}

/**
 * ERC-1271: asks the wallet at `signer` whether it accepts `signature` for `digest`, with the same
 * rule as OpenZeppelin's / Circle's SignatureChecker (the exact magic value, nothing else). A
 * revert or an empty answer is a "no"; only a node that cannot answer is `chain_unavailable`.
 */
export async function isValidErc1271Signature(
  reader: ChainReader,
  signer: Address,
  digest: Hash,
  signature: Hex,
): Promise<boolean> {
  try {
    const result = await reader.readContract({
      address: signer,
      abi: erc1271Abi,
      functionName: "isValidSignature",
      args: [digest, signature],
    });
    return result.toLowerCase() === ERC1271_MAGIC_VALUE;
  } catch (error) {
    if (classifyCallError(error).kind === "unavailable") {
      throw chainUnavailable("ERC-1271 signature check failed", error, { payer: signer });
    }
    return false;
  }
}

/** Whether `address` has code: decides between the EOA and the ERC-1271 path, as the token does. */
export async function hasCode(reader: ChainReader, address: Address): Promise<boolean> {
  try {
    const code = await reader.getCode({ address });
    return code !== undefined && code !== "0x";
  } catch (error) {
    throw chainUnavailable("eth_getCode failed", error, { payer: address });
  }
}

/**
 * Checks the payer's signature the way the token will: ECDSA when `from` recovers locally (no
 * RPC at all for the common EOA case), otherwise ERC-1271 if `from` has code. Throws
 * `invalid_signature` or `chain_unavailable`.
 *
 * An EOA with an EIP-7702 delegation has code, so the token asks its delegate instead of
 * recovering; the final simulation catches the rare delegate that disagrees with plain ECDSA.
 */
export async function verifyAuthorizationSignature(
  reader: ChainReader,
  domain: TokenDomain,
  authorization: Authorization,
  signature: Hex,
): Promise<void> {
  const payer = authorization.from;
  if (ecdsaSigner(domain, authorization, signature) === payer.toLowerCase()) return;
  if (await hasCode(reader, payer)) {
    const digest = hashTypedData(transferWithAuthorizationTypedData(domain, authorization));
    if (await isValidErc1271Signature(reader, payer, digest, signature)) return;
  }
  throw new PaymentError("invalid_signature", "the signature is not the payer's authorization for this token", {
    payer,
  });
}
