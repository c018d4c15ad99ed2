/**
 * A fake of every built-in HTTP upstream on one loopback server, for the tests and for
 * `npm start`'s demo stack: real sockets, answers from the recorded fixtures in
 * test/fixtures/upstreams/ (in each upstream's wire format), and failures on demand (an HTTP
 * status, a hang, a slow answer). Every answer carries `X-Demo-Data: true`, which the gateway
 * turns into `"demo": true` in the body it sells.
 *
 * Each upstream lives under its own prefix: http://127.0.0.1:PORT/openweather/data/2.5/weather…;
 * `baseUrls` (or `fakeUpstreamEnv`) gives the base URL the gateway should use for each.
 *
 * Failures are injected programmatically (`fail`) or, for a running demo, over HTTP:
 *   POST /__control/fail  {"upstream":"openweather","kind":"status","status":500,"times":5}
 *   POST /__control/clear
 *   GET  /__control/requests
 * The control endpoints exist only on this fake, which listens on loopback by default.
 */
import { readFileSync } from "node:fs";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { baseUrlEnvName } from "../catalog/config.js";
import { DEMO_HEADER } from "./http.js";

export const FAKE_UPSTREAMS = ["openweather", "coingecko", "newsapi", "wikipedia", "chirper"] as const;
export type FakeUpstreamName = (typeof FAKE_UPSTREAMS)[number];

export type FakeFailure =
  | { readonly kind: "status"; readonly status: number; readonly times?: number }
  | { readonly kind: "hang"; readonly times?: number }
  | { readonly kind: "delay"; readonly ms: number; readonly times?: number };

export interface RecordedRequest {
  readonly upstream: string;
  readonly method: string;
  readonly path: string;
  readonly query: Record<string, string>;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface FakeUpstreamOptions {
  readonly host?: string;
  readonly port?: number;
  /** Directory of the fixture files (default test/fixtures/upstreams/ of this repository). */
  readonly fixturesDir?: URL;
  /** When set, the upstream refuses requests without exactly this key, as the real one would. */
  readonly apiKeys?: Partial<Record<FakeUpstreamName, string>>;
}

export interface FakeUpstream {
  readonly url: string;
  readonly baseUrls: Readonly<Record<FakeUpstreamName, string>>;
  readonly requests: readonly RecordedRequest[];
  /** Requests that reached `upstream` (failed ones included). */
  count(upstream: FakeUpstreamName): number;
  /** Queues a failure for `upstream`'s next `times` requests (default: until `clear`). */
  fail(upstream: FakeUpstreamName, failure: FakeFailure): void;
  /** Removes queued failures and forgets recorded requests. */
  clear(): void;
  close(): Promise<void>;
}

export const DEFAULT_FIXTURES_DIR = new URL("../../test/fixtures/upstreams/", import.meta.url);

/** Environment variables pointing every built-in upstream at a fake upstream running at `url`. */
export function fakeUpstreamEnv(url: string): Record<string, string> {
  return Object.fromEntries(FAKE_UPSTREAMS.map((name) => [baseUrlEnvName(name), `${url}/${name}`]));
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

type Handler = (request: { query: URLSearchParams; path: string; headers: IncomingMessage["headers"] }) => Answer;

export async function startFakeUpstream(options: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const dir = options.fixturesDir ?? DEFAULT_FIXTURES_DIR;
  const fixture = <T>(file: string): T => JSON.parse(readFileSync(new URL(file, dir), "utf8")) as T;
  const handlers = createHandlers(fixture, options.apiKeys ?? {});
  const requests: RecordedRequest[] = [];
  const failures = new Map<string, { failure: FakeFailure; left: number }[]>();

  const fail = (upstream: string, failure: FakeFailure) => {
    const queue = failures.get(upstream) ?? [];
    queue.push({ failure, left: failure.times ?? Number.POSITIVE_INFINITY });
    failures.set(upstream, queue);
  };
  const clear = () => {
    failures.clear();
    requests.length = 0;
  };
  const takeFailure = (upstream: string): FakeFailure | undefined => {
    const queue = failures.get(upstream);
    const head = queue?.[0];
    if (queue === undefined || head === undefined) return undefined;
    head.left -= 1;
    if (head.left <= 0) queue.shift();
    return head.failure;
  };

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, { error: "fake upstream failure" });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://fake.invalid");
    const [, first = "", ...rest] = url.pathname.split("/");
    if (first === "__control") return control(req, res, rest.join("/"));
    const path = `/${rest.join("/")}`;
    requests.push({ upstream: first, method: req.method ?? "GET", path, query: Object.fromEntries(url.searchParams), headers: req.headers });
    const failure = takeFailure(first);
    if (failure?.kind === "hang") return; // never answers; close() destroys the socket
    if (failure?.kind === "status") return send(res, failure.status, { error: `injected failure ${failure.status}` });
    if (failure?.kind === "delay") await new Promise((resolve) => setTimeout(resolve, failure.ms));
    const handler = handlers[`${first} ${path.replace(/\/page\/summary\/.*$/, "/page/summary/:title")}`];
    if (handler === undefined) return send(res, 404, { error: `the fake upstream has no ${first} ${path}` });
    const answer = handler({ query: url.searchParams, path, headers: req.headers });
    send(res, answer.status, answer.body);
  }

