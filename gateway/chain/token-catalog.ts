/**
 * The gateway's view of the on-chain token registry for one chain: which tokens exist, their
 * limits and EIP-712 domains, and which may be offered to payers right now.
 *
 * How it stays current:
 * - it loads `allTokens()` at start-up, at a pinned block;
 * - every `pollIntervalMs` it asks `getLogs` for registry events since the last block it has
 *   synced (plain polling, no websocket filters: those silently die with the connection and are
 *   not served by every SKALE endpoint). Any event triggers a full reload at the polled block;
 * - every `refreshIntervalMs` it reloads regardless, which also re-checks each token's own
 *   EIP-712 domain (a token can change that without the registry emitting anything);
 * - `refresh()` reloads on demand (admin endpoint).
 *
 * Safety rules:
 * - a `TokenStatusChanged` to Deprecated or Removed takes effect the moment its log is seen,
 *   before (and even without) the reload that follows, and no later reload can bring back an
 *   older view: every reload reads the registry at a block no lower than any event seen, so a
 *   lagging RPC node cannot resurrect a withdrawn token. Becoming Active again, in contrast,
 *   only takes effect through a reload;
 * - a token whose own EIP-712 domain contradicts the registry's record is kept out of
 *   `accepted()` and logged: advertising a domain the token rejects makes every signed payment
 *   fail (see eip712-domain.ts);
 * - when the chain cannot be reached, the last good view is kept and the failure is recorded in
 *   `health()` for the HTTP layer and monitoring to act on.
 */
import { type Address, type PublicClient, getAddress } from "viem";
import { type DomainCheck, checkTokenDomain, readTokenDomain } from "./eip712-domain.js";
import { type TokenStatus, tokenRegistryEventsAbi, tokenRegistryReadAbi, tokenStatus } from "./token-registry-abi.js";

/** One registry entry as the gateway uses it. Frozen: the cache hands out its own objects. */
export interface CatalogToken {
  readonly address: Address;
  readonly symbol: string;
  readonly decimals: number;
  /** Bit set of METHOD_EIP3009 | METHOD_PERMIT | METHOD_ERC20. */
  readonly collectionMethods: number;
  readonly status: TokenStatus;
  /** EIP-712 name and version as the registry records them ("" and "" when the token has no domain). */
  readonly eip712: { readonly name: string; readonly version: string };
  /** Per-payment limits, atomic units. */
  readonly minAmount: bigint;
  readonly maxAmount: bigint;
  /** How the token's own domain compares with the record, as of the last reload. */
  readonly domainCheck: DomainCheck;
  /** Active and not a domain mismatch: may be offered to payers. */
  readonly accepted: boolean;
}

/** pino-compatible. */
export interface CatalogLogger {
  warn(details: object, message: string): void;
  info?(details: object, message: string): void;
}

const stderrLogger: CatalogLogger = {
  warn(details, message) {
    process.stderr.write(`${JSON.stringify({ level: "warn", msg: message, ...details }, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v))}\n`);
  },
};

export type TokenCatalogClient = Pick<PublicClient, "readContract" | "getLogs" | "getBlockNumber" | "getChainId">;

export interface TokenCatalogOptions {
  readonly client: TokenCatalogClient;
  /** The TokenRegistry contract. */
  readonly registry: Address;
  /** How often to poll for registry events; 0 disables polling. Default 2 000 ms (SKALE blocks are ~1 s). */
  readonly pollIntervalMs?: number;
  /** How often to reload everything; 0 disables the timer. Default 300 000 ms. */
  readonly refreshIntervalMs?: number;
  /**
   * Widest block range asked of `getLogs` in one call (RPC providers cap it). When the catalog
   * has fallen further behind, it reloads at the latest block instead: the snapshot already
   * contains whatever the skipped events changed. Default 1 000.
   */
  readonly maxLogBlockRange?: bigint;
  readonly logger?: CatalogLogger;
}

export interface CatalogHealth {
  readonly chainId: number;
  /** The catalog reflects the registry as of this block. */
  readonly syncedBlock: bigint;
  /** When `syncedBlock` last advanced. */
  readonly syncedAt: Date;
  /** Background polls or reloads that failed in a row (0 when the last one succeeded). */
  readonly consecutiveFailures: number;
  readonly lastError: string | undefined;
}

