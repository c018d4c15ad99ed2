/**
 * The Database contract, run identically on PGlite and (with TEST_DATABASE_URL) PostgreSQL:
 * value mapping, row counts, transactions and the misuse guards.
 */
import { expect } from "chai";
import { TransactionAbortedError, isUniqueViolation, sqlState, toBigInt, toBigIntOrNull } from "../../gateway/db/database.js";
import { closeTestBackends, testBackends } from "../../gateway/db/testing.js";
import type { TestDatabase } from "../../gateway/db/testing.js";

const UINT256_MAX = 2n ** 256n - 1n;

after(closeTestBackends);

describe("db: toBigInt", () => {
  it("converts decimal strings, bigints and safe integers exactly", () => {
    expect(toBigInt(UINT256_MAX.toString())).to.equal(UINT256_MAX);
    expect(toBigInt("-42")).to.equal(-42n);
    expect(toBigInt(7n)).to.equal(7n);
    expect(toBigInt(9007199254740991)).to.equal(9007199254740991n);
    expect(toBigIntOrNull(null)).to.equal(null);
  });

  it("refuses anything that is not an exact integer", () => {
    for (const bad of ["1.5", "NaN", "1e3", "", " 1", "0x10", 1.5, 2 ** 60, Number.NaN, null, undefined, {}]) {
      expect(() => toBigInt(bad), String(bad)).to.throw(TypeError);
    }
  });
});

