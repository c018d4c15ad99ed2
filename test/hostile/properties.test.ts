/**
 * Property-based hostile input (fast-check) against the composed gateway on the in-process chain:
 * random payment headers (random base64, random text, random JSON shaped like x402 envelopes with
 * random field types and values, random mutations of valid signed payments of every scheme and
 * protocol version) and random request parameters and batch bodies on the paid routes. For every
 * run: no 5xx, a stable code from gateway/x402/errors.ts, and no row written to the ledger; per
 * property: no balance or escrow position moved on chain.
 *
 * The valid payments the mutations start from are signed once and never sent unmutated. Each
 * mutation changes a field that the signature or the offer binds, to a value that differs from
 * the original after normalization (addresses and hex compare case-insensitively), so every
 * mutated payment must be refused.
 */
import { network } from "hardhat";
import { expect } from "chai";
import fc from "fast-check";
import { getAddress } from "viem";
import { closeTestBackends, testBackends } from "../../gateway/db/testing.js";
import { isErrorCode } from "../../gateway/x402/errors.js";
import { type BuildContext, PAYMENT_HEADER, base64Json, buildLive, challengeOf, urlOf, v1Requirements } from "./build.js";
import type { LoadedCase } from "./cases.js";
import { FACILITATOR_TOKEN, type HostileChain, type HostileStack, deployHostileChain, expectNothingCharged, ledgerSnapshot, readAnswer, snapshot, startHostileStack } from "./stack.js";

const { viem } = await network.create();
after(closeTestBackends);

/** Runs per property and backend; together they stay well under a minute. */
const RUNS = Number(process.env.HOSTILE_PROPERTY_RUNS ?? 100);

/** Paid catalogue GET routes and a valid query for each (from the fake upstream's fixtures). */
const ROUTES: readonly { path: string; query: Record<string, string>; params: readonly string[] }[] = [
  { path: "/api/weather", query: { city: "London" }, params: ["city", "units"] },
  { path: "/api/crypto/price", query: { ids: "bitcoin" }, params: ["ids", "vs"] },
  { path: "/api/wikipedia/search", query: { q: "SKALE" }, params: ["q", "limit"] },
  { path: "/api/news", query: { q: "chain" }, params: ["q", "category", "country", "limit"] },
];

/** Header-safe text: printable ASCII (fetch refuses anything else in a header value). */
const printable = (maxLength: number) => fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength });

const hexOf = (minBytes: number, maxBytes: number) => fc.uint8Array({ minLength: minBytes, maxLength: maxBytes }).map((b) => `0x${Buffer.from(b).toString("hex")}`);

/** Values of every type a field might be given. */
const anyField = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  printable(80),
  hexOf(0, 80),
  hexOf(20, 20),
  hexOf(32, 32),
  hexOf(65, 65),
  fc.bigInt({ min: -(2n ** 260n), max: 2n ** 260n }).map(String),
  fc.integer().map(String),
  fc.constantFrom("0", "-1", "1e3", "0x10", "00", " 1", "NaN", "", "skale-base-sepolia", "eip155:324705682", "eip155:1", "exact", "escrow", "transfer"),
);

/** A random x402-shaped envelope: the right keys, anything in them. */
const envelope = fc.record(
  {
    x402Version: fc.oneof(fc.constantFrom(1, 2), fc.integer(), fc.jsonValue({ maxDepth: 1 })),
    scheme: fc.oneof(fc.constantFrom("exact", "escrow", "transfer"), anyField),
    network: fc.oneof(fc.constantFrom("skale-base-sepolia", "eip155:324705682"), anyField),
    accepted: fc.oneof(
      fc.record(
        {
          scheme: anyField,
          network: anyField,
          amount: anyField,
          asset: anyField,
          payTo: anyField,
          maxTimeoutSeconds: anyField,
          extra: fc.oneof(fc.dictionary(fc.string({ maxLength: 12 }), anyField, { maxKeys: 5 }), anyField),
        },
        { requiredKeys: [] },
      ),
      anyField,
    ),
    payload: fc.oneof(
      fc.record(
        {
          signature: anyField,
          authorization: fc.dictionary(
            fc.constantFrom("from", "to", "value", "validAfter", "validBefore", "nonce", "payer", "payee", "token", "amount", "challengeHash"),
            anyField,
            { maxKeys: 11 },
          ),
          transaction: anyField,
          payer: anyField,
          logIndex: anyField,
        },
        { requiredKeys: [] },
      ),
      anyField,
    ),
  },
  { requiredKeys: [] },
);

