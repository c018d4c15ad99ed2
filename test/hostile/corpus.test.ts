/**
 * The hostile-input corpus (test/fixtures/hostile/*.json) against the composed gateway
 * (`createGateway` on Hardhat's in-process chain, the API catalogue on the fake upstream) and the
 * facilitator API, on each database backend. For every case: the expected status and stable code,
 * never a 5xx, a code from gateway/x402/errors.ts, and nothing charged: every balance and escrow
 * position a payment could move is unchanged on chain, and the ledger has not gained a row.
 */
import { network } from "hardhat";
import { expect } from "chai";
import { type Hash, erc20Abi, getAddress } from "viem";
import { closeTestBackends, testBackends } from "../../gateway/db/testing.js";
import { errorCodes, isErrorCode } from "../../gateway/x402/errors.js";
import { USDC_DOMAIN_NAME, USDC_DOMAIN_VERSION } from "../contracts/helpers/escrow.js";
import { type BuildContext, base64Json, buildLive, buildRequest, challengeOf, urlOf } from "./build.js";
import { loadCorpus } from "./cases.js";
import { type HostileChain, type HostileStack, deployHostileChain, expectNothingCharged, readAnswer, snapshot, startHostileStack } from "./stack.js";

const { viem, provider } = await network.create();
after(closeTestBackends);

const corpus = loadCorpus();

/** What issue 7 asks the corpus to contain, by the category names the fixtures use. */
const REQUIRED_CATEGORIES = [
  "base64",
  "oversized",
  "json-bomb",
  "wrong-network",
  "unknown-token",
  "deprecated-token",
  "expired",
  "not-yet-valid",
  "high-s",
  "wrong-domain",
  "zero-amount",
  "negative-amount",
  "overflow-amount",
  "wrong-payee",
  "reused-nonce",
  "failed-transaction",
  "other-chain-transaction",
  "batch-disallowed-path",
  "facilitator",
];

describe("hostile corpus: the data", () => {
  it("holds at least 50 cases and every category the issue names", () => {
    expect(corpus.length).to.be.at.least(50);
    const categories = new Set(corpus.flatMap((c) => c.categories));
    expect(REQUIRED_CATEGORIES.filter((category) => !categories.has(category))).to.deep.equal([]);
  });

  it("expects only stable codes from gateway/x402/errors.ts, each with its documented status unless HTTP itself says more", () => {
    for (const c of corpus) {
      expect(isErrorCode(c.expect.code), `${c.id}: ${c.expect.code}`).to.equal(true);
      if (c.expect.status === 200) expect(c.target, `${c.id}: only the facilitator answers a refusal with 200`).to.equal("facilitator");
      // 405, 413 and 415 are HTTP's own statuses for invalid_request; everything else is the code's.
      else if (!(c.expect.code === "invalid_request" && [405, 413, 415].includes(c.expect.status))) {
        expect(c.expect.status, `${c.id}: status of ${c.expect.code}`).to.equal(errorCodes[c.expect.code as keyof typeof errorCodes].status);
      }
    }
  });
});

let chain: HostileChain;
let otherChainTransaction: Hash;
let failed: Promise<Hash> | undefined;
let closeOther: (() => Promise<void>) | undefined;

before(async function () {
  this.timeout(120_000);
  chain = await deployHostileChain(viem);
  // A real USDC transfer to the same payee, mined on SKALE Base's chain id: valid there, unknown here.
  const other = await network.create({ override: { chainId: 1187947933 } });
  closeOther = () => other.close();
  const [, sender] = await other.viem.getWalletClients();
  const usdc = await other.viem.deployContract("MockUSDC", [USDC_DOMAIN_NAME, "USDC.e", USDC_DOMAIN_VERSION]);
  await usdc.write.mint([sender!.account.address, 10n ** 12n]);
  otherChainTransaction = await usdc.write.transfer([chain.payTo, 10n ** 9n], { account: sender!.account });
  const receipt = await (await other.viem.getPublicClient()).waitForTransactionReceipt({ hash: otherChainTransaction });
  expect(receipt.status).to.equal("success");
});

