import Koa from "koa";
import Router from "@koa/router";
import type { Database } from "../db/index.js";
import type { Logger } from "../log.js";
import type { PaidRoute, PaymentFlow } from "../payments/index.js";
import type { ChainReader } from "../schemes/types.js";
import { cors, errorHandler, requestId } from "./middleware.js";
import { type PaidHandler, paid } from "./paid.js";

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
}

/** Seconds /health waits for each dependency. */
const HEALTH_TIMEOUT_MS = 3_000;

export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: deps.trustProxy ?? false });
  // Errors are answered (and logged) by errorHandler; Koa's own printer would only add noise.
  app.silent = true;
  const maxBodyBytes = deps.maxBodyBytes ?? 1024 * 1024;

  const router = new Router();
  router.get("/health", async (ctx) => {
    const [db, chain] = await Promise.all([
      probe(async () => {
        await deps.db.query("SELECT 1");
        return {};
      }),
      probe(async () => ({ blockNumber: (await deps.publicClient.getBlockNumber()).toString() })),
    ]);
    const ok = db.ok && chain.ok;
    ctx.status = ok ? 200 : 503;
    ctx.body = { status: ok ? "ok" : "degraded", db, chain };
  });
  deps.routes?.(router, { paid: (route, handler) => paid(deps.flow, route, handler, { maxBodyBytes, publicUrl: deps.publicUrl }) });

  app.use(requestId(deps.logger));
  app.use(errorHandler());
  app.use(cors(deps.corsOrigins ?? []));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
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
