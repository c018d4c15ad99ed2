/**
 * Writes answered API calls to `api_requests` and folds them into `agent_reputation`, off the
 * request's critical path.
 *
 * `record()` only queues; the queue is written after the current request has been answered (on
 * the next turn of the event loop), in batches, each in one transaction, so a row and its effect
 * on the agent's reputation are stored together or not at all. Failures are logged, never thrown
 * into a request: while the database is unreachable the batch is retried with a growing delay;
 * a batch refused for another reason (a bug) is retried row by row and only the refused rows are
 * dropped. The queue is bounded: past `maxQueue` the oldest records are dropped and counted.
 * `close()` writes what is queued before the database is closed.
 *
 * What counts for reputation: requests paid by a verified payer whose outcome was the agent's
 * doing, i.e. charged ones (successful) and those refused with a 4xx after verification (for
 * instance funds gone at settlement). 5xx answers are the gateway's or the upstream's fault,
 * 409 (the same payment still in flight) and 429 (rate limited) say nothing about payment
 * reliability: they are recorded, but leave the reputation alone.
 */
import type { Database, Queryable, SqlValue } from "../db/index.js";
import { isDatabaseUnavailable } from "../db/index.js";
import { tierFor } from "./tiers.js";
import type { ApiRequestRecord } from "./types.js";

