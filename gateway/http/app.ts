import Koa from "koa";
import compress from "koa-compress";
import Router from "@koa/router";
import type { Recorder } from "../analytics/index.js";
import type { Database } from "../db/index.js";
import type { Logger } from "../log.js";
import { type BreakerState, type GatewayMetrics, observeRequests } from "../observability/index.js";
import type { PaidRoute, PaymentFlow } from "../payments/index.js";
import type { RateLimiter } from "../ratelimit/index.js";
import type { ChainReader } from "../schemes/types.js";
import { type FacilitatorRouterOptions, facilitatorRouter } from "./facilitator.js";
import { cors, errorHandler, requestId } from "./middleware.js";
import { type OpsRoutesOptions, opsRoutes } from "./ops-routes.js";
import { type PaidHandler, paid } from "./paid.js";
import { rateLimit } from "./rate-limit.js";

/** What /health reports besides the database and the chain RPC; every part is optional. */
export interface HealthSources {
  /** Every upstream's circuit breaker. */
  readonly breakers?: () => Readonly<Record<string, BreakerState>>;
  /** Payments accepted and not settled yet (gateway/settlement `settlementBacklog`). */
  readonly settlementBacklog?: () => Promise<{ readonly pending: number; readonly oldestSeconds: number | null }>;
  /** The settlement engine's promise; an older backlog makes the gateway `degraded`. */
  readonly settlementHorizonSeconds?: number;
  /** The token registry view (token catalog `health()`). */
  readonly tokens?: () => { readonly syncedBlock: bigint; readonly consecutiveFailures: number; readonly lastError: string | undefined };
}

export interface AppDeps {
  readonly logger: Logger;
  readonly db: Database;
  readonly publicClient: Pick<ChainReader, "getBlockNumber">;
  readonly flow: PaymentFlow;
  readonly corsOrigins?: readonly string[];
  /** Honour X-Forwarded-* (only behind a proxy that sets them). */
  readonly trustProxy?: boolean;
  /** Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Public base URL for resource URLs in challenges; without it they come from the request. */
  readonly publicUrl?: string;
  /** Mounts the API routes; `paid` wraps a handler in the payment flow. */
  readonly routes?: (router: Router, helpers: { paid: (route: PaidRoute, handler: PaidHandler) => Koa.Middleware }) => void;
  /** Feeds the latency histogram and the payments counter. */
  readonly metrics?: GatewayMetrics;
  /** Writes every answered /api/* call to the analytics tables. */
  readonly recorder?: Recorder;
  /** Per-agent limits on /api/* (nothing else is limited). */
  readonly limiter?: RateLimiter;
  /** /metrics, /stats, /dashboard, /admin/*, /openapi.json, discovery. */
  readonly ops?: OpsRoutesOptions;
  /** The x402 facilitator API under /facilitator. */
  readonly facilitator?: FacilitatorRouterOptions;
  readonly health?: HealthSources;
}

/** Milliseconds /health waits for each dependency. */
const HEALTH_TIMEOUT_MS = 3_000;
/** Smaller bodies are sent as they are: compressing them costs more than it saves. */
const COMPRESS_THRESHOLD_BYTES = 1024;

/**
 * The Koa app. Middleware order matters:
 *
 *   requestId        a request id and a child logger for everything below
 *   observeRequests  outside the error handler, so it sees the status the client gets
 *   compress         bodies over 1 KiB
 *   errorHandler     every error becomes `{error, message}` with its code's status
 *   cors             also on errors, or a browser cannot read them
 *   rateLimit        /api/* only: /health, /metrics and the dashboard answer whatever agents do
 *   routers          the API (health, catalogue, paid routes), ops, facilitator
 */
