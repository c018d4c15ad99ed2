/**
 * `POST /api/batch`: up to 100 catalogue calls bought with one payment, at a volume discount.
 *
 * Pricing: the list prices of exactly the calls in the batch are added up (nano-USD, exact), then
 * the volume discount is taken off with `applyDiscountBps`: the discount is rounded DOWN to the
 * nano-USD, so the batch price is rounded UP — never below the exact discounted price, at most
 * 1e-9 USD above it. (The token amount is then rounded up once more by the payment layer.)
 *
 *   calls   discount
 *   1–4     0 %
 *   5–9     10 %
 *   10–19   20 %
 *   20–100  30 %
 *
 * All or nothing: one payment is one authorization of a fixed amount (an EIP-3009 transfer cannot
 * be partially settled), so a batch cannot charge "only for the calls that worked". If any call
 * fails, the whole payment is released and nothing is charged; every call that did succeed is in
 * the cache by then, so retrying the batch costs the upstreams only the failed calls. Calls go only
 * to catalogue routes, inside the process: a path is looked up in the catalogue, never fetched.
 */
import { z } from "zod";
import { type NanoUsd, applyDiscountBps, formatUsd, nanoUsd } from "../pricing/index.js";
import { isRejection } from "../upstreams/index.js";
import type { Catalog, CatalogRoute, Served } from "./catalog.js";
import type { ParamInput } from "./params.js";

export const BATCH_MAX_CALLS = 100;

/** Volume discounts, largest threshold first. */
export const BATCH_DISCOUNTS: readonly { readonly minCalls: number; readonly bps: number }[] = [
  { minCalls: 20, bps: 3_000 },
  { minCalls: 10, bps: 2_000 },
  { minCalls: 5, bps: 1_000 },
];

export function batchDiscountBps(calls: number): number {
  return BATCH_DISCOUNTS.find((tier) => calls >= tier.minCalls)?.bps ?? 0;
}

export interface BatchPrice {
  /** Sum of the calls' list prices. */
  readonly listUsd: NanoUsd;
  readonly discountBps: number;
  /** What the batch costs. */
  readonly priceUsd: NanoUsd;
}

export function batchPrice(routes: readonly Pick<CatalogRoute, "priceUsd">[]): BatchPrice {
  const listUsd = nanoUsd(routes.reduce((sum, route) => sum + route.priceUsd, 0n));
  const discountBps = batchDiscountBps(routes.length);
  return { listUsd, discountBps, priceUsd: applyDiscountBps(listUsd, discountBps) };
}

const callSchema = z.strictObject({
  path: z.string().min(1).max(200),
  params: z.record(z.string(), z.unknown()).default({}),
});

/** A JSON array of calls, or `{ "calls": [...] }`. */
export function batchRequestSchema(maxCalls: number) {
  const calls = z.array(callSchema).min(1, "a batch needs at least one call").max(maxCalls, `a batch holds at most ${maxCalls} calls`);
  return z.union([calls, z.strictObject({ calls })]).transform((value) => (Array.isArray(value) ? value : value.calls));
}

export interface PlannedCall {
  readonly index: number;
  readonly route: CatalogRoute;
  readonly input: ParamInput;
}

export type BatchPlan =
  | { readonly ok: true; readonly calls: readonly PlannedCall[]; readonly price: BatchPrice }
  | {
      readonly ok: false;
      readonly code: "invalid_request" | "batch_path_not_allowed" | "route_disabled" | "upstream_unavailable";
      readonly message: string;
      readonly fields?: Record<string, string[]>;
      readonly retryAfterMs?: number;
    };

/**
 * Checks a batch before any payment: the body's shape, every path against the catalogue, every
 * call's parameters against its route's schema, and every route's admission (disabled, breaker).
 * Any refusal refuses the whole batch, so nobody pays for calls that would not be made.
 */
