/**
 * The paths where a verified payment is not charged: settlement failing or of unknown outcome,
 * the upstream refusing the request, and no price to quote. The exact scheme is real (Hardhat's
 * in-process chain); only its `settle` is replaced where a failure has to be forced.
 */
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { network } from "hardhat";
import { expect } from "chai";
import { type Address, type Hex, getAddress, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { createApp } from "../../gateway/http/index.js";
import { silentLogger } from "../../gateway/log.js";
import { type PaidRoute, type PricedToken, createPaymentFlow } from "../../gateway/payments/index.js";
import { PriceUnavailableError, parseUsd, stablecoinPriceSource } from "../../gateway/pricing/index.js";
import {
  type PaymentScheme,
  type TokenInfo,
  collectionMethods,
  createExactScheme,
  transferWithAuthorizationTypes,
} from "../../gateway/schemes/index.js";
import { PaymentError, decodeSettlementResponse } from "../../gateway/x402/index.js";
import { USDC_DOMAIN_NAME, USDC_DOMAIN_VERSION, deployEscrowSystem } from "../contracts/helpers/escrow.js";

const { viem } = await network.create();

after(closeTestBackends);

const route: PaidRoute = { priceUsd: parseUsd("0.002"), description: "Quote", mimeType: "application/json" };
const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64");

for (const backend of testBackends()) {
  describe(`HTTP payments that are not charged [${backend.name}]`, function () {
    this.timeout(60_000);

    let db: TestDatabase;
    let server: Server;
    let base: string;
    let s: Awaited<ReturnType<typeof deployEscrowSystem>>;
    const payer = privateKeyToAccount(generatePrivateKey());
    let settleFailure: PaymentError | undefined;
    let priceDown = false;
    let clock: bigint | undefined;

    before(async () => {
      s = await deployEscrowSystem(viem);
      await s.usdc.write.mint([payer.address, 1_000_000n]);
      db = await backend.fresh();
      const usdc: TokenInfo = {
        address: s.usdc.address,
        symbol: "USDC",
        decimals: 6,
        collectionMethods: collectionMethods.eip3009,
        eip712: { name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION },
      };
      const exact = createExactScheme({ chainId: s.chainId, publicClient: s.publicClient, walletClient: s.operator });
      const scheme: PaymentScheme = {
        ...exact,
        settle: async (payment, options) => {
          if (settleFailure !== undefined) throw settleFailure;
          return exact.settle(payment, options);
        },
      };
      const stable = stablecoinPriceSource();
      const price: PricedToken["price"] = {
        kind: "stablecoin",
        name: "flaky",
        getPrice: async () => {
          if (priceDown) throw new PriceUnavailableError("stale", "flaky", "no fresh price");
          return stable.getPrice();
        },
      };
      const flow = createPaymentFlow({ db, schemes: [scheme], tokens: () => [{ token: usdc, price }],
        payTo: getAddress(s.payee.account.address),
        now: () => clock ?? BigInt(Math.floor(Date.now() / 1000)),
      });
      const app = createApp({
        logger: silentLogger(),
        db,
        publicClient: s.publicClient,
        flow,
        routes: (router, { paid }) => {
          router.get("/quote", paid(route, async ({ ctx }) => (ctx.query["bad"] ? { status: 400, body: { error: "bad symbol" } } : { body: { ok: true } })));
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

    beforeEach(() => {
      settleFailure = undefined;
      priceDown = false;
      clock = undefined;
    });

    const balance = (who: Address) => s.usdc.read.balanceOf([who]);

    async function pay(path: string): Promise<string> {
      const res = await fetch(`${base}${path}`);
      const accept = ((await res.json()) as { accepts: { asset: Address; payTo: Address; maxAmountRequired: string; network: string; maxTimeoutSeconds: number }[] }).accepts[0]!;
      expect(accept.maxAmountRequired).to.equal("2000");
      const now = (await s.publicClient.getBlock()).timestamp;
      const message = {
        from: payer.address,
        to: accept.payTo,
        value: BigInt(accept.maxAmountRequired),
        validAfter: now - 600n,
        validBefore: now + BigInt(accept.maxTimeoutSeconds),
        nonce: toHex(crypto.getRandomValues(new Uint8Array(32))) as Hex,
      };
      const signature = await payer.signTypedData({
        domain: { name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION, chainId: s.chainId, verifyingContract: accept.asset },
        types: transferWithAuthorizationTypes,
        primaryType: "TransferWithAuthorization",
        message,
      });
      const authorization = { ...message, value: message.value.toString(), validAfter: message.validAfter.toString(), validBefore: message.validBefore.toString() };
      return encode({ x402Version: 1, scheme: "exact", network: accept.network, payload: { signature, authorization } });
    }

    async function lastRow() {
      const { rows } = await db.query<{ state: string; failure_reason: string | null }>(
        "SELECT state, failure_reason FROM payments ORDER BY id DESC LIMIT 1",
      );
      return rows[0];
    }

    it("answers a failed settlement with its code and a receipt that charges nothing", async () => {
      const header = await pay("/quote");
      settleFailure = new PaymentError("settlement_failed", "reverted");
      const before = await balance(payer.address);
      const res = await fetch(`${base}/quote`, { headers: { "X-PAYMENT": header } });
      expect(res.status).to.equal(402);
      const body = (await res.json()) as { error: string; accepts: unknown[]; details?: unknown };
      expect(body.error).to.equal("settlement_failed");
      expect(body.accepts).to.have.length(1);
      expect(body.details).to.equal(undefined);
      expect(decodeSettlementResponse(res.headers.get("x-payment-response")!, 1)).to.include({ success: false, transaction: "" });
      expect(await balance(payer.address)).to.equal(before);
      expect(await lastRow()).to.include({ state: "failed" });

      // The key stays used: a retry must sign a new payment.
      settleFailure = undefined;
      const retry = await fetch(`${base}/quote`, { headers: { "X-PAYMENT": header } });
      expect(((await retry.json()) as { error: string }).error).to.equal("nonce_used");
    });

    it("answers 503 when the chain cannot confirm the settlement", async () => {
      const header = await pay("/quote");
      settleFailure = new PaymentError("chain_unavailable", "receipt timed out");
      const res = await fetch(`${base}/quote`, { headers: { "X-PAYMENT": header } });
      expect(res.status).to.equal(503);
      expect(((await res.json()) as { error: string }).error).to.equal("chain_unavailable");
      expect(res.headers.get("x-payment-response")).to.be.a("string");
      expect((await lastRow())?.failure_reason).to.match(/^chain_unavailable/);
    });

    it("relays an upstream 4xx without charging for it", async () => {
      const header = await pay("/quote?bad=1");
      const before = await balance(payer.address);
      const res = await fetch(`${base}/quote?bad=1`, { headers: { "X-PAYMENT": header } });
      expect(res.status).to.equal(400);
      expect(await res.json()).to.deep.equal({ error: "bad symbol" });
      expect(decodeSettlementResponse(res.headers.get("x-payment-response")!, 1).success).to.equal(false);
      expect(await balance(payer.address)).to.equal(before);
      expect(await lastRow()).to.include({ state: "released" });
    });

    it("replays a stored response only while the authorization is valid", async () => {
      const header = await pay("/quote");
      expect((await fetch(`${base}/quote`, { headers: { "X-PAYMENT": header } })).status).to.equal(200);
      expect((await fetch(`${base}/quote`, { headers: { "X-PAYMENT": header } })).status).to.equal(200);
      const validBefore = BigInt((JSON.parse(Buffer.from(header, "base64").toString()) as { payload: { authorization: { validBefore: string } } }).payload.authorization.validBefore);
      clock = validBefore;
      const late = await fetch(`${base}/quote`, { headers: { "X-PAYMENT": header } });
      expect(late.status).to.equal(402);
      expect(((await late.json()) as { error: string }).error).to.equal("nonce_used");
    });

    it("answers 503 price_unavailable when no token can be priced", async () => {
      priceDown = true;
      const res = await fetch(`${base}/quote`);
      expect(res.status).to.equal(503);
      expect(((await res.json()) as { error: string }).error).to.equal("price_unavailable");
    });
  });
}
