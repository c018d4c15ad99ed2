import { type Address, isAddressEqual } from "viem";
import type { UnsettledLedger } from "../../ledger/unsettled.js";
import { PaymentError } from "../../x402/errors.js";
import { parseWire } from "../../x402/parse.js";
import { chainUnavailable, classifyCallError } from "../chain.js";
import { hasCode } from "../exact/signature.js";
import type { ChainReader, Offer, VerifiedPayment } from "../types.js";
import { settlementEscrowAbi, settlementFailureName } from "./abi.js";
import { failureCode } from "./failures.js";
import { type AsyncBlocker, type FundsDecision, decideSettlement } from "./funds.js";
import { ESCROW_SCHEME, type EscrowExtra, escrowOfferTerms } from "./offer.js";
import {
  type EscrowAuthorization,
  type EscrowPayload,
  encodeEscrowSettlementData,
  escrowDomain,
  escrowPaymentKey,
  escrowPayloadSchema,
} from "./payload.js";
import { isPayerEcdsaSignature } from "./signature.js";

/**
 * Seconds an authorization must outlive `now` beyond what settlement needs: 6 for clock skew
 * between client, gateway and chain, plus 30 for a synchronous settlement to be mined (SKALE
 * blocks take seconds; this covers a slow node and a retry). Async settlement needs the
 * settlement horizon on top.
 */
export const DEFAULT_ESCROW_VALIDITY_MARGIN_SECONDS = 36n;

export interface EscrowVerifierContext {
  readonly chainId: number;
  readonly escrow: Address;
  readonly reader: ChainReader;
  readonly ledger: UnsettledLedger;
  readonly settlementHorizonSeconds: bigint;
  readonly validityMarginSeconds: bigint;
}

/**
 * Verifies an escrow payload against the offer it accepted. Checks run cheapest first and the
 * first failure decides the code (docs/escrow-scheme.md, "Verification"):
 *
 *  1. payload shape                                          malformed_payment
 *  2. `payee` is the offer's payTo                           wrong_recipient
 *  3. `token` is the offer's asset                           wrong_token
 *  4. `amount` equals the price                              amount_mismatch
 *  5. `challengeHash` is the offer's                         requirements_mismatch
 *  6. `validAfter < now`                                     not_yet_valid
 *  7. `validBefore > now + margin` (async also needs the
 *     settlement horizon on top; else sync only)            expired
 *  8. signature: ECDSA by `payer` under the escrow domain,
 *     or `payer` has code (then the escrow judges it)        invalid_signature
 *  9. one round trip: `paused`, `checkPayment`,
 *     `commitmentOf`, `spendableFor`, `getCode`, ledger      chain_unavailable, the escrow's verdict
 *                                                            (see failures.ts), database_unavailable
 * 10. funds rule (funds.ts)                                  insufficient_funds
 *
 * 1–8 cost no RPC for an EOA signature; a signature that recovers to someone else costs one
 * `eth_getCode` (it could be a contract wallet's).
 */
export async function verifyEscrow(
  ctx: EscrowVerifierContext,
  payloadValue: unknown,
  offer: Offer,
  now: bigint,
): Promise<VerifiedPayment> {
  const terms = escrowOfferTerms(ctx, offer);
  const payload = parseWire(escrowPayloadSchema, payloadValue, "malformed_payment", "escrow payment payload");
  const { authorization, signature } = payload;
  checkEscrowTerms(authorization, offer, terms);
  const longEnoughForAsync = checkEscrowValidity(authorization, now, ctx);

  const domain = escrowDomain(ctx.chainId, ctx.escrow);
  const signedByPayer = await isPayerEcdsaSignature(domain, authorization, signature);
  if (!signedByPayer && !(await hasCode(ctx.reader, authorization.payer))) {
    throw new PaymentError("invalid_signature", "the signature is not the payer's authorization for this escrow", {
      payer: authorization.payer,
    });
  }

  const paymentKey = escrowPaymentKey(ctx.chainId, ctx.escrow, authorization.payer, authorization.nonce);
  const state = await readPaymentState(ctx, payload, paymentKey);
  if (!signedByPayer && !state.payerHasCode) {
    // The payer's code went away between the two reads (a self-destructed wallet): no ERC-1271 any more.
    throw new PaymentError("invalid_signature", "the signature is not the payer's authorization for this escrow", {
      payer: authorization.payer,
    });
  }
  const asyncBlocker = blockerOf(state.payerHasCode, terms, longEnoughForAsync);
  const decision = decideSettlement({
    amount: authorization.amount,
    commitment: state.commitment,
    spendable: state.spendable,
    unsettled: state.unsettled,
    now,
    settlementHorizonSeconds: ctx.settlementHorizonSeconds,
    validityMarginSeconds: ctx.validityMarginSeconds,
    asyncBlocker,
  });
  if (decision.mode === undefined) throw insufficientFunds(authorization, state, decision);

  return {
    scheme: ESCROW_SCHEME,
    chainId: ctx.chainId,
    payer: authorization.payer,
    payee: authorization.payee,
    token: authorization.token,
    amount: authorization.amount,
    paymentKey,
    nonce: authorization.nonce.toString(10),
    validBefore: authorization.validBefore,
    settlementData: encodeEscrowSettlementData({ ...payload, mode: decision.mode, escrow: ctx.escrow }),
  };
}