export interface RecorderLogger {
  error(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface RecorderOptions {
  readonly db: Database;
  readonly log: RecorderLogger;
  /** Rows per transaction; default 200. */
  readonly batchSize?: number;
  /** Records kept while the database is unreachable; default 10,000. */
  readonly maxQueue?: number;
  /** First retry delay after an outage, ms (doubles up to 30 s); default 1,000. */
  readonly retryDelayMs?: number;
  /** Called after each stored batch, e.g. to drop cached discounts of the wallets it touched. */
  readonly onStored?: (wallets: readonly string[]) => void;
}

export interface Recorder {
  /** Queues one record; returns at once. Invalid records are logged and skipped. */
  record(entry: ApiRequestRecord): void;
  /** Writes everything queued so far (resolves even if the database refuses; see the log). */
  flush(): Promise<void>;
  /** Flushes and stops; later `record` calls are ignored. */
  close(): Promise<void>;
  /** Records waiting to be written. */
  readonly pending: number;
  /** Records given up since start (queue overflow or refused rows). */
  readonly dropped: number;
}

interface Row {
  readonly requestedAt: Date;
  readonly method: string;
  readonly endpoint: string;
  readonly status: number;
  readonly success: boolean;
  readonly responseTimeMs: number;
  readonly wallet: string | null;
  readonly scheme: string | null;
  readonly token: string | null;
  readonly amount: bigint | null;
  readonly priceNanoUsd: bigint | null;
  readonly txHash: string | null;
  /** Counts for the wallet's reputation, and whether as a success. */
  readonly reputation: "success" | "failure" | null;
}

const MAX_RETRY_DELAY_MS = 30_000;

export function createRecorder(options: RecorderOptions): Recorder {
  const { db, log } = options;
  const batchSize = options.batchSize ?? 200;
  const maxQueue = options.maxQueue ?? 10_000;
  const firstDelay = options.retryDelayMs ?? 1_000;
  const queue: Row[] = [];
  let dropped = 0;
  let closed = false;
  let draining: Promise<void> | undefined;
  let scheduled: NodeJS.Immediate | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let delay = firstDelay;

  function schedule(): void {
    if (scheduled !== undefined || retryTimer !== undefined || draining !== undefined) return;
    scheduled = setImmediate(() => {
      scheduled = undefined;
      void drain();
    });
  }

  function drain(): Promise<void> {
    // Reset in a `.finally` callback, which always runs after this assignment: a `finally` block
    // inside the function would run synchronously when the queue is empty, before `??=` assigns,
    // and leave `draining` set for good (nothing would ever be written again).
    draining ??= (async () => {
      while (queue.length > 0) {
        const batch = queue.slice(0, batchSize);
        const outcome = await writeBatch(batch);
        if (outcome === "unavailable") {
          if (!closed) {
            retryTimer = setTimeout(() => {
              retryTimer = undefined;
              void drain();
            }, delay);
            retryTimer.unref();
            delay = Math.min(delay * 2, MAX_RETRY_DELAY_MS);
          }
          return;
        }
        delay = firstDelay;
        queue.splice(0, batch.length);
      }
    })().finally(() => {
      draining = undefined;
    });
    return draining;
  }

  async function writeBatch(batch: readonly Row[]): Promise<"stored" | "unavailable"> {
    try {
      await store(db, batch);
      options.onStored?.(walletsOf(batch));
      return "stored";
    } catch (error) {
      if (isDatabaseUnavailable(error)) {
        log.warn({ err: error, pending: queue.length }, "analytics: database unavailable; will retry");
        return "unavailable";
      }
      if (batch.length === 1) {
        dropped += 1;
        log.error({ err: error, endpoint: batch[0]?.endpoint, status: batch[0]?.status }, "analytics: a request record was refused and dropped");
        return "stored";
      }
      // Isolate the row the database refuses instead of losing the whole batch.
      for (const row of batch) {
        if ((await writeBatch([row])) === "unavailable") return "unavailable";
      }
      return "stored";
    }
  }

  return {
    record(entry) {
      if (closed) return;
      let row: Row;
      try {
        row = toRow(entry);
      } catch (error) {
        dropped += 1;
        log.error({ err: error, endpoint: entry.endpoint }, "analytics: invalid request record skipped");
        return;
      }
      queue.push(row);
      if (queue.length > maxQueue) {
        const excess = queue.length - maxQueue;
        queue.splice(0, excess);
        dropped += excess;
        log.error({ dropped: excess }, "analytics: queue full; oldest records dropped");
      }
      schedule();
    },
    async flush() {
      if (scheduled !== undefined) {
        clearImmediate(scheduled);
        scheduled = undefined;
      }
      if (retryTimer !== undefined) {
        clearTimeout(retryTimer);
        retryTimer = undefined;
      }
      await draining;
      await drain();
    },
    async close() {
      closed = true;
      await this.flush();
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      retryTimer = undefined;
      if (queue.length > 0) log.error({ lost: queue.length }, "analytics: records could not be written before shutdown");
    },
    get pending() {
      return queue.length;
    },
    get dropped() {
      return dropped;
    },
  };
}

const ADDRESS = /^0x[0-9a-f]{40}$/;
const TX_HASH = /^0x[0-9a-f]{64}$/;

function toRow(entry: ApiRequestRecord): Row {
  if (!(entry.requestedAt instanceof Date) || Number.isNaN(entry.requestedAt.getTime())) throw new TypeError("requestedAt is not a valid date");
  if (!Number.isInteger(entry.status) || entry.status < 100 || entry.status > 599) throw new RangeError(`status ${entry.status}`);
  const payment = entry.payment;
  const wallet = payment === undefined ? null : lowerMatching(payment.payer, ADDRESS, "payer");
  const charged = payment?.charged === true;
  return {
    requestedAt: entry.requestedAt,
    method: entry.method.toUpperCase().slice(0, 16),
    endpoint: entry.endpoint.slice(0, 256) || "/",
    status: entry.status,
    success: entry.status < 400,
    responseTimeMs: Math.max(0, Math.round(entry.responseTimeMs)),
    wallet,
    scheme: payment?.scheme ?? null,
    token: payment === undefined ? null : lowerMatching(payment.token, ADDRESS, "token"),
    amount: charged ? nonNegative(payment.amount, "amount") : null,
    priceNanoUsd: charged && payment.priceNanoUsd !== undefined ? nonNegative(payment.priceNanoUsd, "priceNanoUsd") : null,
    txHash: payment?.txHash === undefined ? null : lowerMatching(payment.txHash, TX_HASH, "txHash"),
    reputation: payment === undefined ? null : charged ? "success" : countsAsFailure(entry.status) ? "failure" : null,
  };
}

function countsAsFailure(status: number): boolean {
  return status >= 400 && status < 500 && status !== 409 && status !== 429;
}

function lowerMatching(value: string, pattern: RegExp, what: string): string {
  const lower = value.toLowerCase();
  if (!pattern.test(lower)) throw new TypeError(`${what} is malformed`);
  return lower;
}

function nonNegative(value: bigint, what: string): bigint {
  if (typeof value !== "bigint" || value < 0n) throw new RangeError(`${what} must be a non-negative bigint`);
  return value;
}

function walletsOf(batch: readonly Row[]): string[] {
  return [...new Set(batch.flatMap((row) => (row.reputation === null || row.wallet === null ? [] : [row.wallet])))];
}

interface WalletDelta {
  total: bigint;
  successful: bigint;
  spentNanoUsd: bigint;
  byToken: Map<string, bigint>;
}

async function store(db: Database, batch: readonly Row[]): Promise<void> {
  const columns = 12;
  const params: SqlValue[] = [];
  const tuples = batch.map((row, i) => {
    params.push(
      row.requestedAt,
      row.method,
      row.endpoint,
      row.status,
      row.success,
      row.responseTimeMs,
      row.wallet,
      row.scheme,
      row.token,
      row.amount,
      row.priceNanoUsd,
      row.txHash,
    );
    return `(${Array.from({ length: columns }, (_, c) => `$${i * columns + c + 1}`).join(", ")})`;
  });

  const deltas = new Map<string, WalletDelta>();
  for (const row of batch) {
    if (row.wallet === null || row.reputation === null) continue;
    let delta = deltas.get(row.wallet);
    if (delta === undefined) {
      delta = { total: 0n, successful: 0n, spentNanoUsd: 0n, byToken: new Map() };
      deltas.set(row.wallet, delta);
    }
    delta.total += 1n;
    if (row.reputation === "success") delta.successful += 1n;
    if (row.amount !== null && row.token !== null) {
      delta.byToken.set(row.token, (delta.byToken.get(row.token) ?? 0n) + row.amount);
      delta.spentNanoUsd += row.priceNanoUsd ?? 0n;
    }
  }

  await db.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO api_requests (requested_at, method, endpoint, status, success, response_time_ms,
                                 wallet, scheme, token, amount, price_nano_usd, tx_hash)
       VALUES ${tuples.join(", ")}`,
      params,
    );
    // Wallets in a fixed order: two replicas updating overlapping wallets lock them in the same
    // order and cannot deadlock.
    for (const wallet of [...deltas.keys()].sort()) await applyDelta(tx, wallet, deltas.get(wallet) as WalletDelta);
  });
}

async function applyDelta(tx: Queryable, wallet: string, delta: WalletDelta): Promise<void> {
  // The upsert locks the agent's row until COMMIT, so the counts it returns are final for this
  // transaction and the tier computed from them cannot be overwritten by a stale one.
  const { rows } = await tx.query<{ total_requests: string; successful_requests: string; tier: string }>(
    `INSERT INTO agent_reputation AS r (wallet, total_requests, successful_requests, total_spent_nano_usd)
     VALUES ($1, $2, $3, $4)
     ON CONFLICT (wallet) DO UPDATE SET
       total_requests = r.total_requests + EXCLUDED.total_requests,
       successful_requests = r.successful_requests + EXCLUDED.successful_requests,
       total_spent_nano_usd = r.total_spent_nano_usd + EXCLUDED.total_spent_nano_usd,
       updated_at = now()
     RETURNING total_requests::text, successful_requests::text, tier`,
    [wallet, delta.total, delta.successful, delta.spentNanoUsd],
  );
  const row = rows[0];
  if (row === undefined) throw new Error(`agent_reputation upsert returned nothing for ${wallet}`);
  const tier = tierFor(BigInt(row.successful_requests), BigInt(row.total_requests));
  if (tier.name !== row.tier) {
    await tx.query(`UPDATE agent_reputation SET tier = $2, discount_bps = $3 WHERE wallet = $1`, [wallet, tier.name, tier.discountBps]);
  }
  for (const [token, amount] of [...delta.byToken].sort(([a], [b]) => a.localeCompare(b))) {
    await tx.query(
      `INSERT INTO agent_spending AS s (wallet, token, amount) VALUES ($1, $2, $3)
       ON CONFLICT (wallet, token) DO UPDATE SET amount = s.amount + EXCLUDED.amount`,
      [wallet, token, amount],
    );
  }
}
