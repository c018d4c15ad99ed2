/**
 * The gateway's Prometheus metrics, in a registry of its own per app (never prom-client's global
 * one), so two gateways in one process (tests, benchmarks) never mix series.
 *
 * Series (all prefixed `gateway_`):
 *   http_request_duration_seconds{method,route,status}  histogram; `route` is the matched route
 *                                                        template, "(unmatched)" otherwise
 *   payments_total{token,scheme}                         charged payments, by token address
 *   settlement_backlog_payments                          accepted payments not yet settled
 *   settlement_lag_seconds                               age of the oldest of them (0 when none)
 *   settlement_batches_total{status}                     mined settlement batches: success, reverted
 *   settlement_skipped_payments_total                    entries the escrow skipped in mined batches
 *                                                        (PaymentFailed): the price of sending
 *                                                        unsimulated (SETTLEMENT_SIMULATION)
 *   breaker_state{breaker,state}                         1 for each breaker's current state
 *   analytics_queue_records / analytics_dropped_records  request records waiting / given up
 * plus prom-client's process and Node.js runtime metrics.
 *
 * Payment AMOUNTS are deliberately not metrics: Prometheus values are doubles, which cannot hold
 * an 18-decimal token amount exactly. Revenue comes from /stats, summed in the database.
 *
 * Gauges that depend on another component are read when scraped. A failing reader makes its
 * gauge NaN (unknown) instead of failing the whole scrape or repeating a stale value.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export type BreakerState = "closed" | "open" | "half-open" | "isolated";
export const BREAKER_STATES: readonly BreakerState[] = ["closed", "open", "half-open", "isolated"];

export interface SettlementBacklog {
  /** Payments accepted and not settled yet. */
  readonly pending: number;
  /** Seconds since the oldest of them was accepted; 0 when there are none. */
  readonly oldestAgeSeconds: number;
}

export interface MetricsOptions {
  readonly backlog?: () => Promise<SettlementBacklog>;
  readonly breakerStates?: () => Readonly<Record<string, BreakerState>>;
  /** Analytics queue figures, e.g. the recorder. */
  readonly analytics?: { readonly pending: number; readonly dropped: number };
  /** prom-client's process/runtime metrics; default true. */
  readonly processMetrics?: boolean;
}

/** A settlement batch whose receipt the engine recorded. */
export interface MinedBatch {
  readonly status: "success" | "reverted";
  /** Entries the escrow skipped (`PaymentFailed`); 0 for a reverted batch. */
  readonly skipped: number;
}

export interface GatewayMetrics {
  readonly registry: Registry;
  observeRequest(labels: { method: string; route: string; status: number }, seconds: number): void;
  countPayment(labels: { token: string; scheme: string }): void;
  countMinedBatch(batch: MinedBatch): void;
  /** The exposition text and its content type. */
  render(): Promise<{ contentType: string; body: string }>;
}

export const LATENCY_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export function createMetrics(options: MetricsOptions = {}): GatewayMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: "gateway_" });

  const latency = new Histogram({
    name: "gateway_http_request_duration_seconds",
    help: "Time from receiving a request to having its response ready, by route template.",
    labelNames: ["method", "route", "status"] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [registry],
  });
  const payments = new Counter({
    name: "gateway_payments_total",
    help: "Payments charged, by token address and scheme.",
    labelNames: ["token", "scheme"] as const,
    registers: [registry],
  });

  const minedBatches = new Counter({
    name: "gateway_settlement_batches_total",
    help: "Settlement batches mined, by receipt status (success, reverted).",
    labelNames: ["status"] as const,
    registers: [registry],
  });
  const skippedPayments = new Counter({
    name: "gateway_settlement_skipped_payments_total",
    help: "Entries the escrow skipped (PaymentFailed) in mined settlement batches; each is retried or failed by the engine's rules.",
    registers: [registry],
  });
  // Both series exist from the start, so a rate over them is 0 rather than absent.
  minedBatches.inc({ status: "success" }, 0);
  minedBatches.inc({ status: "reverted" }, 0);

  const { backlog, breakerStates, analytics } = options;
  if (backlog !== undefined) {
    // One read serves both gauges of a scrape.
    let reading: Promise<SettlementBacklog | undefined> | undefined;
    const read = () =>
      (reading ??= backlog()
        .catch(() => undefined)
        .finally(() => setImmediate(() => (reading = undefined))));
    new Gauge({
      name: "gateway_settlement_backlog_payments",
      help: "Payments accepted and not settled yet (NaN when unknown).",
      registers: [registry],
      async collect() {
        this.set((await read())?.pending ?? Number.NaN);
      },
    });
    new Gauge({
      name: "gateway_settlement_lag_seconds",
      help: "Age of the oldest payment not settled yet, seconds; 0 when none (NaN when unknown).",
      registers: [registry],
      async collect() {
        this.set((await read())?.oldestAgeSeconds ?? Number.NaN);
      },
    });
  }
  if (breakerStates !== undefined) {
    new Gauge({
      name: "gateway_breaker_state",
      help: "1 for the current state of each upstream's circuit breaker, 0 for the others.",
      labelNames: ["breaker", "state"] as const,
      registers: [registry],
      collect() {
        this.reset();
        let states: Readonly<Record<string, BreakerState>>;
        try {
          states = breakerStates();
        } catch {
          return;
        }
        for (const [breaker, current] of Object.entries(states)) {
          for (const state of BREAKER_STATES) this.set({ breaker, state }, state === current ? 1 : 0);
        }
      },
    });
  }
  if (analytics !== undefined) {
    new Gauge({
      name: "gateway_analytics_queue_records",
      help: "Request records waiting to be written to the database.",
      registers: [registry],
      collect() {
        this.set(analytics.pending);
      },
    });
    new Gauge({
      name: "gateway_analytics_dropped_records",
      help: "Request records given up since start (queue overflow or refused by the database).",
      registers: [registry],
      collect() {
        this.set(analytics.dropped);
      },
    });
  }

  return {
    registry,
    observeRequest({ method, route, status }, seconds) {
      latency.observe({ method, route, status: String(status) }, seconds);
    },
    countPayment({ token, scheme }) {
      payments.inc({ token: token.toLowerCase(), scheme });
    },
    countMinedBatch({ status, skipped }) {
      minedBatches.inc({ status });
      if (skipped > 0) skippedPayments.inc(skipped);
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
