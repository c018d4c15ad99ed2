/**
 * Koa glue for the API catalogue (gateway/catalog/). Per paid route the order is:
 *
 *   validate input (400 invalid_request, per field)
 *   → refuse a disabled route (503 route_disabled)
 *   → refuse while the upstream's breaker is open and nothing fresh is cached
 *     (503 upstream_unavailable + Retry-After)
 *   → the payment wrapper (`paid`), whose handler serves from the cache or the upstream
 *
 * so a request that cannot be served never reaches the payment layer: nothing is verified,
 * reserved or charged. An upstream that refuses the input (4xx) is relayed and not charged; an
 * upstream that fails is answered 502 by `paid`, which releases the payment.
 */
import type Router from "@koa/router";
import type { Context, Middleware } from "koa";
import {
  type Catalog,
  type CatalogRoute,
  type ParamInput,
  describeBatchPricing,
  formatBatchPrice,
  planBatch,
  runBatch,
} from "../catalog/index.js";
import type { PaidRoute } from "../payments/index.js";
import { formatUsd } from "../pricing/index.js";
import { isRejection } from "../upstreams/index.js";
import { PaymentError, fieldErrors } from "../x402/index.js";
import { readBody } from "./middleware.js";
import type { PaidHandler } from "./paid.js";

export interface CatalogHelpers {
  readonly paid: (route: PaidRoute, handler: PaidHandler) => Middleware;
}

export interface MountCatalogOptions {
  /** Largest JSON body read for POST routes and batches (default 1 MiB). */
  readonly maxBodyBytes?: number;
}

/** Error codes of the catalogue's own refusals (all before payment). */
export const catalogErrorCodes = {
  route_disabled: { status: 503, description: "The route is disabled (its upstream is not configured, e.g. a missing API key)." },
  upstream_unavailable: { status: 503, description: "The upstream is failing and its circuit breaker is open; retry after Retry-After seconds." },
  batch_path_not_allowed: { status: 400, description: "A batch call names a path that is not a catalogue route." },
  upstream_rejected: { status: 422, description: "The upstream refused the request's input (e.g. unknown city); nothing was charged." },
  batch_call_rejected: { status: 422, description: "An upstream refused one of the batch's calls; the batch was not charged." },
} as const;

const INPUT = Symbol("catalogInput");

export function mountCatalog(router: Router, catalog: Catalog, helpers: CatalogHelpers, options: MountCatalogOptions = {}): void {
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;

  router.get("/api/catalog", (ctx) => {
    ctx.body = { routes: catalog.describe(), batch: describeBatchPricing() };
  });

  for (const route of catalog.routes) {
    const middlewares = [admit(route, catalog, maxBodyBytes), helpers.paid(route, serveRoute(route, catalog))];
    if (route.method === "GET") router.get(route.path, ...middlewares);
    else router.post(route.path, ...middlewares);
  }

  router.post("/api/batch", async (ctx, next) => {
    const body = await readJson(ctx, maxBodyBytes);
    const plan = await planBatch(catalog, body);
    if (!plan.ok) {
      if (plan.code === "invalid_request") throw new PaymentError("invalid_request", plan.message, plan.fields === undefined ? undefined : { fields: plan.fields });
      refuse(ctx, plan.code, plan.message, plan.retryAfterMs);
      return;
    }
    const paidRoute: PaidRoute = {
      priceUsd: plan.price.priceUsd,
      description: `Batch of ${plan.calls.length} catalogue calls` + (plan.price.discountBps > 0 ? ` (${plan.price.discountBps / 100}% volume discount)` : ""),
      mimeType: "application/json",
    };
    const handler: PaidHandler = async () => {
      const outcome = await runBatch(catalog, plan.calls);
      if (!outcome.ok) {
        if (outcome.failures.every((f) => f.rejected)) {
          // A 4xx from the handler is relayed by `paid` and the payment released.
          return { status: catalogErrorCodes.batch_call_rejected.status, body: { error: "batch_call_rejected", message: "an upstream refused some calls; nothing was charged", failures: outcome.failures } };
        }
        throw new Error(`batch calls failed: ${outcome.failures.map((f) => `${f.index} ${f.path}: ${f.message}`).join("; ")}`);
      }
      return {
        headers: { "x-cache": summarizeCache(outcome.results.map((r) => r.cache)) },
        body: {
          success: true,
          count: outcome.results.length,
          pricing: formatBatchPrice(plan.price),
          results: outcome.results.map((r) => ({
            index: r.index,
            path: r.route.path,
            route: r.route.id,
            cache: r.cache,
            fetchedAt: new Date(r.fetchedAt).toISOString(),
            data: r.data,
          })),
        },
      };
    };
    await helpers.paid(paidRoute, handler)(ctx, next);
  });
}

/** Validation and refusals that must happen before the payment wrapper. */
function admit(route: CatalogRoute, catalog: Catalog, maxBodyBytes: number): Middleware {
  return async (ctx, next) => {
    const raw = route.method === "GET" ? { ...ctx.query } : await readJson(ctx, maxBodyBytes);
    const parsed = route.input.safeParse(raw ?? {});
    if (!parsed.success) {
      throw new PaymentError("invalid_request", `invalid parameters for ${route.path}`, { fields: fieldErrors(parsed.error) });
    }
    const admission = await catalog.admission(route, parsed.data);
    if (!admission.ok) {
      refuse(ctx, admission.code, admission.message, admission.code === "upstream_unavailable" ? admission.retryAfterMs : undefined);
      return;
    }
    (ctx.state as Record<symbol, ParamInput>)[INPUT] = parsed.data;
    await next();
  };
}

function serveRoute(route: CatalogRoute, catalog: Catalog): PaidHandler {
  return async ({ ctx }) => {
    const input = (ctx.state as Record<symbol, ParamInput>)[INPUT] ?? {};
    try {
      const served = await catalog.serve(route, input);
      return {
        headers: { "x-cache": served.cache.toUpperCase() },
        body: {
          success: true,
          route: route.id,
          source: route.source,
          priceUsd: formatUsd(route.priceUsd),
          cache: served.cache,
          fetchedAt: new Date(served.fetchedAt).toISOString(),
          data: served.data,
        },
      };
    } catch (error) {
      if (!isRejection(error)) throw error;
      const status = error.status !== undefined && error.status >= 400 && error.status < 500 ? error.status : catalogErrorCodes.upstream_rejected.status;
      return { status, body: { error: "upstream_rejected", message: error.message, route: route.id } };
    }
  };
}

function refuse(ctx: Context, code: keyof typeof catalogErrorCodes, message: string, retryAfterMs?: number): void {
  ctx.status = catalogErrorCodes[code].status;
  if (retryAfterMs !== undefined) ctx.set("Retry-After", String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
  ctx.body = { error: code, message };
}

async function readJson(ctx: Context, maxBodyBytes: number): Promise<unknown> {
  const raw = await readBody(ctx, maxBodyBytes);
  if (raw.byteLength === 0) return undefined;
  try {
    return JSON.parse(Buffer.from(raw).toString("utf8"));
  } catch {
    throw new PaymentError("invalid_request", "the request body is not valid JSON");
  }
}

function summarizeCache(statuses: readonly string[]): string {
  const distinct = [...new Set(statuses)];
  return distinct.length === 1 ? distinct[0]!.toUpperCase() : "MIXED";
}
