/**
 * The facilitator when settlement does not simply work: a final refusal (stored, so a retry hears
 * the same and nothing is sent again), an outcome the chain did not confirm (503, and a retry is
 * never told "nothing was charged"), a settle still running when a duplicate arrives (409 after
 * the wait), and a chain that cannot be reached at verification (503). The exact scheme is real
 * (Hardhat's in-process chain); only its `verify` / `settle` are wrapped where a failure has to
 * be forced.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import Koa from "koa";
import { network } from "hardhat";
import { expect } from "chai";
import { type Address, type Hex, getAddress, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type TokenCatalog, createTokenCatalog } from "../../gateway/chain/token-catalog.js";
import { closeTestBackends, recordingLogger, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { createFacilitator } from "../../gateway/facilitator/index.js";
import { facilitatorRouter } from "../../gateway/http/facilitator.js";
import { errorHandler, requestId } from "../../gateway/http/middleware.js";
import { silentLogger } from "../../gateway/log.js";
import { type PaymentScheme, createExactScheme, transferWithAuthorizationTypes } from "../../gateway/schemes/index.js";
import { PaymentError } from "../../gateway/x402/index.js";
import { USDC_DOMAIN_NAME, USDC_DOMAIN_VERSION, deployEscrowSystem } from "../contracts/helpers/escrow.js";

const { viem } = await network.create();

after(closeTestBackends);

const PRICE = 10_000n;
const V2_NETWORK = "eip155:324705682";
type Json = Record<string, unknown>;

for (const backend of testBackends()) {
  describe(`facilitator failure paths [${backend.name}]`, function () {
    this.timeout(120_000);

    let s: Awaited<ReturnType<typeof deployEscrowSystem>>;
    let db: TestDatabase;
    let catalog: TokenCatalog;
    let server: Server;
    let base: string;
    let payTo: Address;
    const payer = privateKeyToAccount(generatePrivateKey());
    /** Forced outcomes; undefined runs the real scheme. */
    let verifyFailure: PaymentError | undefined;
    let settleFailure: PaymentError | undefined;
    let settleGate: Promise<void> | undefined;

    before(async () => {
      s = await deployEscrowSystem(viem);
      payTo = getAddress(s.payee.account.address);
      await s.usdc.write.mint([payer.address, 1_000_000n]);
      db = await backend.fresh();
      catalog = await createTokenCatalog({ client: s.publicClient, registry: s.registry.address, pollIntervalMs: 0, refreshIntervalMs: 0, logger: recordingLogger() });
      const exact = createExactScheme({ chainId: s.chainId, publicClient: s.publicClient, walletClient: s.operator });
      const scheme: PaymentScheme = {
        ...exact,
        verify: async (payload, offer, now) => {
          if (verifyFailure !== undefined) throw verifyFailure;
          return exact.verify(payload, offer, now);
        },
        settle: async (payment, options) => {
          await settleGate;
          if (settleFailure !== undefined) throw settleFailure;
          return exact.settle(payment, options);
        },
      };
      const facilitator = createFacilitator({
        db,
        schemes: [scheme],
        chains: [{ chainId: s.chainId, tokens: () => catalog.accepted() }],
        inFlightWaitMs: 300,
        inFlightPollMs: 20,
      });
      const app = new Koa();
      app.silent = true;
      app.use(requestId(silentLogger()));
      app.use(errorHandler());
      app.use(facilitatorRouter({ facilitator }).routes());
      server = app.listen(0, "127.0.0.1");
      await new Promise<void>((resolve) => server.once("listening", resolve));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/facilitator`;
    });

    after(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await catalog.close();
      await db.close();
    });

    beforeEach(() => {
      verifyFailure = undefined;
      settleFailure = undefined;
      settleGate = undefined;
    });

    async function post(path: "verify" | "settle", body: Json): Promise<{ status: number; body: Json; headers: Headers }> {
      const res = await fetch(`${base}/${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Json, headers: res.headers };
    }

    async function settleRequest(): Promise<Json> {
      const now = (await s.publicClient.getBlock()).timestamp;
      const message = {
        from: payer.address,
        to: payTo,
        value: PRICE,
        validAfter: 0n,
        validBefore: now + 300n,
        nonce: toHex(crypto.getRandomValues(new Uint8Array(32))) as Hex,
      };
      const signature = await payer.signTypedData({
        domain: { name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION, chainId: s.chainId, verifyingContract: s.usdc.address },
        types: transferWithAuthorizationTypes,
        primaryType: "TransferWithAuthorization",
        message,
      });
      const requirements = {
        scheme: "exact",
        network: V2_NETWORK,
        amount: PRICE.toString(),
        asset: getAddress(s.usdc.address),
        payTo,
        maxTimeoutSeconds: 300,
        extra: { name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION },
      };
      const authorization = { ...message, value: "10000", validAfter: "0", validBefore: message.validBefore.toString() };
      return {
        x402Version: 2,
        paymentPayload: { x402Version: 2, accepted: requirements, payload: { signature, authorization } },
        paymentRequirements: requirements,
      };
    }

    const balance = () => s.usdc.read.balanceOf([payer.address]);

    async function lastRow() {
      const { rows } = await db.query<{ state: string; failure_reason: string | null; response_status: number | null }>(
        "SELECT state, failure_reason, response_status FROM payments ORDER BY id DESC LIMIT 1",
      );
      return rows[0];
    }

    it("stores a final settlement refusal and answers a retry with it, charging nothing", async () => {
      const body = await settleRequest();
      const before = await balance();
      settleFailure = new PaymentError("settlement_failed", "the token refuses the transfer (blocked)", { payer: payer.address });
      const first = await post("settle", body);
      expect(first.status).to.equal(200);
      expect(first.body).to.include({ success: false, errorReason: "unexpected_settle_error", transaction: "", network: V2_NETWORK });
      expect(first.body["extra"]).to.deep.equal({ code: "settlement_failed" });
      expect(await lastRow()).to.include({ state: "failed", response_status: 200 });

      settleFailure = undefined;
      const retry = await post("settle", body);
      expect(retry.body).to.deep.equal(first.body);
      expect(await balance()).to.equal(before);
    });

    it("answers 503 when the chain did not confirm, and never tells a retry that nothing was charged", async () => {
      const body = await settleRequest();
      settleFailure = new PaymentError("chain_unavailable", "no receipt for the settlement transaction", {
        payer: payer.address,
        transaction: `0x${"cd".repeat(32)}`,
      });
      const first = await post("settle", body);
      expect(first.status).to.equal(503);
      expect(first.headers.get("retry-after")).to.equal("5");
      expect(first.body).to.include({ error: "chain_unavailable", success: false, errorReason: "unexpected_settle_error" });
      const row = await lastRow();
      expect(row).to.include({ state: "failed", response_status: null });
      expect(row?.failure_reason).to.match(/^chain_unavailable/);

      // The outcome is still open: the retry sends nothing and says so, it does not settle again.
      settleFailure = undefined;
      const before = await balance();
      const retry = await post("settle", body);
      expect(retry.status).to.equal(503);
      expect(retry.body).to.include({ error: "chain_unavailable", success: false });
      expect(await balance()).to.equal(before);
    });

    it("serves a reconciled settlement to a retry once the row is confirmed", async () => {
      const body = await settleRequest();
      settleFailure = new PaymentError("chain_unavailable", "no receipt", { payer: payer.address });
      expect((await post("settle", body)).status).to.equal(503);
      // What the settlement engine's reconciliation does when it finds the transaction mined.
      const transaction = `0x${"ef".repeat(32)}`;
      await db.query("UPDATE payments SET state = 'confirmed', tx_hash = $1 WHERE id = (SELECT max(id) FROM payments)", [transaction]);
      const retry = await post("settle", body);
      expect(retry.status).to.equal(200);
      expect(retry.body).to.deep.equal({ success: true, transaction, network: V2_NETWORK, payer: payer.address });
    });

    it("answers a duplicate 409 payment_in_flight when the first settle outlasts the wait, then the first still settles once", async () => {
      const body = await settleRequest();
      let open!: () => void;
      settleGate = new Promise<void>((resolve) => (open = resolve));
      const before = await balance();
      const first = post("settle", body);
      // Let the first request claim the row before the duplicate arrives.
      for (let i = 0; i < 100 && (await lastRow())?.state !== "reserved"; i++) await new Promise((r) => setTimeout(r, 20));
      const duplicate = await post("settle", body);
      expect(duplicate.status).to.equal(409);
      expect(duplicate.body).to.include({ error: "payment_in_flight", success: false, errorReason: "unexpected_settle_error" });
      open();
      const settled = await first;
      expect(settled.body["success"]).to.equal(true);
      expect(await balance()).to.equal(before - PRICE);
      expect((await post("settle", body)).body).to.deep.equal(settled.body);
    });

    it("answers 503 with isValid false when verification cannot reach the chain", async () => {
      verifyFailure = new PaymentError("chain_unavailable", "authorizationState failed: timeout");
      const res = await post("verify", await settleRequest());
      expect(res.status).to.equal(503);
      expect(res.body).to.include({ error: "chain_unavailable", isValid: false, invalidReason: "unexpected_verify_error" });
    });

    it("writes nothing when settle cannot verify for chain reasons", async () => {
      const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM payments");
      verifyFailure = new PaymentError("chain_unavailable", "timeout");
      const res = await post("settle", await settleRequest());
      expect(res.status).to.equal(503);
      expect(res.body).to.include({ success: false, errorReason: "unexpected_settle_error", transaction: "" });
      const after = await db.query<{ n: string }>("SELECT count(*) AS n FROM payments");
      expect(after.rows[0]?.n).to.equal(rows[0]?.n);
    });
  });
}
