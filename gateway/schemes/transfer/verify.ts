import { PaymentError } from "../../x402/errors.js";
import { parseWire } from "../../x402/parse.js";
import type { ChainReader, Offer, VerifiedPayment } from "../types.js";
import { offerChallengeHash } from "./challenge.js";
import { matchTransfer } from "./logs.js";
import { encodeTransferSettlement, transferPaymentKey, transferPayloadSchema } from "./payload.js";
import { type Inclusion, fetchInclusion, fetchTransferReceipt } from "./receipt.js";
import { verifyTransferProofSignature } from "./signature.js";

export const TRANSFER_SCHEME = "transfer";

/** SKALE has instant finality: a transaction in a block is final, so one confirmation is enough. */
export const DEFAULT_MIN_CONFIRMATIONS = 1;

/**
 * How old a transfer may be when its proof arrives: long enough for an agent to send the transfer,
 * wait for the receipt and retry a failed request a few times; short enough that a transfer made
 * for some other reason long ago cannot be passed off as payment for a request now.
 */
export const DEFAULT_MAX_AGE_SECONDS = 600;

/** How recent and how settled a transfer must be; advertised in the offer's `extra`. */
export interface TransferPolicy {
  /** At least 1: the transfer's own block counts as the first confirmation. */
  readonly minConfirmations: number;
  /** Seconds between the transfer's block timestamp and the verifier's `now`. */
  readonly maxAgeSeconds: number;
}

export interface TransferVerifierContext {
  readonly chainId: number;
  readonly reader: ChainReader;
  readonly policy: TransferPolicy;
}

/**
 * Verifies a transfer-scheme payload against the offer it answers. The first failure decides the
 * code:
 *
 *  1. payload shape                                     malformed_payment
 *  2. the payer signed TransferProof(transaction, the offer's challenge): ECDSA (65 bytes, low s)
 *     or ERC-1271 when the payer has code               invalid_signature
 *  3. the chain has a receipt for the transaction       transfer_not_found
 *                                                       (insufficient_confirmations while pending)
 *  4. the transaction succeeded                         transfer_failed
 *  5. a Transfer log pays the offer (see matchTransfer) transfer_not_found, wrong_token,
 *                                                       wrong_recipient, transfer_already_used,
 *                                                       amount_mismatch
 *  6. latest − block + 1 >= minConfirmations            insufficient_confirmations
 *  7. block timestamp >= now − maxAgeSeconds            expired
 *
 * The signature comes first: it binds the transaction to this offer and to the payer, so claims on
 * other people's transfers and junk are refused before any receipt is fetched (a valid EOA proof
 * costs no RPC, one that does not recover costs the eth_getCode that rules out a contract wallet).
 * 3 is one round trip (two when there is no receipt), 6–7 one more. A node that cannot answer is
 * `chain_unavailable` at any step, never a rejection.
 */
export async function verifyTransfer(
  ctx: TransferVerifierContext,
  payloadValue: unknown,
  offer: Offer,
  now: bigint,
): Promise<VerifiedPayment> {
  if (offer.scheme !== TRANSFER_SCHEME || offer.chainId !== ctx.chainId) {
    throw new TypeError(`offer for ${offer.scheme} on chain ${offer.chainId} sent to transfer on chain ${ctx.chainId}`);
  }
  const payload = parseWire(transferPayloadSchema, payloadValue, "malformed_payment", "transfer payment payload");
  const { transaction, payer, signature } = payload;
  const challengeHash = offerChallengeHash(offer);
  await verifyTransferProofSignature(ctx.reader, ctx.chainId, { transaction, challengeHash }, payer, signature);

  const receipt = await fetchTransferReceipt(ctx.reader, transaction, payer);
  if (receipt.status !== "success") {
    throw new PaymentError("transfer_failed", `transaction ${transaction} reverted`, { payer, transaction });
  }
  const log = matchTransfer(
    receipt.logs,
    { transaction, token: offer.token.address, payTo: offer.payTo, payer, amount: offer.amount },
    payload.logIndex,
  );
  const inclusion = await fetchInclusion(ctx.reader, receipt, payer);
  checkInclusion(inclusion, now, ctx.policy, { payer, transaction });

  return {
    scheme: TRANSFER_SCHEME,
    chainId: ctx.chainId,
    payer,
    payee: offer.payTo,
    token: offer.token.address,
    // What moved, which may exceed the price: the ledger records the money, the offer the price.
    amount: log.value,
    paymentKey: transferPaymentKey(ctx.chainId, transaction, log.logIndex),
    nonce: null,
    // Already on chain: nothing can expire before settlement.
    validBefore: null,
    settlementData: encodeTransferSettlement({
      transaction,
      logIndex: log.logIndex,
      blockNumber: receipt.blockNumber,
      blockHash: receipt.blockHash,
      challengeHash,
      signature,
    }),
  };
}

/** Steps 6–7: enough blocks on top, and recent enough. A block stamped after `now` (clock skew) is fine. */
export function checkInclusion(
  inclusion: Inclusion,
  now: bigint,
  policy: TransferPolicy,
  details: { readonly payer: string; readonly transaction: string },
): void {
  // A node that returned the receipt knows its block, even if its block-number answer lags.
  const latest = inclusion.latest > inclusion.blockNumber ? inclusion.latest : inclusion.blockNumber;
  const confirmations = latest - inclusion.blockNumber + 1n;
  if (confirmations < BigInt(policy.minConfirmations)) {
    throw new PaymentError(
      "insufficient_confirmations",
      `the transfer has ${confirmations} confirmation(s), ${policy.minConfirmations} required`,
      { ...details, confirmations: Number(confirmations), required: policy.minConfirmations },
    );
  }
  const oldest = now - BigInt(policy.maxAgeSeconds);
  if (inclusion.timestamp < oldest) {
    throw new PaymentError(
      "expired",
      `the transfer was mined at ${inclusion.timestamp}, more than ${policy.maxAgeSeconds}s before ${now}`,
      { ...details, timestamp: inclusion.timestamp.toString(), maxAgeSeconds: policy.maxAgeSeconds },
    );
  }
}