interface Base {
  readonly name: string;
  readonly version: 1 | 2;
  readonly value: Record<string, unknown>;
  /** Paths the signature or the offer binds. */
  readonly paths: readonly string[];
}

const V1_ENVELOPE = ["x402Version", "scheme", "network"];
const V2_ENVELOPE = ["x402Version", "accepted.scheme", "accepted.network", "accepted.amount", "accepted.asset", "accepted.payTo", "accepted.maxTimeoutSeconds"];
const SCHEME_PATHS = {
  exact: ["payload.signature", ...["from", "to", "value", "validAfter", "validBefore", "nonce"].map((k) => `payload.authorization.${k}`)],
  escrow: ["payload.signature", ...["payer", "payee", "token", "amount", "nonce", "validAfter", "validBefore", "challengeHash"].map((k) => `payload.authorization.${k}`)],
  transfer: ["payload.signature", "payload.transaction", "payload.payer"],
};
const EXTRA_PATHS = {
  exact: ["name", "version"],
  escrow: ["escrow", "name", "version", "challengeHash", "settlement"],
  transfer: ["challengeHash", "minConfirmations", "maxAgeSeconds", "name", "version"],
};

function get(root: unknown, path: string): unknown {
  return path.split(".").reduce<unknown>((node, key) => (typeof node === "object" && node !== null ? (node as Record<string, unknown>)[key] : undefined), root);
}

function set(root: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(root)) as Record<string, unknown>;
  const keys = path.split(".");
  let node = copy;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  if (value === undefined) delete node[keys.at(-1)!];
  else node[keys.at(-1)!] = value;
  return copy;
}

/** Whether `next` means something else than `original` once parsed (case of hex and addresses aside). */
function differs(original: unknown, next: unknown): boolean {
  if (typeof original === "string" && typeof next === "string") return original.toLowerCase() !== next.toLowerCase();
  return JSON.stringify(original) !== JSON.stringify(next);
}

let chain: HostileChain;

before(async function () {
  this.timeout(120_000);
  chain = await deployHostileChain(viem);
});