export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: deps.trustProxy ?? false });
  // Errors are answered (and logged) by errorHandler; Koa's own printer would only add noise.
  app.silent = true;
  const maxBodyBytes = deps.maxBodyBytes ?? 1024 * 1024;

  const router = new Router();
  router.get("/health", health(deps));
  deps.routes?.(router, { paid: (route, handler) => paid(deps.flow, route, handler, { maxBodyBytes, publicUrl: deps.publicUrl }) });

  app.use(requestId(deps.logger));
  if (deps.metrics !== undefined || deps.recorder !== undefined) {
    app.use(observeRequests({ ...(deps.metrics === undefined ? {} : { metrics: deps.metrics }), ...(deps.recorder === undefined ? {} : { recorder: deps.recorder }) }));
  }
  app.use(compress({ threshold: COMPRESS_THRESHOLD_BYTES }));
  app.use(errorHandler());
  app.use(cors(deps.corsOrigins ?? []));
  if (deps.limiter !== undefined) {
    const limit = rateLimit({ limiter: deps.limiter, trustProxy: deps.trustProxy ?? false });
    app.use((ctx, next) => (isApiPath(ctx.path) ? limit(ctx, next) : next()));
  }
  app.use(router.routes());
  app.use(router.allowedMethods());
  if (deps.ops !== undefined) {
    const ops = opsRoutes(deps.ops);
    app.use(ops.routes());
    app.use(ops.allowedMethods());
  }
  if (deps.facilitator !== undefined) {
    const facilitator = facilitatorRouter(deps.facilitator);
    app.use(facilitator.routes());
    app.use(facilitator.allowedMethods());
  }
  return app;
}

function isApiPath(path: string): boolean {
  return path === "/api" || path.startsWith("/api/");
}

/**
 * `down` (503) when the database or the chain RPC does not answer: this instance cannot take
 * payments, take it out of rotation. `degraded` (200) when it still can but something needs an
 * operator: an upstream's breaker is not closed, the settlement backlog is older than the
 * settlement horizon or cannot be read, or the token registry view is failing to sync. A failing
 * upstream is no reason to stop routing traffic here: every instance shares it.
 */
function health(deps: AppDeps): Koa.Middleware {
  const sources = deps.health ?? {};
  return async (ctx) => {
    const [db, chain, settlement] = await Promise.all([
      probe(async () => {
        await deps.db.query("SELECT 1");
        return {};
      }),
      probe(async () => ({ blockNumber: (await deps.publicClient.getBlockNumber()).toString() })),
      sources.settlementBacklog === undefined ? undefined : probe(settlementProbe(sources.settlementBacklog, sources.settlementHorizonSeconds)),
    ]);
    const breakers = readBreakers(sources.breakers);
    const tokens = sources.tokens?.();
    const down = !db.ok || !chain.ok;
    const degraded =
      (breakers !== undefined && Object.values(breakers).some((state) => state !== "closed")) ||
      (settlement !== undefined && (!settlement.ok || settlement["withinHorizon"] === false)) ||
      (tokens !== undefined && tokens.consecutiveFailures > 0);
    ctx.status = down ? 503 : 200;
    ctx.set("Cache-Control", "no-store");
    ctx.body = {
      status: down ? "down" : degraded ? "degraded" : "ok",
      db,
      chain,
      ...(breakers === undefined ? {} : { breakers }),
      ...(settlement === undefined ? {} : { settlement }),
      ...(tokens === undefined
        ? {}
        : { tokens: { syncedBlock: tokens.syncedBlock.toString(), consecutiveFailures: tokens.consecutiveFailures, lastError: tokens.lastError ?? null } }),
    };
  };
}

function settlementProbe(backlog: NonNullable<HealthSources["settlementBacklog"]>, horizonSeconds: number | undefined) {
  return async () => {
    const { pending, oldestSeconds } = await backlog();
    return {
      pending,
      oldestSeconds,
      ...(horizonSeconds === undefined ? {} : { horizonSeconds, withinHorizon: oldestSeconds === null || oldestSeconds <= horizonSeconds }),
    };
  };
}

function readBreakers(breakers: HealthSources["breakers"]): Readonly<Record<string, BreakerState>> | undefined {
  if (breakers === undefined) return undefined;
  try {
    return breakers();
  } catch {
    return undefined;
  }
}

async function probe(check: () => Promise<Record<string, unknown>>): Promise<Record<string, unknown> & { ok: boolean }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("timed out")), HEALTH_TIMEOUT_MS);
    });
    return { ok: true, ...(await Promise.race([check(), timeout])) };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}
