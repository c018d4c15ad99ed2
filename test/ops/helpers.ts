/**
 * A small gateway-shaped Koa app for the ops suites, wired the way the real app should be:
 * requestId → observeRequests → errorHandler → rateLimit (on /api only) → routes, with the ops
 * router alongside. A fake paid route describes its "payment" on ctx.state.observedPayment and
 * calls the rate limiter's identify hook, standing in for the payment flow.
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import Koa from "koa";
import Router from "@koa/router";
import type { ObservedPayment, Recorder } from "../../gateway/analytics/index.js";
import type { Queryable } from "../../gateway/db/index.js";
import { errorHandler, requestId } from "../../gateway/http/middleware.js";
import { type OpsRoutesOptions, opsRoutes } from "../../gateway/http/ops-routes.js";
import { type RateLimitHandle, rateLimit } from "../../gateway/http/rate-limit.js";
import { silentLogger } from "../../gateway/log.js";
import { type GatewayMetrics, createMetrics, observeRequests } from "../../gateway/observability/index.js";
import type { RateLimiter } from "../../gateway/ratelimit/index.js";

export interface TestApp {
  readonly base: string;
  readonly metrics: GatewayMetrics;
  close(): Promise<void>;
}

export interface TestAppOptions {
  readonly db: Queryable;
  readonly limiter?: RateLimiter;
  readonly trustProxy?: boolean | number;
  readonly recorder?: Recorder;
  readonly metrics?: GatewayMetrics;
  readonly ops?: Omit<OpsRoutesOptions, "db" | "metrics">;
}

/** Payment the fake route reports, chosen per request with test headers. */
export function fakePayment(ctx: Koa.Context): ObservedPayment | undefined {
  const payer = ctx.get("x-test-payer");
  if (payer === "") return undefined;
  return {
    payer,
    scheme: ctx.get("x-test-scheme") || "exact",
    token: ctx.get("x-test-token") || "0x00000000000000000000000000000000000000aa",
    amount: BigInt(ctx.get("x-test-amount") || "1000"),
    charged: ctx.get("x-test-charged") !== "false",
    ...(ctx.get("x-test-tx") === "" ? {} : { txHash: ctx.get("x-test-tx") }),
  };
}

export async function startTestApp(options: TestAppOptions): Promise<TestApp> {
  const metrics = options.metrics ?? createMetrics({ processMetrics: false });
  const app = new Koa();
  app.silent = true;
  const api = new Router({ prefix: "/api" });
  if (options.limiter !== undefined) api.use(rateLimit({ limiter: options.limiter, ...(options.trustProxy === undefined ? {} : { trustProxy: options.trustProxy }) }));
  api.get("/thing", async (ctx) => {
    const payment = fakePayment(ctx);
    if (payment !== undefined) {
      // What the payment flow does once a payment verified: count it against the payer…
      await (ctx.state as { rateLimit?: RateLimitHandle }).rateLimit?.identify(payment.payer);
      // …and describe it for analytics.
      (ctx.state as { observedPayment?: ObservedPayment }).observedPayment = payment;
    }
    const status = Number(ctx.get("x-test-status") || "200");
    const delay = Number(ctx.get("x-test-delay-ms") || "0");
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    ctx.status = status;
    ctx.body = { ok: status < 400 };
  });
  const ops = opsRoutes({ db: options.db, metrics, ...options.ops });

  app.use(requestId(silentLogger()));
  app.use(observeRequests({ metrics, ...(options.recorder === undefined ? {} : { recorder: options.recorder }) }));
  app.use(errorHandler());
  app.use(api.routes());
  app.use(ops.routes());
  app.use(ops.allowedMethods());

  const server: Server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    metrics,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A wallet address from a small number, for readable fixtures. */
export function wallet(n: number): string {
  return `0x${n.toString(16).padStart(40, "0")}`;
}

export function txHash(n: number): string {
  return `0x${n.toString(16).padStart(64, "0")}`;
}