for (const backend of testBackends()) {
  describe(`hostile properties [${backend.name}]`, function () {
    this.timeout(120_000);
    let stack: HostileStack;
    let bases: Base[];

    before(async () => {
      stack = await startHostileStack(chain, backend);
      const ctx: BuildContext = {
        stack,
        failedTransaction: () => Promise.reject(new Error("not used")),
        otherChainTransaction: `0x${"00".repeat(32)}`,
      };
      bases = [];
      for (const scheme of ["exact", "escrow", "transfer"] as const) {
        for (const version of [1, 2] as const) {
          const c = { id: `base-${scheme}-v${version}`, target: "gateway", path: "/api/weather", query: { city: "London" }, version } as unknown as LoadedCase;
          const { value } = await buildLive(ctx, c, { base: scheme, token: "usdc", transaction: "shared" });
          const paths =
            version === 1 ? [...V1_ENVELOPE, ...SCHEME_PATHS[scheme]] : [...V2_ENVELOPE, ...EXTRA_PATHS[scheme].map((k) => `accepted.extra.${k}`), ...SCHEME_PATHS[scheme]];
          bases.push({ name: `${scheme} v${version}`, version, value, paths });
        }
      }
      // The starting points are valid payments (the facilitator's /verify says so without
      // charging), so every refusal below is the mutation's doing.
      const challenge = await challengeOf(stack.base, "/api/weather", { city: "London" });
      for (const base of bases) {
        const requirements =
          base.version === 2
            ? base.value["accepted"]
            : v1Requirements(challenge, challenge.v2.find((a) => a.scheme === base.value["scheme"] && getAddress(a.asset) === getAddress(chain.usdc.address))!);
        const res = await fetch(`${stack.facilitatorBase}/verify`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${FACILITATOR_TOKEN}` },
          body: JSON.stringify({ x402Version: base.version, paymentPayload: base.value, paymentRequirements: requirements }),
        });
        expect(await res.json(), `${base.name} is a valid payment`).to.include({ isValid: true });
      }
    });

    after(async () => {
      await stack?.close();
    });

    /** Sends one request and checks the per-run invariants; returns the answer's status. */
    async function send(url: string, init: RequestInit, what: string): Promise<number> {
      const ledgerBefore = await ledgerSnapshot(stack.db);
      const answer = await readAnswer(await fetch(url, init));
      const context = `${what}: ${answer.status} ${answer.text.slice(0, 200)}`;
      expect(answer.status, context).to.be.at.least(400).and.below(500);
      expect(isErrorCode(answer.code), context).to.equal(true);
      expect(await ledgerSnapshot(stack.db), `${context}: ledger`).to.deep.equal(ledgerBefore);
      return answer.status;
    }

    /** Runs a property and then checks that nothing moved on chain while it ran. */
    async function withoutCharges(property: () => Promise<void>): Promise<void> {
      const before = await snapshot(stack);
      await property();
      expectNothingCharged(before, await snapshot(stack), "after the property");
    }

    it("random base64, random text and base64 of random JSON in either payment header are refused with a code", async () => {
      const value = fc.oneof(
        fc.uint8Array({ maxLength: 7000 }).map((b) => Buffer.from(b).toString("base64")),
        printable(200),
        fc.jsonValue().map((v) => base64Json(v)),
        fc.base64String({ maxLength: 400 }),
      );
      await withoutCharges(() =>
        fc.assert(
          fc.asyncProperty(value, fc.constantFrom(1, 2), fc.constantFrom(...ROUTES), async (header, version, route) => {
            await send(urlOf(stack.base, route.path, route.query), { headers: { [PAYMENT_HEADER[version]]: header } }, `${route.path} ${PAYMENT_HEADER[version]}`);
          }),
          { numRuns: RUNS },
        ),
      );
    });

    it("random x402-shaped envelopes with random field types are refused with a code", async () => {
      await withoutCharges(() =>
        fc.assert(
          fc.asyncProperty(envelope, fc.constantFrom(1, 2), async (message, version) => {
            const status = await send(urlOf(stack.base, "/api/weather", { city: "London" }), { headers: { [PAYMENT_HEADER[version]]: base64Json(message) } }, "envelope");
            expect(status).to.equal(402);
          }),
          { numRuns: RUNS * 2 },
        ),
      );
    });

    it("every random change to a bound field of a valid payment (all schemes, both versions) is refused and charges nothing", async () => {
      const mutation = fc
        .record({ base: fc.constantFrom(...bases), pick: fc.nat(), value: fc.oneof(anyField, fc.constant(undefined)) })
        .map(({ base, pick, value }) => ({ base, path: base.paths[pick % base.paths.length]!, value }))
        .filter(({ base, path, value }) => differs(get(base.value, path), value));
      await withoutCharges(() =>
        fc.assert(
          fc.asyncProperty(mutation, async ({ base, path, value }) => {
            const header = base64Json(set(base.value, path, value));
            const status = await send(urlOf(stack.base, "/api/weather", { city: "London" }), { headers: { [PAYMENT_HEADER[base.version]]: header } }, `${base.name} ${path}=${JSON.stringify(value)}`);
            expect(status).to.equal(402);
          }),
          { numRuns: RUNS * 3 },
        ),
      );
    });

    it("random query parameters on the paid routes, with or without a junk payment, are refused before payment", async () => {
      const query = fc.dictionary(fc.oneof(fc.constantFrom("city", "units", "ids", "vs", "q", "limit", "category", "country"), printable(12)), printable(120), { maxKeys: 5 });
      await withoutCharges(() =>
        fc.assert(
          fc.asyncProperty(fc.constantFrom(...ROUTES), query, fc.option(printable(100)), async (route, params, junk) => {
            const headers: Record<string, string> = junk === null ? {} : { "X-PAYMENT": junk };
            await send(urlOf(stack.base, route.path, params), { headers }, `${route.path}?${new URLSearchParams(params).toString()}`);
          }),
          { numRuns: RUNS * 2 },
        ),
      );
    });

    it("random batch bodies are refused or challenged, never charged", async () => {
      const call = fc.record(
        {
          path: fc.oneof(fc.constantFrom(...ROUTES.map((r) => r.path), "/api/batch", "/admin/cache/clear", "/health", "http://127.0.0.1/"), printable(40)),
          params: fc.oneof(fc.dictionary(printable(10), fc.oneof(printable(30), fc.integer(), fc.boolean()), { maxKeys: 4 }), fc.jsonValue({ maxDepth: 2 })),
        },
        { requiredKeys: [] },
      );
      const body = fc.oneof(fc.array(call, { maxLength: 8 }), fc.record({ calls: fc.array(call, { maxLength: 4 }) }), fc.jsonValue({ maxDepth: 4 }));
      await withoutCharges(() =>
        fc.assert(
          fc.asyncProperty(body, fc.option(printable(60)), async (json, junk) => {
            const headers: Record<string, string> = { "content-type": "application/json", ...(junk === null ? {} : { "X-PAYMENT": junk }) };
            await send(`${stack.base}/api/batch`, { method: "POST", headers, body: JSON.stringify(json) }, `batch ${JSON.stringify(json).slice(0, 200)}`);
          }),
          { numRuns: RUNS * 2 },
        ),
      );
    });
  });
}
