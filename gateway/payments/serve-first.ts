import { hash } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { FundsAccount } from "../schemes/types.js";

/**
 * Which payments on credit may be served before they are recorded.
 *
 * Serving first and recording after (with the response, in the statement that checks the funds;
 * record.ts) saves a paid request one durable write. Its price is that the checks made by that
 * statement come after the upstream call: a payer whose credit is used up, or a payment whose
 * key is already taken (a retry, or the same authorization sent for another request), would get
 * the upstream called for nothing before the refusal. This keeps such calls to one per account or
 * key and process, plus what was already in flight, by checking first (reserving before the
 * upstream, as every payment once did) where a refusal is likely:
 *
 * - an account is "tight" once a recording showed its credit nearly spent, or refused it; each
 *   later check tells again how much room is left, so it serves first again once there is room;
 * - a key this process has recorded, seen taken, or has in flight is checked first (or refused
 *   as in flight while it is being served);
 * - for a few seconds after the database failed a recording, everything is checked first, so an
 *   outage does not turn into free upstream calls.
 *
 * Only this process's view: another instance learns on its own, which bounds the wasted upstream
 * calls by the number of instances, not by anything a payer controls.
 */
export interface ServeFirstPolicy {
  /** How to take this payment. `serve-first` marks its key in flight until `finished`. */
  decide(paymentKey: string, account: FundsAccount): ServeFirstDecision;
  /** A served-first payment's request is over: recorded, refused, or given up. */
  finished(paymentKey: string): void;
  /** A recording (or its refusal) showed the key taken and whether the account has room (`hasRoom`). */
  recorded(paymentKey: string, account: FundsAccount, roomy: boolean): void;
  /** The database failed a recording. */
  databaseFailed(): void;
}

export type ServeFirstDecision = "serve-first" | "check-first" | "in-flight";

/**
 * Room for this many more payments of the same amount keeps an account serve-first. Requests of
 * one payer in flight at once all pass `decide` before any is recorded: the margin keeps a burst
 * from overrunning the credit and being refused after its upstream calls.
 */
export const HEADROOM_PAYMENTS = 16n;

/** How long an account stays tight without a new recording saying otherwise. */
export const TIGHT_FOR_MS = 60_000;

/** How long everything is checked first after the database failed a recording. */
export const AFTER_DATABASE_FAILURE_MS = 5_000;

/** A served-first request that never reported back (a bug) stops blocking its key after this. */
const IN_FLIGHT_MAX_MS = 10 * 60_000;

/**
 * Whether, after recording `amount` with `unsettled` already counted, a credit bound of
 * `creditMax` (the `maxUnsettled` of the form served on credit; undefined when the payment had
 * none) leaves room for `HEADROOM_PAYMENTS` more such payments.
 */
export function hasRoom(creditMax: bigint | undefined, unsettled: bigint, amount: bigint): boolean {
  if (creditMax === undefined) return false;
  return creditMax - unsettled - amount >= amount * HEADROOM_PAYMENTS;
}

export interface ServeFirstOptions {
  readonly maxAccounts?: number;
  readonly maxKeys?: number;
  readonly tightForMs?: number;
  readonly now?: () => number;
}

export function createServeFirstPolicy(options: ServeFirstOptions = {}): ServeFirstPolicy {
  const now = options.now ?? Date.now;
  // Bounded: a flood of fresh accounts or keys evicts old entries, which only lets those serve
  // first again until their next recording. A key takes a valid signed payment to make.
  const tight = new LRUCache<string, true>({ max: options.maxAccounts ?? 100_000, ttl: options.tightForMs ?? TIGHT_FOR_MS, perf: { now } });
  // Keys by a 128-bit digest: an entry per payment is kept, and a payment key is ~170 characters.
  // Measured: ~170 bytes of heap per key, so at most ~17 MB (bench section 6 holds RSS to 1.5x).
  const keys = new LRUCache<string, "in-flight" | "known">({ max: options.maxKeys ?? 100_000, perf: { now } });
  let checkAllUntil = 0;
  return {
    decide(paymentKey, account) {
      const digest = keyDigest(paymentKey);
      const key = keys.get(digest);
      if (key === "in-flight") return "in-flight";
      if (key === "known" || now() < checkAllUntil || tight.has(accountKey(account))) return "check-first";
      keys.set(digest, "in-flight", { ttl: IN_FLIGHT_MAX_MS });
      return "serve-first";
    },
    finished(paymentKey) {
      const digest = keyDigest(paymentKey);
      if (keys.get(digest) === "in-flight") keys.set(digest, "known", { ttl: 0 });
    },
    recorded(paymentKey, account, roomy) {
      const digest = keyDigest(paymentKey);
      if (keys.get(digest) !== "in-flight") keys.set(digest, "known", { ttl: 0 });
      if (roomy) tight.delete(accountKey(account));
      else tight.set(accountKey(account), true);
      checkAllUntil = 0;
    },
    databaseFailed() {
      checkAllUntil = now() + AFTER_DATABASE_FAILURE_MS;
    },
  };
}

const perFlow = new WeakMap<object, ServeFirstPolicy>();

/** The policy of one payment flow (keyed by its deps object), made on first use. */
export function serveFirstPolicyOf(flow: object): ServeFirstPolicy {
  let policy = perFlow.get(flow);
  if (policy === undefined) {
    policy = createServeFirstPolicy();
    perFlow.set(flow, policy);
  }
  return policy;
}

function keyDigest(paymentKey: string): string {
  return hash("sha256", paymentKey, "base64url").slice(0, 22);
}

function accountKey(account: FundsAccount): string {
  return `${account.chainId}:${account.scheme}:${account.token}:${account.payer}:${account.payee}`.toLowerCase();
}