  async function control(req: IncomingMessage, res: ServerResponse, action: string): Promise<void> {
    if (req.method === "GET" && action === "requests") return send(res, 200, { requests: requests.map(({ headers: _h, ...r }) => r) });
    if (req.method === "POST" && action === "clear") {
      clear();
      return send(res, 200, { ok: true });
    }
    if (req.method === "POST" && action === "fail") {
      const chunks: Buffer[] = [];
      for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as { upstream?: string } & Partial<FakeFailure>;
      if (!FAKE_UPSTREAMS.includes(body.upstream as FakeUpstreamName) || !["status", "hang", "delay"].includes(String(body.kind))) {
        return send(res, 400, { error: `expected {"upstream": one of ${FAKE_UPSTREAMS.join(", ")}, "kind": "status"|"hang"|"delay", …}` });
      }
      fail(body.upstream!, body as FakeFailure);
      return send(res, 200, { ok: true });
    }
    return send(res, 404, { error: "unknown control action" });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  return {
    url,
    baseUrls: Object.fromEntries(FAKE_UPSTREAMS.map((name) => [name, `${url}/${name}`])) as Record<FakeUpstreamName, string>,
    requests,
    count: (upstream) => requests.filter((r) => r.upstream === upstream).length,
    fail,
    clear,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text), [DEMO_HEADER]: "true" });
  res.end(text);
}