/** Steps 2–5: what the authorization says against what was offered. */
export function checkEscrowTerms(authorization: EscrowAuthorization, offer: Offer, terms: EscrowExtra): void {
  const payer = authorization.payer;
  if (!isAddressEqual(authorization.payee, offer.payTo)) {
    throw new PaymentError("wrong_recipient", `the authorization pays ${authorization.payee}, not ${offer.payTo}`, {
      payer,
      expected: offer.payTo,
      actual: authorization.payee,
    });
  }
  if (!isAddressEqual(authorization.token, offer.token.address)) {
    throw new PaymentError("wrong_token", `the authorization is in ${authorization.token}, not ${offer.token.address}`, {
      payer,
      expected: offer.token.address,
      actual: authorization.token,
    });
  }
  if (authorization.amount !== offer.amount) {
    throw new PaymentError("amount_mismatch", `the authorization is for ${authorization.amount}, the price is ${offer.amount}`, {
      payer,
      expected: offer.amount.toString(),
      actual: authorization.amount.toString(),
    });
  }
  if (authorization.challengeHash !== terms.challengeHash) {
    throw new PaymentError("requirements_mismatch", "the authorization's challengeHash is not this offer's", {
      payer,
      expected: terms.challengeHash,
      actual: authorization.challengeHash,
    });
  }
}

/**
 * Steps 6–7. The escrow wants `validAfter < block.timestamp < validBefore`; validBefore must also
 * leave time to settle. Returns whether it leaves enough for async settlement (the horizon).
 */
export function checkEscrowValidity(
  authorization: EscrowAuthorization,
  now: bigint,
  ctx: Pick<EscrowVerifierContext, "settlementHorizonSeconds" | "validityMarginSeconds">,
): boolean {
  const payer = authorization.payer;
  if (authorization.validAfter >= now) {
    throw new PaymentError("not_yet_valid", `the authorization is valid only after ${authorization.validAfter}`, {
      payer,
      validAfter: authorization.validAfter.toString(),
    });
  }
  if (authorization.validBefore <= now + ctx.validityMarginSeconds) {
    throw new PaymentError(
      "expired",
      `the authorization expires at ${authorization.validBefore}, too soon to settle (needs ${ctx.validityMarginSeconds}s)`,
      { payer, validBefore: authorization.validBefore.toString() },
    );
  }
  return authorization.validBefore > now + ctx.settlementHorizonSeconds + ctx.validityMarginSeconds;
}

function blockerOf(payerHasCode: boolean, terms: EscrowExtra, longEnoughForAsync: boolean): AsyncBlocker | undefined {
  if (payerHasCode) return "contract_wallet";
  if (terms.settlement === "sync") return "sync_offer";
  if (!longEnoughForAsync) return "short_validity";
  return undefined;
}

/** What verification reads from the chain and the ledger, once it passed. */
export interface PaymentState {
  readonly commitment: { readonly amount: bigint; readonly releaseAt: bigint };
  readonly spendable: bigint;
  readonly unsettled: bigint;
  readonly payerHasCode: boolean;
}

