/**
 * The hostile-input corpus (test/fixtures/hostile/*.json) as typed data. The files hold DATA only:
 * each case says what to send and what must come back. Values that only exist at run time (a valid
 * signature to break, a mined transaction that reverted) are described as a `base` payment plus
 * `sign` overrides (applied before signing) and `mutate` edits (applied to the signed JSON), and
 * the runner (build.ts) makes them against the in-process chain.
 *
 * Strings starting with "$" in `sign` and `mutate` are placeholders (see build.ts `resolveToken`):
 * "$now+60", "$stranger", "$highS", "$uint256+1", "$delete", …
 */
import { readFileSync, readdirSync } from "node:fs";
import { z } from "zod";

export const FIXTURES_DIR = new URL("../fixtures/hostile/", import.meta.url);

/** Generated payloads, so a 1 MiB bomb is not 1 MiB of fixture. */
const generatorSchema = z.discriminatedUnion("kind", [
  /** `count` copies of `text`. */
  z.strictObject({ kind: z.literal("repeat"), text: z.string().min(1), count: z.int().min(1).max(2_000_000) }),
  /** `depth` nested arrays ("[[[…]]]"), or objects ({"a":{"a":…}}) with `object: true`. */
  z.strictObject({ kind: z.literal("nest"), depth: z.int().min(1).max(1_000_000), object: z.boolean().default(false) }),
  /** `prefix` + `count` copies of `item` joined by "," + `suffix`: huge arrays and objects with many keys. */
  z.strictObject({
    kind: z.literal("list"),
    prefix: z.string(),
    item: z.string(),
    count: z.int().min(0).max(2_000_000),
    suffix: z.string(),
  }),
]);

export type Generator = z.output<typeof generatorSchema>;

/** A placeholder-bearing JSON value: resolved by the runner. */
const edits = z.record(z.string().min(1), z.unknown());

const liveSchema = z.strictObject({
  /** Which valid payment to start from. */
  base: z.enum(["exact", "escrow", "transfer"]),
  /** The offer's token (default usdc). */
  token: z.enum(["usdc", "usdt", "skl", "weth"]).default("usdc"),
  /** Before signing: typed-data domain fields, message fields, and who signs. */
  sign: z
    .strictObject({
      domain: edits.optional(),
      message: edits.optional(),
      signer: z.enum(["agent", "agent2", "stranger"]).optional(),
    })
    .optional(),
  /** After signing: dotted paths into the envelope (or, for the facilitator, the request body). */
  mutate: edits.optional(),
  /** Transfer scheme only: which transaction the proof names. */
  transaction: z.enum(["shared", "fresh", "failed", "other-chain", "underpaid", "wrong-token"]).default("shared"),
  /**
   * Before the case is sent, spend the unmutated payment once for real: `pay-first` pays the
   * gateway route with `setupQuery`, `settle-first` settles it through the facilitator. The
   * chain and ledger snapshot is taken after this, so only the case's own effect is judged.
   */
  setup: z.enum(["pay-first", "settle-first"]).optional(),
  setupQuery: z.record(z.string(), z.string()).optional(),
});

export type LivePayment = z.output<typeof liveSchema>;

/** A header value or body: literal, encoded by the runner, generated, or live. */
const contentSchema = z.union([
  z.strictObject({ raw: z.string() }),
  z.strictObject({ text: z.string() }),
  z.strictObject({ json: z.unknown() }),
  z.strictObject({ bytesHex: z.string().regex(/^([0-9a-f]{2})*$/) }),
  z.strictObject({ generate: generatorSchema, encode: z.boolean().default(true) }),
  liveSchema,
]);

export type Content = z.output<typeof contentSchema>;

export const caseSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{2,79}$/),
  description: z.string().min(10),
  /** The issue's categories this case belongs to (see corpus.test.ts `REQUIRED_CATEGORIES`). */
  categories: z.array(z.string().min(1)).min(1),
  target: z.enum(["gateway", "facilitator"]).default("gateway"),
  method: z.enum(["GET", "POST", "PUT", "DELETE"]).optional(),
  path: z.string().startsWith("/").optional(),
  query: z.record(z.string(), z.string()).optional(),
  /** Extra request headers, as [name, value] pairs (a name may repeat). */
  headers: z.array(z.tuple([z.string(), z.string()])).default([]),
  /** The protocol version the payment is for: decides X-PAYMENT (1) or PAYMENT-SIGNATURE (2). */
  version: z.union([z.literal(1), z.literal(2)]).nullable().default(null),
  payment: contentSchema.optional(),
  body: contentSchema.optional(),
  contentType: z.string().optional(),
  /** Facilitator only: the bearer token sent (default the configured one). */
  auth: z.enum(["valid", "none", "wrong"]).default("valid"),
  expect: z.strictObject({ status: z.int().min(100).max(599), code: z.string().min(1) }),
});

export type HostileCase = z.output<typeof caseSchema>;

const fileSchema = z.strictObject({
  description: z.string().min(10),
  /** Request defaults for every case of the file. */
  defaults: z
    .strictObject({
      target: z.enum(["gateway", "facilitator"]).optional(),
      method: z.enum(["GET", "POST", "PUT", "DELETE"]).optional(),
      path: z.string().startsWith("/").optional(),
      query: z.record(z.string(), z.string()).optional(),
      version: z.union([z.literal(1), z.literal(2)]).nullable().optional(),
    })
    .default({}),
  cases: z.array(z.unknown()).min(1),
});

export interface LoadedCase extends HostileCase {
  readonly file: string;
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  readonly path: string;
}

/** Every case of every corpus file, defaults applied; throws on a malformed file or a repeated id. */
export function loadCorpus(dir: URL = FIXTURES_DIR): LoadedCase[] {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith(".json"))
    .sort();
  const seen = new Set<string>();
  const cases: LoadedCase[] = [];
  for (const file of files) {
    const parsed = fileSchema.parse(JSON.parse(readFileSync(new URL(file, dir), "utf8")));
    for (const raw of parsed.cases) {
      const merged = { ...parsed.defaults, ...(raw as object) };
      const result = caseSchema.safeParse(merged);
      if (!result.success) throw new Error(`${file}: ${JSON.stringify((raw as { id?: unknown }).id)}: ${result.error.message}`);
      const c = result.data;
      if (seen.has(c.id)) throw new Error(`${file}: duplicate case id ${c.id}`);
      seen.add(c.id);
      const target = c.target;
      cases.push({
        ...c,
        file,
        method: c.method ?? (target === "facilitator" ? "POST" : "GET"),
        path: c.path ?? (target === "facilitator" ? "/verify" : "/api/weather"),
      });
    }
  }
  return cases;
}

/** The text a generator stands for. */
export function generate(g: Generator): string {
  switch (g.kind) {
    case "repeat":
      return g.text.repeat(g.count);
    case "nest":
      return g.object ? `${'{"a":'.repeat(g.depth)}0${"}".repeat(g.depth)}` : `${"[".repeat(g.depth)}${"]".repeat(g.depth)}`;
    case "list":
      return `${g.prefix}${Array.from({ length: g.count }, (_, i) => g.item.replaceAll("{i}", String(i))).join(",")}${g.suffix}`;
  }
}