for (const backend of testBackends()) {
  describe(`db: Database contract [${backend.name}]`, () => {
    let db: TestDatabase;

    before(async () => {
      db = await backend.fresh({ migrate: false });
      await db.exec(`
        CREATE TABLE t (id BIGSERIAL PRIMARY KEY, k TEXT UNIQUE, n NUMERIC(78,0), j JSONB, b BYTEA, at TIMESTAMPTZ);
        CREATE TABLE counter (id INT PRIMARY KEY, value INT NOT NULL);
        INSERT INTO counter VALUES (1, 0);`);
    });
    after(async () => {
      await db?.close();
    });
    beforeEach(async () => {
      await db.exec("TRUNCATE t; UPDATE counter SET value = 0");
    });

    it("reports its kind", () => {
      expect(db.kind).to.equal(backend.name);
    });

    it("round-trips NUMERIC(78,0) 2^256-1 exactly, from a bigint parameter to a string", async () => {
      const inserted = await db.query<{ n: string }>("INSERT INTO t (k, n) VALUES ('max', $1) RETURNING n", [UINT256_MAX]);
      expect(inserted.rows[0]?.n).to.equal("115792089237316195423570985008687907853269984665640564039457584007913129639935");
      const read = await db.query<{ n: string; sum: string }>("SELECT n, n - 1 + 1 AS sum FROM t WHERE k = 'max'");
      expect(toBigInt(read.rows[0]?.n)).to.equal(UINT256_MAX);
      expect(toBigInt(read.rows[0]?.sum)).to.equal(UINT256_MAX);
      // One more would need 79 digits: refused, not rounded.
      const overflow = await db.query("INSERT INTO t (k, n) VALUES ('over', $1)", [UINT256_MAX * 10n]).catch((e: unknown) => e);
      expect(sqlState(overflow)).to.equal("22003");
    });

    it("returns the same JavaScript types on both backends", async () => {
      const at = new Date("2025-01-02T03:04:05.678Z");
      await db.query("INSERT INTO t (k, n, j, b, at) VALUES ($1, $2, $3, $4, $5)", [
        "types",
        12n,
        { amount: 2n ** 200n, nested: [1, "x"] },
        Buffer.from("00ff10", "hex"),
        at,
      ]);
      const row = (
        await db.query<{ id: unknown; n: unknown; j: unknown; b: unknown; at: unknown; cnt: unknown }>(
          "SELECT id, n, j, b, at, (SELECT count(*) FROM t) AS cnt FROM t WHERE k = 'types'",
        )
      ).rows[0];
      expect(row?.id).to.be.a("string"); // INT8 / BIGSERIAL
      expect(row?.cnt).to.equal("1"); // count(*) is INT8 too
      expect(row?.n).to.equal("12");
      expect(row?.j).to.deep.equal({ amount: (2n ** 200n).toString(), nested: [1, "x"] });
      expect(Buffer.isBuffer(row?.b)).to.equal(true);
      expect((row?.b as Buffer).toString("hex")).to.equal("00ff10");
      expect(row?.at).to.be.instanceOf(Date);
      expect((row?.at as Date).getTime()).to.equal(at.getTime());
      // A plain Uint8Array (viem's bytes) is accepted like a Buffer.
      const bytes = await db.query<{ b: Buffer }>("SELECT $1::bytea AS b", [new Uint8Array([1, 2, 255])]);
      expect(bytes.rows[0]?.b.toString("hex")).to.equal("0102ff");
    });

    it("refuses parameters that would store a wrong number", async () => {
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) {
        const error = await db.query("SELECT $1::numeric", [bad]).catch((e: unknown) => e);
        expect(error, String(bad)).to.be.instanceOf(TypeError);
      }
    });

    it("counts rows like node-postgres: changed rows for DML, returned rows otherwise", async () => {
      expect((await db.query("INSERT INTO t (k) VALUES ('a'), ('b') RETURNING id")).rowCount).to.equal(2);
      expect((await db.query("INSERT INTO t (k) VALUES ('a') ON CONFLICT DO NOTHING RETURNING id")).rowCount).to.equal(0);
      expect((await db.query("UPDATE t SET n = 1")).rowCount).to.equal(2);
      expect((await db.query("SELECT k FROM t")).rowCount).to.equal(2);
      expect((await db.query("DELETE FROM t WHERE k = 'zz'")).rowCount).to.equal(0);
    });

    it("runs a statement prepared under a name like any other, also inside a transaction", async () => {
      const insert = "INSERT INTO t (k, n) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING RETURNING id, n";
      const named = { prepareAs: "db_test_insert" };
      const first = await db.query<{ id: string; n: string }>(insert, ["p1", 5n], named);
      expect(first.rows.map((r) => r.n)).to.deep.equal(["5"]);
      // Same name, same text, new values: bound again, not parsed again.
      expect((await db.query(insert, ["p2", UINT256_MAX], named)).rows[0]).to.include({ n: UINT256_MAX.toString() });
      expect((await db.query(insert, ["p1", 6n], named)).rowCount).to.equal(0);
      await db.transaction(async (tx) => {
        expect((await tx.query(insert, ["p3", 7n], named)).rowCount).to.equal(1);
        if (db.kind === "postgres") {
          // The transaction's connection has the statement under its name (PGlite ignores names).
          const prepared = await tx.query("SELECT name FROM pg_prepared_statements WHERE name = 'db_test_insert'");
          expect(prepared.rowCount).to.equal(1);
        }
      });
      const stored = await db.query<{ k: string; n: string }>("SELECT k, n FROM t ORDER BY k");
      expect(stored.rows).to.deep.equal([
        { k: "p1", n: "5" },
        { k: "p2", n: UINT256_MAX.toString() },
        { k: "p3", n: "7" },
      ]);
    });

    it("commits a transaction and returns its result", async () => {
      const id = await db.transaction(async (tx) => {
        const row = await tx.query<{ id: string }>("INSERT INTO t (k) VALUES ('c') RETURNING id");
        await tx.query("UPDATE counter SET value = value + 1");
        return row.rows[0]?.id;
      });
      expect(id).to.be.a("string");
      expect((await db.query("SELECT k FROM t")).rows).to.deep.equal([{ k: "c" }]);
    });

    it("rolls back every statement when the callback throws", async () => {
      const error = await db
        .transaction(async (tx) => {
          await tx.query("INSERT INTO t (k) VALUES ('r1')");
          await tx.query("UPDATE counter SET value = 99");
          throw new Error("boom");
        })
        .catch((e: unknown) => e);
      expect((error as Error).message).to.equal("boom");
      expect((await db.query("SELECT count(*) AS c FROM t")).rows[0]).to.deep.equal({ c: "0" });
      expect((await db.query("SELECT value FROM counter")).rows[0]).to.deep.equal({ value: 0 });
    });

    it("rolls back when a statement fails, surfacing the database error", async () => {
      await db.query("INSERT INTO t (k) VALUES ('dup')");
      const error = await db
        .transaction(async (tx) => {
          await tx.query("INSERT INTO t (k) VALUES ('fresh')");
          await tx.query("INSERT INTO t (k) VALUES ('dup')");
        })
        .catch((e: unknown) => e);
      expect(isUniqueViolation(error)).to.equal(true);
      expect((await db.query("SELECT k FROM t")).rows).to.deep.equal([{ k: "dup" }]);
    });

    it("does not report COMMIT of an aborted transaction as success", async () => {
      // The callback swallows the failed statement; PostgreSQL answers COMMIT with ROLLBACK.
      const error = await db
        .transaction(async (tx) => {
          await tx.query("INSERT INTO t (k) VALUES ('lost')");
          await tx.query("SELECT 1/0").catch(() => undefined);
          return "looks fine";
        })
        .catch((e: unknown) => e);
      expect(error).to.be.instanceOf(TransactionAbortedError);
      expect((await db.query("SELECT count(*) AS c FROM t")).rows[0]).to.deep.equal({ c: "0" });
    });

    it("refuses the database object inside its own transaction instead of deadlocking", async () => {
      for (const misuse of [
        () => db.query("SELECT 1"),
        () => db.exec("SELECT 1"),
        () => db.transaction(async () => undefined),
      ]) {
        const error = await db.transaction(async () => misuse()).catch((e: unknown) => e);
        expect((error as Error).message).to.match(/inside transaction\(\)/);
      }
      // Work started inside a transaction that runs after it ended is allowed.
      let later: Promise<unknown> = Promise.resolve();
      await db.transaction(async (tx) => {
        await tx.query("SELECT 1");
        later = new Promise((resolve) => setTimeout(resolve, 5)).then(() => db.query("SELECT 1"));
      });
      await later;
    });

    it("closes a leaked tx object after the transaction ends", async () => {
      let leaked: { query: (sql: string) => Promise<unknown> } | undefined;
      await db.transaction(async (tx) => {
        leaked = tx;
      });
      const error = await leaked?.query("SELECT 1").catch((e: unknown) => e);
      expect(error).to.be.instanceOf(Error);
    });

    it("keeps concurrent read-modify-write transactions from losing updates", async () => {
      await Promise.all(
        Array.from({ length: 20 }, () =>
          db.transaction(async (tx) => {
            const current = await tx.query<{ value: number }>("SELECT value FROM counter WHERE id = 1 FOR UPDATE");
            await new Promise((resolve) => setImmediate(resolve));
            await tx.query("UPDATE counter SET value = $1 WHERE id = 1", [(current.rows[0]?.value ?? 0) + 1]);
          }),
        ),
      );
      expect((await db.query("SELECT value FROM counter")).rows[0]).to.deep.equal({ value: 20 });
    });

    if (backend.name === "pglite") {
      it("queues other callers behind an open transaction (no interleaving on the single connection)", async () => {
        const order: string[] = [];
        let signalOpen = (): void => undefined;
        const opened = new Promise<void>((resolve) => (signalOpen = resolve));
        // Registered outside the transaction, so this caller is not inside it (no guard).
        const reader = opened.then(async () => {
          const rows = await db.query<{ c: string }>("SELECT count(*) AS c FROM t");
          order.push(`reader saw ${rows.rows[0]?.c}`);
        });
        await db.transaction(async (tx) => {
          await tx.query("INSERT INTO t (k) VALUES ('inside')");
          signalOpen();
          await new Promise((resolve) => setTimeout(resolve, 30));
          order.push("commit");
        });
        await reader;
        expect(order).to.deep.equal(["commit", "reader saw 1"]);
      });
    }
  });
}
