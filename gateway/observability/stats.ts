/**
 * The figures behind /stats and the dashboard, computed by the database from `api_requests` and
 * `payments` over a time window. Amounts are summed as NUMERIC and returned as decimal strings
 * (atomic token units): exact, and JSON has no bigint. Latencies are milliseconds (floats are
 * fine there).
 *
 * Definitions:
 *   - latency percentiles: over the window's requests except 402 challenges (answering a
 *     challenge is a price list, not the service; counting them would flatter the figures);
 *   - error rate: share of requests answered 5xx (the gateway's or an upstream's failure);
 *     402s and other 4xx are counted separately;
 *   - revenue: what was charged (api_requests.amount), per token.
 */
import type { Queryable } from "../db/index.js";
import type { SettlementBacklog } from "./metrics.js";

export interface TokenInfo {
  readonly symbol: string;
  readonly decimals: number;
}

export interface StatsQuery {
  readonly windowSeconds: number;
  /** End of the window; default now. */
  readonly until?: Date;
  /** How many agents to list; default 10. */
  readonly topAgents?: number;
  /** Points of the request series; default 24. */
  readonly buckets?: number;
  readonly tokenInfo?: (address: string) => TokenInfo | undefined;
}

export interface RevenueLine {
  readonly token: string;
  readonly symbol: string | null;
  readonly decimals: number | null;
  /** Atomic units, decimal string. */
  readonly amount: string;
  readonly payments: number;
}

export interface GatewayStats {
  readonly window: { readonly from: string; readonly until: string; readonly seconds: number };
  readonly requests: {
    readonly total: number;
    readonly ok: number;
    readonly paymentRequired: number;
    readonly clientErrors: number;
    readonly serverErrors: number;
    /** serverErrors / total; 0 without requests. */
    readonly errorRate: number;
  };
  readonly latencyMs: { readonly p50: number | null; readonly p95: number | null; readonly p99: number | null };
  readonly revenue: readonly RevenueLine[];
  readonly topAgents: readonly {
    readonly wallet: string;
    readonly requests: number;
    readonly successful: number;
    readonly tier: string;
    readonly spent: readonly { readonly token: string; readonly symbol: string | null; readonly decimals: number | null; readonly amount: string }[];
  }[];
  readonly series: { readonly bucketSeconds: number; readonly points: readonly { readonly start: string; readonly requests: number; readonly errors: number }[] };
}

export const MAX_STATS_WINDOW_SECONDS = 90 * 86_400;

