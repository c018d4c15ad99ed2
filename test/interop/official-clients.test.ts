/**
 * The official x402 clients pay the gateway unmodified: `x402-fetch` 1.x over x402 v1 and
 * `@x402/fetch` 2.x with `@x402/evm` over v2, against the real exact scheme on Hardhat's
 * in-process chain (chain id 324705682, SKALE Base Sepolia's). Each must end with a 200, the
 * payment-response header, and USDC moved on chain.
 *
 * What each library needs, all of it documented configuration:
 * - x402-fetch 1.x knows "skale-base-sepolia" (chain 324705682) in its closed network list and
 *   signs for the chain the network name maps to; the wallet client's own chain decides which
 *   offers it considers. Its default maxValue is 0.1 USDC, so it is passed explicitly.
 * - @x402/fetch 2.x takes any CAIP-2 id: the exact EVM scheme is registered for
 *   eip155:324705682. Its spend controls only trust the USDC addresses it ships with, so a
 *   locally deployed token is opted in through `spendControls.allowedAssets` with a cap.
 *
 * The v1 client validates every `accepts` entry against `scheme: "exact"` and throws on the whole
 * 402 otherwise, which is why the gateway's v1 body lists only its `exact` offers (escrow and
 * transfer are announced in the v2 header). Both clients pay a gateway offering all three
 * schemes in four tokens.
 */
import { network } from "hardhat";
import { expect } from "chai";
import { type Address, createWalletClient, custom, defineChain, getAddress } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { decodeXPaymentResponse, wrapFetchWithPayment as wrapFetchV1 } from "x402-fetch";
import { decodePaymentResponseHeader, wrapFetchWithPaymentFromConfig } from "@x402/fetch";
import { ExactEvmScheme } from "@x402/evm";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { deployEscrowSystem } from "../contracts/helpers/escrow.js";
import { type EscrowSystem, PRICES, type TestGateway, fundedAgent, startTestGateway } from "../agent/helpers/gateway.js";

const { viem, provider } = await network.create();

after(closeTestBackends);

for (const backend of testBackends()) {
  describe(`official x402 clients pay the gateway unmodified [${backend.name}]`, function () {
    this.timeout(120_000);

    let s: EscrowSystem;
    let db: TestDatabase;
    let everything: TestGateway;

    before(async () => {
      s = await deployEscrowSystem(viem);
      db = await backend.fresh();
      everything = await startTestGateway(s, db, { schemes: ["exact", "escrow", "transfer"], tokens: ["usdc", "usdt", "skl", "weth"] });
    });

    after(async () => {
      await everything.close();
      await db.close();
    });

    const usdc = (): Address => getAddress(s.usdc.address);
    const balance = (who: Address) => s.usdc.read.balanceOf([who]) as Promise<bigint>;

    it("x402-fetch 1.x (v1, X-PAYMENT) gets a 200, X-PAYMENT-RESPONSE and moves USDC", async () => {
      const key = generatePrivateKey();
      await fundedAgent(s, provider, key, { usdc: 1_000_000n });
      const account = privateKeyToAccount(key);
      // The chain object only tells x402-fetch which network it is on; the transport is ours.
      const chain = defineChain({
        id: s.chainId,
        name: "SKALE Base Sepolia (local)",
        nativeCurrency: { name: "Credits", symbol: "CREDITS", decimals: 18 },
        rpcUrls: { default: { http: ["http://127.0.0.1:0"] } },
      });
      const wallet = createWalletClient({ account, chain, transport: custom(provider) });
      const payeeBefore = await balance(everything.payTo);

      const fetchWithPayment = wrapFetchV1(fetch, wallet as never, 10_000n);
      const response = await fetchWithPayment(`${everything.base}/quote`);
      expect(response.status).to.equal(200);
      expect(await response.json()).to.deep.equal({ quote: 42 });
      const header = response.headers.get("x-payment-response");
      expect(header).to.be.a("string");
      const settled = decodeXPaymentResponse(header!);
      expect(settled).to.deep.include({ success: true, network: "skale-base-sepolia", payer: account.address });
      const receipt = await s.publicClient.getTransactionReceipt({ hash: settled.transaction as `0x${string}` });
      expect(receipt.status).to.equal("success");
      expect(await balance(account.address)).to.equal(1_000_000n - PRICES.usdc);
      expect(await balance(everything.payTo)).to.equal(payeeBefore + PRICES.usdc);
      // It sent the v1 header, not the v2 one.
      expect(everything.requests.at(-1)?.header).to.equal("x-payment");
    });

    it("@x402/fetch 2.x with @x402/evm (v2, PAYMENT-SIGNATURE) gets a 200, PAYMENT-RESPONSE and moves USDC", async () => {
      const key = generatePrivateKey();
      await fundedAgent(s, provider, key, { usdc: 1_000_000n });
      const account = privateKeyToAccount(key);
      const payeeBefore = await balance(everything.payTo);
      const network = `eip155:${s.chainId}` as const;

      // The gateway offers exact, escrow and transfer in four tokens; the client picks what it
      // can pay: exact, in the one asset it was allowed.
      const fetchWithPayment = wrapFetchWithPaymentFromConfig(fetch, {
        schemes: [{ network, client: new ExactEvmScheme(account) }],
        spendControls: { allowedAssets: [{ network, asset: usdc(), maxAmountPerPayment: "10000" }] },
      });
      const response = await fetchWithPayment(`${everything.base}/quote`);
      expect(response.status).to.equal(200);
      expect(await response.json()).to.deep.equal({ quote: 42 });
      const header = response.headers.get("payment-response");
      expect(header).to.be.a("string");
      const settled = decodePaymentResponseHeader(header!);
      expect(settled).to.deep.include({ success: true, network, payer: account.address });
      const receipt = await s.publicClient.getTransactionReceipt({ hash: settled.transaction as `0x${string}` });
      expect(receipt.status).to.equal("success");
      expect(await balance(account.address)).to.equal(1_000_000n - PRICES.usdc);
      expect(await balance(everything.payTo)).to.equal(payeeBefore + PRICES.usdc);
      expect(everything.requests.at(-1)?.header).to.equal("payment-signature");
    });
  });
}