export interface TokenCatalog {
  /** The registry entry for `address` (any case), whatever its status; undefined if unknown. */
  get(address: string): CatalogToken | undefined;
  /** Tokens that may be offered to payers: Active, and no EIP-712 domain mismatch. */
  accepted(): readonly CatalogToken[];
  /** Every registered token, in registration order. */
  all(): readonly CatalogToken[];
  /** Reloads everything now; rejects if the chain cannot be read (the previous view is kept). */
  refresh(): Promise<void>;
  /** Checks for registry events now, as the poll timer does. */
  poll(): Promise<void>;
  health(): CatalogHealth;
  /** Stops the timers and waits for work in progress. Idempotent. */
  close(): Promise<void>;
}

export const DEFAULT_POLL_INTERVAL_MS = 2_000;
export const DEFAULT_REFRESH_INTERVAL_MS = 300_000;
export const DEFAULT_MAX_LOG_BLOCK_RANGE = 1_000n;

const ACTIVE = 1;

function assertInterval(value: number, what: string): number {
  // setTimeout silently turns delays above 2^31-1 ms into 1 ms.
  if (!Number.isInteger(value) || value < 0 || value > 0x7fff_ffff) throw new RangeError(`${what} must be an integer from 0 to 2^31-1 ms, got ${value}`);
  return value;
}

function freezeToken(token: Omit<CatalogToken, "accepted">): CatalogToken {
  const accepted = token.status === "active" && token.domainCheck.result !== "mismatch";
  return Object.freeze({ ...token, eip712: Object.freeze({ ...token.eip712 }), accepted });
}

