/**
 * One circuit breaker per upstream, from cockatiel, plus a timeout per upstream.
 *
 * Policy (per upstream, configurable): `failures` failures within `windowMs` open the breaker
 * (default 5 in 60 s); it stays open `openMs` (default 30 s); then exactly one probe call is let
 * through (half-open): its success closes the breaker, its failure opens it again for `openMs`.
 *
 * cockatiel provides the state machine (open, half-open, close). Its stock breakers count
 * consecutive failures, a ratio of a call window, or a ratio over time; none is "N failures in
 * T", so that rule is the small `FailureWindowBreaker` below, plugged into cockatiel's `IBreaker`
 * seam. Two things cockatiel does differently from the rule above are adjusted here:
 * - while half-open it makes further callers WAIT for the probe; we refuse them at once instead
 *   (`BreakerOpenError`), so no request sits behind a probe that may hang until its timeout;
 * - it has no reset; `reset(name)` replaces the upstream's policy with a fresh, closed one.
 *
 * A timeout counts as a failure. A rejection by the upstream (a 4xx answer to the caller's
 * input, see `isRejection`) does not: the upstream is working, the question was wrong.
 */
import {
  BrokenCircuitError,
  CircuitBreakerPolicy,
  CircuitState,
  type IBreaker,
  IsolatedCircuitError,
  circuitBreaker,
  handleWhen,
} from "cockatiel";

export type BreakerState = "closed" | "open" | "half-open";

export interface BreakerPolicy {
  /** Failures within `windowMs` that open the breaker. */
  readonly failures: number;
  readonly windowMs: number;
  /** How long the breaker stays open before one probe is let through. */
  readonly openMs: number;
}

export const DEFAULT_BREAKER_POLICY: BreakerPolicy = Object.freeze({ failures: 5, windowMs: 60_000, openMs: 30_000 });

export interface UpstreamPolicy {
  readonly breaker: BreakerPolicy;
  /** Longest an upstream call may take; it is abandoned (and counted as a failure) after that. */
  readonly timeoutMs: number;
}

/** The breaker refused the call without trying the upstream. */
export class BreakerOpenError extends Error {
  override readonly name = "BreakerOpenError";
  constructor(
    readonly upstream: string,
    /** Milliseconds until a probe will be let through (at least 1 s when a probe is in flight). */
    readonly retryAfterMs: number,
  ) {
    super(`the ${upstream} upstream is unavailable (circuit open); retry in ${Math.ceil(retryAfterMs / 1000)} s`);
  }
}

/** The upstream did not answer within its timeout. */
export class UpstreamTimeoutError extends Error {
  override readonly name = "UpstreamTimeoutError";
  constructor(
    readonly upstream: string,
    readonly timeoutMs: number,
  ) {
    super(`the ${upstream} upstream did not answer within ${timeoutMs} ms`);
  }
}

/**
 * Opens after `threshold` failures within `windowMs`, whatever the successes in between: a
 * handful of failures a minute already means the upstream (or our key for it) is in trouble, and
 * a busy route must not dilute them into a harmless-looking ratio.
 */
export class FailureWindowBreaker implements IBreaker {
  private failures: number[] = [];

