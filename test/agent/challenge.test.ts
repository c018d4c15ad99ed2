/**
 * Reading 402 challenges and deciding what a served payment cost, without a chain or a server:
 * v2 header preferred over the v1 body, unreadable entries skipped one by one, and the budget's
 * counting rule for every kind of answer.
 */
import { expect } from "chai";
import { encodeHeaderJson } from "../../gateway/x402/index.js";
import { AgentError, isCharged, readChallenge } from "../../agent/sdk/index.js";

const asset = "0x2e08028E3C4c2356572E096d8EF835cD5C6030bD";
const payTo = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
const v2Entry = { scheme: "exact", network: "eip155:324705682", amount: "2000", asset, payTo, maxTimeoutSeconds: 300, extra: { name: "USDC", version: "2" } };
const v1Entry = {
  scheme: "exact",
  network: "skale-base-sepolia",
  maxAmountRequired: "3000",
  resource: "https://api.example.com/quote",
  description: "Quote",
  mimeType: "application/json",
  payTo,
  maxTimeoutSeconds: 300,
  asset,
  extra: { name: "USDC", version: "2" },
};
const solanaEntry = { scheme: "exact", network: "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp", amount: "1", asset: "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v", payTo: "2wmVCSfPxGPjrnMMn7rchp4uaeoTqN39mXFC2zhPdri9", maxTimeoutSeconds: 60 };

function response(headers: Record<string, string>, body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 402, headers: { "content-type": "application/json", ...headers } });
}

describe("agent challenge reading", () => {
  it("prefers the v2 header, keeps each entry verbatim for the echo, and skips entries it cannot read", async () => {
    const header = encodeHeaderJson({
      x402Version: 2,
      resource: { url: "https://api.example.com/quote", description: "Quote", mimeType: "application/json" },
      accepts: [solanaEntry, v2Entry],
    });
    const challenge = await readChallenge(response({ "PAYMENT-REQUIRED": header }, { x402Version: 1, error: "payment_required", accepts: [v1Entry] }));
    expect(challenge.version).to.equal(2);
    expect(challenge.unreadable).to.equal(1);
    expect(challenge.error).to.equal("payment_required");
    expect(challenge.options).to.have.length(1);
    expect(challenge.options[0]).to.deep.include({ scheme: "exact", chainId: 324705682, amount: 2000n, resourceUrl: "https://api.example.com/quote" });
    expect(challenge.options[0]?.raw).to.deep.equal(v2Entry);
  });

  it("falls back to the v1 body and maps v1 network names to chain ids", async () => {
    const challenge = await readChallenge(response({}, { x402Version: 1, error: "nonce_used", accepts: [v1Entry, { scheme: "exact" }] }));
    expect(challenge).to.deep.include({ version: 1, error: "nonce_used", unreadable: 1 });
    expect(challenge.options[0]).to.deep.include({ network: "skale-base-sepolia", chainId: 324705682, amount: 3000n });
  });

  it("refuses a 402 without a readable challenge", async () => {
    for (const r of [response({}, { error: "pay" }), response({ "PAYMENT-REQUIRED": "%%%" }, {}), response({ "PAYMENT-REQUIRED": encodeHeaderJson({ x402Version: 3 }) }, {})]) {
      const error = await readChallenge(r).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(AgentError);
      expect((error as AgentError).code).to.equal("invalid_challenge");
    }
  });
});

describe("agent budget counting rule", () => {
  const ok = { success: true as const, transaction: `0x${"ab".repeat(32)}` as `0x${string}`, network: "eip155:1" as const, payer: payTo as `0x${string}` };
  const notCharged = { success: false as const, transaction: "" as const, network: "eip155:1" as const, errorReason: "upstream failed; nothing was charged" };

  it("counts success, a served request without a receipt (async settlement), and unknown outcomes", () => {
    expect(isCharged(200, ok)).to.equal(true);
    expect(isCharged(200, undefined)).to.equal(true);
    expect(isCharged(503, notCharged)).to.equal(true);
    expect(isCharged(500, undefined)).to.equal(true);
  });

  it("does not count refusals and answers whose receipt says nothing was charged", () => {
    expect(isCharged(402, undefined)).to.equal(false);
    expect(isCharged(402, notCharged)).to.equal(false);
    expect(isCharged(400, notCharged)).to.equal(false);
    expect(isCharged(409, undefined)).to.equal(false);
    expect(isCharged(502, notCharged)).to.equal(false);
  });
});
