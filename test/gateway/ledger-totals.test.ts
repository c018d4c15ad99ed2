/**
 * `unsettled_totals` (migrations/007_record_on_serve.sql): the running total record_payment
 * reads instead of summing an account's payments. It must equal the sum over the account's
 * unsettled payments after anything the gateway and the engine do to the table: single inserts,
 * multi-row state changes, refused changes. And a database migrated before it existed must start
 * with the right totals.
 */
import { expect } from "chai";
import fc from "fast-check";
import { loadMigrations, migrate } from "../../gateway/db/index.js";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { UNSETTLED_STATES } from "../../gateway/ledger/index.js";

after(closeTestBackends);

const STATES = ["reserved", "verified", "submitted", "confirmed", "failed", "released"] as const;
type State = (typeof STATES)[number];
const ACCOUNTS = [
  { token: "0x" + "11".repeat(20), payer: "0x" + "a1".repeat(20), payee: "0x" + "22".repeat(20), scheme: "escrow" },
  { token: "0x" + "11".repeat(20), payer: "0x" + "a2".repeat(20), payee: "0x" + "22".repeat(20), scheme: "escrow" },
  { token: "0x" + "33".repeat(20), payer: "0x" + "a1".repeat(20), payee: "0x" + "22".repeat(20), scheme: "escrow" },
  { token: "0x" + "11".repeat(20), payer: "0x" + "a1".repeat(20), payee: "0x" + "22".repeat(20), scheme: "exact" },
] as const;
const TX = "0x" + "ab".repeat(32);

let seq = 0;

async function insert(db: TestDatabase, account: (typeof ACCOUNTS)[number], amount: bigint, state: State): Promise<void> {
  seq += 1;
  await db.query(
    `INSERT INTO payments (payment_key, scheme, network, chain_id, token, payer, payee, amount, nonce, request_fingerprint, state,
                           payload, tx_hash, failure_reason)
     VALUES ($1, $2, 'eip155:1', 1, $3, $4, $5, $6, $7, 'f', $8, '{}'::jsonb, $9, $10)`,
    [
      `${account.scheme}:t:${seq}`,
      account.scheme,
      account.token,
      account.payer,
      account.payee,
      amount,
      String(seq),
      state,
      state === "submitted" || state === "confirmed" ? TX : null,
      state === "failed" ? "test" : null,
    ],
  );
}

/**
 * Moves every payment of `ids` to `state` in one statement; false when the table refused it
 * because one of them is in a final state. Any other failure is the test's.
 */
async function move(db: TestDatabase, ids: readonly string[], state: State): Promise<boolean> {
  try {
    await db.query(
      `UPDATE payments SET state = $2, tx_hash = COALESCE(tx_hash, $3), failure_reason = COALESCE(failure_reason, 'test')
        WHERE id = ANY($1::bigint[])`,
      [ids, state, TX],
    );
    return true;
  } catch (error) {
    if (/is (confirmed|released) and cannot become/.test(String((error as Error).message))) return false;
    throw error;
  }
}

/** Each account's total next to the sum it must equal, as "token payer payee scheme" → [total, sum]. */
async function totalsAndSums(db: TestDatabase): Promise<Record<string, [string, string]>> {
  const { rows } = await db.query<{ account: string; total: string; sum: string }>(
    `SELECT a.token || ' ' || a.payer || ' ' || a.payee || ' ' || a.scheme AS account,
            COALESCE(t.amount, 0)::text AS total,
            COALESCE((SELECT SUM(p.amount) FROM payments p
                       WHERE (p.token, p.payer, p.payee, p.chain_id, p.scheme) = (a.token, a.payer, a.payee, a.chain_id, a.scheme)
                         AND p.state = ANY($1::text[])), 0)::text AS sum
       FROM (SELECT DISTINCT token, payer, payee, chain_id, scheme FROM payments) a
       LEFT JOIN unsettled_totals t USING (token, payer, payee, chain_id, scheme)`,
    [[...UNSETTLED_STATES]],
  );
  return Object.fromEntries(rows.map((r) => [r.account, [r.total, r.sum]]));
}

function expectConsistent(snapshot: Record<string, [string, string]>): void {
  for (const [account, [total, sum]] of Object.entries(snapshot)) expect(total, account).to.equal(sum);
}

const step = fc.oneof(
  fc.record({
    kind: fc.constant("insert" as const),
    account: fc.integer({ min: 0, max: ACCOUNTS.length - 1 }),
    amount: fc.bigInt({ min: 1n, max: 10n ** 24n }),
    state: fc.constantFrom<State>(...STATES),
  }),
  fc.record({
    kind: fc.constant("move" as const),
    // Which existing payments (by position, modulo how many there are) move together.
    picks: fc.array(fc.nat(), { minLength: 1, maxLength: 6 }),
    state: fc.constantFrom<State>(...STATES),
  }),
);

for (const backend of testBackends()) {
  describe(`unsettled_totals [${backend.name}]`, function () {
    this.timeout(120_000);

    it("equals each account's sum of unsettled payments after random inserts and multi-row state changes (property)", async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
          const db = await backend.fresh();
          try {
            for (const s of steps) {
              if (s.kind === "insert") await insert(db, ACCOUNTS[s.account]!, s.amount, s.state);
              else {
                const { rows } = await db.query<{ id: string }>("SELECT id FROM payments ORDER BY id");
                if (rows.length === 0) continue;
                await move(db, [...new Set(s.picks.map((i) => rows[i % rows.length]!.id))], s.state);
              }
              expectConsistent(await totalsAndSums(db));
            }
          } finally {
            await db.close();
          }
        }),
        { numRuns: backend.name === "pglite" ? 25 : 40, seed: 8008 },
      );
    });

    it("is not changed by a refused state change, and never goes negative", async () => {
      const db = await backend.fresh();
      try {
        await insert(db, ACCOUNTS[0], 5n, "verified");
        await insert(db, ACCOUNTS[0], 7n, "confirmed");
        const { rows } = await db.query<{ id: string }>("SELECT id FROM payments ORDER BY id");
        // Both in one statement: the confirmed one may not change, so neither does.
        expect(await move(db, rows.map((r) => r.id), "released")).to.equal(false);
        expectConsistent(await totalsAndSums(db));
        const failure = await db.query("UPDATE unsettled_totals SET amount = -1").catch((error: unknown) => error);
        expect(String((failure as Error).message)).to.match(/check constraint/);
      } finally {
        await db.close();
      }
    });

    it("starts from the sums when a database migrated before it is upgraded", async () => {
      const all = await loadMigrations();
      const db = await backend.fresh({ migrate: false });
      try {
        await migrate(db, { migrations: all.filter((m) => m.version < 7) });
        await insert(db, ACCOUNTS[0], 5n, "verified");
        await insert(db, ACCOUNTS[0], 6n, "submitted");
        await insert(db, ACCOUNTS[0], 100n, "confirmed");
        await insert(db, ACCOUNTS[1], 9n, "reserved");
        await insert(db, ACCOUNTS[3], 4n, "released");
        await migrate(db, { migrations: all });
        const snapshot = await totalsAndSums(db);
        expect(snapshot[`${ACCOUNTS[0].token} ${ACCOUNTS[0].payer} ${ACCOUNTS[0].payee} escrow`]).to.deep.equal(["11", "11"]);
        expectConsistent(snapshot);
      } finally {
        await db.close();
      }
    });
  });
}
