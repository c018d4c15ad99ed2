/**
 * Koa middleware enforcing the per-agent request limits (gateway/ratelimit/).
 *
 * Who is counted:
 *   - A request without a payment header counts against its client address, before it is handled.
 *   - A request carrying a payment counts against its PAYER, and only once the payment has been
 *     verified: the payment flow calls `ctx.state.rateLimit.identify(payer)` (a 429 from there must
 *     release the reserved payment). The address claimed in an unverified header is never used,
 *     or anyone could spend another agent's quota by naming its wallet.
 *   - A request carrying a payment that never got verified (malformed, bad signature, replayed…)
 *     counts against its client address afterwards, and such requests are refused up front once
 *     that address is over its limit, so junk payments cannot make the gateway verify signatures
 *     without bound.
 *
 * Headers on every counted response (draft-ietf-httpapi-ratelimit-headers, the widely implemented
 * separate fields): `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds) for the
 * window closest to refusing, and `RateLimit-Policy` listing every window ("100;w=60, 1000;w=86400").
 * A refusal is 429 `rate_limited` with `Retry-After`.
 *
 * Mount it inside `errorHandler()` (which turns the refusal and a database outage into JSON) and
 * only on the API routes: /health, /metrics and the dashboard must answer an operator whatever an
 * agent did.
 */
import type { Context, Middleware } from "koa";
import { type RateLimitDecision, type RateLimitWindow, type RateLimiter, clientAddress, ipAgent, walletAgent } from "../ratelimit/index.js";
import { PaymentError } from "../x402/index.js";
import { PAYMENT_HEADERS } from "./headers.js";

export interface RateLimitOptions {
  readonly limiter: RateLimiter;
  /**
   * Proxies in front of the gateway that append to X-Forwarded-For: `true` means one, a number
   * says how many. Default none: the header is ignored, as any client can send it.
   */
  readonly trustProxy?: boolean | number;
}

/** Left on `ctx.state.rateLimit` for requests that carry a payment. */
export interface RateLimitHandle {
  /**
   * Counts the request against its verified payer. Throws `PaymentError("rate_limited")` (with
   * Retry-After set) when the payer is over its limit; idempotent per request.
   */
  identify(payer: string): Promise<void>;
}

export function rateLimit(options: RateLimitOptions): Middleware {
  const { limiter } = options;
  const trustedProxies = options.trustProxy === true ? 1 : typeof options.trustProxy === "number" ? options.trustProxy : 0;
  const policy = limiter.windows.map((w: RateLimitWindow) => `${w.max};w=${w.seconds}`).join(", ");

  return async (ctx, next) => {
    const agent = ipAgent(clientAddress(ctx.req.socket.remoteAddress, ctx.req.headers["x-forwarded-for"], trustedProxies));
    if (!carriesPayment(ctx)) {
      enforce(ctx, await limiter.hit(agent), policy);
      await next();
      return;
    }

    // Refuse junk early once this address is over its limit; count it afterwards unless it paid.
    const before = await limiter.peek(agent);
    if (!before.allowed) enforce(ctx, before, policy);
    let identified: Promise<void> | undefined;
    const handle: RateLimitHandle = {
      identify(payer) {
        identified ??= limiter.hit(walletAgent(payer)).then((decision) => enforce(ctx, decision, policy));
        return identified;
      },
    };
    (ctx.state as { rateLimit?: RateLimitHandle }).rateLimit = handle;
    try {
      await next();
    } finally {
      if (identified === undefined) {
        try {
          setHeaders(ctx, await limiter.hit(agent), policy);
        } catch (error) {
          // The answer is already decided; losing one count is better than replacing it with a 503.
          (ctx.state as { log?: { warn(o: object, m: string): void } }).log?.warn({ err: error }, "could not count a request against its address");
        }
      }
    }
  };
}

function carriesPayment(ctx: Context): boolean {
  return ctx.headers[PAYMENT_HEADERS[1]] !== undefined || ctx.headers[PAYMENT_HEADERS[2]] !== undefined;
}

function enforce(ctx: Context, decision: RateLimitDecision, policy: string): void {
  setHeaders(ctx, decision, policy);
  if (decision.allowed) return;
  const { binding } = decision;
  ctx.set("Retry-After", String(binding.resetSeconds));
  throw new PaymentError("rate_limited", `at most ${binding.max} requests per ${describeWindow(binding.seconds)}; retry in ${binding.resetSeconds} s`, {
    limit: binding.max,
    windowSeconds: binding.seconds,
    retryAfterSeconds: binding.resetSeconds,
  });
}

function setHeaders(ctx: Context, decision: RateLimitDecision, policy: string): void {
  ctx.set("RateLimit-Limit", String(decision.binding.max));
  ctx.set("RateLimit-Remaining", String(decision.binding.remaining));
  ctx.set("RateLimit-Reset", String(decision.binding.resetSeconds));
  ctx.set("RateLimit-Policy", policy);
}

function describeWindow(seconds: number): string {
  if (seconds === 60) return "minute";
  if (seconds === 3_600) return "hour";
  if (seconds === 86_400) return "day";
  return `${seconds} s`;
}
