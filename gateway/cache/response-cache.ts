/**
 * The two-layer response cache: an in-memory LRU per gateway instance in front of a PostgreSQL
 * table shared by every instance (migration 003_cache.sql).
 *
 * - Lookup: memory, then the database; a database hit is copied into memory.
 * - Single-flight: concurrent misses on one key in this process share one database lookup and
 *   one upstream call (`load`). Across instances, two may each make one call; the last write wins.
 * - Stale-if-error: when the route allows it, an expired entry is kept `staleIfErrorMs` longer
 *   and served (marked "stale") if loading a fresh one fails with an error the caller classifies
 *   as a failure (`serveStaleOn`), never for an upstream "no" such as a 404.
 * - The database is an optimisation, never a dependency: a failed read is a miss, a failed write
 *   is logged and the value still served, so a database outage degrades to memory-only caching.
 *
 * Times come from an injectable clock (milliseconds), and expiry is decided in JavaScript with
 * that clock rather than by SQL `now()`, so tests control time on both layers and both backends.
 */
import { LRUCache } from "lru-cache";
import type { Queryable } from "../db/index.js";

export type CacheStatus = "hit" | "miss" | "stale";

export interface CachePolicy {
  /** How long a loaded value is served as fresh; 0 disables caching for the call. */
  readonly ttlMs: number;
  /** How long after expiry the value may still be served when loading fails; 0 = never. */
  readonly staleIfErrorMs?: number;
  /** Which load failures may be answered with a stale value (default: every error). */
  readonly serveStaleOn?: (error: unknown) => boolean;
  /** Route id stored with the entry (default: the key up to its first ':'). */
  readonly route?: string;
}

export interface CacheResult<T> {
  readonly value: T;
  readonly status: CacheStatus;
  /** When the value was loaded from the upstream (ms since epoch). */
  readonly storedAt: number;
}

export interface ResponseCache {
  getOrLoad<T>(key: string, policy: CachePolicy, load: () => Promise<T>): Promise<CacheResult<T>>;
  /** Whether a fresh value exists (memory or database), without loading anything. */
  hasFresh(key: string): Promise<boolean>;
  /** Empties both layers of this instance (admin). Other instances' memory empties as entries expire. */
  clear(): Promise<void>;
  /** Deletes database rows past their stale limit; returns how many. */
  prune(): Promise<number>;
  stats(): CacheStats;
}

export interface CacheStats {
  readonly hits: number;
  readonly misses: number;
  readonly stale: number;
  readonly memoryEntries: number;
}

export interface ResponseCacheOptions {
  /** The shared layer; without it the cache is memory-only. */
  readonly db?: Queryable;
  /** Largest number of entries kept in memory (default 5,000). */
  readonly maxEntries?: number;
  /** Values larger than this (serialized JSON) are served but not cached (default 1 MiB). */
  readonly maxValueBytes?: number;
  readonly now?: () => number;
  readonly log?: { warn(details: object, message: string): void };
  /** Expired database rows are pruned after this many writes (default 500). */
  readonly pruneEvery?: number;
}

interface Entry {
  readonly value: unknown;
  readonly storedAt: number;
  readonly expiresAt: number;
  readonly staleUntil: number;
}

interface Row {
  value: unknown;
  stored_at: Date;
  expires_at: Date;
  stale_until: Date;
}

