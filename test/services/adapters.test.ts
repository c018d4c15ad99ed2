/**
 * Every built-in HTTP adapter against the fake upstream over real loopback sockets: the request
 * it makes (path, parameters, API key where the upstream wants it), the normalized "enhanced"
 * shape it returns, the demo label, rejections (4xx) versus failures, and routes whose key is
 * missing being disabled rather than crashing.
 */
import { expect } from "chai";
import { type Catalog, type CatalogRoute, createCatalog, parseCatalogConfig } from "../../gateway/catalog/index.js";
import { UpstreamError } from "../../gateway/upstreams/index.js";
import { type FakeUpstream, fakeUpstreamEnv, startFakeUpstream } from "../../gateway/upstreams/fake-server.js";
import { TEST_KEYS, fakeCatalog, fakeCatalogConfig, rejectionOf } from "./helpers.js";

describe("built-in adapters against the fake upstream", function () {
  let fake: FakeUpstream;
  let catalog: Catalog;

  before(async () => {
    fake = await startFakeUpstream({ apiKeys: TEST_KEYS });
    catalog = fakeCatalog(fake);
  });
  after(async () => {
    await fake.close();
  });
  beforeEach(() => fake.clear());

  const route = (id: string): CatalogRoute => {
    const found = catalog.routes.find((r) => r.id === id);
    if (found === undefined) throw new Error(`no route ${id}`);
    return found;
  };
  const call = async (id: string, params: Record<string, unknown>) => {
    const r = route(id);
    return (await r.call(r.input.parse(params))) as Record<string, any>;
  };

  it("weather: OpenWeather's answer in the enhanced shape, key in the appid query parameter, labelled demo", async () => {
    const data = await call("weather", { city: " London " });
    expect(data).to.deep.include({
      location: "London",
      country: "GB",
      timezone: "UTC+00:00",
      coordinates: { lat: 51.5085, lon: -0.1257 },
      units: "metric",
      weather: { main: "Clouds", description: "overcast clouds", icon: "04d" },
      wind: { speed: 5.2, deg: 230, gust: 8.1 },
      visibility: 10000,
      dt: 1736445600,
      demo: true,
    });
    expect(data.current).to.deep.equal({ temp: 15.2, feels_like: 14.6, temp_min: 13.9, temp_max: 16.4, pressure: 1013, humidity: 72, sea_level: 1013, grnd_level: 1009 });
    expect(data.sun).to.deep.equal({ sunrise: new Date(1736409900 * 1000).toISOString(), sunset: new Date(1736439000 * 1000).toISOString() });
    expect(data.notice).to.match(/not live/i);
    const request = fake.requests[0]!;
    expect(request.path).to.equal("/data/2.5/weather");
    expect(request.query).to.deep.equal({ q: "London", units: "metric", appid: TEST_KEYS.openweather });
  });

  it("weather: a non-UTC offset and other units are carried through", async () => {
    const data = await call("weather", { city: "Tokyo", units: "imperial" });
    expect(data.timezone).to.equal("UTC+09:00");
    expect(data.current.temp).to.equal(44.24);
    expect(data.wind.gust).to.equal(null);
  });

  it("weather: an unknown city is a rejection (the upstream works), not a failure", async () => {
    const error = await rejectionOf(call("weather", { city: "Atlantis" }));
    expect(error).to.be.instanceOf(UpstreamError);
    expect(error).to.include({ kind: "rejected", status: 404 });
    expect((error as Error).message).to.contain("city not found");
  });

  it("crypto-price: CoinGecko prices per coin and currency, key in its header, unknown ids reported", async () => {
    const data = await call("crypto-price", { ids: "ethereum,bitcoin,nosuchcoin,bitcoin", vs: "usd,EUR" });
    expect(data.prices.map((p: { id: string }) => p.id)).to.deep.equal(["bitcoin", "ethereum", "nosuchcoin"]);
    expect(data.prices[0]).to.deep.equal({
      id: "bitcoin",
      found: true,
      quotes: {
        eur: { price: 91310.55, marketCap: 1807834101223.9, volume24h: 30883422011.7, change24hPercent: 1.7911 },
        usd: { price: 94250.12, marketCap: 1866034521987.4, volume24h: 31877205411.2, change24hPercent: 1.8423 },
      },
      lastUpdatedAt: new Date(1736445540 * 1000).toISOString(),
    });
    expect(data.prices[2]).to.deep.equal({ id: "nosuchcoin", found: false });
    expect(data.demo).to.equal(true);
    const request = fake.requests[0]!;
    expect(request.query["ids"]).to.equal("bitcoin,ethereum,nosuchcoin");
    expect(request.query["vs_currencies"]).to.equal("eur,usd");
    expect(request.headers["x-cg-demo-api-key"]).to.equal(TEST_KEYS.coingecko);
  });

  it("crypto-markets: the market table, limited and renamed", async () => {
    const data = await call("crypto-markets", { limit: "2" });
    expect(data.currency).to.equal("usd");
    expect(data.coins).to.have.length(2);
    expect(data.coins[1]).to.deep.equal({
      id: "ethereum",
      symbol: "eth",
      name: "Ethereum",
      rank: 2,
      price: 3321.47,
      marketCap: 400120455310,
      volume24h: 18203344871,
      high24h: 3380.1,
      low24h: 3275.4,
      change24hPercent: -0.6132,
      circulatingSupply: 120465112,
      lastUpdated: "2025-01-09T17:59:11.000Z",
    });
  });

  it("news: NewsAPI articles with the key in X-Api-Key, removed articles dropped", async () => {
    const data = await call("news", { country: "US" });
    expect(data.articles.map((a: { title: string }) => a.title)).to.deep.equal([
      "Agents start paying for APIs per call with HTTP 402",
      "SKALE chains process zero-gas stablecoin transfers",
      "Weather models get sharper at city scale",
    ]);
    expect(data.articles[1]).to.deep.equal({
      title: "SKALE chains process zero-gas stablecoin transfers",
      description: "Stablecoin transfers on SKALE settle without gas fees for users.",
      url: "https://news.example/skale-stablecoins",
      imageUrl: "https://news.example/img/skale.png",
      source: "Example Chain Report",
      author: null,
      publishedAt: "2025-01-09T11:40:00Z",
    });
    expect(fake.requests[0]!.headers["x-api-key"]).to.equal(TEST_KEYS.newsapi);
    expect(fake.requests[0]!.query).to.deep.equal({ country: "us", pageSize: "10" });
  });

  it("news: refuses input NewsAPI would refuse, before calling it", () => {
    const result = route("news").input.safeParse({ limit: "5" });
    expect(result.success).to.equal(false);
    expect(fake.requests).to.have.length(0);
  });

  it("wikipedia-search: plain-text snippets and page links", async () => {
    const data = await call("wikipedia-search", { q: "turing test", limit: 2 });
    expect(data.totalHits).to.equal(3);
    expect(data.results).to.have.length(2);
    expect(data.results[0]).to.deep.include({ title: "Alan Turing", pageId: 1208, wordCount: 17411, url: "https://en.wikipedia.org/wiki/Alan_Turing" });
    expect(data.results[0].snippet).to.equal("Alan Mathison Turing was an English mathematician, computer scientist, logician, cryptanalyst, philosopher and theoretical biologist");
    expect(fake.requests[0]!.query).to.deep.include({ action: "query", list: "search", srsearch: "turing test", srlimit: "2", format: "json" });
  });

  it("wikipedia-page: the summary, with the title encoded as one path segment", async () => {
    const data = await call("wikipedia-page", { title: "Alan Turing" });
    expect(data).to.deep.include({
      title: "Alan Turing",
      type: "standard",
      description: "English computer scientist (1912–1954)",
      pageId: 1208,
      language: "en",
      coordinates: null,
      url: "https://en.wikipedia.org/wiki/Alan_Turing",
    });
    expect(data.thumbnail).to.deep.equal({ url: "https://upload.wikimedia.org/wikipedia/commons/thumb/a/a1/Alan_Turing_Aged_16.jpg/320px-Alan_Turing_Aged_16.jpg", width: 320, height: 427 });
    expect(fake.requests[0]!.path).to.equal("/api/rest_v1/page/summary/Alan_Turing");
    const missing = await rejectionOf(call("wikipedia-page", { title: "No such page at all" }));
    expect(missing).to.include({ kind: "rejected", status: 404 });
  });

  it("chirper-trending: ranked topics with sentiment labels, Bearer key", async () => {
    const data = await call("chirper-trending", { limit: 3 });
    expect(data.timeframe).to.equal("24h");
    expect(data.topics).to.deep.equal([
      { rank: 1, topic: "x402 micropayments", chirps: 1842, agents: 311, sentiment: 0.46, sentimentLabel: "positive" },
      { rank: 2, topic: "zero-gas chains", chirps: 1207, agents: 264, sentiment: 0.31, sentimentLabel: "positive" },
      { rank: 3, topic: "weather in London", chirps: 655, agents: 120, sentiment: -0.28, sentimentLabel: "negative" },
    ]);
    expect(data.network).to.deep.equal({ agents: 5120, chirps: 88213 });
    expect(fake.requests[0]!.headers["authorization"]).to.equal(`Bearer ${TEST_KEYS.chirper}`);
  });

  it("a wrong API key is an upstream failure (our problem, not the caller's)", async () => {
    const wrongKey = createCatalog(parseCatalogConfig(fakeCatalogConfig(fake)), { env: { OPENWEATHER_API_KEY: "wrong" } });
    const weather = wrongKey.routes.find((r) => r.id === "weather")!;
    const error = await rejectionOf(weather.call(weather.input.parse({ city: "London" })));
    expect(error).to.include({ kind: "unavailable", status: 401 });
    expect((error as Error).message).not.to.contain("wrong");
  });

  it("an answer of an unexpected shape is a failure, never guessed at", async () => {
    const misdirected = fakeCatalog(fake, { upstreams: { openweather: { baseUrl: `${fake.url}/chirper/v1/trending?x=` } } });
    const weather = misdirected.routes.find((r) => r.id === "weather")!;
    const error = await rejectionOf(weather.call(weather.input.parse({ city: "London" })));
    expect(error).to.be.instanceOf(UpstreamError);
  });

  it("a route whose key is missing is listed as disabled, with the variable's name and no crash", () => {
    const keyless = createCatalog(parseCatalogConfig(fakeCatalogConfig(fake)), { env: {} });
    const entries = Object.fromEntries(keyless.describe().map((e) => [e.id, e]));
    expect(entries["weather"]).to.include({ enabled: false, disabledReason: "OPENWEATHER_API_KEY is not set" });
    expect(entries["news"]).to.include({ enabled: false, disabledReason: "NEWSAPI_API_KEY is not set" });
    expect(entries["chirper-trending"]).to.include({ enabled: false, disabledReason: "CHIRPER_API_KEY is not set" });
    // CoinGecko's public API and Wikipedia need no key; Ruby.Exchange needs pairs.
    expect(entries["crypto-price"]).to.include({ enabled: true });
    expect(entries["wikipedia-search"]).to.include({ enabled: true });
    expect(entries["ruby-price"]).to.include({ enabled: false, disabledReason: "no pairs configured (RUBY_PAIRS)" });
    expect(JSON.stringify(catalog.describe())).not.to.contain(TEST_KEYS.openweather);
  });

  it("fakeUpstreamEnv names each upstream's base-URL variable", () => {
    expect(fakeUpstreamEnv("http://127.0.0.1:9")).to.deep.equal({
      OPENWEATHER_BASE_URL: "http://127.0.0.1:9/openweather",
      COINGECKO_BASE_URL: "http://127.0.0.1:9/coingecko",
      NEWSAPI_BASE_URL: "http://127.0.0.1:9/newsapi",
      WIKIPEDIA_BASE_URL: "http://127.0.0.1:9/wikipedia",
      CHIRPER_BASE_URL: "http://127.0.0.1:9/chirper",
    });
  });
});
