import {
  type Address,
  type Hash,
  type Hex,
  hashTypedData,
  hexToBigInt,
  hexToNumber,
  isAddressEqual,
  recoverTypedDataAddress,
  size,
  slice,
} from "viem";
import { PaymentError } from "../../x402/errors.js";
import { chainUnavailable, classifyCallError } from "../chain.js";
import type { ChainReader } from "../types.js";
import { ERC1271_MAGIC_VALUE, erc1271Abi } from "./abi.js";
import { type Authorization, type TokenDomain, transferWithAuthorizationTypedData } from "./payload.js";

/** secp256k1 group order / 2: the largest `s` the token's ECDSA check accepts (EIP-2). */
const HALF_CURVE_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;

/**
 * Whether `signature` is in the only ECDSA form the token accepts from an EOA: 65 bytes, `v` 27
 * or 28, `s` in the lower half. Recovery libraries (viem included) happily recover high-s twins
 * and 0/1 `v`, which the token then rejects on chain, so this has to be checked first.
 */
export function isCanonicalEcdsaSignature(signature: Hex): boolean {
  if (size(signature) !== 65) return false;
  const s = hexToBigInt(slice(signature, 32, 64));
  const v = hexToNumber(slice(signature, 64, 65));
  return s > 0n && s <= HALF_CURVE_ORDER && (v === 27 || v === 28);
}

/**
 * The EOA that signed the authorization under `domain`, or undefined when the signature is not a
 * canonical ECDSA signature or recovers nothing. Kept behind this one function so a faster
 * recovery can replace viem's without touching the checks around it.
 */
export async function recoverAuthorizationSigner(
  domain: TokenDomain,
  authorization: Authorization,
  signature: Hex,
): Promise<Address | undefined> {
  if (!isCanonicalEcdsaSignature(signature)) return undefined;
  try {
    return await recoverTypedDataAddress({ ...transferWithAuthorizationTypedData(domain, authorization), signature });
  } catch {
    // r outside the curve and similar: not a signature by anyone.
    return undefined;
  }
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
  const recovered = await recoverAuthorizationSigner(domain, authorization, signature);
  if (recovered !== undefined && isAddressEqual(recovered, payer)) return;
  if (await hasCode(reader, payer)) {
    const digest = hashTypedData(transferWithAuthorizationTypedData(domain, authorization));
    if (await isValidErc1271Signature(reader, payer, digest, signature)) return;
  }
  throw new PaymentError("invalid_signature", "the signature is not the payer's authorization for this token", {
    payer,
  });
}
