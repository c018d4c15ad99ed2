/**
 * An in-process mutex per key: callers with the same key run one after another, in arrival
 * order; different keys do not wait for each other. Entries are dropped as soon as a key's queue
 * empties, so the map only ever holds keys that are busy right now.
 *
 * Used by `Database.withLock` (on PGlite the whole lock; on PostgreSQL in front of the advisory
 * lock, so one process never parks several pooled connections on one key) and by the settlement
 * sender (one nonce read and broadcast at a time per account).
 */
export interface KeyedMutex {
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** Keys with a holder or waiters; for tests and diagnostics. */
  readonly busyKeys: () => number;
}

export function createKeyedMutex(): KeyedMutex {
  const tails = new Map<string, Promise<void>>();
  return {
    async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
      const previous = tails.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((resolve) => {
        release = resolve;
      });
      const tail = previous.then(() => mine);
      tails.set(key, tail);
      await previous;
      try {
        return await fn();
      } finally {
        release();
        // Only the last waiter's tail is in the map; anyone queued behind replaced it already.
        if (tails.get(key) === tail) tails.delete(key);
      }
    },
    busyKeys: () => tails.size,
  };
}
