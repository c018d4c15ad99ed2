import type { ParamInput, ParamsSpec } from "../catalog/params.js";
import type { UpstreamHttp } from "./http.js";

/** What an adapter gets for one call. */
export interface AdapterContext {
  /** The route's upstream over HTTP (absent for chain-backed routes). */
  readonly http: UpstreamHttp;
  /** Aborts at the upstream's timeout. */
  readonly signal: AbortSignal;
}

/** A built-in route: its defaults, its parameters, and how it turns an upstream answer into our shape. */
export interface BuiltinRouteDefinition {
  readonly id: string;
  readonly method: "GET";
  readonly path: string;
  /** The upstream (breaker, timeout, key) it calls. */
  readonly upstream: string;
  /** Shown to clients: where the data comes from. */
  readonly source: string;
  readonly description: string;
  readonly params: ParamsSpec;
  readonly refine?: (input: ParamInput) => string | undefined;
  /** Default list price (USD decimal string) and cache TTL; both overridable by configuration. */
  readonly priceUsd: string;
  readonly cacheTtlMs: number;
  call(input: ParamInput, context: AdapterContext): Promise<unknown>;
}

/** Where a built-in upstream lives and how it wants its key; every field overridable by configuration. */
export interface BuiltinUpstreamDefinition {
  readonly name: string;
  readonly baseUrl: string;
  readonly auth?: {
    readonly env: string;
    readonly in: "header" | "query";
    readonly name: string;
    readonly prefix?: string;
    /** Without the key the upstream refuses service, so its routes are disabled. */
    readonly required: boolean;
  };
  readonly headers?: Readonly<Record<string, string>>;
}
