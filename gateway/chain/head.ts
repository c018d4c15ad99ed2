import type { Hash, PublicClient } from "viem";

/** The chain's latest block as last seen. */
export interface ChainHead {
  readonly number: bigint;
  readonly hash: Hash;
  /** Unix seconds: the escrow's clock for a call made now. */
  readonly timestamp: bigint;
}

/**
 * The chain's latest block as last seen, refreshed at most every `maxAgeMs`: a lower bound on the
 * block any read sent after it will see (nodes serve monotonic heads). Caches keyed by it stay
 * valid exactly as long as no new block has been seen, because state only changes with a block;
 * their staleness is therefore at most `maxAgeMs`. Keyed by hash, so a reorganised chain (not
 * SKALE, whose blocks are final) starts over too.
 */
export interface HeadTracker {
  /** The latest block seen no longer than `maxAgeMs` ago (one `eth_getBlockByNumber` otherwise). */
  latest(): Promise<ChainHead>;
}

export interface HeadTrackerOptions {
  readonly reader: Pick<PublicClient, "getBlock">;
  /** Default 250 ms: SKALE blocks come about a second apart. */
  readonly maxAgeMs?: number;
  /** Milliseconds; tests move it. */
  readonly now?: () => number;
}

export const DEFAULT_HEAD_MAX_AGE_MS = 250;

export function createHeadTracker(options: HeadTrackerOptions): HeadTracker {
  const maxAgeMs = options.maxAgeMs ?? DEFAULT_HEAD_MAX_AGE_MS;
  const now = options.now ?? Date.now;
  let seen: { head: ChainHead; at: number } | undefined;
  let refreshing: Promise<ChainHead> | undefined;

  const refresh = (): Promise<ChainHead> => {
    // One request for everyone waiting. Taken as the node says, even when it went backwards (a
    // load-balanced endpoint behind by a block): a lower bound has to hold for the reads that
    // follow, which that node serves.
    refreshing ??= options.reader
      .getBlock({ blockTag: "latest", includeTransactions: false })
      .then((block) => {
        const head = { number: block.number, hash: block.hash, timestamp: block.timestamp };
        seen = { head, at: now() };
        return head;
      })
      .finally(() => {
        refreshing = undefined;
      });
    return refreshing;
  };

  return {
    latest() {
      const age = seen === undefined ? Infinity : now() - seen.at;
      if (seen === undefined || age >= maxAgeMs) return refresh();
      // Past half its age, refresh in the background: under steady traffic no request ever waits
      // for the head, and the bound above still holds for every answer.
      if (age >= maxAgeMs / 2 && refreshing === undefined) void refresh().catch(() => undefined);
      return Promise.resolve(seen.head);
    },
  };
}
