import { type Address, type Hex, hashTypedData, isAddressEqual, recoverTypedDataAddress } from "viem";
import { PaymentError } from "../../x402/errors.js";
import { hasCode, isCanonicalEcdsaSignature, isValidErc1271Signature } from "../exact/signature.js";
import type { ChainReader } from "../types.js";
import { type TransferProof, transferProofTypedData } from "./payload.js";

/**
 * The EOA that signed `proof` on `chainId`, or undefined when the signature is not a canonical
 * ECDSA signature (65 bytes, v 27/28, low s) or recovers nothing. The proof is never checked on
 * chain, so malleability cannot hurt here; insisting on one form anyway keeps the rule the same as
 * for every other signature the gateway accepts.
 */
export async function recoverTransferProofSigner(
  chainId: number,
  proof: TransferProof,
  signature: Hex,
): Promise<Address | undefined> {
  if (!isCanonicalEcdsaSignature(signature)) return undefined;
  try {
    return await recoverTypedDataAddress({ ...transferProofTypedData(chainId, proof), signature });
  } catch {
    return undefined;
  }
}

/**
 * Checks that `payer` signed `proof`: ECDSA first (no RPC for the common EOA case), then ERC-1271
 * when `payer` has code, which is how a smart-contract wallet that paid from its own address
 * proves it. Throws `invalid_signature` or `chain_unavailable`.
 */
export async function verifyTransferProofSignature(
  reader: ChainReader,
  chainId: number,
  proof: TransferProof,
  payer: Address,
  signature: Hex,
): Promise<void> {
  const recovered = await recoverTransferProofSigner(chainId, proof, signature);
  if (recovered !== undefined && isAddressEqual(recovered, payer)) return;
  if (await hasCode(reader, payer)) {
    const digest = hashTypedData(transferProofTypedData(chainId, proof));
    if (await isValidErc1271Signature(reader, payer, digest, signature)) return;
  }
  throw new PaymentError("invalid_signature", "the signature is not the payer's proof of this transaction for this offer", {
    payer,
    transaction: proof.transaction,
  });
}
