import { type Address, type Hex, getAddress } from "viem";
import { recoverCanonicalSigner, structHasher, typedDataDigest } from "../../crypto/index.js";
import { paymentAuthorizationTypes } from "./abi.js";
import type { EscrowAuthorization, EscrowDomain } from "./payload.js";

const hashPaymentAuthorization = structHasher("PaymentAuthorization", paymentAuthorizationTypes.PaymentAuthorization);

/**
 * The lower-case EOA address that signed, or undefined. Only the form the escrow accepts from an
 * EOA recovers (65 bytes, v 27/28, low s: OpenZeppelin's ECDSA.tryRecover in
 * BoundedSignatureChecker); a high-s twin or 0/1 `v` would recover but be refused on chain. The
 * hand-made EIP-712 hash plus native recovery (gateway/crypto) replace viem's
 * recoverTypedDataAddress, ~30× cheaper; test/gateway/crypto-differential.test.ts holds them to
 * the same answers.
 */
function ecdsaSigner(domain: EscrowDomain, authorization: EscrowAuthorization, signature: Hex): Hex | undefined {
  try {
    return recoverCanonicalSigner(typedDataDigest(domain, hashPaymentAuthorization(authorization)), signature);
  } catch {
    // A field outside its type (viem refuses to hash those too): not a signature by anyone.
    return undefined;
  }
}

/**
 * The EOA that signed the authorization under the escrow's domain, or undefined when the
 * signature is not in the only form the escrow accepts from an EOA or recovers nothing.
 */
export async function recoverPaymentSigner(
  domain: EscrowDomain,
  authorization: EscrowAuthorization,
  signature: Hex,
): Promise<Address | undefined> {
  const signer = ecdsaSigner(domain, authorization, signature);
  return signer === undefined ? undefined : getAddress(signer);
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
  return ecdsaSigner(domain, authorization, signature) === authorization.payer.toLowerCase();
}
