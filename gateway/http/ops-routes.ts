/**
 * The operator- and agent-facing routes that are not paid APIs:
 *
 *   GET  /metrics                   Prometheus exposition (the app's own registry)
 *   GET  /stats?window=24h          figures over a window (JSON; amounts as decimal strings)
 *   GET  /stats/settlements?limit=  newest confirmed payments with their transactions
 *   GET  /dashboard                 the web dashboard (static, same-origin only)
 *   GET  /openapi.json              OpenAPI 3.1 of the paid catalogue, with prices
 *   GET  /discovery/resources       paid resources in the x402 Bazaar list shape
 *   GET  /.well-known/x402          the same list, at a well-known address
 *   POST /admin/cache/clear         } require `Authorization: Bearer <ADMIN_TOKEN>`;
 *   POST /admin/breakers/:name/reset} disabled (403 admin_disabled) when no token is set
 *   POST /admin/tokens/refresh      }
 *
 * Mount the router inside `errorHandler()`; refusals of bad input throw the usual PaymentErrors.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import Router from "@koa/router";
import type { Context, Middleware } from "koa";
import type { Queryable } from "../db/index.js";
import {
  type BreakerState,
  type CatalogueDescription,
  type DiscoveryQuery,
  type GatewayMetrics,
  type OpenApiOptions,
  type SettlementBacklog,
  type TokenInfo,
  MAX_DISCOVERY_LIMIT,
  MAX_STATS_WINDOW_SECONDS,
  buildOpenApi,
  computeStats,
  discoveryList,
  recentSettlements,
} from "../observability/index.js";
import { PaymentError } from "../x402/index.js";

export interface AdminActions {
  /** Empties the response cache (both layers); the result is reported back. */
  readonly clearCache?: () => unknown;
  /** Closes one upstream's breaker; false when no breaker has that name. */
  readonly resetBreaker?: (name: string) => boolean | Promise<boolean>;
  /** Re-reads the token registry; the result is reported back. */
  readonly refreshTokens?: () => unknown;
}

export interface OpsRoutesOptions {
  readonly db: Queryable;
  readonly metrics: GatewayMetrics;
  /** The paid routes, read on every request (the catalogue may change at runtime). */
  readonly catalogue?: () => readonly CatalogueDescription[];
  /** Offers for the discovery list (the payment flow's quote). */
  readonly quote?: DiscoveryQuery["quote"];
  /** Public base URL for resource URLs; default the request's origin. */
  readonly publicUrl?: string;
  readonly openApi?: OpenApiOptions;
  readonly tokenInfo?: (address: string) => TokenInfo | undefined;
  readonly breakerStates?: () => Readonly<Record<string, BreakerState>>;
  readonly backlog?: () => Promise<SettlementBacklog>;
  /** ADMIN_TOKEN; absent disables /admin/*. At least 32 characters. */
  readonly adminToken?: string;
  readonly admin?: AdminActions;
  readonly log?: { info(details: object, message: string): void; warn(details: object, message: string): void };
  /** ms; default Date.now. */
  readonly now?: () => number;
}

export const MIN_ADMIN_TOKEN_LENGTH = 32;
const DEFAULT_WINDOW_SECONDS = 86_400;

