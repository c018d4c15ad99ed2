import type { Context, Middleware } from "koa";
import Router from "@koa/router";
import { type BearerCheck, type Facilitator, type FacilitatorAnswer, bearerTokenCheck } from "../facilitator/index.js";
import { type JsonObject, PaymentError, errorStatus, isPaymentError, parseJsonObject } from "../x402/index.js";
import { HttpError, readBody } from "./middleware.js";

/**
 * The x402 facilitator API over HTTP (docs/facilitator.md):
 *
 *   GET  {prefix}/supported   public
 *   POST {prefix}/verify      bearer token, or loopback only when no token is configured
 *   POST {prefix}/settle      same
 *
 * Mount it inside the app's middlewares (request ids, the error handler, CORS): a body that is
 * not a facilitator request becomes 400 `invalid_request` there, like every other error.
 */

export interface FacilitatorRouterOptions {
  readonly facilitator: Facilitator;
  /** Tokens accepted as `Authorization: Bearer <token>` on /verify and /settle (FACILITATOR_TOKENS). */
  readonly tokens?: readonly string[];
  /**
   * Who may call /verify and /settle when no token is configured: `loopback` (the default) only
   * connections from this host, `open` anyone. Ignored when tokens are configured.
   */
  readonly unauthenticated?: "loopback" | "open";
  /** Largest request body read, bytes. Default 64 KiB: a payment and its requirements take ~2 KiB. */
  readonly maxBodyBytes?: number;
  /** Default "/facilitator". */
  readonly prefix?: string;
}

export const DEFAULT_FACILITATOR_MAX_BODY_BYTES = 64 * 1024;

/** A facilitator request wraps a payment (itself ≤ 8 levels) two levels deeper. */
const MAX_JSON_DEPTH = 12;

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function facilitatorRouter(options: FacilitatorRouterOptions): Router {
  const { facilitator } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_FACILITATOR_MAX_BODY_BYTES;
  const router = new Router({ prefix: options.prefix ?? "/facilitator" });
  const guard = callerGuard(options);

  router.get("/supported", (ctx) => {
    ctx.set("Cache-Control", "no-cache");
    ctx.body = facilitator.supported();
  });
  router.post("/verify", guard, async (ctx) => {
    answer(ctx, await facilitator.verify(await jsonBody(ctx, maxBodyBytes)));
  });
  router.post("/settle", guard, async (ctx) => {
    answer(ctx, await facilitator.settle(await jsonBody(ctx, maxBodyBytes)));
  });
  return router;
}

/**
 * Bearer tokens when configured; otherwise loopback peers only, unless explicitly opened. The
 * peer is the socket's, never X-Forwarded-For: a header is the caller's to choose.
 */
function callerGuard(options: FacilitatorRouterOptions): Middleware {
  const tokens = options.tokens ?? [];
  const check: BearerCheck | undefined = tokens.length > 0 ? bearerTokenCheck(tokens) : undefined;
  const open = options.unauthenticated === "open";
  return async (ctx, next) => {
    if (check !== undefined) {
      const header = ctx.get("authorization");
      if (!check(header === "" ? undefined : header)) {
        return refuse(ctx, "a valid facilitator token is required: Authorization: Bearer <token>");
      }
    } else if (!open && !isLoopback(ctx.req.socket.remoteAddress)) {
      return refuse(ctx, "this facilitator has no tokens configured and only serves local callers");
    }
    await next();
  };
}

export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  return /^127\./.test(address) || address === "::1" || /^::ffff:127\./i.test(address);
}

function refuse(ctx: Context, message: string): void {
  ctx.status = 401;
  ctx.set("WWW-Authenticate", 'Bearer realm="x402-facilitator"');
  ctx.set("Cache-Control", "no-store");
  ctx.body = { error: "unauthorized", message };
}

/**
 * The body as a JSON object. Only `application/json` is read: a browser can send text/plain
 * cross-site without a preflight, and no page should be able to make this gateway spend gas.
 */
async function jsonBody(ctx: Context, limit: number): Promise<JsonObject> {
  if (ctx.is("application/json") === false) {
    throw new HttpError(415, "invalid_request", "the request body must be application/json");
  }
  const bytes = await readBody(ctx, limit);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new PaymentError("invalid_request", "the request body is not UTF-8");
  }
  try {
    return parseJsonObject(text, { maxLength: Number.POSITIVE_INFINITY, maxDepth: MAX_JSON_DEPTH });
  } catch (error) {
    // The codec speaks of payments (`malformed_payment`, 402); here the body is the request.
    if (isPaymentError(error)) throw new PaymentError("invalid_request", error.message.replace(/^payment /, "request "));
    throw error;
  }
}

/**
 * 200 with the x402 body; a transient answer takes its code's status (503, 409) and adds the
 * gateway's `{error, message}` to the same body, so x402 clients still find their fields.
 */
function answer(ctx: Context, result: FacilitatorAnswer<object>): void {
  ctx.set("Cache-Control", "no-store");
  if (result.unavailable === undefined) {
    ctx.status = 200;
    ctx.body = result.body;
    return;
  }
  const { code, message } = result.unavailable;
  ctx.status = errorStatus(code);
  if (ctx.status === 503) ctx.set("Retry-After", "5");
  ctx.body = { error: code, message, ...result.body };
}
