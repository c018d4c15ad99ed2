import { type Address, isAddressEqual, zeroAddress } from "viem";
import { PaymentError } from "../../x402/errors.js";
import { parseWire } from "../../x402/parse.js";
import { hasCode } from "../exact/signature.js";
import type { ChainReader, FundsForm, Offer, VerifiedPayment } from "../types.js";
import { type SettlementFailureName, settlementEscrowAbi, settlementFailureName } from "./abi.js";
import { type EscrowAccountState, type EscrowChainView, readFailure } from "./chain-view.js";
import { failureCode } from "./failures.js";
import { type AsyncBlocker, type ChainFunds, type FundsDecision, decideSettlement, fundsBounds } from "./funds.js";
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
  /** Per-block cache of the reads an EOA payer's payment needs. */
  readonly view: EscrowChainView;
  /** How long the view's head tracker trusts the head it last saw: the most its values can lag. */
  readonly headMaxAgeMs: number;
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
 *  9. the chain: `paused`, the escrow's own checks (token
 *     policy, nonce, funds), `commitmentOf`, `spendableFor`,
 *     `getCode`                                             chain_unavailable, the escrow's verdict
 *                                                            (see failures.ts)
 * 10. funds rule (funds.ts) with nothing unsettled           insufficient_funds
 *
 * The result carries the funds rule as bounds on the unsettled amount (`funds`): the ledger
 * applies them when it records the payment, in the same statement that sums what is unsettled.
 *
 * 1–8 cost no RPC for an EOA signature, and neither does 9 for a payer already seen in the current
 * block (chain-view.ts): the escrow's checks are then made here, on values read per block. A
 * payer with code (a contract wallet, or an EOA with an EIP-7702 delegate) gets fresh reads and
 * the escrow's own `checkPayment` on every payment, since its signature answer can change at any
 * moment; a signature that recovers to someone else costs one `eth_getCode` first.
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
    throw invalidSignature(authorization.payer);
  }

  let state = signedByPayer ? await readCachedState(ctx, authorization) : undefined;
  if (state === undefined) {
    state = await readFreshState(ctx, payload);
    // The payer's code went away between the two reads (a self-destructed wallet): no ERC-1271 any more.
    if (!signedByPayer && !state.payerHasCode) throw invalidSignature(authorization.payer);
  }

  const chainFunds: ChainFunds = {
    amount: authorization.amount,
    commitment: state.commitment,
    spendable: state.spendable,
    now,
    settlementHorizonSeconds: ctx.settlementHorizonSeconds,
    validityMarginSeconds: ctx.validityMarginSeconds,
    asyncBlocker: blockerOf(state.payerHasCode, terms, longEnoughForAsync),
  };
  const bounds = fundsBounds(chainFunds);
  const refusal = (unsettled: bigint): PaymentError => {
    const decision = decideSettlement({ ...chainFunds, unsettled });
    if (decision.mode !== undefined) throw new Error(`unsettled ${unsettled} is within the bounds; not a refusal`);
    return insufficientFunds(authorization, state, unsettled, decision);
  };
  if (bounds.acceptMax === undefined) throw refusal(0n);

  const settlementData = (mode: "async" | "sync") => encodeEscrowSettlementData({ ...payload, mode, escrow: ctx.escrow });
  const forms: FundsForm[] = [];
  if (bounds.asyncMax !== undefined) forms.push({ maxUnsettled: bounds.asyncMax, settlementData: settlementData("async") });
  if (bounds.asyncMax === undefined || bounds.acceptMax > bounds.asyncMax) {
    forms.push({ maxUnsettled: bounds.acceptMax, settlementData: settlementData("sync") });
  }

  const paymentKey = escrowPaymentKey(ctx.chainId, ctx.escrow, authorization.payer, authorization.nonce);
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
    settlementData: forms[0]!.settlementData,
    funds: {
      account: { chainId: ctx.chainId, scheme: ESCROW_SCHEME, token: authorization.token, payer: authorization.payer, payee: authorization.payee },
      stateMaxAgeMs: ctx.headMaxAgeMs,
      forms,
      refusal,
    },
  };
}

