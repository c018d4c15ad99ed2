/**
 * The HTTP adapter end to end: a Koa app on 127.0.0.1 in front of the exact scheme on Hardhat's
 * in-process chain (chain id 324705682, i.e. SKALE Base Sepolia) and PGlite, paid with headers
 * built the way x402-fetch 1.x (X-PAYMENT) and @x402/fetch 2.x (PAYMENT-SIGNATURE) build them.
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { network } from "hardhat";
import { expect } from "chai";
import { type Address, type Hex, getAddress, toHex } from "viem";
import { type PrivateKeyAccount, generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { createApp } from "../../gateway/http/index.js";
import { silentLogger } from "../../gateway/log.js";
import { type PaidRoute, createPaymentFlow } from "../../gateway/payments/index.js";
import { parseUsd, stablecoinPriceSource } from "../../gateway/pricing/index.js";
import { type TokenInfo, collectionMethods, createExactScheme, transferWithAuthorizationTypes } from "../../gateway/schemes/index.js";
import { decodePaymentRequired, decodeSettlementResponse } from "../../gateway/x402/index.js";
import { USDC_DOMAIN_NAME, USDC_DOMAIN_VERSION, deployEscrowSystem } from "../contracts/helpers/escrow.js";

const { viem } = await network.create();

after(closeTestBackends);

const PRICE = 10_000n; // $0.01 in USDC's 6 decimals
const ORIGIN = "https://agent.example";
const route: PaidRoute = { priceUsd: parseUsd("0.01"), description: "Weather", mimeType: "application/json" };

const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64");

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

for (const backend of testBackends()) {
  describe(`HTTP paid routes [${backend.name}]`, function () {
    this.timeout(60_000);

    let db: TestDatabase;
    let server: Server;
    let base: string;
    let s: Awaited<ReturnType<typeof deployEscrowSystem>>;
    let payer: PrivateKeyAccount;
    let payTo: Address;
    let upstreamCalls = 0;

    before(async () => {
      s = await deployEscrowSystem(viem);
      payer = privateKeyToAccount(generatePrivateKey());
      await s.usdc.write.mint([payer.address, 1_000_000n]);
      payTo = getAddress(s.payee.account.address);
      db = await backend.fresh();
      const usdc: TokenInfo = {
        address: s.usdc.address,
        symbol: "USDC",
        decimals: 6,
        collectionMethods: collectionMethods.eip3009 | collectionMethods.erc20,
        eip712: { name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION },
      };
      const scheme = createExactScheme({ chainId: s.chainId, publicClient: s.publicClient, walletClient: s.operator });
      const flow = createPaymentFlow({
        db,
        schemes: [scheme],
        tokens: () => [{ token: usdc, price: stablecoinPriceSource() }],
        payTo,
      });
      const app = createApp({
        logger: silentLogger(),
        db,
        publicClient: s.publicClient,
        flow,
        corsOrigins: [ORIGIN],
        maxBodyBytes: 1024,
        routes: (router, { paid }) => {
          router.get(
            "/weather",
            paid(route, async ({ ctx }) => {
              upstreamCalls += 1;
              return { body: { city: ctx.query["city"] ?? "Lisbon", tempC: 21, call: upstreamCalls } };
            }),
          );
          router.post(
            "/echo",
            paid(route, async ({ body }) => ({ body: { echoed: Buffer.from(body).toString("utf8") } })),
          );
          router.get(
            "/broken",
            paid(route, async () => {
              throw new Error("upstream exploded");
            }),
          );
        },
      });
      server = app.listen(0, "127.0.0.1");
      await new Promise<void>((resolve) => server.once("listening", resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });

    after(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await db.close();
    });

    const balance = (who: Address) => s.usdc.read.balanceOf([who]);

    async function challenge(path = "/weather") {
      const res = await fetch(`${base}${path}`, { method: path === "/echo" ? "POST" : "GET" });
      expect(res.status).to.equal(402);
      const body = (await res.json()) as { x402Version: number; error: string; accepts: V1Accept[] };
      const header = res.headers.get("payment-required");
      expect(header).to.be.a("string");
      return { body, v2: decodePaymentRequired(header!) };
    }

    /** Signs the first offer's EIP-3009 authorization like the official clients do. */
    async function sign(accept: { asset: Address; payTo: Address; amount: bigint; maxTimeoutSeconds: number; extra: { name: string; version: string } }, style: "v1" | "v2") {
      const now = (await s.publicClient.getBlock()).timestamp;
      const authorization = {
        from: payer.address,
        to: accept.payTo,
        value: accept.amount,
        validAfter: style === "v1" ? now - 600n : 0n,
        validBefore: now + BigInt(accept.maxTimeoutSeconds),
        nonce: toHex(crypto.getRandomValues(new Uint8Array(32))) as Hex,
      };
      const signature = await payer.signTypedData({
        domain: { name: accept.extra.name, version: accept.extra.version, chainId: s.chainId, verifyingContract: accept.asset },
        types: transferWithAuthorizationTypes,
        primaryType: "TransferWithAuthorization",
        message: authorization,
      });
      return {
        signature,
        authorization: {
          from: authorization.from,
          to: authorization.to,
          value: authorization.value.toString(),
          validAfter: authorization.validAfter.toString(),
          validBefore: authorization.validBefore.toString(),
          nonce: authorization.nonce,
        },
      };
    }

    async function v1Header(path = "/weather"): Promise<string> {
      const { body } = await challenge(path);
      const accept = body.accepts[0]!;
      const payload = await sign({ ...accept, amount: BigInt(accept.maxAmountRequired) }, "v1");
      return encode({ x402Version: 1, scheme: accept.scheme, network: accept.network, payload });
    }

    async function paymentRows() {
      const { rows } = await db.query<{ state: string; tx_hash: string | null }>("SELECT state, tx_hash FROM payments ORDER BY id");
      return rows;
    }

    it("answers an unpaid request with 402, a v1 body and a v2 PAYMENT-REQUIRED header", async () => {
      const { body, v2 } = await challenge();
      expect(body.x402Version).to.equal(1);
      expect(body.accepts).to.have.length(1);
      const accept = body.accepts[0]!;
      expect(accept).to.include({ scheme: "exact", network: "skale-base-sepolia", maxAmountRequired: PRICE.toString() });
      expect(accept.asset).to.equal(getAddress(s.usdc.address));
      expect(accept.payTo).to.equal(payTo);
      expect(accept.resource).to.equal(`${base}/weather`);
      expect(accept.extra).to.deep.equal({ name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION });

      expect(v2.x402Version).to.equal(2);
      expect(v2.resource.url).to.equal(`${base}/weather`);
      expect(v2.accepts).to.have.length(1);
      expect(v2.accepts[0]).to.include({ scheme: "exact", network: "eip155:324705682", amount: PRICE });
      expect(v2.accepts[0]!.extra).to.deep.equal({ name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION });
    });

    it("serves a v1 X-PAYMENT request and settles it on chain", async () => {
      const header = await v1Header();
      const [payerBefore, payToBefore] = [await balance(payer.address), await balance(payTo)];
      const res = await fetch(`${base}/weather?city=Porto`, { headers: { "X-PAYMENT": header } });
      expect(res.status).to.equal(200);
      expect(await res.json()).to.include({ city: "Porto", tempC: 21 });
      const receipt = decodeSettlementResponse(res.headers.get("x-payment-response")!, 1);
      expect(receipt.success).to.equal(true);
      expect(receipt.network).to.equal("skale-base-sepolia");
      expect(receipt.payer).to.equal(payer.address);
      const tx = await s.publicClient.getTransactionReceipt({ hash: receipt.transaction as Hex });
      expect(tx.status).to.equal("success");
      expect(await balance(payer.address)).to.equal(payerBefore - PRICE);
      expect(await balance(payTo)).to.equal(payToBefore + PRICE);
      expect((await paymentRows()).at(-1)).to.deep.equal({ state: "confirmed", tx_hash: receipt.transaction });
    });

    it("serves a v2 PAYMENT-SIGNATURE request echoing `accepted`", async () => {
      const { v2 } = await challenge();
      const accepted = v2.accepts[0]!;
      const payload = await sign({ ...accepted, extra: accepted.extra as { name: string; version: string } }, "v2");
      const wireAccepted = { ...accepted, amount: accepted.amount.toString() };
      const header = encode({ x402Version: 2, resource: v2.resource, accepted: wireAccepted, payload });
      const before = await balance(payTo);
      const res = await fetch(`${base}/weather`, { headers: { "PAYMENT-SIGNATURE": header } });
      expect(res.status).to.equal(200);
      const receipt = decodeSettlementResponse(res.headers.get("payment-response")!, 2);
      expect(receipt).to.include({ success: true, network: "eip155:324705682", payer: payer.address });
      expect(await balance(payTo)).to.equal(before + PRICE);
    });

    it("replays the stored response to a retry of the same request, without a second transfer", async () => {
      const header = await v1Header();
      const first = await fetch(`${base}/weather?city=Faro&units=c`, { headers: { "X-PAYMENT": header } });
      expect(first.status).to.equal(200);
      const firstBody = await first.text();
      const before = await balance(payer.address);
      const calls = upstreamCalls;
      // Same request, parameters in another order: the same fingerprint.
      const again = await fetch(`${base}/weather?units=c&city=Faro`, { headers: { "X-PAYMENT": header } });
      expect(again.status).to.equal(200);
      expect(await again.text()).to.equal(firstBody);
      expect(again.headers.get("x-payment-response")).to.equal(first.headers.get("x-payment-response"));
      expect(upstreamCalls).to.equal(calls);
      expect(await balance(payer.address)).to.equal(before);
    });

    it("refuses the same payment for a different request with nonce_used", async () => {
      const header = await v1Header();
      expect((await fetch(`${base}/weather?city=Braga`, { headers: { "X-PAYMENT": header } })).status).to.equal(200);
      const before = await balance(payer.address);
      const res = await fetch(`${base}/weather?city=Evora`, { headers: { "X-PAYMENT": header } });
      expect(res.status).to.equal(402);
      const body = (await res.json()) as { error: string; accepts: unknown[] };
      expect(body.error).to.equal("nonce_used");
      expect(body.accepts).to.have.length(1);
      expect(res.headers.get("payment-required")).to.be.a("string");
      expect(await balance(payer.address)).to.equal(before);
    });

    it("fingerprints the body of a POST", async () => {
      const header = await v1Header("/echo");
      const ok = await fetch(`${base}/echo`, { method: "POST", body: "hello", headers: { "X-PAYMENT": header } });
      expect(ok.status).to.equal(200);
      expect(await ok.json()).to.deep.equal({ echoed: "hello" });
      const other = await fetch(`${base}/echo`, { method: "POST", body: "bye", headers: { "X-PAYMENT": header } });
      expect(other.status).to.equal(402);
      expect(((await other.json()) as { error: string }).error).to.equal("nonce_used");
    });

    it("answers every malformed payment header with 402 malformed_payment", async () => {
      const good = JSON.parse(Buffer.from(await v1Header(), "base64").toString()) as Record<string, unknown>;
      const malformed: [string, string][] = [
        ["X-PAYMENT", ""],
        ["X-PAYMENT", "not base64 at all!"],
        ["X-PAYMENT", Buffer.from("not json").toString("base64")],
        ["X-PAYMENT", encode([1, 2, 3])],
        ["X-PAYMENT", encode("a string")],
        ["X-PAYMENT", encode({})],
        ["X-PAYMENT", encode({ x402Version: "1" })],
        ["X-PAYMENT", encode({ x402Version: 1 })],
        ["X-PAYMENT", encode({ ...good, payload: "nope" })],
        ["X-PAYMENT", encode({ ...good, payload: {} })],
        ["X-PAYMENT", encode({ ...good, payload: { signature: "0x1234" } })],
        ["X-PAYMENT", encode({ ...good, payload: { ...(good.payload as object), signature: "0xzz" } })],
        ["X-PAYMENT", "A".repeat(12_000)],
        ["X-PAYMENT", encode(JSON.parse("[".repeat(50) + "]".repeat(50)))],
        ["PAYMENT-SIGNATURE", ""],
        ["PAYMENT-SIGNATURE", "%%%"],
        ["PAYMENT-SIGNATURE", encode({ x402Version: 2 })],
        ["PAYMENT-SIGNATURE", encode({ x402Version: 2, accepted: { scheme: "exact" }, payload: {} })],
      ];
      for (const [name, value] of malformed) {
        const res = await fetch(`${base}/weather`, { headers: { [name]: value } });
        const body = (await res.json()) as { error: string };
        expect({ name, value: value.slice(0, 60), status: res.status, error: body.error }).to.deep.equal({
          name,
          value: value.slice(0, 60),
          status: 402,
          error: "malformed_payment",
        });
        expect(res.headers.get("payment-required"), name).to.be.a("string");
      }
    });

    it("answers 502 when the upstream fails, charges nothing and releases the payment", async () => {
      const header = await v1Header("/broken");
      const before = await balance(payer.address);
      const res = await fetch(`${base}/broken`, { headers: { "X-PAYMENT": header } });
      expect(res.status).to.equal(502);
      expect(((await res.json()) as { error: string }).error).to.equal("upstream_failed");
      const receipt = decodeSettlementResponse(res.headers.get("x-payment-response")!, 1);
      expect(receipt).to.include({ success: false, transaction: "" });
      expect(await balance(payer.address)).to.equal(before);
      expect((await paymentRows()).at(-1)).to.deep.equal({ state: "released", tx_hash: null });
    });

    it("lets only one of two concurrent identical requests through, and charges once", async () => {
      const header = await v1Header();
      const before = await balance(payer.address);
      const responses = await Promise.all(
        [0, 1].map(() => fetch(`${base}/weather?city=Aveiro`, { headers: { "X-PAYMENT": header } })),
      );
      const statuses = responses.map((r) => r.status).sort();
      expect(statuses).to.satisfy((st: number[]) => st.includes(200) && st.every((x) => x === 200 || x === 409));
      for (const r of responses.filter((x) => x.status === 409)) {
        expect(((await r.json()) as { error: string }).error).to.equal("payment_in_flight");
      }
      expect(await balance(payer.address)).to.equal(before - PRICE);
    });

    it("maps verification failures to their 402 codes", async () => {
      const { body, v2 } = await challenge();
      const accept = body.accepts[0]!;
      const payload = await sign({ ...accept, amount: BigInt(accept.maxAmountRequired) }, "v1");
      const cases: [Record<string, string>, string][] = [
        [{ "X-PAYMENT": encode({ x402Version: 1, scheme: "exact", network: "base-sepolia", payload }) }, "wrong_network"],
        [{ "X-PAYMENT": encode({ x402Version: 1, scheme: "upto", network: accept.network, payload }) }, "unsupported_scheme"],
        [{ "X-PAYMENT": encode({ x402Version: 3, scheme: "exact", network: accept.network, payload }) }, "unsupported_version"],
        [{ "X-PAYMENT": encode({ x402Version: 2, accepted: { ...v2.accepts[0], amount: "1" }, payload }) }, "unsupported_version"],
        [
          { "PAYMENT-SIGNATURE": encode({ x402Version: 2, accepted: { ...v2.accepts[0], amount: "1" }, payload }) },
          "amount_mismatch",
        ],
        [
          { "PAYMENT-SIGNATURE": encode({ x402Version: 2, accepted: { ...v2.accepts[0], amount: String(v2.accepts[0]!.amount), maxTimeoutSeconds: 1 }, payload }) },
          "requirements_mismatch",
        ],
        [
          {
            "X-PAYMENT": encode({
              x402Version: 1,
              scheme: "exact",
              network: accept.network,
              payload: { ...payload, authorization: { ...payload.authorization, value: "1" } },
            }),
          },
          "amount_mismatch",
        ],
      ];
      for (const [headers, code] of cases) {
        const res = await fetch(`${base}/weather`, { headers });
        expect(res.status, code).to.equal(402);
        expect(((await res.json()) as { error: string }).error).to.equal(code);
      }
      const poor = privateKeyToAccount(generatePrivateKey());
      const rich = payer;
      payer = poor;
      try {
        const res = await fetch(`${base}/weather`, { headers: { "X-PAYMENT": await v1Header() } });
        expect(res.status).to.equal(402);
        expect(((await res.json()) as { error: string }).error).to.equal("insufficient_funds");
      } finally {
        payer = rich;
      }
    });

    it("refuses an oversized body with 413 before verifying anything", async () => {
      const header = await v1Header("/echo");
      const res = await fetch(`${base}/echo`, { method: "POST", body: "x".repeat(2048), headers: { "X-PAYMENT": header } });
      expect(res.status).to.equal(413);
      expect(((await res.json()) as { error: string }).error).to.equal("invalid_request");
    });

    it("answers CORS preflights and exposes the x402 headers", async () => {
      const preflight = await fetch(`${base}/weather`, {
        method: "OPTIONS",
        headers: { Origin: ORIGIN, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "x-payment" },
      });
      expect(preflight.status).to.equal(204);
      expect(preflight.headers.get("access-control-allow-origin")).to.equal(ORIGIN);
      const allowed = preflight.headers.get("access-control-allow-headers")!.toLowerCase();
      for (const h of ["x-payment", "payment-signature", "access-control-expose-headers", "content-type"]) expect(allowed).to.include(h);

      const res = await fetch(`${base}/weather`, { headers: { Origin: ORIGIN } });
      expect(res.status).to.equal(402);
      const exposed = res.headers.get("access-control-expose-headers")!.toLowerCase();
      for (const h of ["payment-required", "payment-response", "x-payment-response"]) expect(exposed).to.include(h);

      const stranger = await fetch(`${base}/weather`, { headers: { Origin: "https://evil.example" } });
      expect(stranger.headers.get("access-control-allow-origin")).to.equal(null);
    });

    it("reports health and 404s unknown routes as JSON", async () => {
      const health = await fetch(`${base}/health`);
      expect(health.status).to.equal(200);
      expect(await health.json()).to.deep.include({ status: "ok" });
      const missing = await fetch(`${base}/nope`);
      expect(missing.status).to.equal(404);
      expect(((await missing.json()) as { error: string }).error).to.equal("not_found");
      expect(missing.headers.get("x-request-id")).to.be.a("string");
    });
  });
}