function createHandlers(fixture: <T>(file: string) => T, keys: FakeUpstreamOptions["apiKeys"] & object): Record<string, Handler> {
  const weather = fixture<Record<string, OpenWeatherFixture>>("openweather-weather.json");
  const prices = fixture<Record<string, Record<string, number>>>("coingecko-simple-price.json");
  const markets = fixture<Record<string, unknown>[]>("coingecko-markets.json");
  const news = fixture<{ articles: { title: string; description: string | null }[] }>("newsapi-top-headlines.json");
  const search = fixture<{ query: { search: { title: string; snippet: string }[] } }>("wikipedia-search.json");
  const summaries = fixture<Record<string, unknown>>("wikipedia-summary.json");
  const trending = fixture<unknown>("chirper-trending.json");
  const header = (headers: IncomingMessage["headers"], name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  };

  return {
    "openweather /data/2.5/weather": ({ query }) => {
      if (keys.openweather !== undefined && query.get("appid") !== keys.openweather) {
        return { status: 401, body: { cod: 401, message: "Invalid API key. Please see https://openweathermap.org/faq#error401 for more info." } };
      }
      const city = (query.get("q") ?? "").split(",")[0]!.trim().toLowerCase();
      const found = weather[city];
      if (found === undefined) return { status: 404, body: { cod: "404", message: "city not found" } };
      return { status: 200, body: inUnits(found, query.get("units") ?? "standard") };
    },
    "coingecko /api/v3/simple/price": ({ query, headers }) => {
      if (keys.coingecko !== undefined && header(headers, "x-cg-demo-api-key") !== keys.coingecko) {
        return { status: 401, body: { status: { error_code: 10002, error_message: "API Key Missing" } } };
      }
      const ids = (query.get("ids") ?? "").split(",").filter((s) => s !== "");
      const vs = (query.get("vs_currencies") ?? "").split(",").filter((s) => s !== "");
      const body: Record<string, Record<string, number>> = {};
      for (const id of ids) {
        const row = prices[id];
        if (row === undefined) continue;
        const picked: Record<string, number> = {};
        for (const [field, value] of Object.entries(row)) {
          if (field === "last_updated_at" || vs.some((c) => field === c || field.startsWith(`${c}_`))) picked[field] = value;
        }
        body[id] = picked;
      }
      return { status: 200, body };
    },
    "coingecko /api/v3/coins/markets": ({ query }) => {
      if ((query.get("vs_currency") ?? "") !== "usd") return { status: 400, body: { error: "invalid vs_currency" } };
      return { status: 200, body: markets.slice(0, Number(query.get("per_page") ?? "100")) };
    },
    "newsapi /v2/top-headlines": ({ query, headers }) => {
      if (keys.newsapi !== undefined && header(headers, "x-api-key") !== keys.newsapi) {
        return { status: 401, body: { status: "error", code: "apiKeyInvalid", message: "Your API key is invalid or incorrect." } };
      }
      const q = query.get("q")?.toLowerCase();
      const articles = news.articles.filter((a) => q === undefined || `${a.title} ${a.description ?? ""}`.toLowerCase().includes(q));
      return { status: 200, body: { status: "ok", totalResults: articles.length, articles: articles.slice(0, Number(query.get("pageSize") ?? "20")) } };
    },
    "wikipedia /w/api.php": ({ query }) => {
      if (query.get("action") !== "query" || query.get("list") !== "search") return { status: 400, body: { error: { code: "badparams" } } };
      const words = (query.get("srsearch") ?? "").toLowerCase().split(/\s+/).filter((w) => w !== "");
      const hits = search.query.search.filter((r) => words.some((w) => `${r.title} ${r.snippet}`.toLowerCase().includes(w)));
      const limited = hits.slice(0, Number(query.get("srlimit") ?? "10"));
      return { status: 200, body: { batchcomplete: true, query: { searchinfo: { totalhits: hits.length }, search: limited } } };
    },
    "wikipedia /api/rest_v1/page/summary/:title": ({ path }) => {
      const title = decodeURIComponent(path.slice("/api/rest_v1/page/summary/".length));
      const page = summaries[title];
      if (page === undefined) return { status: 404, body: { type: "https://mediawiki.org/wiki/HyperSwitch/errors/not_found", title: "Not found.", detail: "Page or revision not found." } };
      return { status: 200, body: page };
    },
    "chirper /v1/trending": ({ headers }) => {
      if (keys.chirper !== undefined && header(headers, "authorization") !== `Bearer ${keys.chirper}`) {
        return { status: 401, body: { error: "unauthorized" } };
      }
      return { status: 200, body: trending };
    },
  };
}

interface OpenWeatherFixture {
  main: Record<string, number>;
  wind?: Record<string, number>;
  [key: string]: unknown;
}

/** The fixtures hold metric readings; OpenWeather converts temperatures and wind speed per `units`. */
function inUnits(fixture: OpenWeatherFixture, units: string): OpenWeatherFixture {
  const temperature = (celsius: number) =>
    units === "imperial" ? Math.round((celsius * 9) / 5 * 100 + 3200) / 100 : units === "metric" ? celsius : Math.round((celsius + 273.15) * 100) / 100;
  const main = { ...fixture.main };
  for (const field of ["temp", "feels_like", "temp_min", "temp_max"]) {
    if (typeof main[field] === "number") main[field] = temperature(main[field]);
  }
  const wind = fixture.wind === undefined ? undefined : { ...fixture.wind };
  if (wind !== undefined && units === "imperial") {
    for (const field of ["speed", "gust"]) if (typeof wind[field] === "number") wind[field] = Math.round(wind[field] * 2.23694 * 100) / 100;
  }
  return { ...fixture, main, ...(wind === undefined ? {} : { wind }) };
}
