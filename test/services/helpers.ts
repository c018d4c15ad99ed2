/** Shared pieces of the services tests: a catalogue wired to the fake upstream, and a manual clock. */
import { type Catalog, type CatalogConfigInput, type CatalogDeps, createCatalog, parseCatalogConfig } from "../../gateway/catalog/index.js";
import type { FakeUpstream } from "../../gateway/upstreams/fake-server.js";

export const TEST_KEYS = {
  openweather: "ow-test-key",
  coingecko: "cg-test-key",
  newsapi: "news-test-key",
  chirper: "chirper-test-key",
} as const;

export const TEST_ENV = {
  OPENWEATHER_API_KEY: TEST_KEYS.openweather,
  COINGECKO_API_KEY: TEST_KEYS.coingecko,
  NEWSAPI_API_KEY: TEST_KEYS.newsapi,
  CHIRPER_API_KEY: TEST_KEYS.chirper,
};

/** Every built-in HTTP upstream pointed at the fake, with fast breaker/timeout settings unless overridden. */
export function fakeCatalogConfig(fake: FakeUpstream, overrides: CatalogConfigInput = {}): CatalogConfigInput {
  const upstreams: Record<string, unknown> = {};
  for (const [name, baseUrl] of Object.entries(fake.baseUrls)) {
    upstreams[name] = { baseUrl, timeoutMs: 2_000, ...(overrides.upstreams?.[name] ?? {}) };
  }
  for (const [name, value] of Object.entries(overrides.upstreams ?? {})) upstreams[name] ??= value;
  return { ...overrides, upstreams: upstreams as CatalogConfigInput["upstreams"] };
}

export function fakeCatalog(fake: FakeUpstream, overrides: CatalogConfigInput = {}, deps: CatalogDeps = {}): Catalog {
  return createCatalog(parseCatalogConfig(fakeCatalogConfig(fake, overrides)), { env: TEST_ENV, ...deps });
}

export function manualClock(startMs = 1_800_000_000_000) {
  let ms = startMs;
  return { now: () => ms, advance: (delta: number) => void (ms += delta), set: (value: number) => void (ms = value) };
}

export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}
