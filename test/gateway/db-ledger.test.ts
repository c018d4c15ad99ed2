/**
 * The settlement ledger schema (migrations/001_payments.sql): the replay guard is a database
 * constraint, settled payments stay settled, money is exact, and settlement workers on several
 * connections claim disjoint work.
 */
import { expect } from "chai";
import { isUniqueViolation, sqlState, toBigInt } from "../../gateway/db/database.js";
import type { Queryable, SqlValue } from "../../gateway/db/database.js";
import { openPostgres } from "../../gateway/db/postgres.js";
import { closeTestBackends, testBackends } from "../../gateway/db/testing.js";
import type { TestDatabase } from "../../gateway/db/testing.js";

after(closeTestBackends);

const CHAIN_ID = 324705682;
const TOKEN = `0x${"a".repeat(40)}`;
const PAYER = `0x${"b".repeat(40)}`;
const PAYEE = `0x${"c".repeat(40)}`;
const SIGNER = `0x${"d".repeat(40)}`;
const UINT256_MAX = 2n ** 256n - 1n;

function txHash(n: number): string {
  return `0x${n.toString(16).padStart(64, "0")}`;
}

interface PaymentInput {
  key: string;
  scheme: string;
  network: string;
  chainId: number;
  token: string;
  payer: string;
  payee: string;
  amount: bigint;
  nonce: string | null;
  fingerprint: string;
  state: string;
  failureReason: string | null;
  txHash: string | null;
  payload: Record<string, unknown>;
}

let keySeq = 0;
function payment(overrides: Partial<PaymentInput> = {}): PaymentInput {
  keySeq += 1;
  return {
    key: `exact:${CHAIN_ID}:${TOKEN}:${PAYER}:${keySeq}`,
    scheme: "exact",
    network: `eip155:${CHAIN_ID}`,
    chainId: CHAIN_ID,
    token: TOKEN,
    payer: PAYER,
    payee: PAYEE,
    amount: 1000n,
    nonce: String(keySeq),
    fingerprint: "GET /weather?city=x",
    state: "verified",
    failureReason: null,
    txHash: null,
    payload: { signature: "0x1234", value: 1000n },
    ...overrides,
  };
}

/** The gateway's claim: insert or learn that the key is taken — never an exception. */
async function claim(q: Queryable, p: PaymentInput): Promise<string | undefined> {
  const result = await q.query<{ id: string }>(
    `INSERT INTO payments (payment_key, scheme, network, chain_id, token, payer, payee, amount, nonce,
                           request_fingerprint, state, failure_reason, tx_hash, payload)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
     ON CONFLICT (payment_key) DO NOTHING
     RETURNING id`,
    paymentParams(p),
  );
  return result.rows[0]?.id;
}

function paymentParams(p: PaymentInput): SqlValue[] {
  return [
    p.key, p.scheme, p.network, p.chainId, p.token, p.payer, p.payee, p.amount, p.nonce,
    p.fingerprint, p.state, p.failureReason, p.txHash, p.payload,
  ];
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.fail("expected the database to refuse"),
    (error: unknown) => error,
  );
}

