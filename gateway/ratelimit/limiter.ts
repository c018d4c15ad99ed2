/**
 * Fixed-window request counters in the shared database (migrations/004_rate_limits.sql).
 *
 * Every window an agent is subject to (by default 100 a minute and 1,000 a day) is counted by one
 * statement: a request is counted only in the windows where it is still under the limit, and the
 * rows that did not move tell which limits refused it. A refused request is then taken back from
 * the windows that did count it, so hammering a closed minute does not also burn the day.
 *
 * Windows are aligned to the epoch (a minute starts at :00, a day at 00:00 UTC), so every replica
 * computes the same window from its clock and they share one row. Fixed windows allow a burst of
 * up to twice the limit across a boundary; that is the price of one row and one statement.
 */
import type { Queryable } from "../db/index.js";

export interface RateLimitWindow {
  /** Window length in seconds, e.g. 60 or 86 400. */
  readonly seconds: number;
  /** Requests allowed in one window. */
  readonly max: number;
}

/** What one window says about a request. */
export interface WindowState {
  readonly seconds: number;
  readonly max: number;
  /** Requests counted in the current window, this one included when it was counted. */
  readonly hits: number;
  readonly remaining: number;
  /** Whole seconds until the current window closes (at least 1). */
  readonly resetSeconds: number;
  /** This window refused the request. */
  readonly exceeded: boolean;
}

export interface RateLimitDecision {
  readonly allowed: boolean;
  readonly agent: string;
  readonly windows: readonly WindowState[];
  /**
   * The window to report in headers: when refused, the refusing window that reopens last (so
   * Retry-After is honest); otherwise the one with the fewest requests left.
   */
  readonly binding: WindowState;
}

export interface RateLimiter {
  readonly windows: readonly RateLimitWindow[];
  /** Counts one request of `agent` and says whether it is allowed. */
  hit(agent: string): Promise<RateLimitDecision>;
  /** Whether `agent` would be refused right now, without counting anything. */
  peek(agent: string): Promise<RateLimitDecision>;
  /** Deletes counters of closed windows; returns how many. Also done every few minutes by `hit`. */
  prune(): Promise<number>;
}

export interface RateLimiterOptions {
  readonly db: Queryable;
  /** Default: 100 a minute and 1,000 a day. */
  readonly windows?: readonly RateLimitWindow[];
  /** Milliseconds since the epoch; default the wall clock. Tests move it. */
  readonly now?: () => number;
  /** How often `hit` prunes closed windows, seconds; default 300. */
  readonly pruneIntervalSeconds?: number;
}

export const DEFAULT_WINDOWS: readonly RateLimitWindow[] = [
  { seconds: 60, max: 100 },
  { seconds: 86_400, max: 1_000 },
];

/** An agent key is short and printable; anything else is a bug in the caller. */
const AGENT = /^[\x21-\x7e]{1,128}$/;

