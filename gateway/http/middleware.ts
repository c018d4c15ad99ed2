import { randomUUID } from "node:crypto";
import type { Context, Middleware, Next } from "koa";
import { type Logger, loggableError } from "../log.js";
import { isDatabaseUnavailable } from "../db/database.js";
import { type ErrorCode, PaymentError, errorStatus, isErrorCode, isPaymentError } from "../x402/index.js";
import type { Challenge, Receipt } from "../payments/index.js";
import type { ObservedPayment } from "../analytics/types.js";
import { PAYMENT_RESPONSE_HEADERS } from "./headers.js";
import type { RateLimitHandle } from "./rate-limit.js";

/** What the gateway's middlewares leave for each other on `ctx.state`. */
export interface GatewayState {
  requestId: string;
  log: Logger;
  /** Set by `paid` once offers exist, so that any 402 carries a challenge clients can retry with. */
  challenge?: () => Challenge;
  /** Set when a payment was given up or failed: the error response still says what was charged. */
  receipt?: Receipt;
  /** The raw request body, once read. */
  rawBody?: Uint8Array;
  /** Set by `rateLimit` on a request carrying a payment: `paid` counts it against the verified payer. */
  rateLimit?: RateLimitHandle;
  /** Set by `paid` once a payment verified, for the metrics and the analytics recorder. */
  observedPayment?: ObservedPayment;
}

export function state(ctx: Context): GatewayState {
  return ctx.state as GatewayState;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Reuses a caller's X-Request-Id when it is harmless, so logs correlate across hops. */
export function requestId(logger: Logger): Middleware {
  return async (ctx, next) => {
    const incoming = ctx.get("x-request-id");
    const id = REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const s = state(ctx);
    s.requestId = id;
    s.log = logger.child({ reqId: id });
    ctx.set("X-Request-Id", id);
    const started = performance.now();
    try {
      await next();
    } finally {
      s.log.info({ method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(performance.now() - started) }, "request");
    }
  };
}

const ALLOWED_REQUEST_HEADERS = ["Content-Type", "X-PAYMENT", "PAYMENT-SIGNATURE", "Access-Control-Expose-Headers", "X-Request-Id", "X-Payer-Address"];
const EXPOSED_HEADERS = [
  "PAYMENT-REQUIRED",
  "PAYMENT-RESPONSE",
  "X-PAYMENT-RESPONSE",
  "X-Request-Id",
  "X-Cache",
  "Retry-After",
  "RateLimit-Limit",
  "RateLimit-Remaining",
  "RateLimit-Reset",
  "RateLimit-Policy",
];

/**
 * CORS for browser agents: payment headers must be allowed on requests and the challenge and
 * receipt headers exposed on responses, or a browser client never sees them. `origins` may hold
 * "*" to allow any origin (no credentials are involved: payment travels in headers).
 */
export function cors(origins: readonly string[]): Middleware {
  const any = origins.includes("*");
  return async (ctx, next) => {
    const origin = ctx.get("origin");
    ctx.vary("Origin");
    const allowed = origin !== "" && (any || origins.includes(origin));
    if (allowed) {
      ctx.set("Access-Control-Allow-Origin", any ? "*" : origin);
      ctx.set("Access-Control-Expose-Headers", EXPOSED_HEADERS.join(", "));
    }
    if (ctx.method === "OPTIONS" && ctx.get("access-control-request-method") !== "") {
      // A preflight never reaches routes; a refused origin simply gets no CORS headers.
      if (allowed) {
        ctx.set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
        ctx.set("Access-Control-Allow-Headers", ALLOWED_REQUEST_HEADERS.join(", "));
        ctx.set("Access-Control-Max-Age", "600");
      }
      ctx.status = 204;
      return;
    }
    await next();
  };
}

/** An HTTP-level refusal that is no payment matter (oversized body, bad JSON). */
export class HttpError extends Error {
  override readonly name = "HttpError";
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Turns every error into `{error, message, details?}` with the code's status. A 402 also carries
 * the challenge (v1 body fields and the v2 header) so a client can pay and retry from this one
 * response; a failed or given-up payment carries its receipt header. Bad input never becomes a 500:
 * the lower layers raise `PaymentError`s for it, and anything else is our bug.
 */
export function errorHandler(): Middleware {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new PaymentError("not_found", `no route for ${ctx.method} ${ctx.path}`);
      // The router's own 405/501 carry only a status line; give them a code like every other refusal (Allow survives).
      if ((ctx.status === 405 || ctx.status === 501) && ctx.body === undefined) {
        const allow = ctx.response.get("Allow");
        throw new HttpError(ctx.status, "invalid_request", `${ctx.method} is not allowed on ${ctx.path}${allow ? `; allowed: ${allow}` : ""}`);
      }
    } catch (error) {
      const s = state(ctx);
      const { status, code, message, details } = describe(error);
      if (status >= 500 && code !== "upstream_failed") s.log.error({ err: loggableError(error) }, "request failed");
      else s.log.debug({ code, message }, "request refused");
      ctx.status = status;
      const body: Record<string, unknown> = { error: code, message };
      if (details !== undefined) body["details"] = details;
      if (status === 402 && s.challenge !== undefined) {
        try {
          const challenge = s.challenge();
          ctx.set("PAYMENT-REQUIRED", challenge.v2Header);
          Object.assign(body, challenge.v1Body, { error: code, message });
        } catch (challengeError) {
          s.log.error({ err: challengeError }, "could not build the challenge");
        }
      }
      if (s.receipt !== undefined) ctx.set(PAYMENT_RESPONSE_HEADERS[s.receipt.version], s.receipt.value);
      ctx.type = "application/json";
      ctx.body = JSON.stringify(body, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value));
    }
  };
}

function describe(error: unknown): { status: number; code: string; message: string; details?: unknown } {
  if (isPaymentError(error)) {
    const details = error.details === undefined ? undefined : withoutInternals(error.details);
    return { status: error.status, code: error.code, message: error.message, details };
  }
  if (error instanceof HttpError) return { status: error.status, code: error.code, message: error.message };
  if (isDatabaseUnavailable(error)) {
    return { status: errorStatus("database_unavailable"), code: "database_unavailable", message: "the database cannot be reached right now" };
  }
  // Koa's own client errors (ctx.throw(4xx)) say so with `expose`.
  const status = typeof error === "object" && error !== null && "status" in error ? Number(error.status) : 500;
  if (status >= 400 && status < 500 && (error as { expose?: boolean }).expose === true) {
    const code = isErrorCode((error as { code?: unknown }).code) ? String((error as { code: string }).code) : status === 404 ? "not_found" : "invalid_request";
    return { status, code, message: (error as Error).message };
  }
  return { status: 500, code: "internal_error", message: "internal error" };
}

function withoutInternals(details: Readonly<Record<string, unknown>>): Record<string, unknown> | undefined {
  const { receipt: _receipt, ...rest } = details;
  return Object.keys(rest).length === 0 ? undefined : rest;
}

/** Reads the raw request body up to `limit` bytes (413 beyond), once per request. */
export async function readBody(ctx: Context, limit: number): Promise<Uint8Array> {
  const s = state(ctx);
  if (s.rawBody !== undefined) return s.rawBody;
  const declared = Number(ctx.get("content-length") || "0");
  if (declared > limit) throw new HttpError(413, "invalid_request", `the request body exceeds ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new HttpError(413, "invalid_request", `the request body exceeds ${limit} bytes`);
    chunks.push(chunk);
  }
  s.rawBody = new Uint8Array(Buffer.concat(chunks));
  return s.rawBody;
}
