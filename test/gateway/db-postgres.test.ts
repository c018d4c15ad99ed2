/**
 * PostgreSQL-only behaviour (needs TEST_DATABASE_URL): dropped connections must not crash the
 * process, timeouts are set, bad configuration fails at start. Also the embedded data-directory
 * lock, which needs no database at all.
 */
import { expect } from "chai";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { sqlState } from "../../gateway/db/database.js";
import { lockDirectory } from "../../gateway/db/dir-lock.js";
import { openPostgres } from "../../gateway/db/postgres.js";
import { closeTestBackends, randomSchemaName, recordingLogger, testBackends } from "../../gateway/db/testing.js";
import type { TestDatabase } from "../../gateway/db/testing.js";

after(closeTestBackends);

async function waitFor(condition: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("db: PGlite data directory lock", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ppa-lock-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a second opener while the first holds the directory, and frees it on release", async () => {
    const dataDir = join(dir, "pglite");
    const first = await lockDirectory(dataDir);
    expect(await readFile(first.path, "utf8")).to.equal(`${process.pid}\n`);
    const error = await lockDirectory(dataDir).catch((e: unknown) => e);
    expect((error as Error).message).to.match(/is in use by process/);
    await first.release();
    const again = await lockDirectory(dataDir);
    await again.release();
  });

  it("takes over the lock of a process that no longer exists", async () => {
    const dataDir = join(dir, "crashed");
    const child = spawn(process.execPath, ["-e", ""]);
    const deadPid = await new Promise<number>((resolve) => child.on("exit", () => resolve(child.pid as number)));
    await writeFile(`${dataDir}.lock`, `${deadPid}\n`);
    const lock = await lockDirectory(dataDir);
    expect(await readFile(lock.path, "utf8")).to.equal(`${process.pid}\n`);
    await lock.release();
  });
});

const postgres = testBackends().find((backend) => backend.name === "postgres");