/** Loads the registry once and starts the timers. Rejects if the first load fails. */
export async function createTokenCatalog(options: TokenCatalogOptions): Promise<TokenCatalog> {
  const { client } = options;
  const registry = getAddress(options.registry);
  const logger = options.logger ?? stderrLogger;
  const pollIntervalMs = assertInterval(options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS, "pollIntervalMs");
  const refreshIntervalMs = assertInterval(options.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS, "refreshIntervalMs");
  const maxLogBlockRange = options.maxLogBlockRange ?? DEFAULT_MAX_LOG_BLOCK_RANGE;
  if (maxLogBlockRange < 1n) throw new RangeError("maxLogBlockRange must be at least 1");
  const chainId = await client.getChainId();

  let list: readonly CatalogToken[] = Object.freeze([]);
  let byAddress = new Map<string, CatalogToken>();
  /** The registry as of this block is what `list` shows; logs are fetched from the next block. */
  let syncedBlock = -1n;
  let syncedAt = new Date(0);
  /** Highest block whose events have been applied; no reload may read below it. */
  let seenBlock = -1n;
  /** Problems last logged per mismatching token, so a persisting mismatch is logged once. */
  const loggedMismatches = new Map<string, string>();
  let consecutiveFailures = 0;
  let lastError: string | undefined;
  let closed = false;
  let tail: Promise<unknown> = Promise.resolve();
  let pollTimer: NodeJS.Timeout | undefined;
  let refreshTimer: NodeJS.Timeout | undefined;

  const publish = (tokens: readonly CatalogToken[]) => {
    list = Object.freeze([...tokens]);
    byAddress = new Map(tokens.map((t) => [t.address.toLowerCase(), t]));
  };

  const advance = (block: bigint) => {
    syncedBlock = block;
    syncedAt = new Date();
  };

  const reportMismatches = (tokens: readonly CatalogToken[]) => {
    for (const token of tokens) {
      const key = token.address.toLowerCase();
      const check = token.domainCheck;
      if (check.result === "mismatch") {
        const problems = check.problems.join("; ");
        if (loggedMismatches.get(key) === problems) continue;
        loggedMismatches.set(key, problems);
        logger.warn(
          { chainId, token: token.address, symbol: token.symbol, eip712: token.eip712, problems: check.problems },
          "token's EIP-712 domain does not match the registry; the token is not offered to payers",
        );
      } else if (loggedMismatches.delete(key)) {
        logger.info?.({ chainId, token: token.address, symbol: token.symbol }, "token's EIP-712 domain matches the registry again");
      }
    }
  };

  // viem caches the block number for the client's polling interval (4 s over HTTP) unless told not to.
  const latestBlock = () => client.getBlockNumber({ cacheTime: 0 });

  /** Reads the whole registry and every token's domain at one block, not below anything already seen. */
  const reload = async (atBlock?: bigint) => {
    const latest = atBlock ?? (await latestBlock());
    let block = latest;
    if (syncedBlock > block) block = syncedBlock;
    if (seenBlock > block) block = seenBlock;
    const infos = await client.readContract({ address: registry, abi: tokenRegistryReadAbi, functionName: "allTokens", blockNumber: block });
    const tokens = await Promise.all(
      infos.map(async (info) => {
        const address = getAddress(info.token);
        const eip712 = { name: info.eip712Name, version: info.eip712Version };
        const domainCheck: DomainCheck =
          eip712.name === "" && eip712.version === ""
            ? { result: "not-applicable" }
            : checkTokenDomain(eip712, await readTokenDomain(client, address, block), { chainId, token: address });
        return freezeToken({
          address,
          symbol: info.symbol,
          decimals: info.decimals,
          collectionMethods: info.collectionMethods,
          status: tokenStatus(info.status),
          eip712,
          minAmount: info.minAmount,
          maxAmount: info.maxAmount,
          domainCheck,
        });
      }),
    );
    // Another task cannot have moved the cursor meanwhile (tasks are serialized), so this view is
    // at least as new as the one it replaces.
    publish(tokens);
    advance(block);
    reportMismatches(tokens);
  };

  /** Withdraws a token the moment its status change is seen, ahead of the reload. */
  const applyWithdrawal = (address: Address, newStatus: number) => {
    const current = byAddress.get(address.toLowerCase());
    if (current === undefined || newStatus === ACTIVE || tokenStatus(newStatus) === current.status) return;
    const withdrawn = freezeToken({ ...current, status: tokenStatus(newStatus) });
    publish(list.map((t) => (t === current ? withdrawn : t)));
    logger.info?.({ chainId, token: current.address, symbol: current.symbol, status: withdrawn.status }, "token withdrawn by the registry");
  };

  const poll = async () => {
    const latest = await latestBlock();
    if (latest <= syncedBlock) return;
    if (latest - syncedBlock > maxLogBlockRange) return reload(latest);
    const logs = await client.getLogs({ address: registry, events: tokenRegistryEventsAbi, fromBlock: syncedBlock + 1n, toBlock: latest });
    if (logs.length === 0) return advance(latest);
    if (latest > seenBlock) seenBlock = latest;
    for (const log of logs) {
      if (log.eventName === "TokenStatusChanged" && log.args.token !== undefined && log.args.newStatus !== undefined) {
        applyWithdrawal(log.args.token, log.args.newStatus);
      }
    }
    // If this fails, the cursor stays put: the same logs are fetched and the reload retried next time.
    await reload(latest);
  };

  /** Runs tasks one at a time, so a poll and a reload never interleave their reads and writes. */
  const enqueue = <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task);
    tail = run.catch(() => undefined);
    return run;
  };

  /** Background tasks record and log failures instead of throwing into the void. */
  const background = (what: string, task: () => Promise<void>) =>
    enqueue(task).then(
      () => {
        if (consecutiveFailures > 0) logger.info?.({ chainId, after: consecutiveFailures }, "token catalog reached the registry again");
        consecutiveFailures = 0;
        lastError = undefined;
      },
      (error: unknown) => {
        consecutiveFailures += 1;
        lastError = error instanceof Error ? error.message : String(error);
        // 1st, 2nd, 4th, 8th… failure: an outage is visible without flooding the log every poll.
        if ((consecutiveFailures & (consecutiveFailures - 1)) === 0) {
          logger.warn({ chainId, task: what, consecutiveFailures, error: lastError }, "token catalog could not read the registry; serving the last known tokens");
        }
      },
    );

  const schedulePoll = () => {
    if (closed || pollIntervalMs === 0) return;
    pollTimer = setTimeout(() => void background("poll", poll).finally(schedulePoll), pollIntervalMs);
    // The HTTP server keeps the process alive; the catalog alone must not.
    pollTimer.unref();
  };
  const scheduleRefresh = () => {
    if (closed || refreshIntervalMs === 0) return;
    refreshTimer = setTimeout(() => void background("refresh", () => reload()).finally(scheduleRefresh), refreshIntervalMs);
    refreshTimer.unref();
  };

  await enqueue(() => reload());
  schedulePoll();
  scheduleRefresh();

  const ensureOpen = () => {
    if (closed) throw new Error("the token catalog is closed");
  };

  return {
    get: (address) => byAddress.get(address.toLowerCase()),
    accepted: () => list.filter((t) => t.accepted),
    all: () => list,
    refresh: async () => {
      ensureOpen();
      await enqueue(() => reload());
    },
    poll: async () => {
      ensureOpen();
      await enqueue(poll);
    },
    health: () => ({ chainId, syncedBlock, syncedAt: new Date(syncedAt), consecutiveFailures, lastError }),
    close: async () => {
      closed = true;
      clearTimeout(pollTimer);
      clearTimeout(refreshTimer);
      await tail;
    },
  };
}
