/**
 * The settlement engine's multi-statement writes and the gateway's batches of recordings take the
 * running totals' row locks (`unsettled_totals`) in one order, so neither can wait on the other in
 * a cycle (PostgreSQL would break it after `deadlock_timeout`, failing one side). PostgreSQL only:
 * PGlite runs one statement at a time.
 */
import { expect } from "chai";
import pg from "pg";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import type { ChainContext } from "../../gateway/settlement/context.js";
import { type Resolution, applyResolutions } from "../../gateway/settlement/resolve.js";
import type { PaymentRow } from "../../gateway/settlement/rows.js";

after(closeTestBackends);

const TOKEN = "0x" + "11".repeat(20);
const PAYEE = "0x" + "22".repeat(20);
/** Three accounts, in key order: they differ only in the payer. */
const PAYERS = ["0x" + "a1".repeat(20), "0x" + "a2".repeat(20), "0x" + "a3".repeat(20)] as const;
const TX = "0x" + "ab".repeat(32);
const AMOUNT = 1_000n;

const postgres = testBackends().find((backend) => backend.name === "postgres");

(postgres === undefined ? describe.skip : describe)("settlement writes and recordings lock totals in one order [postgres]", function () {
  this.timeout(30_000);
  let db: TestDatabase;

  beforeEach(async () => {
    db = await (postgres as NonNullable<typeof postgres>).fresh();
  });
  afterEach(async () => {
    await db.close();
  });

  async function submitted(payer: string, n: number): Promise<string> {
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO payments (payment_key, scheme, network, chain_id, token, payer, payee, amount, nonce, request_fingerprint, state,
                             payload, tx_hash)
       VALUES ($1, 'escrow', 'eip155:1', 1, $2, $3, $4, $5, $6, 'f', 'submitted', '{}'::jsonb, $7)
       RETURNING id::text AS id`,
      [`escrow:locks:${payer}:${n}`, TOKEN, payer, PAYEE, AMOUNT, String(n), TX],
    );
    return rows[0]!.id;
  }

  const row = (id: string) => ({ id }) as PaymentRow;
  const ctx = { now: () => new Date(), backoff: { baseMs: 5_000, maxMs: 60_000 } } as unknown as ChainContext;

  it("a receipt that confirms some payments and fails another does not deadlock with a recording holding the failed one's account", async () => {
    const [a, b, c] = [await submitted(PAYERS[0], 1), await submitted(PAYERS[1], 2), await submitted(PAYERS[2], 3)];
    // The recording's own session, outside the gateway's Database (whose transactions do not nest).
    const recording = new pg.Client({ connectionString: (postgres as NonNullable<typeof postgres>).url });
    await recording.connect();
    const lockTotal = (payer: string) =>
      recording.query("SELECT amount FROM unsettled_totals WHERE token = $1 AND payer = $2 AND payee = $3 FOR UPDATE", [TOKEN, payer, PAYEE]);
    let engine: Promise<unknown>;
    try {
      await recording.query(`SET search_path TO ${db.schema}`);
      await recording.query("BEGIN");
      const recordingPid = Number((await recording.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid);
      // A recording of the second account's payment holds its total, as record_payment's insert does…
      await lockTotal(PAYERS[1]);
      // …while the engine records a batch: the first and third confirmed, the second failed. Two
      // statements, so without a lock order up front the first would hold the third's total
      // while the second waits for the recording.
      const resolutions: Resolution[] = [
        { kind: "confirm", row: row(a), transaction: TX as `0x${string}` },
        { kind: "confirm", row: row(c), transaction: TX as `0x${string}` },
        { kind: "fail", row: row(b), reason: "insufficient_funds: InsufficientFunds" },
      ];
      engine = db.transaction((tx) => applyResolutions(ctx, tx, resolutions, ["submitted"]));
      engine.catch(() => undefined);
      await waitUntilBlockedBy(db, recordingPid);
      // The recording batch goes on to the third account (key order): it must get it.
      await lockTotal(PAYERS[2]);
      await recording.query("COMMIT");
    } finally {
      await recording.end();
    }
    expect(await engine).to.deep.include({ confirmed: 2, failed: 1 });

    const { rows } = await db.query<{ payer: string; amount: string }>(
      "SELECT payer, amount::text AS amount FROM unsettled_totals WHERE token = $1 AND payee = $2 ORDER BY payer",
      [TOKEN, PAYEE],
    );
    expect(rows.map((r) => r.amount)).to.deep.equal(["0", "0", "0"]);
  });
});

/** Until some session waits for a lock the recording session holds: the engine's transaction. */
async function waitUntilBlockedBy(db: TestDatabase, recordingPid: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { rows } = await db.query<{ n: string }>(
      "SELECT count(*)::text AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
      [recordingPid],
    );
    if (Number(rows[0]?.n ?? 0) > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("the engine's transaction never waited for the recording's lock");
}
