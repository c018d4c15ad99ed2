import { type Address, type Hex, isAddressEqual, recoverTypedDataAddress } from "viem";
import { isCanonicalEcdsaSignature } from "../exact/signature.js";
import { type EscrowAuthorization, type EscrowDomain, paymentAuthorizationTypedData } from "./payload.js";

/**
 * The EOA that signed the authorization under the escrow's domain, or undefined when the
 * signature is not in the only form the escrow accepts from an EOA (65 bytes, v 27/28, low s:
 * OpenZeppelin's ECDSA.tryRecover in BoundedSignatureChecker) or recovers nothing. viem alone
 * would recover high-s twins and 0/1 `v`, which the escrow then refuses on chain.
 */
export async function recoverPaymentSigner(
  domain: EscrowDomain,
  authorization: EscrowAuthorization,
  signature: Hex,
): Promise<Address | undefined> {
  if (!isCanonicalEcdsaSignature(signature)) return undefined;
  try {
    return await recoverTypedDataAddress({ ...paymentAuthorizationTypedData(domain, authorization), signature });
  } catch {
    // r outside the curve and similar: not a signature by anyone.
    return undefined;
  }
}

/**
 * Whether the payer itself signed, as an EOA, with no RPC. False does not yet mean invalid: a
 * contract wallet's signature is whatever its ERC-1271 `isValidSignature` accepts, which only the
 * chain can tell (the scheme asks through the escrow's own `checkPayment`).
 */
export async function isPayerEcdsaSignature(
  domain: EscrowDomain,
  authorization: EscrowAuthorization,
  signature: Hex,
): Promise<boolean> {
  const signer = await recoverPaymentSigner(domain, authorization, signature);
  return signer !== undefined && isAddressEqual(signer, authorization.payer);
}