export function createResponseCache(options: ResponseCacheOptions = {}): ResponseCache {
  const now = options.now ?? Date.now;
  const db = options.db;
  const maxValueBytes = options.maxValueBytes ?? 1024 * 1024;
  const pruneEvery = options.pruneEvery ?? 500;
  const memory = new LRUCache<string, Entry>({ max: options.maxEntries ?? 5_000 });
  const inflight = new Map<string, Promise<CacheResult<unknown>>>();
  const counters = { hits: 0, misses: 0, stale: 0 };
  let writes = 0;

  const warn = (error: unknown, message: string) =>
    options.log?.warn({ err: error instanceof Error ? { message: error.message, code: (error as { code?: unknown }).code } : String(error) }, message);

  async function readDb(key: string): Promise<Entry | undefined> {
    if (db === undefined) return undefined;
    try {
      const { rows } = await db.query<Row>("SELECT value, stored_at, expires_at, stale_until FROM response_cache WHERE key = $1", [key]);
      const row = rows[0];
      if (row === undefined) return undefined;
      return { value: row.value, storedAt: row.stored_at.getTime(), expiresAt: row.expires_at.getTime(), staleUntil: row.stale_until.getTime() };
    } catch (error) {
      warn(error, "response cache: database read failed; treating as a miss");
      return undefined;
    }
  }

  async function writeDb(key: string, route: string, entry: Entry, serialized: string): Promise<void> {
    if (db === undefined) return;
    try {
      await db.query(
        `INSERT INTO response_cache (key, route, value, stored_at, expires_at, stale_until)
         VALUES ($1, $2, $3::jsonb, $4, $5, $6)
         ON CONFLICT (key) DO UPDATE SET route = EXCLUDED.route, value = EXCLUDED.value, stored_at = EXCLUDED.stored_at,
           expires_at = EXCLUDED.expires_at, stale_until = EXCLUDED.stale_until`,
        [key, route, serialized, new Date(entry.storedAt), new Date(entry.expiresAt), new Date(entry.staleUntil)],
      );
    } catch (error) {
      warn(error, "response cache: database write failed; the value stays in memory only");
    }
    writes += 1;
    if (writes % pruneEvery === 0) await prune();
  }

  async function prune(): Promise<number> {
    if (db === undefined) return 0;
    try {
      const { rowCount } = await db.query("DELETE FROM response_cache WHERE stale_until < $1", [new Date(now())]);
      return rowCount;
    } catch (error) {
      warn(error, "response cache: pruning failed");
      return 0;
    }
  }

  async function load<T>(key: string, policy: CachePolicy, loader: () => Promise<T>, known: Entry | undefined): Promise<CacheResult<T>> {
    let previous = known;
    if (previous === undefined || previous.expiresAt <= now()) {
      const stored = await readDb(key);
      if (stored !== undefined && (previous === undefined || stored.storedAt > previous.storedAt)) previous = stored;
      if (previous !== undefined && previous.expiresAt > now()) {
        memory.set(key, previous);
        counters.hits += 1;
        return { value: previous.value as T, status: "hit", storedAt: previous.storedAt };
      }
    }
    let value: T;
    try {
      value = await loader();
    } catch (error) {
      const serveStale = policy.serveStaleOn ?? (() => true);
      if (previous !== undefined && previous.staleUntil > now() && serveStale(error)) {
        counters.stale += 1;
        return { value: previous.value as T, status: "stale", storedAt: previous.storedAt };
      }
      throw error;
    }
    counters.misses += 1;
    const storedAt = now();
    if (policy.ttlMs > 0) {
      const serialized = JSON.stringify(value);
      if (serialized !== undefined && Buffer.byteLength(serialized) <= maxValueBytes) {
        const expiresAt = storedAt + policy.ttlMs;
        // What goes in memory is the JSON round trip, so memory and database hits look the same.
        const entry: Entry = { value: JSON.parse(serialized), storedAt, expiresAt, staleUntil: expiresAt + (policy.staleIfErrorMs ?? 0) };
        memory.set(key, entry);
        await writeDb(key, policy.route ?? key.split(":")[0] ?? key, entry, serialized);
      }
    }
    return { value, status: "miss", storedAt };
  }

  return {
    async getOrLoad<T>(key: string, policy: CachePolicy, loader: () => Promise<T>): Promise<CacheResult<T>> {
      const cached = memory.get(key);
      if (cached !== undefined && cached.expiresAt > now()) {
        counters.hits += 1;
        return { value: cached.value as T, status: "hit", storedAt: cached.storedAt };
      }
      const running = inflight.get(key);
      if (running !== undefined) return running as Promise<CacheResult<T>>;
      const started = load(key, policy, loader, cached).finally(() => inflight.delete(key));
      inflight.set(key, started);
      return started;
    },
    async hasFresh(key) {
      const cached = memory.get(key);
      if (cached !== undefined && cached.expiresAt > now()) return true;
      const stored = await readDb(key);
      return stored !== undefined && stored.expiresAt > now();
    },
    async clear() {
      memory.clear();
      if (db !== undefined) await db.query("DELETE FROM response_cache");
    },
    prune,
    stats: () => ({ ...counters, memoryEntries: memory.size }),
  };
}