export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const windows = validateWindows(options.windows ?? DEFAULT_WINDOWS);
  const { db } = options;
  const now = options.now ?? Date.now;
  const pruneInterval = options.pruneIntervalSeconds ?? 300;
  let lastPrune = -Infinity;

  async function prune(): Promise<number> {
    const { rowCount } = await db.query("DELETE FROM rate_limit_counters WHERE expires_at <= $1", [nowSeconds(now)]);
    return rowCount;
  }

  return {
    windows,
    prune,

    async hit(agent) {
      assertAgent(agent);
      const at = nowSeconds(now);
      const starts = windows.map((w) => windowStart(at, w.seconds));
      const { rows } = await db.query<{ window_seconds: number; hits: number }>(
        `INSERT INTO rate_limit_counters AS c (agent, window_seconds, window_start, hits, hit_limit, expires_at)
         SELECT $1, w.seconds, w.start, 1, w.max, w.start + w.seconds
         FROM unnest($2::int[], $3::bigint[], $4::int[]) AS w(seconds, start, max)
         ON CONFLICT (agent, window_seconds, window_start)
           DO UPDATE SET hits = c.hits + 1, hit_limit = EXCLUDED.hit_limit
           WHERE c.hits < EXCLUDED.hit_limit
         RETURNING window_seconds, hits`,
        [agent, windows.map((w) => w.seconds), starts.map(BigInt), windows.map((w) => w.max)],
      );
      const counted = new Map(rows.map((row) => [Number(row.window_seconds), Number(row.hits)]));
      const refused = windows.some((w) => !counted.has(w.seconds));
      if (refused && counted.size > 0) {
        // Take the request back from the windows that did count it.
        const back = windows.filter((w) => counted.has(w.seconds));
        await db.query(
          `UPDATE rate_limit_counters AS c SET hits = c.hits - 1
           FROM unnest($2::int[], $3::bigint[]) AS w(seconds, start)
           WHERE c.agent = $1 AND c.window_seconds = w.seconds AND c.window_start = w.start AND c.hits > 0`,
          [agent, back.map((w) => w.seconds), back.map((w) => BigInt(windowStart(at, w.seconds)))],
        );
        for (const w of back) counted.set(w.seconds, (counted.get(w.seconds) ?? 1) - 1);
      }
      if (at - lastPrune >= pruneInterval) {
        lastPrune = at;
        await prune();
      }
      return decide(agent, at, windows, (w) => countedState(w, counted));
    },

    async peek(agent) {
      assertAgent(agent);
      const at = nowSeconds(now);
      const { rows } = await db.query<{ window_seconds: number; hits: number }>(
        `SELECT c.window_seconds, c.hits FROM rate_limit_counters AS c
         JOIN unnest($2::int[], $3::bigint[]) AS w(seconds, start) ON c.window_seconds = w.seconds AND c.window_start = w.start
         WHERE c.agent = $1`,
        [agent, windows.map((w) => w.seconds), windows.map((w) => BigInt(windowStart(at, w.seconds)))],
      );
      const hits = new Map(rows.map((row) => [Number(row.window_seconds), Number(row.hits)]));
      return decide(agent, at, windows, (w) => {
        const h = hits.get(w.seconds) ?? 0;
        return { hits: h, exceeded: h >= w.max };
      });
    },
  };
}

/** A window that did not count the request refused it: it is full. */
function countedState(w: RateLimitWindow, counted: ReadonlyMap<number, number>): { hits: number; exceeded: boolean } {
  const hits = counted.get(w.seconds);
  return hits === undefined ? { hits: w.max, exceeded: true } : { hits, exceeded: false };
}

function decide(
  agent: string,
  at: number,
  windows: readonly RateLimitWindow[],
  state: (w: RateLimitWindow) => { hits: number; exceeded: boolean },
): RateLimitDecision {
  const states: WindowState[] = windows.map((w) => {
    const { hits, exceeded } = state(w);
    return {
      seconds: w.seconds,
      max: w.max,
      hits,
      remaining: Math.max(0, w.max - hits),
      resetSeconds: windowStart(at, w.seconds) + w.seconds - at,
      exceeded,
    };
  });
  const refusing = states.filter((s) => s.exceeded);
  const binding =
    refusing.length > 0
      ? refusing.reduce((a, b) => (b.resetSeconds > a.resetSeconds ? b : a))
      : states.reduce((a, b) => (b.remaining < a.remaining || (b.remaining === a.remaining && b.resetSeconds > a.resetSeconds) ? b : a));
  return { allowed: refusing.length === 0, agent, windows: states, binding };
}

function windowStart(atSeconds: number, seconds: number): number {
  return Math.floor(atSeconds / seconds) * seconds;
}

function nowSeconds(now: () => number): number {
  const ms = now();
  if (!Number.isFinite(ms)) throw new TypeError(`the clock returned ${ms}`);
  return Math.floor(ms / 1000);
}

function assertAgent(agent: string): void {
  if (!AGENT.test(agent)) throw new TypeError(`not a rate-limit agent key: ${JSON.stringify(agent.slice(0, 40))}`);
}

function validateWindows(windows: readonly RateLimitWindow[]): readonly RateLimitWindow[] {
  if (windows.length === 0) throw new RangeError("a rate limiter needs at least one window");
  const seen = new Set<number>();
  for (const { seconds, max } of windows) {
    if (!Number.isSafeInteger(seconds) || seconds <= 0) throw new RangeError(`a window length must be a positive whole number of seconds, got ${seconds}`);
    if (!Number.isSafeInteger(max) || max <= 0 || max > 2 ** 31 - 1) throw new RangeError(`a window limit must be a positive integer, got ${max}`);
    if (seen.has(seconds)) throw new RangeError(`two windows of ${seconds} s`);
    seen.add(seconds);
  }
  return [...windows].sort((a, b) => a.seconds - b.seconds);
}