export async function planBatch(catalog: Catalog, body: unknown): Promise<BatchPlan> {
  const parsed = batchRequestSchema(catalog.batch.maxCalls).safeParse(body);
  if (!parsed.success) return { ok: false, code: "invalid_request", message: "the batch body is invalid", fields: fieldErrors(parsed.error.issues, "") };

  const unknown: string[] = [];
  const fields: Record<string, string[]> = {};
  const calls: PlannedCall[] = [];
  for (const [index, call] of parsed.data.entries()) {
    const route = catalog.byPath(call.path);
    if (route === undefined) {
      unknown.push(`calls.${index}.path: ${JSON.stringify(call.path.slice(0, 100))}`);
      continue;
    }
    const input = route.input.safeParse(call.params);
    if (!input.success) {
      Object.assign(fields, fieldErrors(input.error.issues, `calls.${index}.params`));
      continue;
    }
    calls.push({ index, route, input: input.data });
  }
  if (unknown.length > 0) {
    return {
      ok: false,
      code: "batch_path_not_allowed",
      message: `only catalogue routes can be batched (see GET /api/catalog); not allowed: ${unknown.join("; ")}`,
    };
  }
  if (Object.keys(fields).length > 0) return { ok: false, code: "invalid_request", message: "some batch calls have invalid parameters", fields };

  for (const call of calls) {
    const admission = await catalog.admission(call.route, call.input);
    if (!admission.ok) {
      return {
        ok: false,
        code: admission.code,
        message: `call ${call.index} (${call.route.path}): ${admission.message}`,
        ...(admission.code === "upstream_unavailable" ? { retryAfterMs: admission.retryAfterMs } : {}),
      };
    }
  }
  return { ok: true, calls, price: batchPrice(calls.map((c) => c.route)) };
}

export interface BatchCallFailure {
  readonly index: number;
  readonly path: string;
  /** The upstream refused this input (4xx) rather than failing. */
  readonly rejected: boolean;
  readonly status?: number;
  readonly message: string;
}

export type BatchOutcome =
  | { readonly ok: true; readonly results: readonly (Served & { readonly index: number; readonly route: CatalogRoute })[] }
  | { readonly ok: false; readonly failures: readonly BatchCallFailure[] };

/** Serves every call (at most `concurrency` at a time); all results, or every failure. */
export async function runBatch(catalog: Catalog, calls: readonly PlannedCall[], concurrency = catalog.batch.concurrency): Promise<BatchOutcome> {
  const results: (Served & { index: number; route: CatalogRoute })[] = [];
  const failures: BatchCallFailure[] = [];
  let next = 0;
  const worker = async () => {
    while (next < calls.length) {
      const call = calls[next++]!;
      try {
        results.push({ index: call.index, route: call.route, ...(await catalog.serve(call.route, call.input)) });
      } catch (error) {
        failures.push({
          index: call.index,
          path: call.route.path,
          rejected: isRejection(error),
          ...(isRejection(error) && error.status !== undefined ? { status: error.status } : {}),
          message: error instanceof Error ? error.message : String(error),
        });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, calls.length) }, worker));
  if (failures.length > 0) return { ok: false, failures: failures.sort((a, b) => a.index - b.index) };
  return { ok: true, results: results.sort((a, b) => a.index - b.index) };
}

export function describeBatchPricing(): Record<string, unknown> {
  return {
    path: "/api/batch",
    method: "POST",
    maxCalls: BATCH_MAX_CALLS,
    discounts: [{ minCalls: 1, percent: 0 }, ...[...BATCH_DISCOUNTS].reverse().map((d) => ({ minCalls: d.minCalls, percent: d.bps / 100 }))],
    rounding: "sum of list prices in nano-USD, discount rounded down, so the price is rounded up to 1e-9 USD",
    failures: "all or nothing: if any call fails, the payment is released and nothing is charged",
  };
}

export function formatBatchPrice(price: BatchPrice): Record<string, string | number> {
  return { listUsd: formatUsd(price.listUsd), discountPercent: price.discountBps / 100, priceUsd: formatUsd(price.priceUsd) };
}

function fieldErrors(issues: readonly z.core.$ZodIssue[], prefix: string): Record<string, string[]> {
  const fields: Record<string, string[]> = {};
  for (const issue of issues) {
    const key = [prefix, ...issue.path.map(String)].filter((part) => part !== "").join(".");
    (fields[key] ??= []).push(issue.message);
  }
  return fields;
}