const DASHBOARD_DIR = new URL("./dashboard/", import.meta.url);
/** Same-origin only: the dashboard can make no request anywhere else, and loads nothing from a CDN. */
const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function opsRoutes(options: OpsRoutesOptions): Router {
  const router = new Router();
  const now = options.now ?? Date.now;
  const catalogue = options.catalogue ?? (() => []);
  const json = (ctx: Context, body: unknown) => {
    ctx.type = "application/json";
    ctx.body = JSON.stringify(body, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value));
  };

  router.get("/metrics", async (ctx) => {
    const { contentType, body } = await options.metrics.render();
    ctx.type = contentType;
    ctx.body = body;
  });

  router.get("/stats", async (ctx) => {
    const windowSeconds = parseWindow(ctx.query["window"]);
    const [stats, settlement] = await Promise.all([
      computeStats(options.db, { windowSeconds, until: new Date(now()), ...(options.tokenInfo === undefined ? {} : { tokenInfo: options.tokenInfo }) }),
      options.backlog?.().catch(() => undefined),
    ]);
    ctx.set("Cache-Control", "no-store");
    json(ctx, { ...stats, breakers: readBreakers(options.breakerStates), settlement: settlement ?? null, generatedAt: new Date(now()).toISOString() });
  });

  router.get("/stats/settlements", async (ctx) => {
    const limit = parseInteger(ctx.query["limit"], "limit", 20, 1, 200);
    ctx.set("Cache-Control", "no-store");
    json(ctx, { settlements: await recentSettlements(options.db, { limit, ...(options.tokenInfo === undefined ? {} : { tokenInfo: options.tokenInfo }) }) });
  });

  const assets = {
    html: readFileSync(new URL("index.html", DASHBOARD_DIR), "utf8"),
    js: readFileSync(new URL("dashboard.js", DASHBOARD_DIR), "utf8"),
    css: readFileSync(new URL("dashboard.css", DASHBOARD_DIR), "utf8"),
  };
  const asset = (type: string, body: string): Middleware => (ctx) => {
    ctx.set("Content-Security-Policy", DASHBOARD_CSP);
    ctx.set("X-Content-Type-Options", "nosniff");
    ctx.set("Cache-Control", "no-cache");
    ctx.type = type;
    ctx.body = body;
  };
  router.get("/dashboard", asset("text/html; charset=utf-8", assets.html));
  router.get("/dashboard/dashboard.js", asset("text/javascript; charset=utf-8", assets.js));
  router.get("/dashboard/dashboard.css", asset("text/css; charset=utf-8", assets.css));

  router.get("/openapi.json", (ctx) => {
    json(ctx, buildOpenApi(catalogue(), { ...options.openApi, serverUrl: options.openApi?.serverUrl ?? options.publicUrl ?? ownOrigin(ctx) }));
  });

  const discovery: Middleware = async (ctx) => {
    const type = ctx.query["type"];
    const list = await discoveryList(catalogue(), {
      baseUrl: options.publicUrl ?? ownOrigin(ctx),
      limit: parseInteger(ctx.query["limit"], "limit", 100, 1, MAX_DISCOVERY_LIMIT),
      offset: parseInteger(ctx.query["offset"], "offset", 0, 0, Number.MAX_SAFE_INTEGER),
      now: new Date(now()),
      ...(typeof type === "string" ? { type } : {}),
      ...(options.quote === undefined ? {} : { quote: options.quote }),
      onQuoteError: (entry, error) => options.log?.warn({ err: error, path: entry.path }, "discovery: no offers for a route"),
    });
    ctx.set("Cache-Control", "public, max-age=60");
    json(ctx, list);
  };
  router.get("/discovery/resources", discovery);
  router.get("/.well-known/x402", discovery);

  const admin = requireAdmin(options.adminToken);
  const actions = options.admin ?? {};
  const audit = (ctx: Context, action: string, details: object = {}) => options.log?.info({ action, ip: ctx.req.socket.remoteAddress, ...details }, "admin action");
  if (actions.clearCache !== undefined) {
    const clearCache = actions.clearCache;
    router.post("/admin/cache/clear", admin, async (ctx) => {
      const result = await clearCache();
      audit(ctx, "cache.clear");
      json(ctx, { ok: true, result: result ?? null });
    });
  }
  if (actions.resetBreaker !== undefined) {
    const resetBreaker = actions.resetBreaker;
    router.post("/admin/breakers/:name/reset", admin, async (ctx) => {
      const name = String(ctx.params["name"]);
      if (!(await resetBreaker(name))) throw new PaymentError("not_found", `no breaker named ${JSON.stringify(name.slice(0, 64))}`);
      audit(ctx, "breaker.reset", { breaker: name });
      json(ctx, { ok: true, breaker: name, state: readBreakers(options.breakerStates)?.[name] ?? null });
    });
  }
  if (actions.refreshTokens !== undefined) {
    const refreshTokens = actions.refreshTokens;
    router.post("/admin/tokens/refresh", admin, async (ctx) => {
      const result = await refreshTokens();
      audit(ctx, "tokens.refresh");
      json(ctx, { ok: true, result: result ?? null });
    });
  }
  return router;
}

