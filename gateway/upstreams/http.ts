/**
 * JSON over HTTP to one upstream: its base URL, its API key placed where the upstream wants it
 * (a header or a query parameter), a size cap on the answer, and errors that say whether the
 * upstream failed (counts against its breaker, never charged) or refused the input (a 4xx the
 * caller caused, relayed, not charged either).
 *
 * Error messages name the upstream and the path only: the full URL may carry the API key.
 */

export type UpstreamErrorKind =
  /** Network error, 5xx, 401/403/429 (our key or our quota), or an answer we cannot use. */
  | "unavailable"
  /** A 4xx caused by the input (unknown city, no such page): the upstream works. */
  | "rejected";

export class UpstreamError extends Error {
  override readonly name = "UpstreamError";
  constructor(
    readonly upstream: string,
    readonly kind: UpstreamErrorKind,
    message: string,
    /** The upstream's HTTP status, when it answered. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isRejection(error: unknown): error is UpstreamError {
  return error instanceof UpstreamError && error.kind === "rejected";
}

export interface ApiKeyPlacement {
  readonly in: "header" | "query";
  /** Header or query parameter name. */
  readonly name: string;
  /** Put before the key, e.g. "Bearer ". */
  readonly prefix?: string;
}

export interface UpstreamHttpOptions {
  readonly name: string;
  readonly baseUrl: string;
  readonly apiKey?: string | undefined;
  readonly keyPlacement?: ApiKeyPlacement | undefined;
  /** Extra request headers (User-Agent, Accept…). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Largest answer read, bytes (default 2 MiB). */
  readonly maxResponseBytes?: number;
  /** Treat every answer as demo data (a local chain, a sandbox the operator knows about). */
  readonly demo?: boolean;
  readonly fetch?: typeof fetch;
}

export interface UpstreamAnswer {
  readonly status: number;
  readonly data: unknown;
  /** The upstream labelled its answer as demo data (header `X-Demo-Data: true`), or config says so. */
  readonly demo: boolean;
}

export interface UpstreamRequest {
  /** Path below the base URL, already encoded ("/data/2.5/weather"). */
  readonly path: string;
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly method?: "GET" | "POST";
  readonly body?: unknown;
  readonly signal?: AbortSignal;
}

export interface UpstreamHttp {
  readonly name: string;
  request(request: UpstreamRequest): Promise<UpstreamAnswer>;
}

/** The header by which the fake upstream (and any sandbox) marks answers that are not live data. */
export const DEMO_HEADER = "x-demo-data";

/** Upstream statuses that mean the request was fine but we cannot be served: failures, not rejections. */
const FAILURE_STATUSES = new Set([401, 402, 403, 407, 408, 429]);

export function createUpstreamHttp(options: UpstreamHttpOptions): UpstreamHttp {
  const doFetch = options.fetch ?? fetch;
  const base = new URL(options.baseUrl);
  const basePath = base.pathname.replace(/\/+$/, "");
  const maxBytes = options.maxResponseBytes ?? 2 * 1024 * 1024;

  return {
    name: options.name,
    async request(request) {
      if (!request.path.startsWith("/")) throw new TypeError(`upstream path must start with "/": ${request.path}`);
      const url = new URL(base.origin);
      url.pathname = basePath + request.path;
      // The rendered path must stay below the base path (no "/.." escapes with our API key attached).
      if (url.origin !== base.origin || !(url.pathname === basePath || url.pathname.startsWith(`${basePath}/`))) {
        throw new UpstreamError(options.name, "rejected", "the request path leaves the upstream's base URL", 400);
      }
      for (const [name, value] of Object.entries(request.query ?? {})) {
        if (value !== undefined) url.searchParams.set(name, String(value));
      }
      const headers: Record<string, string> = { accept: "application/json", ...options.headers };
      if (options.apiKey !== undefined && options.keyPlacement !== undefined) {
        const value = `${options.keyPlacement.prefix ?? ""}${options.apiKey}`;
        if (options.keyPlacement.in === "header") headers[options.keyPlacement.name.toLowerCase()] = value;
        else url.searchParams.set(options.keyPlacement.name, value);
      }
      let body: string | undefined;
      if (request.body !== undefined) {
        body = JSON.stringify(request.body);
        headers["content-type"] = "application/json";
      }
      const where = `${options.name} ${request.method ?? "GET"} ${url.pathname}`;

      let response: Response;
      try {
        response = await doFetch(url, { method: request.method ?? "GET", headers, body, signal: request.signal, redirect: "error" });
      } catch (error) {
        if (request.signal?.aborted) throw request.signal.reason ?? error;
        throw new UpstreamError(options.name, "unavailable", `${where}: ${(error as Error).message}`, undefined, { cause: error });
      }
      const text = await readCapped(response, maxBytes, where, options.name);
      const status = response.status;
      let data: unknown;
      try {
        data = text === "" ? null : JSON.parse(text);
      } catch {
        data = undefined;
      }
      if (status >= 500 || FAILURE_STATUSES.has(status)) {
        throw new UpstreamError(options.name, "unavailable", `${where} answered ${status}`, status);
      }
      if (status >= 400) {
        throw new UpstreamError(options.name, "rejected", `${options.name} answered ${status}: ${upstreamMessage(data)}`, status);
      }
      if (status < 200 || status >= 300) throw new UpstreamError(options.name, "unavailable", `${where} answered ${status}`, status);
      if (data === undefined) throw new UpstreamError(options.name, "unavailable", `${where} answered something that is not JSON`, status);
      const demo = options.demo === true || response.headers.get(DEMO_HEADER) === "true";
      return { status, data, demo };
    },
  };
}

async function readCapped(response: Response, maxBytes: number, where: string, name: string): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > maxBytes) {
    await response.body?.cancel();
    throw new UpstreamError(name, "unavailable", `${where}: the answer is larger than ${maxBytes} bytes`, response.status);
  }
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new UpstreamError(name, "unavailable", `${where}: the answer is larger than ${maxBytes} bytes`, response.status);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** A short, safe summary of an upstream's error body for the caller. */
function upstreamMessage(data: unknown): string {
  if (typeof data === "object" && data !== null) {
    const record = data as Record<string, unknown>;
    for (const field of ["message", "error", "title", "detail"]) {
      const value = record[field];
      if (typeof value === "string") return value.slice(0, 200);
    }
  }
  return "request refused";
}