function invalidSignature(payer: Address): PaymentError {
  return new PaymentError("invalid_signature", "the signature is not the payer's authorization for this escrow", { payer });
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

/** What verification reads from the chain, once the signature passed. */
export interface PaymentState {
  readonly commitment: { readonly amount: bigint; readonly releaseAt: bigint };
  readonly spendable: bigint;
  readonly payerHasCode: boolean;
}

/**
 * Step 9 for a payment the payer signed itself (ECDSA): the per-block values, judged here the way
 * the escrow's `checkPayment` judges them (PaymentAuthorizations._check, in its order; the
 * validity window was checked against our clock with a margin, the signature just above).
 * Undefined when the payer turns out to have code: then only fresh reads will do.
 */
async function readCachedState(ctx: EscrowVerifierContext, a: EscrowAuthorization): Promise<PaymentState | undefined> {
  const state = await ctx.view.read({ token: a.token, payer: a.payer, payee: a.payee, nonce: a.nonce });
  if (state.payerHasCode) return undefined;
  if (state.paused) throw pausedEscrow(ctx.escrow, a.payer);
  const failure = localFailure(ctx.escrow, a, state);
  if (failure !== undefined) {
    throw new PaymentError(failureCode(failure), `the escrow refuses the payment (${failure})`, { payer: a.payer, reason: failure });
  }
  return state;
}

/** Which of the escrow's checks fails on these values, if any (the signature is not judged here). */
export function localFailure(
  escrow: Address,
  a: EscrowAuthorization,
  state: Pick<EscrowAccountState, "head" | "policy" | "nonceWord" | "spendable">,
): Exclude<SettlementFailureName, "None"> | undefined {
  if (a.payee === zeroAddress || isAddressEqual(a.payee, escrow)) return "InvalidPayee";
  // The escrow's clock: a gateway clock behind or ahead of the chain must not decide alone.
  if (state.head.timestamp <= a.validAfter) return "NotYetValid";
  if (state.head.timestamp >= a.validBefore) return "Expired";
  const { status, minAmount, maxAmount } = state.policy;
  if (status !== TOKEN_ACTIVE && status !== TOKEN_DEPRECATED) return "TokenNotAccepted";
  if (a.amount < minAmount || a.amount > maxAmount) return "AmountOutOfRange";
  if ((state.nonceWord >> (a.nonce & 0xffn)) & 1n) return "NonceUsed";
  if (state.spendable < a.amount) return "InsufficientFunds";
  return undefined;
}

/** `ITokenRegistry.TokenStatus`: deprecated tokens still settle what was signed before. */
const TOKEN_ACTIVE = 1;
const TOKEN_DEPRECATED = 2;

/**
 * Step 9 for a payer with code: everything at once, fresh, in one round trip (five concurrent
 * JSON-RPC requests, one batch when the transport batches), then judged in order: a node that
 * cannot answer, a paused escrow, the escrow's own verdict on the payment.
 */
async function readFreshState(ctx: EscrowVerifierContext, payload: EscrowPayload): Promise<PaymentState> {
  const { authorization: a, signature } = payload;
  const payer = a.payer;
  const escrow = { address: ctx.escrow, abi: settlementEscrowAbi } as const;
  const [paused, check, commitment, spendable, code] = await Promise.allSettled([
    ctx.reader.readContract({ ...escrow, functionName: "paused" }),
    ctx.reader.readContract({ ...escrow, functionName: "checkPayment", args: [a, signature] }),
    ctx.reader.readContract({ ...escrow, functionName: "commitmentOf", args: [a.token, a.payer, a.payee] }),
    ctx.reader.readContract({ ...escrow, functionName: "spendableFor", args: [a.token, a.payer, a.payee] }),
    ctx.reader.getCode({ address: a.payer }),
  ]);
  const pausedValue = readValue(paused, "paused", ctx.escrow, payer);
  const checkValue = readValue(check, "checkPayment", ctx.escrow, payer);
  const commitmentValue = readValue(commitment, "commitmentOf", ctx.escrow, payer);
  const spendableValue = readValue(spendable, "spendableFor", ctx.escrow, payer);
  const codeValue = readValue(code, "eth_getCode", ctx.escrow, payer);

  if (pausedValue) throw pausedEscrow(ctx.escrow, payer);
  const failure = settlementFailureName(checkValue);
  if (failure !== "None") {
    throw new PaymentError(failureCode(failure), `the escrow refuses the payment (${failure})`, { payer, reason: failure });
  }
  return {
    commitment: { amount: commitmentValue.amount, releaseAt: BigInt(commitmentValue.releaseAt) },
    spendable: spendableValue,
    payerHasCode: codeValue !== undefined && codeValue !== "0x",
  };
}

/** Not the payment's fault and not permanent: 503, so the client retries instead of re-paying. */
function pausedEscrow(escrow: Address, payer: Address): PaymentError {
  return new PaymentError("chain_unavailable", `the escrow ${escrow} is paused`, { payer, reason: "paused" });
}

function readValue<T>(result: PromiseSettledResult<T>, what: string, escrow: Address, payer: Address): T {
  if (result.status === "fulfilled") return result.value;
  throw readFailure(result.reason, what, escrow, { payer });
}

function insufficientFunds(
  authorization: EscrowAuthorization,
  state: PaymentState,
  unsettled: bigint,
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
    unsettled: unsettled.toString(),
  });
}
