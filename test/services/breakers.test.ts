/**
 * Circuit breakers: 5 failures within 60 s open one upstream's breaker, it refuses for the open
 * period without touching the upstream, then lets exactly one probe through; timeouts count as
 * failures, the upstream's rejections of bad input do not. Durations are injected so the tests
 * take milliseconds; the defaults are checked separately.
 */
import { expect } from "chai";
import type { Catalog, CatalogRoute } from "../../gateway/catalog/index.js";
import { BreakerOpenError, DEFAULT_BREAKER_POLICY, UpstreamTimeoutError, createBreakers } from "../../gateway/resilience/index.js";
import { UpstreamError, isRejection } from "../../gateway/upstreams/index.js";
import { type FakeUpstream, startFakeUpstream } from "../../gateway/upstreams/fake-server.js";
import { fakeCatalog, manualClock, rejectionOf } from "./helpers.js";

const OPEN_MS = 250;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("circuit breakers per upstream", function () {
  let fake: FakeUpstream;
  let catalog: Catalog;
  let clock: ReturnType<typeof manualClock>;
  let weather: CatalogRoute;
  let wiki: CatalogRoute;

  before(async () => {
    fake = await startFakeUpstream();
  });
  after(async () => {
    await fake.close();
  });
  beforeEach(() => {
    fake.clear();
    clock = manualClock();
    catalog = fakeCatalog(
      fake,
      { upstreams: { openweather: { timeoutMs: 150, breaker: { failures: 5, windowMs: 60_000, openMs: OPEN_MS } } } },
      { now: clock.now },
    );
    weather = catalog.routes.find((r) => r.id === "weather")!;
    wiki = catalog.routes.find((r) => r.id === "wikipedia-page")!;
  });

  const callWeather = (city = "London") => weather.call(weather.input.parse({ city }));

  async function openWeatherBreaker(): Promise<void> {
    fake.fail("openweather", { kind: "status", status: 500, times: 5 });
    for (let i = 0; i < 5; i++) expect(await rejectionOf(callWeather())).to.include({ kind: "unavailable", status: 500 });
    expect(catalog.breakers.state("openweather")).to.equal("open");
  }

  it("opens on the 5th failure within the window and then refuses without calling the upstream", async () => {
    fake.fail("openweather", { kind: "status", status: 503 });
    for (let i = 0; i < 4; i++) {
      await rejectionOf(callWeather());
      expect(catalog.breakers.state("openweather")).to.equal("closed");
    }
    await rejectionOf(callWeather());
    expect(catalog.breakers.state("openweather")).to.equal("open");
    expect(fake.count("openweather")).to.equal(5);

    const refused = await rejectionOf(callWeather());
    expect(refused).to.be.instanceOf(BreakerOpenError);
    expect((refused as BreakerOpenError).retryAfterMs).to.be.within(1, OPEN_MS);
    expect(fake.count("openweather")).to.equal(5);
    // One breaker per upstream: the others are untouched.
    expect(catalog.breakers.breakerStates()).to.deep.include({ openweather: "open", wikipedia: "closed", coingecko: "closed", ruby: "closed" });
    expect(await wiki.call(wiki.input.parse({ title: "London" }))).to.have.property("title", "London");
  });

  it("failures spread over more than the window do not open it", async () => {
    fake.fail("openweather", { kind: "status", status: 500 });
    for (let i = 0; i < 4; i++) await rejectionOf(callWeather());
    clock.advance(60_001);
    for (let i = 0; i < 4; i++) await rejectionOf(callWeather());
    expect(catalog.breakers.state("openweather")).to.equal("closed");
    // The next one is the 5th within the last 60 s.
    await rejectionOf(callWeather());
    expect(catalog.breakers.state("openweather")).to.equal("open");
  });

  it("the upstream's rejections of bad input (4xx) are not failures", async () => {
    for (let i = 0; i < 8; i++) expect(isRejection(await rejectionOf(callWeather("Atlantis")))).to.equal(true);
    expect(catalog.breakers.state("openweather")).to.equal("closed");
  });

  it("stays open for the open period, then lets exactly one probe through; its success closes it", async () => {
    await openWeatherBreaker();
    await sleep(OPEN_MS / 2);
    expect(await rejectionOf(callWeather())).to.be.instanceOf(BreakerOpenError);
    await sleep(OPEN_MS / 2 + 30);
    expect(catalog.breakers.refusal("openweather")).to.equal(undefined);

    fake.fail("openweather", { kind: "delay", ms: 80, times: 1 });
    const probe = callWeather();
    await sleep(10);
    expect(catalog.breakers.state("openweather")).to.equal("half-open");
    const second = await rejectionOf(callWeather());
    expect(second).to.be.instanceOf(BreakerOpenError);
    expect(fake.count("openweather")).to.equal(6);

    expect(await probe).to.have.property("location", "London");
    expect(catalog.breakers.state("openweather")).to.equal("closed");
    expect(await callWeather()).to.have.property("location", "London");
  });

  it("a failed probe opens it again for a full open period", async () => {
    await openWeatherBreaker();
    await sleep(OPEN_MS + 30);
    fake.fail("openweather", { kind: "status", status: 500, times: 1 });
    await rejectionOf(callWeather());
    expect(catalog.breakers.state("openweather")).to.equal("open");
    expect(catalog.breakers.refusal("openweather")!.retryAfterMs).to.be.greaterThan(OPEN_MS - 50);
    expect(await rejectionOf(callWeather())).to.be.instanceOf(BreakerOpenError);
  });

  it("a hanging upstream times out, and timeouts count as failures", async () => {
    fake.fail("openweather", { kind: "hang", times: 5 });
    const started = Date.now();
    const error = await rejectionOf(callWeather());
    expect(error).to.be.instanceOf(UpstreamTimeoutError);
    expect(Date.now() - started).to.be.within(140, 1_000);
    for (let i = 0; i < 4; i++) await rejectionOf(callWeather());
    expect(catalog.breakers.state("openweather")).to.equal("open");
  });

  it("a slow answer within the timeout is a success", async () => {
    fake.fail("openweather", { kind: "delay", ms: 60, times: 1 });
    expect(await callWeather()).to.have.property("location", "London");
  });

  it("resetBreaker closes an open breaker (admin) and refuses unknown names", async () => {
    await openWeatherBreaker();
    catalog.breakers.resetBreaker("openweather");
    expect(catalog.breakers.state("openweather")).to.equal("closed");
    expect(await callWeather()).to.have.property("location", "London");
    expect(() => catalog.breakers.resetBreaker("nope")).to.throw(RangeError);
  });

  it("defaults: 5 failures in 60 s, open 30 s, and a timeout per upstream that abandons work ignoring its signal", async () => {
    expect(DEFAULT_BREAKER_POLICY).to.deep.equal({ failures: 5, windowMs: 60_000, openMs: 30_000 });
    const changes: string[] = [];
    const breakers = createBreakers({ x: { breaker: DEFAULT_BREAKER_POLICY, timeoutMs: 50 } }, { isRejection, onStateChange: (name, state) => changes.push(`${name}:${state}`) });
    const boom = () => Promise.reject(new UpstreamError("x", "unavailable", "down"));
    for (let i = 0; i < 5; i++) await rejectionOf(breakers.execute("x", boom));
    expect(breakers.state("x")).to.equal("open");
    expect(breakers.refusal("x")!.retryAfterMs).to.be.within(29_000, 30_000);
    expect(changes).to.deep.equal(["x:open"]);
    breakers.resetBreaker("x");
    expect(changes).to.deep.equal(["x:open", "x:closed"]);
    // A contract read cannot be aborted; the race abandons it at the timeout anyway.
    const deaf = () => new Promise<never>(() => undefined);
    expect(await rejectionOf(breakers.execute("x", deaf))).to.be.instanceOf(UpstreamTimeoutError);
  });
});
