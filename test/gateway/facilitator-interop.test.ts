/**
 * The facilitator as the official x402 packages see it, unmodified: a v2 resource server's
 * `HTTPFacilitatorClient` (@x402/core) with a payment made by `@x402/evm`'s exact client, and a
 * v1 server's `useFacilitator` (x402 1.x) with a payment made by `createPaymentHeader`. Both
 * authenticate with a bearer token the way those clients are configured to.
 */
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import Koa from "koa";
import { network } from "hardhat";
import { expect } from "chai";
import { type Address, type Hex, createWalletClient, custom, defineChain, getAddress } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { x402Client } from "@x402/core/client";
import { HTTPFacilitatorClient } from "@x402/core/http";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import { createPaymentHeader } from "x402/client";
import { useFacilitator } from "x402/verify";
import { type TokenCatalog, createTokenCatalog } from "../../gateway/chain/token-catalog.js";
import { closeTestBackends, recordingLogger, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { createFacilitator } from "../../gateway/facilitator/index.js";
import { facilitatorRouter } from "../../gateway/http/facilitator.js";
import { errorHandler, requestId } from "../../gateway/http/middleware.js";
import { silentLogger } from "../../gateway/log.js";
import { createExactScheme } from "../../gateway/schemes/index.js";
import { USDC_DOMAIN_NAME, USDC_DOMAIN_VERSION, deployEscrowSystem } from "../contracts/helpers/escrow.js";

const { viem } = await network.create();

after(closeTestBackends);

const PRICE = 10_000n;
const TOKEN = "interop-token-0123456789abcdef";
const V2_NETWORK = "eip155:324705682";
const RESOURCE = { url: "https://api.example.com/v1/weather", description: "Weather", mimeType: "application/json" };

const authHeaders = async () => {
  const headers = { Authorization: `Bearer ${TOKEN}` };
  return { verify: headers, settle: headers, supported: headers };
};

for (const backend of testBackends()) {
  describe(`facilitator with the official x402 clients [${backend.name}]`, function () {
    this.timeout(120_000);

    let s: Awaited<ReturnType<typeof deployEscrowSystem>>;
    let db: TestDatabase;
    let catalog: TokenCatalog;
    let server: Server;
    let url: string;
    let payTo: Address;
    const payer = privateKeyToAccount(generatePrivateKey());

    before(async () => {
      s = await deployEscrowSystem(viem);
      payTo = getAddress(s.payee.account.address);
      await s.usdc.write.mint([payer.address, 1_000_000n]);
      db = await backend.fresh();
      catalog = await createTokenCatalog({ client: s.publicClient, registry: s.registry.address, pollIntervalMs: 0, refreshIntervalMs: 0, logger: recordingLogger() });
      const exact = createExactScheme({ chainId: s.chainId, publicClient: s.publicClient, walletClient: s.operator });
      const facilitator = createFacilitator({ db, schemes: [exact], chains: [{ chainId: s.chainId, tokens: () => catalog.accepted() }] });
      const app = new Koa();
      app.silent = true;
      app.use(requestId(silentLogger()));
      app.use(errorHandler());
      app.use(facilitatorRouter({ facilitator, tokens: [TOKEN] }).routes());
      server = app.listen(0, "127.0.0.1");
      await new Promise<void>((resolve) => server.once("listening", resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/facilitator`;
    });

    after(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await catalog.close();
      await db.close();
    });

    /** An agent's v2 client; the local USDC is no default asset of the package, so it is allowed by address. */
    const payingClient = () =>
      x402Client.fromConfig({
        schemes: [{ network: V2_NETWORK, client: new ExactEvmScheme(payer) }],
        spendControls: { allowedAssets: [{ network: V2_NETWORK, asset: getAddress(s.usdc.address) }] },
      });

    const requirements = () => ({
      scheme: "exact",
      network: V2_NETWORK as `${string}:${string}`,
      amount: PRICE.toString(),
      asset: getAddress(s.usdc.address),
      payTo,
      maxTimeoutSeconds: 300,
      extra: { name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION },
    });

    it("serves @x402/core's HTTPFacilitatorClient: supported, verify, settle", async () => {
      const facilitator = new HTTPFacilitatorClient({ url, createAuthHeaders: authHeaders });
      const supported = await facilitator.getSupported();
      expect(supported.kinds).to.deep.include({ x402Version: 2, scheme: "exact", network: V2_NETWORK });
      expect(supported.kinds).to.deep.include({ x402Version: 1, scheme: "exact", network: "skale-base-sepolia" });

      const client = payingClient();
      const accepted = requirements();
      const payload = await client.createPaymentPayload({ x402Version: 2, resource: RESOURCE, accepts: [accepted] });

      const verified = await facilitator.verify(payload, accepted);
      expect(verified).to.include({ isValid: true, payer: payer.address });

      const before = await s.usdc.read.balanceOf([payTo]);
      const settled = await facilitator.settle(payload, accepted);
      expect(settled).to.include({ success: true, network: V2_NETWORK, payer: payer.address });
      expect(await s.usdc.read.balanceOf([payTo])).to.equal(before + PRICE);

      // A refusal arrives as data, not as an exception: the spent payment re-verified.
      const again = await facilitator.verify(payload, accepted);
      expect(again).to.include({ isValid: false, invalidReason: "invalid_transaction_state" });
    });

    it("refuses the v2 client without the token, with 401", async () => {
      const facilitator = new HTTPFacilitatorClient({ url });
      const client = payingClient();
      const accepted = requirements();
      const payload = await client.createPaymentPayload({ x402Version: 2, resource: RESOURCE, accepts: [accepted] });
      const error = await facilitator.verify(payload, accepted).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(Error);
      expect((error as Error).message).to.match(/401/);
    });

    it("serves x402 1.x's useFacilitator with a payment from createPaymentHeader", async () => {
      const chain = defineChain({
        id: s.chainId,
        name: "SKALE Base Sepolia (local)",
        nativeCurrency: { name: "sFUEL", symbol: "sFUEL", decimals: 18 },
        rpcUrls: { default: { http: ["http://127.0.0.1:1"] } },
      });
      // Signing is local to the account; the transport is never used.
      const wallet = createWalletClient({ account: payer, chain, transport: custom({ request: async () => { throw new Error("no RPC"); } }) });
      const v1Requirements = {
        scheme: "exact" as const,
        network: "skale-base-sepolia" as const,
        maxAmountRequired: PRICE.toString(),
        resource: RESOURCE.url as `${string}://${string}`,
        description: RESOURCE.description,
        mimeType: RESOURCE.mimeType,
        payTo,
        maxTimeoutSeconds: 300,
        asset: getAddress(s.usdc.address),
        extra: { name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION },
      };
      const header = await createPaymentHeader(wallet as never, 1, v1Requirements);
      const payment = JSON.parse(Buffer.from(header, "base64").toString("utf8")) as Parameters<ReturnType<typeof useFacilitator>["verify"]>[0];

      const { verify, settle } = useFacilitator({ url: url as `${string}://${string}`, createAuthHeaders: authHeaders as never });
      expect(await verify(payment, v1Requirements)).to.deep.equal({ isValid: true, payer: payer.address });
      const settled = await settle(payment, v1Requirements);
      expect(settled).to.include({ success: true, network: "skale-base-sepolia", payer: payer.address });
      expect((await s.publicClient.getTransactionReceipt({ hash: settled.transaction as Hex })).status).to.equal("success");
    });
  });
}