/**
 * Step 9: everything at once, in one round trip (five concurrent JSON-RPC requests, one batch
 * when the transport batches, plus one indexed query), then judged in order: a node that cannot
 * answer, a paused escrow, the escrow's own verdict on the payment, the ledger.
 *
 * The reads are not pinned to one block; no interleaving can overstate what is available (see
 * docs/escrow-scheme.md, "One round trip"), provided this reader is not behind the node the
 * settlement engine confirms receipts with.
 */
async function readPaymentState(ctx: EscrowVerifierContext, payload: EscrowPayload, paymentKey: string): Promise<PaymentState> {
  const { authorization: a, signature } = payload;
  const escrow = { address: ctx.escrow, abi: settlementEscrowAbi } as const;
  const [paused, check, commitment, spendable, code, unsettled] = await Promise.allSettled([
    ctx.reader.readContract({ ...escrow, functionName: "paused" }),
    ctx.reader.readContract({ ...escrow, functionName: "checkPayment", args: [a, signature] }),
    ctx.reader.readContract({ ...escrow, functionName: "commitmentOf", args: [a.token, a.payer, a.payee] }),
    ctx.reader.readContract({ ...escrow, functionName: "spendableFor", args: [a.token, a.payer, a.payee] }),
    ctx.reader.getCode({ address: a.payer }),
    ctx.ledger.unsettledAmount({
      chainId: ctx.chainId,
      token: a.token,
      payer: a.payer,
      payee: a.payee,
      scheme: ESCROW_SCHEME,
      excludePaymentKey: paymentKey,
    }),
  ]);
  const payer = a.payer;
  const pausedValue = readValue(paused, "paused", ctx.escrow, payer);
  const checkValue = readValue(check, "checkPayment", ctx.escrow, payer);
  const commitmentValue = readValue(commitment, "commitmentOf", ctx.escrow, payer);
  const spendableValue = readValue(spendable, "spendableFor", ctx.escrow, payer);
  const codeValue = readValue(code, "eth_getCode", ctx.escrow, payer);

  if (pausedValue) {
    // Not the payment's fault and not permanent: 503, so the client retries instead of re-paying.
    throw new PaymentError("chain_unavailable", `the escrow ${ctx.escrow} is paused`, { payer, reason: "paused" });
  }
  const failure = settlementFailureName(checkValue);
  if (failure !== "None") {
    throw new PaymentError(failureCode(failure), `the escrow refuses the payment (${failure})`, { payer, reason: failure });
  }
  if (unsettled.status === "rejected") {
    throw new PaymentError("database_unavailable", "the unsettled amount could not be read", { payer }, {
      cause: unsettled.reason,
    });
  }
  return {
    commitment: { amount: commitmentValue.amount, releaseAt: BigInt(commitmentValue.releaseAt) },
    spendable: spendableValue,
    unsettled: unsettled.value,
    payerHasCode: codeValue !== undefined && codeValue !== "0x",
  };
}

/**
 * A read's value, or `chain_unavailable`. A revert or an empty answer from the escrow is not a
 * verdict on the payment either: the configured address does not answer as an escrow, which is
 * ours to fix, never the payer's.
 */
function readValue<T>(result: PromiseSettledResult<T>, what: string, escrow: Address, payer: Address): T {
  if (result.status === "fulfilled") return result.value;
  const kind = classifyCallError(result.reason).kind;
  const where = kind === "unavailable" ? what : `${what} on ${escrow} (${kind === "no_data" ? "no data" : "reverted"})`;
  throw chainUnavailable(`${where} failed`, result.reason, { payer });
}

function insufficientFunds(
  authorization: EscrowAuthorization,
  state: PaymentState,
  decision: Extract<FundsDecision, { mode: undefined }>,
): PaymentError {
  const message =
    decision.reason === "insufficient"
      ? `the payer's escrow funds less unsettled payments do not cover ${authorization.amount}`
      : "the payer's commitment backs unsettled payments; commit more or wait for them to settle";
  return new PaymentError("insufficient_funds", message, {
    payer: authorization.payer,
    reason: decision.reason,
    required: authorization.amount.toString(),
    committed: state.commitment.amount.toString(),
    spendable: state.spendable.toString(),
    unsettled: state.unsettled.toString(),
  });
}
