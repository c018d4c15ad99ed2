import type { Address } from "viem";
import { type Queryable, toBigInt } from "../db/database.js";
import type { VerifiedPayment } from "../schemes/types.js";
import { PaymentError } from "../x402/errors.js";

/**
 * What the gateway has accepted from a payer and not yet seen settled: the part of the payer's
 * on-chain funds it must treat as already spent. The escrow scheme subtracts it from the payer's
 * commitment before serving anything on credit; without it, every request would see the whole
 * commitment and a payer could be served N times against funds that cover one.
 */
export interface UnsettledQuery {
  readonly chainId: number;
  readonly token: Address;
  readonly payer: Address;
  readonly payee: Address;
  /** Only payments of this scheme; all schemes when omitted. */
  readonly scheme?: string;
  /**
   * Leave this payment out: a retry of a payment already recorded must not count against itself.
   */
  readonly excludePaymentKey?: string;
  /**
   * The chain state this sum is weighed against may be this stale, ms: payments confirmed within
   * about that time may not be in it yet and still count (`FundsCondition.stateMaxAgeMs`).
   */
  readonly confirmedWithinMs?: number;
}

export interface UnsettledLedger {
  /** Sum of the amounts accepted and not settled yet, in the token's atomic units; 0 when none. */
  unsettledAmount(input: UnsettledQuery): Promise<bigint>;
}

/**
 * The states in which a payment may still draw on the payer's funds: `reserved` (claimed, being
 * verified or served), `verified` (waiting for settlement) and `submitted` (in a broadcast batch
 * whose receipt has not been processed). `confirmed` is already reflected on chain and `released`
 * never will be. `failed` payments are given up: if reconciliation later finds one mined after
 * all, the chain reflects it by then. Must stay the predicate of `payments_unsettled_idx`
 * (001_payments.sql).
 */
export const UNSETTLED_STATES = ["reserved", "verified", "submitted"] as const;

/**
 * Added to a state's maximum age when counting recent confirmations: the delay between a block
 * being mined and the engine recording its receipt runs the other way (it only shortens the
 * window that matters), but the confirming transaction's `now()` is taken when it starts, and the
 * gateway and database clocks tick at the same rate, not in step; a second covers both.
 */
export const RECENT_SLACK_MS = 1_000;

/** How far back confirmed payments still count for a state at most `stateMaxAgeMs` old. */
export function recentWindowMs(stateMaxAgeMs: number): number {
  if (!Number.isSafeInteger(stateMaxAgeMs) || stateMaxAgeMs < 0) throw new RangeError(`invalid state age ${stateMaxAgeMs}`);
  return stateMaxAgeMs + RECENT_SLACK_MS;
}

/*
 * The state list is spelled out in the SQL rather than bound as a parameter: PostgreSQL only uses
 * a partial index when it can prove the query's WHERE implies the index predicate, which it cannot
 * do through a parameter of a generic plan. Addresses are stored lower case (CHECK constraints).
 * The optional filters test their parameter for NULL so the statement text stays the same for
 * every call.
 */
const UNSETTLED_SQL = `
  SELECT COALESCE(SUM(amount), 0)
         + CASE WHEN $7::int IS NULL THEN 0 ELSE (
             SELECT COALESCE(SUM(c.amount), 0)
               FROM payments c
              WHERE c.token = $1 AND c.payer = $2 AND c.payee = $3
                AND c.state = 'confirmed'
                AND c.updated_at > now() - make_interval(secs => $7::int / 1000.0::float8)
                AND c.chain_id = $4
                AND ($5::text IS NULL OR c.scheme = $5::text)
                AND ($6::text IS NULL OR c.payment_key <> $6::text)) END AS total
    FROM payments
   WHERE token = $1 AND payer = $2 AND payee = $3
     AND state IN ('reserved', 'verified', 'submitted')
     AND chain_id = $4
     AND ($5::text IS NULL OR scheme = $5::text)
     AND ($6::text IS NULL OR payment_key <> $6::text)`;

export function unsettledParams(
  input: UnsettledQuery,
): [string, string, string, number, string | null, string | null, number | null] {
  if (!Number.isSafeInteger(input.chainId) || input.chainId <= 0) throw new RangeError(`invalid chain id ${input.chainId}`);
  return [
    lowerAddress(input.token, "token"),
    lowerAddress(input.payer, "payer"),
    lowerAddress(input.payee, "payee"),
    input.chainId,
    input.scheme ?? null,
    input.excludePaymentKey?.toLowerCase() ?? null,
    input.confirmedWithinMs === undefined ? null : recentWindowMs(input.confirmedWithinMs),
  ];
}

/**
 * The ledger over the `payments` table. `db` may be the database or an open transaction, so a
 * caller can read the sum in the same transaction that claims a payment.
 */
export function createUnsettledLedger(db: Queryable): UnsettledLedger {
  return {
    async unsettledAmount(input) {
      const { rows } = await db.query<{ total: unknown }>(UNSETTLED_SQL, unsettledParams(input));
      return toBigInt(rows[0]?.total ?? 0);
    },
  };
}

/** The SQL, for EXPLAIN in tests and for operators checking the plan. */
export const unsettledAmountSql: string = UNSETTLED_SQL;

function lowerAddress(value: string, what: string): string {
  if (!/^0x[0-9a-fA-F]{40}$/.test(value)) throw new TypeError(`${what} is not an address: ${value}`);
  return value.toLowerCase();
}

/**
 * A payment with a funds condition, in the form the funds allow right now, or its refusal (throws).
 * A read, not a reservation: for answering "would this go through" (the facilitator's /verify,
 * and its /settle, which settles before answering); the payment flow records payments with
 * `reservePaymentAgainstFunds` instead, which checks and inserts atomically.
 */
export async function applyFundsCondition(ledger: UnsettledLedger, payment: VerifiedPayment): Promise<VerifiedPayment> {
  const { funds, ...rest } = payment;
  if (funds === undefined) return payment;
  let unsettled: bigint;
  try {
    unsettled = await ledger.unsettledAmount({
      ...funds.account,
      excludePaymentKey: payment.paymentKey,
      confirmedWithinMs: funds.stateMaxAgeMs,
    });
  } catch (error) {
    throw new PaymentError("database_unavailable", "the unsettled amount could not be read", { payer: payment.payer }, { cause: error });
  }
  const form = funds.forms.find((f) => unsettled <= f.maxUnsettled);
  if (form === undefined) throw funds.refusal(unsettled);
  return { ...rest, settlementData: form.settlementData };
}
