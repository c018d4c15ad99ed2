/**
 * The facilitator API (docs/facilitator.md) over HTTP, against Hardhat's in-process chain (SKALE
 * Base Sepolia's chain id) with the registry, escrow and tokens deployed, on each database
 * backend: /supported, /verify's verdicts in both protocol versions, /settle for every scheme
 * with balances checked on chain, settling twice (in turn and at once) sending one transaction,
 * and malformed bodies.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import Koa from "koa";
import { network } from "hardhat";
import { expect } from "chai";
import { type Address, type Hex, getAddress, parseEventLogs, toHex, zeroAddress } from "viem";
import { type PrivateKeyAccount, generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type TokenCatalog, createTokenCatalog } from "../../gateway/chain/token-catalog.js";
import { closeTestBackends, recordingLogger, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { type Facilitator, createFacilitator } from "../../gateway/facilitator/index.js";
import { type Database, openPostgres } from "../../gateway/db/index.js";
import { facilitatorRouter } from "../../gateway/http/facilitator.js";
import { errorHandler, requestId } from "../../gateway/http/middleware.js";
import { silentLogger } from "../../gateway/log.js";
import {
  type Offer,
  createEscrowScheme,
  createExactScheme,
  createTransferScheme,
  eip3009Abi,
  transferProofTypes,
  transferWithAuthorizationTypes,
} from "../../gateway/schemes/index.js";
import { randomNonceWord, escrowNonce } from "../../gateway/schemes/escrow/index.js";
import { supportedResponseSchema } from "../../gateway/x402/index.js";
import { USDC_DOMAIN_NAME, USDC_DOMAIN_VERSION, deployEscrowSystem, signPayment } from "../contracts/helpers/escrow.js";

const { viem } = await network.create();

after(closeTestBackends);

const PRICE = 10_000n; // 0.01 USDC / USDT
const MAX_TIMEOUT_SECONDS = 300;
const RESOURCE = { url: "https://api.example.com/v1/weather", description: "Weather", mimeType: "application/json" };
const V1_NETWORK = "skale-base-sepolia";
const V2_NETWORK = "eip155:324705682";

const wallClock = () => BigInt(Math.floor(Date.now() / 1000));

type Json = Record<string, unknown>;

/** The facilitator router inside the middlewares app.ts puts around it. */
async function listen(facilitator: Facilitator): Promise<{ server: Server; base: string }> {
  const app = new Koa();
  app.silent = true;
  app.use(requestId(silentLogger()));
  app.use(errorHandler());
  const router = facilitatorRouter({ facilitator });
  app.use(router.routes());
  app.use(router.allowedMethods());
  const server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/facilitator` };
}

interface Reply {
  status: number;
  body: Json;
  headers: Headers;
}

for (const backend of testBackends()) {
  describe(`facilitator API [${backend.name}]`, function () {
    this.timeout(120_000);

    let s: Awaited<ReturnType<typeof deployEscrowSystem>>;
    let db: TestDatabase;
    let catalog: TokenCatalog;
    let server: Server;
    let base: string;
    let payTo: Address;
    let offers: { exact: (amount?: bigint) => Offer; escrow: (amount?: bigint) => Offer; transfer: (amount?: bigint) => Offer };
    let makeFacilitator: (database: Database) => Facilitator;
    const payer = privateKeyToAccount(generatePrivateKey());
    const stranger = privateKeyToAccount(generatePrivateKey());
    const poor = privateKeyToAccount(generatePrivateKey());

    before(async () => {
      s = await deployEscrowSystem(viem);
      payTo = getAddress(s.payee.account.address);
      await s.usdc.write.mint([payer.address, 1_000_000n]);
      db = await backend.fresh();
      catalog = await createTokenCatalog({
        client: s.publicClient,
        registry: s.registry.address,
        pollIntervalMs: 0,
        refreshIntervalMs: 0,
        logger: recordingLogger(),
      });
      const chainId = s.chainId;
      const exact = createExactScheme({ chainId, publicClient: s.publicClient, walletClient: s.operator });
      const escrowConfig = {
        chainId,
        escrow: getAddress(s.escrow.address),
        publicClient: s.publicClient,
        walletClient: s.operator,
        settlementHorizonSeconds: 300n,
      };
      const escrow = createEscrowScheme(escrowConfig);
      const transfer = createTransferScheme({ chainId, publicClient: s.publicClient });
      makeFacilitator = (database: Database) =>
        createFacilitator({
          db: database,
          schemes: [exact, createEscrowScheme(escrowConfig), transfer],
          chains: [
            {
              chainId,
              tokens: () => catalog.accepted(),
              signers: [s.operator.account.address],
              kindExtra: { escrow: { escrow: getAddress(s.escrow.address) } },
            },
          ],
          inFlightPollMs: 20,
        });
      const facilitator = makeFacilitator(db);
      const token = (address: Address) => catalog.get(address)!;
      const make = (scheme: typeof exact, address: Address) => (amount = PRICE) => {
        const offer = scheme.offer({ token: token(address), amount, payTo, maxTimeoutSeconds: MAX_TIMEOUT_SECONDS, resource: RESOURCE });
        if (offer === undefined) throw new Error(`no ${scheme.name} offer`);
        return offer;
      };
      offers = { exact: make(exact, s.usdc.address), escrow: make(escrow, s.usdc.address), transfer: make(transfer, s.usdt.address) };

      ({ server, base } = await listen(facilitator));
    });

    after(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await catalog.close();
      await db.close();
    });

    async function post(path: "verify" | "settle", body: unknown, init: RequestInit = {}): Promise<Reply> {
      const res = await fetch(`${base}/${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: typeof body === "string" ? body : JSON.stringify(body),
        ...init,
      });
      return { status: res.status, body: (await res.json()) as Json, headers: res.headers };
    }

    const chainNow = async () => (await s.publicClient.getBlock()).timestamp;
    const usdcBalance = (who: Address) => s.usdc.read.balanceOf([who]);

    // ---- request builders: what a resource server sends for each protocol version -------------

    function requirementsV2(offer: Offer, overrides: Json = {}): Json {
      return {
        scheme: offer.scheme,
        network: V2_NETWORK,
        amount: offer.amount.toString(),
        asset: offer.token.address,
        payTo: offer.payTo,
        maxTimeoutSeconds: offer.maxTimeoutSeconds,
        extra: offer.extra,
        ...overrides,
      };
    }

    function requirementsV1(offer: Offer, overrides: Json = {}): Json {
      return {
        scheme: offer.scheme,
        network: V1_NETWORK,
        maxAmountRequired: offer.amount.toString(),
        resource: RESOURCE.url,
        description: RESOURCE.description,
        mimeType: RESOURCE.mimeType,
        payTo: offer.payTo,
        maxTimeoutSeconds: offer.maxTimeoutSeconds,
        asset: offer.token.address,
        extra: offer.extra,
        ...overrides,
      };
    }

    function request(version: 1 | 2, requirements: Json, payload: Json): Json {
      return version === 1
        ? {
            x402Version: 1,
            paymentPayload: { x402Version: 1, scheme: requirements["scheme"], network: requirements["network"], payload },
            paymentRequirements: requirements,
          }
        : {
            x402Version: 2,
            paymentPayload: { x402Version: 2, resource: RESOURCE, accepted: requirements, payload },
            paymentRequirements: requirements,
          };
    }

    interface ExactFields {
      from: Address;
      to: Address;
      value: bigint;
      validAfter: bigint;
      validBefore: bigint;
      nonce: Hex;
    }

    /** An EIP-3009 authorization as the official clients sign it, `fields` overriding. */
    async function exactPayload(options: { signer?: PrivateKeyAccount; fields?: Partial<ExactFields> } = {}): Promise<Json> {
      const now = await chainNow();
      const message: ExactFields = {
        from: payer.address,
        to: payTo,
        value: PRICE,
        validAfter: now - 600n,
        validBefore: now + BigInt(MAX_TIMEOUT_SECONDS),
        nonce: toHex(crypto.getRandomValues(new Uint8Array(32))),
        ...options.fields,
      };
      const signature = await (options.signer ?? payer).signTypedData({
        domain: { name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION, chainId: s.chainId, verifyingContract: s.usdc.address },
        types: transferWithAuthorizationTypes,
        primaryType: "TransferWithAuthorization",
        message,
      });
      return {
        signature,
        authorization: {
          ...message,
          value: message.value.toString(),
          validAfter: message.validAfter.toString(),
          validBefore: message.validBefore.toString(),
        },
      };
    }

    async function exactRequest(version: 1 | 2, options: Parameters<typeof exactPayload>[0] = {}, overrides: Json = {}): Promise<Json> {
      const offer = offers.exact();
      const requirements = version === 1 ? requirementsV1(offer, overrides) : requirementsV2(offer, overrides);
      return request(version, requirements, await exactPayload(options));
    }

    async function rows(): Promise<{ state: string; request_fingerprint: string; tx_hash: string | null }[]> {
      const { rows } = await db.query<{ state: string; request_fingerprint: string; tx_hash: string | null }>(
        "SELECT state, request_fingerprint, tx_hash FROM payments ORDER BY id",
      );
      return rows;
    }

    // ---- /supported -----------------------------------------------------------------------------

    it("lists every scheme on the served network by its v1 name and its CAIP-2 id", async () => {
      const res = await fetch(`${base}/supported`);
      expect(res.status).to.equal(200);
      const body = (await res.json()) as Json;
      expect(supportedResponseSchema.safeParse(body).success).to.equal(true);
      const kinds = (body["kinds"] as Json[]).map((k) => `${k["x402Version"]}/${k["scheme"]}/${k["network"]}`);
      expect(kinds).to.have.members([
        `1/exact/${V1_NETWORK}`,
        `2/exact/${V2_NETWORK}`,
        `1/escrow/${V1_NETWORK}`,
        `2/escrow/${V2_NETWORK}`,
        `1/transfer/${V1_NETWORK}`,
        `2/transfer/${V2_NETWORK}`,
      ]);
      const escrowKind = (body["kinds"] as Json[]).find((k) => k["scheme"] === "escrow" && k["x402Version"] === 2);
      expect(escrowKind?.["extra"]).to.deep.equal({ escrow: getAddress(s.escrow.address) });
      expect(body["extensions"]).to.deep.equal([]);
      expect(body["signers"]).to.deep.equal({ [V2_NETWORK]: [getAddress(s.operator.account.address)] });
    });

    // ---- /verify --------------------------------------------------------------------------------

    for (const version of [1, 2] as const) {
      describe(`verify, x402 v${version}`, () => {
        it("accepts a valid exact payment and names the payer", async () => {
          const res = await post("verify", await exactRequest(version));
          expect(res.status).to.equal(200);
          expect(res.body).to.deep.equal({ isValid: true, payer: payer.address });
        });

        const refusals: [string, () => Promise<Json>, string, string][] = [
          ["a signature by someone else", () => exactRequest(version, { signer: stranger }), "invalid_exact_evm_payload_signature", "invalid_signature"],
          [
            "an authorization paying someone other than payTo",
            () => exactRequest(version, { fields: { to: stranger.address } }),
            "invalid_exact_evm_payload_recipient_mismatch",
            "wrong_recipient",
          ],
          [
            "an authorization for less than the amount",
            () => exactRequest(version, { fields: { value: PRICE - 1n } }),
            "invalid_exact_evm_payload_authorization_value",
            "amount_mismatch",
          ],
          [
            "an expired authorization",
            () => exactRequest(version, { fields: { validBefore: wallClock() + 10n } }),
            "invalid_exact_evm_payload_authorization_valid_before",
            "expired",
          ],
          [
            "an authorization valid only later",
            () => exactRequest(version, { fields: { validAfter: wallClock() + 3_600n } }),
            "invalid_exact_evm_payload_authorization_valid_after",
            "not_yet_valid",
          ],
          [
            "a token the registry does not know",
            () => exactRequest(version, {}, { asset: getAddress(toHex(crypto.getRandomValues(new Uint8Array(20)))) }),
            "invalid_payment_requirements",
            "unsupported_token",
          ],
          [
            "a token the scheme cannot collect (USDT has no EIP-3009)",
            () => exactRequest(version, {}, { asset: getAddress(s.usdt.address) }),
            "invalid_payment_requirements",
            "unsupported_token",
          ],
          [
            "a network this facilitator does not serve",
            () => exactRequest(version, {}, { network: version === 1 ? "base-sepolia" : "eip155:8453" }),
            "invalid_network",
            "wrong_network",
          ],
          ["a scheme it does not know", () => exactRequest(version, {}, { scheme: "upto" }), "unsupported_scheme", "unsupported_scheme"],
          [
            "an EIP-712 domain other than the registry's",
            () => exactRequest(version, {}, { extra: { name: "USD Coin", version: "2" } }),
            "invalid_payment_requirements",
            "requirements_mismatch",
          ],
          [
            "an amount above the registry's per-payment limit",
            () => exactRequest(version, {}, version === 1 ? { maxAmountRequired: "1000000000000" } : { amount: "1000000000000" }),
            "invalid_payment_requirements",
            "requirements_mismatch",
          ],
          [
            "a payer without the funds",
            () => exactRequest(version, { signer: poor, fields: { from: poor.address } }),
            "insufficient_funds",
            "insufficient_funds",
          ],
        ];
        for (const [what, build, reason, code] of refusals) {
          it(`refuses ${what}: 200, isValid false, ${reason}`, async () => {
            const res = await post("verify", await build());
            expect(res.status).to.equal(200);
            expect(res.body).to.include({ isValid: false, invalidReason: reason });
            expect(res.body["extra"]).to.deep.equal({ code });
            expect(res.body["invalidMessage"]).to.be.a("string");
          });
        }
      });
    }

    it("refuses a v2 payment whose accepted terms differ from the requirements", async () => {
      const body = await exactRequest(2);
      const payment = body["paymentPayload"] as Json;
      payment["accepted"] = { ...(payment["accepted"] as Json), amount: (PRICE - 1n).toString() };
      const res = await post("verify", body);
      expect(res.body).to.include({ isValid: false, invalidReason: "invalid_payment_requirements" });
      expect(res.body["extra"]).to.deep.equal({ code: "requirements_mismatch" });
    });

    it("refuses a token the registry has deprecated, for every scheme", async () => {
      const transferRequest = request(2, requirementsV2(offers.transfer()), {
        transaction: `0x${"11".repeat(32)}`,
        payer: stranger.address,
        signature: `0x${"22".repeat(65)}`,
      });
      await s.registry.write.setStatus([s.usdt.address, 2]);
      await catalog.refresh();
      try {
        const res = await post("verify", transferRequest);
        expect(res.body).to.include({ isValid: false, invalidReason: "invalid_payment_requirements" });
        expect(res.body["extra"]).to.deep.equal({ code: "unsupported_token" });
      } finally {
        await s.registry.write.setStatus([s.usdt.address, 1]);
        await catalog.refresh();
      }
    });

    // ---- /settle: exact --------------------------------------------------------------------------

    for (const version of [1, 2] as const) {
      it(`settles an exact payment once on chain (v${version}) and answers in that version's spelling`, async () => {
        const body = await exactRequest(version);
        const [payerBefore, payeeBefore] = [await usdcBalance(payer.address), await usdcBalance(payTo)];
        const res = await post("settle", body);
        expect(res.status).to.equal(200);
        expect(res.body).to.include({ success: true, network: version === 1 ? V1_NETWORK : V2_NETWORK, payer: payer.address });
        const receipt = await s.publicClient.getTransactionReceipt({ hash: res.body["transaction"] as Hex });
        expect(receipt.status).to.equal("success");
        expect(await usdcBalance(payer.address)).to.equal(payerBefore - PRICE);
        expect(await usdcBalance(payTo)).to.equal(payeeBefore + PRICE);
        const last = (await rows()).at(-1)!;
        expect(last.state).to.equal("confirmed");
        expect(last.tx_hash).to.equal((res.body["transaction"] as string).toLowerCase());
        expect(last.request_fingerprint).to.match(new RegExp(`^facilitator:settle:v${version}:[0-9a-f]{64}$`));

        // Spent: /verify now says so.
        const again = await post("verify", body);
        expect(again.body).to.include({ isValid: false, invalidReason: "invalid_transaction_state" });
        expect(again.body["extra"]).to.deep.equal({ code: "nonce_used" });
      });
    }

    it("answers a repeated settle with the first answer and sends nothing", async () => {
      const body = await exactRequest(2);
      const first = await post("settle", body);
      expect(first.body["success"]).to.equal(true);
      const balance = await usdcBalance(payer.address);
      const blocks = await s.publicClient.getBlockNumber();
      const second = await post("settle", body);
      expect(second.status).to.equal(200);
      expect(second.body).to.deep.equal(first.body);
      expect(await usdcBalance(payer.address)).to.equal(balance);
      expect(await s.publicClient.getBlockNumber()).to.equal(blocks);
    });

    it("refuses the same payment presented under other terms, without a transaction", async () => {
      const body = await exactRequest(1);
      expect((await post("settle", body)).body["success"]).to.equal(true);
      const other = structuredClone(body);
      (other["paymentRequirements"] as Json)["description"] = "Another resource";
      const blocks = await s.publicClient.getBlockNumber();
      const res = await post("settle", other);
      expect(res.status).to.equal(200);
      expect(res.body).to.include({ success: false, errorReason: "invalid_transaction_state", transaction: "", network: V1_NETWORK });
      expect(res.body["extra"]).to.deep.equal({ code: "nonce_used" });
      expect(await s.publicClient.getBlockNumber()).to.equal(blocks);
    });

    it("settles concurrent settles of one payment with exactly one transfer, all answering it", async () => {
      const body = await exactRequest(2);
      const before = await usdcBalance(payer.address);
      const from = await s.publicClient.getBlockNumber();
      const rowsBefore = (await rows()).length;
      const replies = await Promise.all(Array.from({ length: 4 }, () => post("settle", body)));
      for (const reply of replies) {
        expect(reply.status).to.equal(200);
        expect(reply.body).to.deep.equal(replies[0]!.body);
      }
      expect(replies[0]!.body["success"]).to.equal(true);
      expect(await usdcBalance(payer.address)).to.equal(before - PRICE);
      const logs = await s.publicClient.getLogs({ address: s.usdc.address, fromBlock: from + 1n, toBlock: "latest" });
      const transfers = parseEventLogs({ abi: eip3009Abi, eventName: "Transfer", logs }).filter(
        (log) => getAddress(log.args.from) === payer.address,
      );
      expect(transfers).to.have.length(1);
      expect((await rows()).length).to.equal(rowsBefore + 1);
    });

    it("sends one transaction when two instances sharing PostgreSQL settle the same payment at once", async function () {
      if (backend.url === undefined) this.skip(); // PGlite is one process's database by design
      const second = await openPostgres(backend.url, { schema: db.schema, max: 4 });
      const other = await listen(makeFacilitator(second));
      try {
        const body = await exactRequest(1);
        const before = await usdcBalance(payer.address);
        const sendTo = (url: string) =>
          fetch(`${url}/settle`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) }).then(
            async (res) => (await res.json()) as Json,
          );
        const replies = await Promise.all([sendTo(base), sendTo(other.base), sendTo(base), sendTo(other.base)]);
        for (const reply of replies) expect(reply).to.deep.equal(replies[0]);
        expect(replies[0]!["success"]).to.equal(true);
        expect(await usdcBalance(payer.address)).to.equal(before - PRICE);
      } finally {
        await new Promise<void>((resolve) => other.server.close(() => resolve()));
        await second.close();
      }
    });

    it("answers a payment that does not verify with success false and writes nothing", async () => {
      const rowsBefore = (await rows()).length;
      const res = await post("settle", await exactRequest(2, { signer: poor, fields: { from: poor.address } }));
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({
        success: false,
        errorReason: "insufficient_funds",
        errorMessage: res.body["errorMessage"],
        transaction: "",
        network: V2_NETWORK,
        payer: poor.address,
        extra: { code: "insufficient_funds" },
      });
      expect((await rows()).length).to.equal(rowsBefore);
    });

    // ---- /settle: escrow and transfer ------------------------------------------------------------

    it("settles an escrow payment from the payer's deposit to the payee's earnings", async () => {
      const agent = getAddress(s.agent.account.address);
      await s.escrow.write.deposit([s.usdc.address, 100n * PRICE], { account: s.agent.account });
      const offer = offers.escrow();
      const authorization = {
        payer: agent,
        payee: payTo,
        token: getAddress(s.usdc.address),
        amount: PRICE,
        nonce: escrowNonce(randomNonceWord(), 0),
        validAfter: 0n,
        validBefore: (await chainNow()) + BigInt(MAX_TIMEOUT_SECONDS),
        challengeHash: offer.extra["challengeHash"] as Hex,
      };
      const signature = await signPayment(s.agent, s.domain, authorization);
      const payload = {
        signature,
        authorization: Object.fromEntries(Object.entries(authorization).map(([k, v]) => [k, typeof v === "bigint" ? v.toString() : v])),
      };
      const body = request(1, requirementsV1(offer), payload);
      const [escrowed, earned, fees] = [
        await s.escrow.read.balanceOf([s.usdc.address, agent]),
        await s.escrow.read.earningsOf([s.usdc.address, payTo]),
        await s.escrow.read.accruedFees([s.usdc.address]),
      ];

      const res = await post("settle", body);
      expect(res.body).to.include({ success: true, network: V1_NETWORK, payer: agent });
      expect(await s.escrow.read.balanceOf([s.usdc.address, agent])).to.equal(escrowed - PRICE);
      const earnedNow = await s.escrow.read.earningsOf([s.usdc.address, payTo]);
      const feesNow = await s.escrow.read.accruedFees([s.usdc.address]);
      expect(earnedNow - earned + (feesNow - fees)).to.equal(PRICE);

      const again = await post("settle", body);
      expect(again.body).to.deep.equal(res.body);
      expect(await s.escrow.read.balanceOf([s.usdc.address, agent])).to.equal(escrowed - PRICE);
    });

    it("settles a transfer proof by recording it, and never lets the transfer pay twice", async () => {
      const agent = getAddress(s.agent.account.address);
      const offer = offers.transfer();
      const transaction = await s.usdt.write.transfer([payTo, PRICE], { account: s.agent.account });
      await s.publicClient.waitForTransactionReceipt({ hash: transaction });
      const signature = await s.agent.signTypedData({
        account: s.agent.account,
        domain: { name: "PayPerAgent Transfer Proof", version: "1", chainId: s.chainId },
        types: transferProofTypes,
        primaryType: "TransferProof",
        message: { transaction, challengeHash: offer.extra["challengeHash"] as Hex },
      });
      const body = request(2, requirementsV2(offer), { transaction, payer: agent, signature });

      expect((await post("verify", body)).body).to.deep.equal({ isValid: true, payer: agent });
      const blocks = await s.publicClient.getBlockNumber();
      const res = await post("settle", body);
      expect(res.body).to.deep.equal({ success: true, transaction, network: V2_NETWORK, payer: agent });
      expect(await s.publicClient.getBlockNumber()).to.equal(blocks);

      const verify = await post("verify", body);
      expect(verify.body).to.include({ isValid: false, invalidReason: "invalid_transaction_state" });
      expect(verify.body["extra"]).to.deep.equal({ code: "transfer_already_used" });
      const v1 = await post("settle", request(1, requirementsV1(offer), { transaction, payer: agent, signature }));
      expect(v1.body).to.include({ success: false, errorReason: "invalid_transaction_state" });
    });

    // ---- bad input --------------------------------------------------------------------------------

    const malformed: [string, unknown, number][] = [
      ["a body that is not JSON", "{not json", 400],
      ["a JSON array", "[]", 400],
      ["an object without x402Version", {}, 400],
      ["an unknown protocol version", { x402Version: 3, paymentPayload: {}, paymentRequirements: {} }, 400],
      ["requirements missing fields", { x402Version: 2, paymentPayload: {}, paymentRequirements: { scheme: "exact" } }, 400],
      ["JSON nested deeper than any payment", `${"[".repeat(64)}${"]".repeat(64)}`, 400],
    ];
    for (const [what, body, status] of malformed) {
      for (const path of ["verify", "settle"] as const) {
        it(`answers ${what} on /${path} with ${status} invalid_request`, async () => {
          const res = await post(path, body);
          expect(res.status).to.equal(status);
          expect(res.body["error"]).to.equal("invalid_request");
          expect(res.body["message"]).to.be.a("string");
        });
      }
    }

    it("names the offending fields of a malformed request", async () => {
      const body = await exactRequest(2);
      (body["paymentRequirements"] as Json)["payTo"] = zeroAddress.slice(0, 10);
      const res = await post("verify", body);
      expect(res.status).to.equal(400);
      expect(Object.keys((res.body["details"] as { fields: Json }).fields)).to.include("paymentRequirements.payTo");
    });

    it("answers a body that is not application/json with 415 invalid_request", async () => {
      const res = await post("settle", JSON.stringify(await exactRequest(2)), { headers: { "content-type": "text/plain" } });
      expect(res.status).to.equal(415);
      expect(res.body["error"]).to.equal("invalid_request");
    });

    it("answers an oversized body with 413 invalid_request", async () => {
      const res = await post("verify", { x402Version: 2, padding: "x".repeat(70 * 1024) });
      expect(res.status).to.equal(413);
      expect(res.body["error"]).to.equal("invalid_request");
    });

    it("answers GET on /settle with 405, not a 500", async () => {
      const res = await fetch(`${base}/settle`);
      expect(res.status).to.equal(405);
    });
  });
}