(postgres === undefined ? describe.skip : describe)("db: PostgreSQL pool resilience [postgres]", () => {
  const url = postgres?.url ?? "";
  let db: TestDatabase;
  let logger: ReturnType<typeof recordingLogger>;
  let appName: string;

  beforeEach(async () => {
    logger = recordingLogger();
    appName = `ppa_test_${randomSchemaName()}`;
    db = await (postgres as NonNullable<typeof postgres>).fresh({
      migrate: false,
      postgres: { max: 4, logger, applicationName: appName },
    });
  });
  afterEach(async () => {
    await db?.close();
  });

  /** Kills this pool's server sessions from a separate connection, like a DBA or a failover. */
  async function terminateSessions(application = appName): Promise<number> {
    const admin = await openPostgres(url, { max: 1, logger: recordingLogger() });
    try {
      const result = await admin.query<{ pg_terminate_backend: boolean }>(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
        [application],
      );
      return result.rowCount;
    } finally {
      await admin.close();
    }
  }

  it("survives idle pooled connections being terminated; the next query works", async () => {
    // Open several pooled connections so several die at once.
    await Promise.all(Array.from({ length: 4 }, () => db.query("SELECT pg_sleep(0.05)")));
    const killed = await terminateSessions();
    expect(killed).to.be.greaterThan(1);
    // Each dead connection is reported (and dropped from the pool) as its socket learns of it.
    // A statement that grabbed one just before that would fail once — see postgres.ts.
    await waitFor(() => logger.messages.length === killed, "the pool to report every dropped connection");
    expect(logger.messages.every((m) => /idle PostgreSQL connection failed/.test(m))).to.equal(true);
    expect((await db.query<{ ok: number }>("SELECT 1 AS ok")).rows).to.deep.equal([{ ok: 1 }]);
  });

  it("survives the connection of an open transaction being terminated; the transaction fails, the pool recovers", async () => {
    let killed = (): void => undefined;
    const afterKill = new Promise<void>((resolve) => (killed = resolve));
    // Observed from the start: it may fail before terminateSessions() returns.
    const outcome = db
      .transaction(async (tx) => {
        await tx.query("SELECT 1");
        killed();
        // The connection dies while this transaction is idle between statements.
        await waitFor(() => logger.messages.length > 0, "the client error event");
        await tx.query("SELECT 2");
      })
      .then(
        () => new Error("the transaction should have failed"),
        (e: unknown) => e,
      );
    await afterKill;
    expect(await terminateSessions()).to.equal(1);
    const error = await outcome;
    expect((error as Error).message).not.to.match(/should have failed/);
    expect(error).to.be.instanceOf(Error);
    expect(logger.messages).to.include("PostgreSQL connection failed inside a transaction");
    // The broken client was discarded, not returned to the pool.
    for (let i = 0; i < 6; i++) expect((await db.query("SELECT 1 AS ok")).rows).to.deep.equal([{ ok: 1 }]);
    await db.transaction(async (tx) => tx.query("SELECT 1"));
  });

  it("applies a statement timeout", async () => {
    const short = await openPostgres(url, { max: 1, statementTimeoutMs: 100, logger: recordingLogger() });
    try {
      const error = await short.query("SELECT pg_sleep(2)").catch((e: unknown) => e);
      expect(sqlState(error)).to.equal("57014"); // query_canceled
      expect((await short.query("SHOW statement_timeout")).rows).to.deep.equal([{ statement_timeout: "100ms" }]);
    } finally {
      await short.close();
    }
  });

  it("prepares a named statement once per connection, and again on the connection that replaces a dropped one", async () => {
    const single = await openPostgres(url, { max: 1, applicationName: `${appName}_single`, logger });
    try {
      const sql = "SELECT $1::int + 1 AS next";
      const prepared = async () =>
        (await single.query<{ name: string }>("SELECT name FROM pg_prepared_statements WHERE name = 'db_test_next'")).rows.length;
      expect(await prepared()).to.equal(0);
      for (let i = 0; i < 3; i++) {
        expect((await single.query<{ next: number }>(sql, [i], { prepareAs: "db_test_next" })).rows).to.deep.equal([{ next: i + 1 }]);
      }
      expect(await prepared()).to.equal(1);
      expect(await terminateSessions(`${appName}_single`)).to.equal(1);
      await waitFor(() => logger.messages.length > 0, "the pool to report the dropped connection");
      // The new connection has never seen the statement: it is parsed there again, not assumed.
      expect((await single.query<{ next: number }>(sql, [41], { prepareAs: "db_test_next" })).rows).to.deep.equal([{ next: 42 }]);
      expect(await prepared()).to.equal(1);
    } finally {
      await single.close();
    }
  });

  it("sends named statements unprepared when prepared statements are turned off (a pooler that drops them)", async () => {
    const unprepared = await openPostgres(url, { max: 1, preparedStatements: false, logger: recordingLogger() });
    try {
      const sql = "SELECT $1::int + 1 AS next";
      expect((await unprepared.query<{ next: number }>(sql, [1], { prepareAs: "db_test_off" })).rows).to.deep.equal([{ next: 2 }]);
      await unprepared.transaction(async (tx) => {
        expect((await tx.query<{ next: number }>(sql, [2], { prepareAs: "db_test_off" })).rows).to.deep.equal([{ next: 3 }]);
      });
      const prepared = await unprepared.query("SELECT name FROM pg_prepared_statements WHERE name = 'db_test_off'");
      expect(prepared.rowCount).to.equal(0);
    } finally {
      await unprepared.close();
    }
  });

  it("fails at open, not at first use, when the server is unreachable", async () => {
    const started = Date.now();
    const error = await openPostgres("postgres://postgres@127.0.0.1:1/test", {
      connectionTimeoutMs: 1_000,
      logger: recordingLogger(),
    }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(Error);
    expect(Date.now() - started).to.be.lessThan(2_000);
  });

  it("refuses a schema name that could inject startup options", async () => {
    const error = await openPostgres(url, { schema: "x -c statement_timeout=0" }).catch((e: unknown) => e);
    expect((error as Error).message).to.match(/invalid schema name/);
  });
});
