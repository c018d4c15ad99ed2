/**
 * One Koa middleware feeding both the latency histogram and the analytics recorder.
 *
 * Mount it OUTSIDE `errorHandler()` (right after `requestId`), so that it sees the status the
 * client actually gets. The payment flow describes the request's payment on
 * `ctx.state.observedPayment` (see ObservedPayment); without it a request is recorded as unpaid.
 */
import type { Context, Middleware } from "koa";
import type { ObservedPayment, Recorder } from "../analytics/index.js";
import type { GatewayMetrics } from "./metrics.js";

export interface ObserverOptions {
  readonly metrics?: GatewayMetrics;
  readonly recorder?: Recorder;
  /** Which requests become `api_requests` rows; default those on a route under /api/. */
  readonly record?: (ctx: Context) => boolean;
  /** Wall clock for `requested_at`, ms; default Date.now. */
  readonly now?: () => number;
}

export const UNMATCHED_ROUTE = "(unmatched)";

export function observeRequests(options: ObserverOptions): Middleware {
  const now = options.now ?? Date.now;
  const shouldRecord = options.record ?? ((ctx: Context) => routeOf(ctx).startsWith("/api/"));
  return async (ctx, next) => {
    const requestedAt = new Date(now());
    const started = performance.now();
    let failed = false;
    try {
      await next();
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      const seconds = (performance.now() - started) / 1000;
      // An error escaping here becomes Koa's own 500.
      const status = failed ? 500 : ctx.status;
      const route = routeOf(ctx);
      options.metrics?.observeRequest({ method: ctx.method, route, status }, seconds);
      const payment = (ctx.state as { observedPayment?: ObservedPayment }).observedPayment;
      if (payment?.charged === true) options.metrics?.countPayment({ token: payment.token, scheme: payment.scheme });
      if (options.recorder !== undefined && shouldRecord(ctx)) {
        options.recorder.record({ requestedAt, method: ctx.method, endpoint: route, status, responseTimeMs: seconds * 1000, payment });
      }
    }
  };
}

/** The matched route template (@koa/router sets it), never the raw path: bounded label values. */
export function routeOf(ctx: Context): string {
  const matched = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  return typeof matched === "string" ? matched : UNMATCHED_ROUTE;
}