async function insertBatch(q: Queryable, n: number, overrides: { payee?: string } = {}): Promise<string> {
  const result = await q.query<{ id: string }>(
    `INSERT INTO settlement_batches (chain_id, token, payee, signer, tx_nonce, tx_hash, raw_tx)
     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
    [CHAIN_ID, TOKEN, overrides.payee ?? PAYEE, SIGNER, n, txHash(n), Buffer.from([0x02, n])],
  );
  return result.rows[0]?.id as string;
}

for (const backend of testBackends()) {
  describe(`db: settlement ledger [${backend.name}]`, () => {
    let db: TestDatabase;

    before(async () => {
      db = await backend.fresh();
    });
    after(async () => {
      await db?.close();
    });
    beforeEach(async () => {
      // Row DELETE is forbidden on payments by design; TRUNCATE (test-only) bypasses it.
      await db.exec("TRUNCATE payments, settlement_batches, signer_nonces");
    });

    describe("replay guard", () => {
      it("gives exactly one of 20 concurrent claims of the same payment the row", async () => {
        const p = payment();
        const ids = await Promise.all(
          Array.from({ length: 20 }, (_, i) => claim(db, { ...p, fingerprint: `GET /r${i}` })),
        );
        expect(ids.filter((id) => id !== undefined)).to.have.length(1);
        expect((await db.query("SELECT count(*) AS c FROM payments")).rows[0]).to.deep.equal({ c: "1" });
      });

      it("makes 19 of 20 concurrent plain inserts fail with a unique violation", async () => {
        const p = payment();
        const outcomes = await Promise.allSettled(
          Array.from({ length: 20 }, () =>
            db.transaction((tx) =>
              tx.query(
                `INSERT INTO payments (payment_key, scheme, network, chain_id, token, payer, payee, amount, nonce,
                                       request_fingerprint, state, failure_reason, tx_hash, payload)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
                paymentParams(p),
              ),
            ),
          ),
        );
        expect(outcomes.filter((o) => o.status === "fulfilled")).to.have.length(1);
        const failures = outcomes.filter((o): o is PromiseRejectedResult => o.status === "rejected");
        expect(failures).to.have.length(19);
        expect(failures.every((f) => isUniqueViolation(f.reason))).to.equal(true);
      });

      it("serves a retry of the same request from the stored response and refuses a different request", async () => {
        /** The gateway's decision for an incoming payment. */
        async function admit(p: PaymentInput): Promise<"new" | "replay" | "conflict"> {
          if ((await claim(db, p)) !== undefined) return "new";
          const existing = await db.query<{ request_fingerprint: string }>(
            "SELECT request_fingerprint FROM payments WHERE payment_key = $1",
            [p.key],
          );
          return existing.rows[0]?.request_fingerprint === p.fingerprint ? "replay" : "conflict";
        }

        const p = payment({ state: "reserved" });
        expect(await admit(p)).to.equal("new");
        await db.query(
          `UPDATE payments SET state = 'verified', response_status = 200, response_headers = $2, response_body = $3
           WHERE payment_key = $1`,
          [p.key, { "content-type": "application/json" }, Buffer.from('{"temp":21}')],
        );
        expect(await admit(p)).to.equal("replay");
        expect(await admit({ ...p, fingerprint: "GET /weather?city=y" })).to.equal("conflict");

        const stored = await db.query<{ response_status: number; response_headers: unknown; response_body: Buffer }>(
          "SELECT response_status, response_headers, response_body FROM payments WHERE payment_key = $1",
          [p.key],
        );
        expect(stored.rows[0]?.response_status).to.equal(200);
        expect(stored.rows[0]?.response_headers).to.deep.equal({ "content-type": "application/json" });
        expect(stored.rows[0]?.response_body.toString()).to.equal('{"temp":21}');
      });

      it("keeps keys of different payments independent", async () => {
        const ids = await Promise.all(Array.from({ length: 10 }, () => claim(db, payment())));
        expect(new Set(ids).size).to.equal(10);
      });
    });

    describe("money", () => {
      it("stores 2^256-1 exactly and sums unsettled amounts without rounding", async () => {
        await claim(db, payment({ amount: UINT256_MAX }));
        await claim(db, payment({ amount: UINT256_MAX, state: "reserved" }));
        await claim(db, payment({ amount: 1n, state: "submitted", txHash: txHash(1) }));
        await claim(db, payment({ amount: 5n, state: "confirmed", txHash: txHash(1) })); // settled: not counted
        const result = await db.query<{ unsettled: string; one: string }>(
          `SELECT sum(amount) AS unsettled, max(amount) AS one FROM payments
           WHERE token = $1 AND payer = $2 AND payee = $3 AND state IN ('reserved', 'verified', 'submitted')`,
          [TOKEN, PAYER, PAYEE],
        );
        expect(toBigInt(result.rows[0]?.one)).to.equal(UINT256_MAX);
        expect(toBigInt(result.rows[0]?.unsettled)).to.equal(2n * UINT256_MAX + 1n);
      });

      it("keeps bigints inside the JSONB payload as exact decimal strings", async () => {
        const id = await claim(db, payment({ payload: { value: UINT256_MAX, validBefore: 1n } }));
        const row = (await db.query<{ payload: { value: string } }>("SELECT payload FROM payments WHERE id = $1", [id ?? null]))
          .rows[0];
        expect(toBigInt(row?.payload.value)).to.equal(UINT256_MAX);
      });
    });

    describe("constraints", () => {
      const refused: Array<[string, Partial<PaymentInput>]> = [
        ["an unknown state", { state: "settled" }],
        ["a negative amount", { amount: -1n }],
        ["a checksummed (mixed-case) address", { payer: `0x${"B".repeat(40)}` }],
        ["a network that disagrees with chain_id", { network: "eip155:1" }],
        ["a key without its scheme prefix", { key: "escrow:1:2:3:4" }],
        ["a failed payment without a reason", { state: "failed" }],
        ["a confirmed payment without a transaction", { state: "confirmed" }],
        ["an empty request fingerprint", { fingerprint: "" }],
      ];
      for (const [what, overrides] of refused) {
        it(`refuses ${what}`, async () => {
          const error = await rejection(claim(db, payment(overrides)));
          expect(sqlState(error), String(error)).to.equal("23514");
        });
      }

      it("refuses NaN, which would pass a bare amount >= 0 check", async () => {
        const p = payment();
        const error = await rejection(
          db.query(
            `INSERT INTO payments (payment_key, scheme, network, chain_id, token, payer, payee, amount, request_fingerprint, payload)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'NaN', $8, '{}')`,
            [p.key, p.scheme, p.network, p.chainId, p.token, p.payer, p.payee, p.fingerprint],
          ),
        );
        expect(sqlState(error)).to.equal("23514");
      });

      it("refuses a half-set lease and a response without a status", async () => {
        const id = (await claim(db, payment())) ?? null;
        const lease = await rejection(db.query("UPDATE payments SET locked_by = 'w1' WHERE id = $1", [id]));
        expect(sqlState(lease)).to.equal("23514");
        const response = await rejection(db.query("UPDATE payments SET response_body = 'x' WHERE id = $1", [id]));
        expect(sqlState(response)).to.equal("23514");
      });
    });

    describe("settled at most once, never forgotten", () => {
      it("keeps confirmed and released payments final", async () => {
        const confirmed = (await claim(db, payment({ state: "confirmed", txHash: txHash(7) }))) ?? null;
        const released = (await claim(db, payment({ state: "released" }))) ?? null;
        for (const [id, next] of [
          [confirmed, "verified"],
          [confirmed, "failed"],
          [released, "verified"],
        ] as const) {
          const error = await rejection(
            db.query("UPDATE payments SET state = $2, failure_reason = 'x' WHERE id = $1", [id, next]),
          );
          expect(sqlState(error)).to.equal("23514");
          expect((error as Error).message).to.match(/cannot become/);
        }
        // Bookkeeping on a final row is still allowed.
        await db.query("UPDATE payments SET attempts = attempts + 1 WHERE id = $1", [confirmed]);
      });

      it("lets a failed payment be found confirmed by reconciliation", async () => {
        const id = (await claim(db, payment({ state: "failed", failureReason: "receipt timeout" }))) ?? null;
        await db.query("UPDATE payments SET state = 'confirmed', tx_hash = $2 WHERE id = $1", [id, txHash(8)]);
      });

      it("never changes what was paid, nor a stored response", async () => {
        const id = (await claim(db, payment())) ?? null;
        for (const change of ["amount = amount + 1", "payer = '0x" + "e".repeat(40) + "'", "payload = '{}'", "payment_key = payment_key || 'x'"]) {
          const error = await rejection(db.query(`UPDATE payments SET ${change} WHERE id = $1`, [id]));
          expect((error as Error).message, change).to.match(/may not change what was paid/);
        }
        await db.query("UPDATE payments SET response_status = 200, response_body = 'a' WHERE id = $1", [id]);
        const error = await rejection(db.query("UPDATE payments SET response_body = 'b' WHERE id = $1", [id]));
        expect((error as Error).message).to.match(/already has a stored response/);
      });

      it("refuses to delete a payment, which would free its key for a second response", async () => {
        const id = (await claim(db, payment({ state: "released" }))) ?? null;
        const error = await rejection(db.query("DELETE FROM payments WHERE id = $1", [id]));
        expect(sqlState(error)).to.equal("23514");
        expect((await db.query("SELECT count(*) AS c FROM payments")).rows[0]).to.deep.equal({ c: "1" });
      });

      it("ties a settlement transaction to one batch and a batch to one payee", async () => {
        const batch = await insertBatch(db, 1);
        const duplicate = await rejection(insertBatch(db, 1));
        expect(isUniqueViolation(duplicate)).to.equal(true);

        const own = (await claim(db, payment())) ?? null;
        await db.query("UPDATE payments SET batch_id = $2, state = 'submitted', tx_hash = $3 WHERE id = $1", [
          own,
          batch,
          txHash(1),
        ]);
        const other = (await claim(db, payment({ payee: `0x${"9".repeat(40)}` }))) ?? null;
        const mismatch = await rejection(db.query("UPDATE payments SET batch_id = $2 WHERE id = $1", [other, batch]));
        expect(sqlState(mismatch)).to.equal("23503");

        const rewrite = await rejection(db.query("UPDATE settlement_batches SET raw_tx = '\\x00' WHERE id = $1", [batch]));
        expect(sqlState(rewrite)).to.equal("23514");
        await db.query("UPDATE settlement_batches SET state = 'confirmed', block_number = 10 WHERE id = $1", [batch]);
      });

      it("hands out distinct signer nonces to 20 concurrent batch transactions", async () => {
        await db.query("INSERT INTO signer_nonces (chain_id, address, next_nonce) VALUES ($1, $2, 0)", [CHAIN_ID, SIGNER]);
        const nonces = await Promise.all(
          Array.from({ length: 20 }, () =>
            db.transaction(async (tx) => {
              const allocated = await tx.query<{ nonce: string }>(
                `UPDATE signer_nonces SET next_nonce = next_nonce + 1
                 WHERE chain_id = $1 AND address = $2 RETURNING next_nonce - 1 AS nonce`,
                [CHAIN_ID, SIGNER],
              );
              const nonce = Number(toBigInt(allocated.rows[0]?.nonce));
              await insertBatch(tx, nonce);
              return nonce;
            }),
          ),
        );
        expect([...nonces].sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
      });
    });

    describe("settlement work queue", () => {
      const CLAIM = `
        UPDATE payments SET locked_by = $1, locked_until = now() + interval '30 seconds', attempts = attempts + 1
        WHERE id IN (
          SELECT id FROM payments
          WHERE state = 'verified' AND next_attempt_at <= now() AND (locked_until IS NULL OR locked_until < now())
          ORDER BY next_attempt_at, id
          LIMIT $2
          FOR UPDATE SKIP LOCKED)
        RETURNING id`;

      it("gives concurrent workers disjoint leases covering all due work", async () => {
        for (let i = 0; i < 30; i++) await claim(db, payment());
        const claimed: string[][] = [[], [], []];
        await Promise.all(
          claimed.map(async (mine, worker) => {
            for (;;) {
              const batch = await db.query<{ id: string }>(CLAIM, [`worker-${worker}`, 4]);
              if (batch.rowCount === 0) return;
              mine.push(...batch.rows.map((row) => row.id));
            }
          }),
        );
        const all = claimed.flat();
        expect(all).to.have.length(30);
        expect(new Set(all).size).to.equal(30);
      });

      it("lets another worker take over an expired lease", async () => {
        const id = (await claim(db, payment())) ?? null;
        await db.query("UPDATE payments SET locked_by = 'dead', locked_until = now() - interval '1 second' WHERE id = $1", [id]);
        const taken = await db.query<{ id: string }>(CLAIM, ["alive", 10]);
        expect(taken.rows.map((row) => row.id)).to.deep.equal([id]);
      });

      if (backend.name === "postgres") {
        it("gives two connections holding FOR UPDATE SKIP LOCKED disjoint rows", async () => {
          for (let i = 0; i < 10; i++) await claim(db, payment());
          const pick = (tx: Queryable) =>
            tx.query<{ id: string }>(
              "SELECT id FROM payments WHERE state = 'verified' ORDER BY id LIMIT 5 FOR UPDATE SKIP LOCKED",
            );
          let releaseFirst = (): void => undefined;
          const firstMayCommit = new Promise<void>((resolve) => (releaseFirst = resolve));
          let firstPicked = (_ids: string[]): void => undefined;
          const firstRows = new Promise<string[]>((resolve) => (firstPicked = resolve));

          const first = db.transaction(async (tx) => {
            firstPicked((await pick(tx)).rows.map((row) => row.id));
            await firstMayCommit; // keep the row locks while the second worker looks
          });
          const a = await firstRows;
          const b = await db.transaction(async (tx) => (await pick(tx)).rows.map((row) => row.id));
          releaseFirst();
          await first;
          expect(a).to.have.length(5);
          expect(b).to.have.length(5);
          expect(a.filter((id) => b.includes(id))).to.deep.equal([]);
        });

        it("keeps every accepted payment across a restart (a new pool, as a new process)", async () => {
          const id = await claim(db, payment({ payload: { signature: "0xabc", value: 42n } }));
          const restarted = await openPostgres(backend.url as string, { schema: db.schema, max: 1 });
          try {
            const row = await restarted.query<{ payload: unknown; state: string }>(
              "SELECT payload, state FROM payments WHERE id = $1",
              [id ?? null],
            );
            expect(row.rows).to.deep.equal([{ payload: { signature: "0xabc", value: "42" }, state: "verified" }]);
          } finally {
            await restarted.close();
          }
        });
      }
    });
  });
}