/**
 * Bearer-token check for /admin/*. Both sides are hashed before the constant-time comparison, so
 * neither the token's content nor its length shows in the timing. 401 without credentials (with
 * WWW-Authenticate), 403 with wrong ones, 403 `admin_disabled` when no token is configured.
 */
export function requireAdmin(adminToken: string | undefined): Middleware {
  if (adminToken !== undefined && adminToken.length < MIN_ADMIN_TOKEN_LENGTH) {
    throw new RangeError(`ADMIN_TOKEN must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters (e.g. openssl rand -hex 32)`);
  }
  const expected = adminToken === undefined ? undefined : sha256(adminToken);
  return async (ctx, next) => {
    ctx.set("Cache-Control", "no-store");
    if (expected === undefined) return refuse(ctx, 403, "admin_disabled", "admin endpoints are disabled: no ADMIN_TOKEN is configured");
    const match = /^Bearer[ \t]+([^\s]+)[ \t]*$/i.exec(ctx.get("authorization"));
    if (match?.[1] === undefined) {
      ctx.set("WWW-Authenticate", 'Bearer realm="admin"');
      return refuse(ctx, 401, "admin_unauthorized", "send Authorization: Bearer <ADMIN_TOKEN>");
    }
    if (!timingSafeEqual(sha256(match[1]), expected)) return refuse(ctx, 403, "admin_forbidden", "the admin token is not valid");
    await next();
  };
}

/**
 * This gateway's origin as the client addressed it. Not `ctx.origin`: in Koa 3 that is the
 * request's `Origin` header (null without one), which names the calling page, not us.
 */
function ownOrigin(ctx: Context): string {
  return `${ctx.protocol}://${ctx.host}`;
}

function refuse(ctx: Context, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.type = "application/json";
  ctx.body = JSON.stringify({ error: code, message });
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

function readBreakers(breakerStates: OpsRoutesOptions["breakerStates"]): Readonly<Record<string, BreakerState>> | null {
  if (breakerStates === undefined) return null;
  try {
    return breakerStates();
  } catch {
    return null;
  }
}

const WINDOW = /^(\d{1,7})([smhd]?)$/;
const UNIT_SECONDS: Record<string, number> = { "": 1, s: 1, m: 60, h: 3_600, d: 86_400 };

/** "3600", "90m", "24h", "7d" → seconds, from 60 s to 90 days. */
export function parseWindow(value: unknown): number {
  if (value === undefined) return DEFAULT_WINDOW_SECONDS;
  const match = typeof value === "string" ? WINDOW.exec(value) : null;
  const seconds = match === null ? Number.NaN : Number(match[1]) * (UNIT_SECONDS[match[2] ?? ""] ?? Number.NaN);
  if (!(seconds >= 60 && seconds <= MAX_STATS_WINDOW_SECONDS)) {
    throw new PaymentError("invalid_request", "window must be a duration from 60 s to 90 d, e.g. 3600, 90m, 24h or 7d", {
      fields: { window: ["a duration from 60 s to 90 d: seconds, or a number followed by s, m, h or d"] },
    });
  }
  return seconds;
}

function parseInteger(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === "string" && /^\d{1,16}$/.test(value) ? Number(value) : Number.NaN;
  if (!(Number.isSafeInteger(n) && n >= min && n <= max)) {
    throw new PaymentError("invalid_request", `${name} must be an integer from ${min} to ${max}`, { fields: { [name]: [`an integer from ${min} to ${max}`] } });
  }
  return n;
}
