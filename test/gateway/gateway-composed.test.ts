/**
 * The whole gateway as `startGateway` composes it (createGateway: payments, the paid API
 * catalogue, rate limits, analytics and reputation discounts, metrics, ops routes, the facilitator
 * API) on Hardhat's in-process chain, with the built-in upstreams served by the loopback fake
 * upstream. Agents pay with real EIP-3009 signatures; balances are read back from the chain.
 */
import type { AddressInfo } from "node:net";
import { network } from "hardhat";
import { expect } from "chai";
import { type Address, type Hex, getAddress, toHex } from "viem";
import { type PrivateKeyAccount, generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { loadConfig } from "../../gateway/config/index.js";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { type GatewayParts, type SettlementEngineOptions, createGateway } from "../../gateway/http/index.js";
import { silentLogger } from "../../gateway/log.js";
import { type FakeUpstream, fakeUpstreamEnv, startFakeUpstream } from "../../gateway/upstreams/fake-server.js";
import { transferWithAuthorizationTypes } from "../../gateway/schemes/index.js";
import { decodePaymentRequired, decodeSettlementResponse } from "../../gateway/x402/index.js";
import { deployEscrowSystem } from "../contracts/helpers/escrow.js";

const { viem } = await network.create();

after(closeTestBackends);

const ADMIN_TOKEN = "a".repeat(16) + "b".repeat(16) + "c".repeat(8);
/** $0.001, the weather route's list price, in USDC's 6 decimals. */
const WEATHER_PRICE = 1_000n;
/** Silver: 5 % off. */
const SILVER_PRICE = 950n;

interface V1Accept {
  scheme: string;
  network: string;
  maxAmountRequired: string;
  resource: string;
  payTo: Address;
  asset: Address;
  maxTimeoutSeconds: number;
  extra: { name: string; version: string };
}

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64");

for (const backend of testBackends()) {
  describe(`gateway composed [${backend.name}]`, function () {
    this.timeout(120_000);

    let s: Awaited<ReturnType<typeof deployEscrowSystem>>;
    let fake: FakeUpstream;
    let db: TestDatabase;
    let parts: GatewayParts;
    let base: string;
    const cleanups: (() => Promise<void>)[] = [];

    const usdcOf = (who: Address) => s.usdc.read.balanceOf([who]);

    async function fundedAgent(): Promise<PrivateKeyAccount> {
      const account = privateKeyToAccount(generatePrivateKey());
      await s.usdc.write.mint([account.address, 1_000_000n]);
      return account;
    }

    let engineOptions: SettlementEngineOptions | undefined;

    async function start(env: Record<string, string> = {}): Promise<{ parts: GatewayParts; base: string }> {
      const config = loadConfig({
        RPC_URL: "http://127.0.0.1:1/unused",
        CHAIN_ID: String(s.chainId),
        DEPLOYMENTS_FILE: "deployments/local.json",
        PAY_TO: s.payee.account.address,
        SIGNER_PRIVATE_KEY: `0x${"11".repeat(32)}`,
        CORS_ORIGINS: "https://agent.example",
        ADMIN_TOKEN,
        ...env,
      });
      const gateway = await createGateway({
        config,
        logger: silentLogger(),
        db,
        publicClient: s.publicClient,
        walletClient: s.operator,
        contracts: { registry: s.registry.address, escrow: s.escrow.address },
        // Only what the test names: no CATALOG_CONFIG or API keys from the machine running it.
        env: { ...fakeUpstreamEnv(fake.url), OPENWEATHER_API_KEY: "test-openweather-key" },
        // An engine that never settles, but keeps the options the gateway gave it.
        settlementEngine: (options) => {
          engineOptions = options;
          return { start: () => undefined, stop: async () => undefined, runOnce: async () => undefined };
        },
      });
      const listening = gateway.app.listen(0, "127.0.0.1");
      await new Promise<void>((resolve) => listening.once("listening", resolve));
      cleanups.push(async () => {
        await new Promise<void>((resolve) => {
          listening.close(() => resolve());
          listening.closeAllConnections();
        });
        await gateway.close();
      });
      return { parts: gateway, base: `http://127.0.0.1:${(listening.address() as AddressInfo).port}` };
    }

    before(async () => {
      s = await deployEscrowSystem(viem);
      fake = await startFakeUpstream();
      db = await backend.fresh();
      ({ parts, base } = await start());
    });

    after(async () => {
      for (const cleanup of cleanups.reverse()) await cleanup();
      await db?.close();
      await fake?.close();
    });

    async function challenge(url: string, headers: Record<string, string> = {}) {
      const res = await fetch(url, { headers });
      expect(res.status, await res.clone().text()).to.equal(402);
      const body = (await res.json()) as { error: string; accepts: V1Accept[] };
      const v2 = decodePaymentRequired(res.headers.get("payment-required")!);
      const exact = body.accepts.find((a) => a.scheme === "exact" && getAddress(a.asset) === getAddress(s.usdc.address));
      expect(exact, "an exact USDC offer").to.not.equal(undefined);
      return { res, body, v2, exact: exact! };
    }

    /** An EIP-3009 authorization of `amount` to `payTo`, signed like the official clients sign it. */
    async function signExact(account: PrivateKeyAccount, offer: { asset: Address; payTo: Address; maxTimeoutSeconds: number; extra: { name: string; version: string } }, amount: bigint) {
      const now = (await s.publicClient.getBlock()).timestamp;
      const authorization = {
        from: account.address,
        to: offer.payTo,
        value: amount,
        validAfter: now - 600n,
        validBefore: now + BigInt(offer.maxTimeoutSeconds),
        nonce: toHex(crypto.getRandomValues(new Uint8Array(32))) as Hex,
      };
      const signature = await account.signTypedData({
        domain: { name: offer.extra.name, version: offer.extra.version, chainId: s.chainId, verifyingContract: offer.asset },
        types: transferWithAuthorizationTypes,
        primaryType: "TransferWithAuthorization",
        message: authorization,
      });
      return { signature, authorization: { ...authorization, value: amount.toString(), validAfter: authorization.validAfter.toString(), validBefore: authorization.validBefore.toString() } };
    }

    async function v1Payment(account: PrivateKeyAccount, accept: V1Accept, amount = BigInt(accept.maxAmountRequired)): Promise<string> {
      return encode({ x402Version: 1, scheme: "exact", network: accept.network, payload: await signExact(account, accept, amount) });
    }

    it("lists the catalogue's routes with their prices and states, free of charge", async () => {
      const res = await fetch(`${base}/api/catalog`);
      expect(res.status).to.equal(200);
      expect(res.headers.get("ratelimit-policy")).to.equal("100;w=60, 1000;w=86400");
      // The listing is over 1 KiB: sent compressed.
      expect(res.headers.get("content-encoding")).to.be.oneOf(["gzip", "br", "deflate"]);
      const { routes } = (await res.json()) as { routes: { id: string; path: string; priceUsd: string; enabled: boolean; disabledReason?: string; breaker: string }[] };
      const byId = new Map(routes.map((r) => [r.id, r]));
      expect(byId.get("weather")).to.deep.include({ path: "/api/weather", priceUsd: "0.001", enabled: true, breaker: "closed" });
      expect(byId.get("wikipedia-search")).to.deep.include({ enabled: true });
      // No key given for NewsAPI: listed, disabled, and the reason names the variable.
      expect(byId.get("news")).to.deep.include({ enabled: false, disabledReason: "NEWSAPI_API_KEY is not set" });
      const disabled = await fetch(`${base}/api/news?q=skale`);
      expect(disabled.status).to.equal(503);
      expect(await disabled.json()).to.deep.include({ error: "route_disabled" });
    });

    it("sells a catalogue route: 402, then 200 for an exact payment that moves USDC on chain", async () => {
      const agent = await fundedAgent();
      const url = `${base}/api/weather?city=London`;
      const { res: first, exact } = await challenge(url);
      expect(first.headers.get("ratelimit-remaining")).to.match(/^\d+$/);
      expect(exact.maxAmountRequired).to.equal(WEATHER_PRICE.toString());
      expect(exact.resource).to.equal(`${base}/api/weather`);

      const payTo = getAddress(s.payee.account.address);
      const [agentBefore, payToBefore] = [await usdcOf(agent.address), await usdcOf(payTo)];
      const paidRes = await fetch(url, { headers: { "X-PAYMENT": await v1Payment(agent, exact) } });
      expect(paidRes.status, await paidRes.clone().text()).to.equal(200);
      expect(paidRes.headers.get("x-cache")).to.equal("MISS");
      expect(paidRes.headers.get("ratelimit-limit")).to.match(/^\d+$/);
      const body = (await paidRes.json()) as { success: boolean; route: string; priceUsd: string; data: { demo?: boolean; notice?: string } };
      expect(body).to.deep.include({ success: true, route: "weather", priceUsd: "0.001" });
      // Fake upstream data is labelled as such in the body sold.
      expect(body.data.demo).to.equal(true);
      expect(body.data.notice).to.match(/not live data/);

      const receipt = decodeSettlementResponse(paidRes.headers.get("x-payment-response")!, 1);
      expect(receipt).to.include({ success: true, payer: agent.address });
      expect((await s.publicClient.getTransactionReceipt({ hash: receipt.transaction as Hex })).status).to.equal("success");
      expect(await usdcOf(agent.address)).to.equal(agentBefore - WEATHER_PRICE);
      expect(await usdcOf(payTo)).to.equal(payToBefore + WEATHER_PRICE);

      // The analytics row names the payer, the exact amount, the USD price and the transaction.
      await parts.recorder.flush();
      const { rows } = await db.query<{ wallet: string; endpoint: string; status: number; amount: string; price_nano_usd: string; tx_hash: string; scheme: string }>(
        `SELECT wallet, endpoint, status, amount::text, price_nano_usd::text, tx_hash, scheme FROM api_requests WHERE wallet = $1`,
        [agent.address.toLowerCase()],
      );
      expect(rows).to.deep.equal([
        { wallet: agent.address.toLowerCase(), endpoint: "/api/weather", status: 200, amount: "1000", price_nano_usd: "1000000", tx_hash: receipt.transaction, scheme: "exact" },
      ]);
    });

    it("reports the database, the chain, the breakers and the settlement backlog on /health", async () => {
      const res = await fetch(`${base}/health`);
      expect(res.status).to.equal(200);
      const body = (await res.json()) as Record<string, any>;
      expect(body["status"]).to.equal("ok");
      expect(body["db"]).to.deep.equal({ ok: true });
      expect(body["chain"]).to.include({ ok: true });
      expect(body["breakers"]).to.include({ openweather: "closed", wikipedia: "closed" });
      expect(body["settlement"]).to.deep.equal({ ok: true, pending: 0, oldestSeconds: null, horizonSeconds: 300, withinHorizon: true });
      expect(body["tokens"]).to.include({ consecutiveFailures: 0, lastError: null });
    });

    it("exposes the route latency histogram and the payments counter on /metrics", async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      expect(text).to.match(/gateway_http_request_duration_seconds_count\{method="GET",route="\/api\/weather",status="200"\} [1-9]/);
      expect(text).to.match(/gateway_http_request_duration_seconds_count\{method="GET",route="\/api\/weather",status="402"\} [1-9]/);
      expect(text).to.include(`gateway_payments_total{token="${s.usdc.address.toLowerCase()}",scheme="exact"}`);
      expect(text).to.match(/gateway_breaker_state\{breaker="openweather",state="closed"\} 1/);
      expect(text).to.match(/gateway_settlement_backlog_payments 0/);
    });

    it("counts the settlement engine's mined batches and skipped entries on /metrics", async () => {
      const before = await (await fetch(`${base}/metrics`)).text();
      const count = (text: string, series: string) => Number(new RegExp(`^${series} (\\d+)$`, "m").exec(text)?.[1]);
      expect(engineOptions?.simulation).to.equal("retries");
      engineOptions?.onBatchMined?.({ status: "success", skipped: 3 });
      engineOptions?.onBatchMined?.({ status: "reverted", skipped: 0 });
      const after = await (await fetch(`${base}/metrics`)).text();
      const success = 'gateway_settlement_batches_total\\{status="success"\\}';
      const reverted = 'gateway_settlement_batches_total\\{status="reverted"\\}';
      expect(count(after, success) - count(before, success)).to.equal(1);
      expect(count(after, reverted) - count(before, reverted)).to.equal(1);
      expect(count(after, "gateway_settlement_skipped_payments_total") - count(before, "gateway_settlement_skipped_payments_total")).to.equal(3);
    });

    it("serves the facilitator's /supported, and keeps /verify from refusing a loopback caller", async () => {
      const res = await fetch(`${base}/facilitator/supported`);
      expect(res.status).to.equal(200);
      const body = (await res.json()) as { kinds: { x402Version: number; scheme: string; network: string; extra?: Record<string, string> }[]; signers: Record<string, string[]> };
      const v2 = body.kinds.filter((k) => k.x402Version === 2);
      expect(v2.map((k) => k.scheme)).to.have.members(["exact", "escrow", "transfer"]);
      expect(v2.every((k) => k.network === "eip155:324705682")).to.equal(true);
      expect(v2.find((k) => k.scheme === "escrow")?.extra?.["escrow"]?.toLowerCase()).to.equal(s.escrow.address.toLowerCase());
      expect(body.signers["eip155:324705682"]?.map((a) => getAddress(a))).to.deep.equal([getAddress(s.operator.account.address)]);
      // No tokens configured: loopback callers get a verdict (400 for an empty body), not a 401.
      const verify = await fetch(`${base}/facilitator/verify`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect(verify.status).to.equal(400);
    });

    it("wires the ops routes: OpenAPI, discovery with live offers, and admin actions behind the token", async () => {
      const openapi = (await (await fetch(`${base}/openapi.json`)).json()) as { paths: Record<string, unknown> };
      expect(openapi.paths).to.have.property("/api/weather");
      const discovery = (await (await fetch(`${base}/discovery/resources`)).json()) as { items: { resource: string; accepts: { amount: string }[] }[] };
      const weather = discovery.items.find((item) => item.resource === `${base}/api/weather`);
      expect(weather?.accepts.length).to.be.greaterThan(0);
      expect(weather?.accepts.every((a) => BigInt(a.amount) > 0n)).to.equal(true);

      expect((await fetch(`${base}/admin/cache/clear`, { method: "POST" })).status).to.equal(401);
      const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
      expect((await fetch(`${base}/admin/cache/clear`, { method: "POST", headers: auth })).status).to.equal(200);
      const unknown = await fetch(`${base}/admin/breakers/nope/reset`, { method: "POST", headers: auth });
      expect(unknown.status).to.equal(404);
      expect(await unknown.json()).to.deep.include({ error: "not_found" });
      expect((await fetch(`${base}/admin/breakers/openweather/reset`, { method: "POST", headers: auth })).status).to.equal(200);
    });

    it("lets a browser agent name its wallet and read the rate-limit and cache headers", async () => {
      const preflight = await fetch(`${base}/api/weather`, {
        method: "OPTIONS",
        headers: { origin: "https://agent.example", "access-control-request-method": "GET", "access-control-request-headers": "x-payer-address" },
      });
      expect(preflight.headers.get("access-control-allow-headers")).to.include("X-Payer-Address");
      const res = await fetch(`${base}/api/catalog`, { headers: { origin: "https://agent.example" } });
      const exposed = res.headers.get("access-control-expose-headers") ?? "";
      for (const name of ["RateLimit-Remaining", "RateLimit-Reset", "Retry-After", "X-Cache", "PAYMENT-REQUIRED"]) expect(exposed).to.include(name);
    });

    describe("reputation discounts", () => {
      let silver: PrivateKeyAccount;
      let stranger: PrivateKeyAccount;
      const url = () => `${base}/api/weather?city=London&units=imperial`;

      before(async () => {
        silver = await fundedAgent();
        stranger = await fundedAgent();
        // 100 successful requests out of 100: silver, 5 % off.
        await db.query(`INSERT INTO agent_reputation (wallet, total_requests, successful_requests, tier, discount_bps) VALUES ($1, 100, 100, 'silver', 500)`, [
          silver.address.toLowerCase(),
        ]);
      });

      it("quotes 5 % less to a request naming a silver wallet, and the list price otherwise", async () => {
        const anonymous = await challenge(url());
        expect(anonymous.exact.maxAmountRequired).to.equal(WEATHER_PRICE.toString());
        const named = await challenge(url(), { "X-Payer-Address": silver.address });
        expect(named.exact.maxAmountRequired).to.equal(SILVER_PRICE.toString());
        expect(named.v2.accepts.find((a) => a.scheme === "exact")?.amount).to.equal(SILVER_PRICE);
        // The list-price twin is accepted but never advertised.
        expect(named.body.accepts.some((a) => a.maxAmountRequired === WEATHER_PRICE.toString())).to.equal(false);
        // A bronze (unknown) wallet pays the list price.
        const bronze = await challenge(url(), { "X-Payer-Address": stranger.address });
        expect(bronze.exact.maxAmountRequired).to.equal(WEATHER_PRICE.toString());
      });

      it("charges the silver wallet the discounted amount", async () => {
        const headers = { "X-Payer-Address": silver.address };
        const { exact } = await challenge(url(), headers);
        const before = await usdcOf(silver.address);
        const res = await fetch(url(), { headers: { ...headers, "X-PAYMENT": await v1Payment(silver, exact) } });
        expect(res.status, await res.clone().text()).to.equal(200);
        expect(await usdcOf(silver.address)).to.equal(before - SILVER_PRICE);
        await parts.recorder.flush();
        const { rows } = await db.query<{ amount: string; price_nano_usd: string }>(
          `SELECT amount::text, price_nano_usd::text FROM api_requests WHERE wallet = $1 AND status = 200`,
          [silver.address.toLowerCase()],
        );
        expect(rows).to.deep.equal([{ amount: "950", price_nano_usd: "950000" }]);
      });

      it("still accepts the list price from the silver wallet (a payment signed before a promotion)", async () => {
        const { exact } = await challenge(url());
        const headers = { "X-Payer-Address": silver.address };
        const before = await usdcOf(silver.address);
        const res = await fetch(url(), { headers: { ...headers, "X-PAYMENT": await v1Payment(silver, exact) } });
        expect(res.status, await res.clone().text()).to.equal(200);
        expect(await usdcOf(silver.address)).to.equal(before - WEATHER_PRICE);
      });

      it("refuses the discounted amount from any other payer, v1 and v2, and charges nothing", async () => {
        const headers = { "X-Payer-Address": silver.address };
        const { exact, v2 } = await challenge(url(), headers);
        const before = await usdcOf(stranger.address);

        const v1 = await fetch(url(), { headers: { ...headers, "X-PAYMENT": await v1Payment(stranger, exact) } });
        expect(v1.status).to.equal(402);
        const v1Body = (await v1.json()) as { error: string; details: Record<string, string> };
        expect(v1Body.error).to.equal("amount_mismatch");
        expect(v1Body.details).to.include({ payer: stranger.address, expected: WEATHER_PRICE.toString(), actual: SILVER_PRICE.toString() });

        const accepted = v2.accepts.find((a) => a.scheme === "exact")!;
        const payload = await signExact(stranger, { ...accepted, asset: accepted.asset as Address, payTo: accepted.payTo as Address, extra: accepted.extra as { name: string; version: string } }, accepted.amount);
        const header = encode({ x402Version: 2, resource: v2.resource, accepted: { ...accepted, amount: accepted.amount.toString() }, payload });
        const v2Res = await fetch(url(), { headers: { ...headers, "PAYMENT-SIGNATURE": header } });
        expect(v2Res.status).to.equal(402);
        expect(((await v2Res.json()) as { error: string }).error).to.equal("amount_mismatch");

        // Without naming the silver wallet the discounted amount matches no offer at all.
        const plain = await fetch(url(), { headers: { "X-PAYMENT": await v1Payment(stranger, exact) } });
        expect(plain.status).to.equal(402);
        expect(((await plain.json()) as { error: string }).error).to.be.oneOf(["requirements_mismatch", "amount_mismatch"]);

        expect(await usdcOf(stranger.address)).to.equal(before);
        const { rows } = await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM payments WHERE payer = $1`, [stranger.address.toLowerCase()]);
        expect(rows[0]?.n).to.equal("0");
      });

      it("answers a malformed X-Payer-Address with 400 invalid_request", async () => {
        const res = await fetch(url(), { headers: { "X-Payer-Address": "0x1234" } });
        expect(res.status).to.equal(400);
        expect(await res.json()).to.deep.include({ error: "invalid_request" });
      });
    });

    it("refuses a paying wallet over its limit with 429 after verification, and charges nothing", async () => {
      // A second instance on the same database with 3 requests a day (a minute boundary cannot
      // reset it), seen through a trusted proxy so that its client address has a quota of its own.
      const limited = await start({ RATE_LIMIT_PER_DAY: "3", TRUST_PROXY: "true" });
      const client = { "X-Forwarded-For": "203.0.113.7" };
      const agent = await fundedAgent();
      const url = `${limited.base}/api/wikipedia/search?q=turing`;
      // One challenge (counted against the address), then paid requests (counted against the wallet).
      const { exact } = await challenge(url, client);
      for (let i = 0; i < 3; i += 1) {
        const res = await fetch(url, { headers: { ...client, "X-PAYMENT": await v1Payment(agent, exact) } });
        expect(res.status, await res.clone().text()).to.equal(200);
        expect(res.headers.get("ratelimit-remaining")).to.equal(String(2 - i));
      }
      const before = await usdcOf(agent.address);
      const refused = await fetch(url, { headers: { ...client, "X-PAYMENT": await v1Payment(agent, exact) } });
      expect(refused.status).to.equal(429);
      expect(refused.headers.get("retry-after")).to.match(/^\d+$/);
      expect(await refused.json()).to.deep.include({ error: "rate_limited" });
      const receipt = decodeSettlementResponse(refused.headers.get("x-payment-response")!, 1);
      expect(receipt.success).to.equal(false);
      expect(await usdcOf(agent.address)).to.equal(before);
      const { rows } = await db.query<{ state: string }>(`SELECT state FROM payments WHERE payer = $1 ORDER BY id`, [agent.address.toLowerCase()]);
      expect(rows.map((r) => r.state)).to.deep.equal(["confirmed", "confirmed", "confirmed", "released"]);
    });
  });
}