export async function computeStats(db: Queryable, query: StatsQuery): Promise<GatewayStats> {
  const { windowSeconds } = query;
  if (!Number.isSafeInteger(windowSeconds) || windowSeconds < 60 || windowSeconds > MAX_STATS_WINDOW_SECONDS) {
    throw new RangeError(`the window must be 60 s to ${MAX_STATS_WINDOW_SECONDS} s`);
  }
  const until = query.until ?? new Date();
  const from = new Date(until.getTime() - windowSeconds * 1000);
  const buckets = query.buckets ?? 24;
  const bucketSeconds = Math.ceil(windowSeconds / buckets);
  const info = query.tokenInfo ?? (() => undefined);
  const range = [from, until];

  const [summary, revenue, agents, series] = await Promise.all([
    db.query<{ total: number; ok: number; payment_required: number; client_errors: number; server_errors: number; percentiles: number[] | null }>(
      `SELECT count(*)::int AS total,
              count(*) FILTER (WHERE status < 400)::int AS ok,
              count(*) FILTER (WHERE status = 402)::int AS payment_required,
              count(*) FILTER (WHERE status >= 400 AND status < 500 AND status <> 402)::int AS client_errors,
              count(*) FILTER (WHERE status >= 500)::int AS server_errors,
              percentile_cont(ARRAY[0.5, 0.95, 0.99]::float8[]) WITHIN GROUP (ORDER BY response_time_ms)
                FILTER (WHERE status <> 402) AS percentiles
       FROM api_requests WHERE requested_at > $1 AND requested_at <= $2`,
      range,
    ),
    db.query<{ token: string; amount: string; payments: number }>(
      `SELECT token, sum(amount)::text AS amount, count(*)::int AS payments
       FROM api_requests WHERE requested_at > $1 AND requested_at <= $2 AND amount IS NOT NULL
       GROUP BY token ORDER BY token`,
      range,
    ),
    db.query<{ wallet: string; requests: number; successful: number; tier: string | null; spent: { token: string; amount: string }[] | null }>(
      `WITH top AS (
         SELECT wallet, count(*)::int AS requests, count(*) FILTER (WHERE success)::int AS successful
         FROM api_requests WHERE requested_at > $1 AND requested_at <= $2 AND wallet IS NOT NULL
         GROUP BY wallet ORDER BY count(*) DESC, wallet LIMIT $3)
       SELECT top.wallet, top.requests, top.successful, r.tier,
              (SELECT json_agg(json_build_object('token', s.token, 'amount', s.amount::text) ORDER BY s.token)
               FROM (SELECT token, sum(amount) AS amount FROM api_requests
                     WHERE wallet = top.wallet AND requested_at > $1 AND requested_at <= $2 AND amount IS NOT NULL
                     GROUP BY token) AS s) AS spent
       FROM top LEFT JOIN agent_reputation r ON r.wallet = top.wallet
       ORDER BY top.requests DESC, top.wallet`,
      [from, until, query.topAgents ?? 10],
    ),
    db.query<{ bucket: number; requests: number; errors: number }>(
      `SELECT floor(extract(epoch FROM requested_at - $1::timestamptz) / $3)::int AS bucket,
              count(*)::int AS requests, count(*) FILTER (WHERE status >= 500)::int AS errors
       FROM api_requests WHERE requested_at > $1 AND requested_at <= $2
       GROUP BY 1 ORDER BY 1`,
      [from, until, bucketSeconds],
    ),
  ]);

  const s = summary.rows[0];
  const total = s?.total ?? 0;
  const [p50, p95, p99] = s?.percentiles ?? [];
  const byBucket = new Map(series.rows.map((row) => [Number(row.bucket), row]));
  const pointCount = Math.ceil(windowSeconds / bucketSeconds);
  return {
    window: { from: from.toISOString(), until: until.toISOString(), seconds: windowSeconds },
    requests: {
      total,
      ok: s?.ok ?? 0,
      paymentRequired: s?.payment_required ?? 0,
      clientErrors: s?.client_errors ?? 0,
      serverErrors: s?.server_errors ?? 0,
      errorRate: total === 0 ? 0 : (s?.server_errors ?? 0) / total,
    },
    latencyMs: { p50: round(p50), p95: round(p95), p99: round(p99) },
    revenue: revenue.rows.map((row) => {
      const token = info(row.token);
      return { token: row.token, symbol: token?.symbol ?? null, decimals: token?.decimals ?? null, amount: row.amount, payments: row.payments };
    }),
    topAgents: agents.rows.map((row) => ({
      wallet: row.wallet,
      requests: row.requests,
      successful: row.successful,
      tier: row.tier ?? "bronze",
      spent: (row.spent ?? []).map((line) => {
        const token = info(line.token);
        return { token: line.token, symbol: token?.symbol ?? null, decimals: token?.decimals ?? null, amount: line.amount };
      }),
    })),
    series: {
      bucketSeconds,
      points: Array.from({ length: pointCount }, (_, i) => {
        const row = byBucket.get(i);
        return { start: new Date(from.getTime() + i * bucketSeconds * 1000).toISOString(), requests: row?.requests ?? 0, errors: row?.errors ?? 0 };
      }),
    },
  };
}

export interface Settlement {
  readonly id: string;
  readonly scheme: string;
  readonly network: string;
  readonly token: string;
  readonly symbol: string | null;
  readonly decimals: number | null;
  readonly payer: string;
  /** Atomic units, decimal string. */
  readonly amount: string;
  readonly txHash: string;
  readonly settledAt: string;
}

/** The newest confirmed payments with their settlement transactions. */
export async function recentSettlements(db: Queryable, options: { limit?: number; tokenInfo?: (address: string) => TokenInfo | undefined } = {}): Promise<Settlement[]> {
  const limit = options.limit ?? 20;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 200) throw new RangeError("limit must be 1 to 200");
  const { rows } = await db.query<{ id: string; scheme: string; network: string; token: string; payer: string; amount: string; tx_hash: string; updated_at: Date }>(
    `SELECT id::text, scheme, network, token, payer, amount::text, tx_hash, updated_at
     FROM payments WHERE state = 'confirmed' ORDER BY updated_at DESC, id DESC LIMIT $1`,
    [limit],
  );
  return rows.map((row) => {
    const token = options.tokenInfo?.(row.token);
    return {
      id: row.id,
      scheme: row.scheme,
      network: row.network,
      token: row.token,
      symbol: token?.symbol ?? null,
      decimals: token?.decimals ?? null,
      payer: row.payer,
      amount: row.amount,
      txHash: row.tx_hash,
      settledAt: row.updated_at.toISOString(),
    };
  });
}

/**
 * Payments accepted and not settled yet, from the ledger: a default `backlog()` for the metrics
 * when no settlement engine provides its own.
 */
export async function paymentsBacklog(db: Queryable): Promise<SettlementBacklog> {
  const { rows } = await db.query<{ pending: number; oldest: number | null }>(
    `SELECT count(*)::int AS pending, extract(epoch FROM now() - min(created_at))::float8 AS oldest
     FROM payments WHERE state IN ('verified', 'submitted')`,
  );
  const row = rows[0];
  return { pending: row?.pending ?? 0, oldestAgeSeconds: Math.max(0, row?.oldest ?? 0) };
}

function round(value: number | undefined): number | null {
  return value === undefined || value === null ? null : Math.round(value * 100) / 100;
}
