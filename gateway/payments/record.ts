import type { FundsForm, VerifiedPayment } from "../schemes/types.js";
import { PaymentError, isPaymentError } from "../x402/index.js";
import { settlementModeOf } from "./scheme-rules.js";
import { hasRoom, serveFirstPolicyOf } from "./serve-first.js";
import { type RecordedPayment, recordPayment } from "./store.js";
import type { PaymentFlowDeps, SchemeRules, StoredResponse } from "./types.js";

/**
 * Recording a verified payment for the flow, and choosing when: before the upstream is called
 * (reserved) or after it answered, together with the response (served on credit; serve-first.ts
 * says for which payments).
 */

/** Whether a payment may take this form and be served on credit, settled later by the engine. */
export function isCreditForm(rules: SchemeRules | undefined, payment: VerifiedPayment): (form: FundsForm) => boolean {
  return (form) => settlementModeOf(rules, { ...payment, settlementData: form.settlementData }) === "async";
}

/**
 * Whether to call the upstream before recording this payment: only if its preferred form is
 * credit, the flow allows it, and the serve-first policy expects no refusal. Throws
 * `payment_in_flight` for a payment this process is serving that way right now.
 */
export function servesBeforeRecording(deps: PaymentFlowDeps, rules: SchemeRules | undefined, payment: VerifiedPayment): boolean {
  const funds = payment.funds;
  const preferred = funds?.forms[0];
  if (deps.serveBeforeRecording === false || funds === undefined || preferred === undefined) return false;
  if (!isCreditForm(rules, payment)(preferred)) return false;
  const decision = serveFirstPolicyOf(deps).decide(payment.paymentKey, funds.account);
  if (decision === "in-flight") throw new PaymentError("payment_in_flight", "this payment is already being processed");
  return decision === "serve-first";
}

/** A payment served before recording has been recorded, refused or given up. */
export function servedFirstDone(deps: PaymentFlowDeps, payment: VerifiedPayment): void {
  serveFirstPolicyOf(deps).finished(payment.paymentKey);
}

/**
 * `recordPayment` (store.ts), telling the serve-first policy what the funds check showed: the key
 * is taken from now on; a refusal, a form not on credit, or credit nearly spent make the account
 * check first for a while, and room makes it serve first again. With `response`, a payment the
 * funds allow on credit is recorded served, with it.
 */
export async function recordForFlow(
  deps: PaymentFlowDeps,
  rules: SchemeRules | undefined,
  payment: VerifiedPayment,
  fingerprint: string,
  txHash?: string,
  response?: StoredResponse,
): Promise<RecordedPayment> {
  const funds = payment.funds;
  if (funds === undefined) return recordPayment(deps.db, payment, fingerprint, txHash);
  const policy = serveFirstPolicyOf(deps);
  const onCredit = isCreditForm(rules, payment);
  let recorded: RecordedPayment;
  try {
    recorded = await recordPayment(deps.db, payment, fingerprint, txHash, response === undefined ? undefined : { response, onCredit });
  } catch (error) {
    // A refusal is about this account; anything else is the database failing, for everyone.
    if (isPaymentError(error)) policy.recorded(payment.paymentKey, funds.account, false);
    else policy.databaseFailed();
    throw error;
  }
  const creditMax = funds.forms.find(onCredit)?.maxUnsettled;
  const tookCredit = settlementModeOf(rules, recorded.payment) === "async";
  const roomy = recorded.unsettled !== undefined && tookCredit && hasRoom(creditMax, recorded.unsettled, payment.amount);
  // A taken key says nothing about the account's room: leave that as it was.
  if (recorded.id !== undefined || roomy) policy.recorded(payment.paymentKey, funds.account, roomy);
  return recorded;
}
