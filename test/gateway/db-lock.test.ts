/**
 * Database.withLock: one holder per key at a time, in this process and (PostgreSQL) across pools
 * of different processes; the holder's statements run on the lock's own connection, so a pool
 * full of holders never deadlocks waiting for a second one.
 */
import { expect } from "chai";
import { type Database, openPostgres } from "../../gateway/db/index.js";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";

after(closeTestBackends);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `count` holders of `key(i)` at once and returns the most that were ever inside together. */
async function maxConcurrency(dbs: readonly Database[], count: number, key: (i: number) => string): Promise<number> {
  let inside = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: count }, (_, i) =>
      dbs[i % dbs.length]!.withLock(key(i), async () => {
        inside += 1;
        most = Math.max(most, inside);
        await dbs[i % dbs.length]!.query("SELECT 1");
        await sleep(20);
        inside -= 1;
      }),
    ),
  );
  return most;
}

for (const backend of testBackends()) {
  describe(`db: withLock [${backend.name}]`, function () {
    this.timeout(30_000);
    let db: TestDatabase;

    before(async () => {
      db = await backend.fresh({ migrate: false });
    });

    after(async () => {
      await db.close();
    });

    it("runs holders of one key one after another, in arrival order", async () => {
      const order: number[] = [];
      await Promise.all(
        [0, 1, 2, 3].map((i) =>
          db.withLock("k", async () => {
            order.push(i);
            await sleep(5);
          }),
        ),
      );
      expect(order).to.deep.equal([0, 1, 2, 3]);
      expect(await maxConcurrency([db], 6, () => "same")).to.equal(1);
    });

    it("does not make different keys wait for each other", async () => {
      expect(await maxConcurrency([db], 4, (i) => `key-${i}`)).to.be.greaterThan(1);
    });

    it("releases the lock when the holder throws, and passes the error on", async () => {
      let error: unknown;
      try {
        await db.withLock("boom", async () => {
          throw new Error("holder failed");
        });
      } catch (caught) {
        error = caught;
      }
      expect((error as Error).message).to.equal("holder failed");
      expect(await db.withLock("boom", async () => "next")).to.equal("next");
    });

    it("refuses to be taken inside a transaction", async () => {
      let error: unknown;
      await db.transaction(async () => {
        try {
          await db.withLock("tx", async () => undefined);
        } catch (caught) {
          error = caught;
        }
      });
      expect((error as Error).message).to.match(/withLock\(\) called inside transaction/);
    });

    if (backend.url !== undefined) {
      const url = backend.url;

      it("excludes holders in another pool (another gateway instance) on the same key", async () => {
        const other = await openPostgres(url, { schema: db.schema, max: 2 });
        try {
          expect(await maxConcurrency([db, other], 6, () => "shared")).to.equal(1);
          expect(await maxConcurrency([db, other], 4, (i) => `own-${i}`)).to.be.greaterThan(1);
        } finally {
          await other.close();
        }
      });

      it("runs the holder's statements on the lock's connection: a full pool of holders does not deadlock", async () => {
        const small = await openPostgres(url, { schema: db.schema, max: 2, connectionTimeoutMs: 2_000 });
        try {
          const pids = await Promise.all(
            [0, 1, 2, 3, 4].map((i) =>
              small.withLock(`pool-${i}`, async () => {
                const { rows } = await small.query<{ pid: number; held: string }>(
                  "SELECT pg_backend_pid() AS pid, (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted)::text AS held",
                );
                await sleep(10);
                return rows[0]!;
              }),
            ),
          );
          // Each holder saw its own advisory lock on the connection it queried through.
          for (const { held } of pids) expect(Number(held)).to.be.at.least(1);
        } finally {
          await small.close();
        }
      });
    }
  });
}