after(async () => {
  await closeOther?.();
});

/** A transfer from `agent` of more than it holds, mined with a fixed gas limit: on chain, reverted. */
function failedTransaction(): Promise<Hash> {
  failed ??= (async () => {
    await provider.request({ method: "evm_setAutomine", params: [false] });
    let hash: Hash;
    try {
      hash = await chain.agent.writeContract({
        address: chain.usdc.address,
        abi: erc20Abi,
        functionName: "transfer",
        args: [chain.payTo, 10n ** 30n],
        gas: 100_000n,
        account: chain.agent.account,
        chain: chain.agent.chain,
      });
      await provider.request({ method: "evm_mine", params: [] });
    } finally {
      await provider.request({ method: "evm_setAutomine", params: [true] });
    }
    const receipt = await chain.publicClient.getTransactionReceipt({ hash });
    expect(receipt.status).to.equal("reverted");
    return hash;
  })();
  return failed;
}

for (const backend of testBackends()) {
  describe(`hostile corpus [${backend.name}]`, function () {
    this.timeout(60_000);
    let stack: HostileStack;
    let ctx: BuildContext;

    before(async function () {
      this.timeout(120_000);
      stack = await startHostileStack(chain, backend);
      ctx = { stack, failedTransaction, otherChainTransaction };
    });

    after(async () => {
      await stack?.close();
    });

    for (const c of corpus) {
      it(`${c.file} ${c.id}: ${c.description} → ${c.expect.status} ${c.expect.code}`, async () => {
        const request = await buildRequest(ctx, c);
        await request.setup?.();
        const before = await snapshot(stack);
        const answer = await readAnswer(await fetch(request.url, request.init));

        expect(answer.status, `${c.id}: no 5xx (${answer.text.slice(0, 300)})`).to.be.below(500);
        expect(isErrorCode(answer.code), `${c.id}: stable code in ${answer.text.slice(0, 300)}`).to.equal(true);
        expect({ status: answer.status, code: answer.code }, `${c.id}: ${answer.text.slice(0, 300)}`).to.deep.equal(c.expect);
        if (c.target === "facilitator" && answer.status === 200) {
          // A refusal, never a success with a code attached.
          const body = answer.body as { isValid?: boolean; success?: boolean };
          expect(body.isValid ?? body.success, `${c.id}: verdict`).to.equal(false);
        }
        expectNothingCharged(before, await snapshot(stack), c.id);
      });
    }

    it("refuses a header block over 16 KiB in Node's HTTP parser (431), before any gateway code runs", async () => {
      const before = await snapshot(stack);
      const res = await fetch(urlOf(stack.base, "/api/weather", { city: "Lisbon" }), { headers: { "X-PAYMENT": "A".repeat(17 * 1024) } });
      expect(res.status).to.equal(431);
      expectNothingCharged(before, await snapshot(stack), "431");
    });

    it("still serves an honest payment after the whole corpus, and the charge check notices that one", async () => {
      const challenge = await challengeOf(stack.base, "/api/weather", { city: "Lisbon" });
      const accept = challenge.v2.find((a) => a.scheme === "escrow" && getAddress(a.asset) === getAddress(chain.usdc.address))!;
      const built = await buildLive(ctx, { ...corpus[0]!, id: "honest", target: "gateway", path: "/api/weather", query: { city: "London" }, version: 1 }, {
        base: "escrow",
        token: "usdc",
        transaction: "shared",
      });
      expect((built.value["payload"] as { authorization: { amount: string } }).authorization.amount).to.equal(accept.amount);
      const before = await snapshot(stack);
      const res = await fetch(urlOf(stack.base, "/api/weather", { city: "London" }), { headers: { "X-PAYMENT": base64Json(built.value) } });
      expect(res.status, await res.clone().text()).to.equal(200);
      // ...and the charge detector sees it: the payment is left `verified` for the settlement engine.
      const after = await snapshot(stack);
      expect(after.ledger["verified"] ?? 0).to.equal((before.ledger["verified"] ?? 0) + 1);
      expect(() => expectNothingCharged(before, after, "honest")).to.throw(/verified/);
    });
  });
}