  constructor(
    private readonly threshold: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get state(): unknown {
    return [...this.failures];
  }

  set state(value: unknown) {
    this.failures = Array.isArray(value) ? value.filter((t): t is number => typeof t === "number") : [];
  }

  success(state: CircuitState): void {
    // A successful probe closes the breaker: the failures that opened it are history.
    if (state === CircuitState.HalfOpen) this.failures = [];
  }

  failure(state: CircuitState): boolean {
    if (state === CircuitState.HalfOpen) return true;
    const now = this.now();
    this.failures = this.failures.filter((at) => now - at < this.windowMs);
    this.failures.push(now);
    if (this.failures.length < this.threshold) return false;
    this.failures = [];
    return true;
  }
}

interface Entry {
  policy: CircuitBreakerPolicy;
  openedAt: number;
}

export interface Breakers {
  /**
   * Runs `fn` for `upstream` behind its breaker and timeout. `fn` gets a signal that aborts at
   * the timeout (or when `signal` aborts); if `fn` ignores it, the call is abandoned anyway.
   * Throws BreakerOpenError without calling `fn` while the breaker refuses calls.
   */
  execute<T>(upstream: string, fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Undefined when calls would go through now; otherwise how long until they may. */
  refusal(upstream: string): { readonly retryAfterMs: number } | undefined;
  state(upstream: string): BreakerState;
  /** Every upstream's state, for /health and /metrics. */
  breakerStates(): Record<string, BreakerState>;
  /** Closes the upstream's breaker and forgets its failures (admin). Throws for an unknown name. */
  resetBreaker(upstream: string): void;
  readonly upstreams: readonly string[];
}

export interface BreakersOptions {
  /** Wall clock for the failure window; cockatiel's open period always uses Date.now(). */
  readonly now?: () => number;
  /** Whether an error is the upstream answering "no" to this input rather than failing. */
  readonly isRejection?: (error: unknown) => boolean;
  /** Called on every state change (metrics, logs). */
  readonly onStateChange?: (upstream: string, state: BreakerState) => void;
}

/** A refused probe slot is retried after this long; the probe's own timeout bounds the wait. */
const PROBE_IN_FLIGHT_RETRY_MS = 1_000;

export function createBreakers(policies: Readonly<Record<string, UpstreamPolicy>>, options: BreakersOptions = {}): Breakers {
  const now = options.now ?? Date.now;
  const isRejection = options.isRejection ?? (() => false);
  for (const [name, policy] of Object.entries(policies)) assertPolicy(name, policy);
  const entries = new Map<string, Entry>();

  const build = (name: string, policy: UpstreamPolicy): Entry => {
    const cockatiel = circuitBreaker(
      handleWhen((error) => !isRejection(error) && !(error instanceof CallerAbortedError)),
      { halfOpenAfter: policy.breaker.openMs, breaker: new FailureWindowBreaker(policy.breaker.failures, policy.breaker.windowMs, now) },
    );
    const entry: Entry = { policy: cockatiel, openedAt: 0 };
    cockatiel.onStateChange((state) => {
      if (entries.get(name) !== entry) return;
      if (state === CircuitState.Open) entry.openedAt = Date.now();
      options.onStateChange?.(name, toBreakerState(state));
    });
    return entry;
  };
  for (const [name, policy] of Object.entries(policies)) entries.set(name, build(name, policy));

  const get = (name: string): { entry: Entry; policy: UpstreamPolicy } => {
    const entry = entries.get(name);
    const policy = policies[name];
    if (entry === undefined || policy === undefined) throw new RangeError(`no breaker for upstream ${JSON.stringify(name)}`);
    return { entry, policy };
  };

  const refusal = (name: string): { retryAfterMs: number } | undefined => {
    const { entry, policy } = get(name);
    switch (entry.policy.state) {
      case CircuitState.Open: {
        const remaining = entry.openedAt + policy.breaker.openMs - Date.now();
        return remaining > 0 ? { retryAfterMs: remaining } : undefined;
      }
      case CircuitState.HalfOpen:
        return { retryAfterMs: PROBE_IN_FLIGHT_RETRY_MS };
      case CircuitState.Isolated:
        return { retryAfterMs: policy.breaker.openMs };
      default:
        return undefined;
    }
  };

  return {
    upstreams: Object.keys(policies),
    refusal,
    async execute<T>(name: string, fn: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
      const { entry, policy } = get(name);
      const refused = refusal(name);
      if (refused !== undefined) throw new BreakerOpenError(name, refused.retryAfterMs);
      try {
        return await entry.policy.execute(({ signal: inner }) => withTimeout(name, policy.timeoutMs, fn, inner), signal);
      } catch (error) {
        // Lost the race to another caller that just opened it, or to the single probe.
        if (error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError) {
          throw new BreakerOpenError(name, refusal(name)?.retryAfterMs ?? PROBE_IN_FLIGHT_RETRY_MS);
        }
        if (error instanceof CallerAbortedError) throw error.cause;
        throw error;
      }
    },
    state: (name) => toBreakerState(get(name).entry.policy.state),
    breakerStates() {
      const states: Record<string, BreakerState> = {};
      for (const [name, entry] of entries) states[name] = toBreakerState(entry.policy.state);
      return states;
    },
    resetBreaker(name) {
      const { policy, entry } = get(name);
      const wasClosed = entry.policy.state === CircuitState.Closed;
      entries.set(name, build(name, policy));
      if (!wasClosed) options.onStateChange?.(name, "closed");
    },
  };
}

/** The caller gave up (client went away): not the upstream's fault, so not a breaker failure. */
class CallerAbortedError extends Error {
  override readonly name = "CallerAbortedError";
}

async function withTimeout<T>(name: string, timeoutMs: number, fn: (signal: AbortSignal) => Promise<T>, parent: AbortSignal): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  // Racing keeps the timeout effective even for work that cannot be aborted (a contract read).
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new UpstreamTimeoutError(name, timeoutMs);
      controller.abort(error);
      reject(error);
    }, timeoutMs);
    onAbort = () => {
      controller.abort(parent.reason);
      reject(new CallerAbortedError("the caller gave up", { cause: parent.reason }));
    };
    if (parent.aborted) onAbort();
    else parent.addEventListener("abort", onAbort, { once: true });
  });
  const work = fn(controller.signal);
  // The loser of the race must not surface as an unhandled rejection.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) parent.removeEventListener("abort", onAbort);
  }
}

function toBreakerState(state: CircuitState): BreakerState {
  switch (state) {
    case CircuitState.Closed:
      return "closed";
    case CircuitState.HalfOpen:
      return "half-open";
    default:
      return "open";
  }
}

function assertPolicy(name: string, policy: UpstreamPolicy): void {
  const positive = (value: number, what: string) => {
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${name}: ${what} must be a positive integer, got ${value}`);
  };
  positive(policy.breaker.failures, "breaker.failures");
  positive(policy.breaker.windowMs, "breaker.windowMs");
  positive(policy.breaker.openMs, "breaker.openMs");
  positive(policy.timeoutMs, "timeoutMs");
}
