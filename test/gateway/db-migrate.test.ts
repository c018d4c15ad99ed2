/**
 * Migrations: applied once and in order, each atomically; an edited or unknown migration stops
 * the start; concurrent starts against one PostgreSQL do not conflict.
 */
import { expect } from "chai";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { MigrationError, loadMigrations, migrate } from "../../gateway/db/migrate.js";
import { openDatabase } from "../../gateway/db/index.js";
import { openPostgres } from "../../gateway/db/postgres.js";
import { closeTestBackends, recordingLogger, testBackends } from "../../gateway/db/testing.js";
import type { TestDatabase } from "../../gateway/db/testing.js";
import type { Database } from "../../gateway/db/database.js";

after(closeTestBackends);

/** A scratch migrations directory; returns its URL (with trailing slash, as migrate expects). */
async function migrationsDir(files: Record<string, string>): Promise<URL> {
  const dir = await mkdtemp(join(tmpdir(), "ppa-migrations-"));
  for (const [name, sql] of Object.entries(files)) await writeFile(join(dir, name), sql);
  return pathToFileURL(`${dir}/`);
}

async function tableNames(db: Database): Promise<string[]> {
  const result = await db.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name",
  );
  return result.rows.map((row) => row.table_name);
}

describe("db: loadMigrations", () => {
  const dirs: URL[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("loads the shipped migrations in version order with checksums", async () => {
    const migrations = await loadMigrations();
    expect(migrations.map((m) => `${m.version}_${m.name}`)[0]).to.equal("1_payments");
    const versions = migrations.map((m) => m.version);
    expect(versions, "strictly increasing versions").to.deep.equal([...new Set(versions)].sort((a, b) => a - b));
    expect(migrations.every((m) => /^[0-9a-f]{64}$/.test(m.checksum))).to.equal(true);
  });

  it("treats a CRLF checkout as the same file", async () => {
    const lf = await migrationsDir({ "001_a.sql": "CREATE TABLE a (x INT);\nSELECT 1;\n" });
    const crlf = await migrationsDir({ "001_a.sql": "CREATE TABLE a (x INT);\r\nSELECT 1;\r\n" });
    dirs.push(lf, crlf);
    expect((await loadMigrations(lf))[0]?.checksum).to.equal((await loadMigrations(crlf))[0]?.checksum);
  });

  it("refuses misnamed and duplicate-version files", async () => {
    const misnamed = await migrationsDir({ "1-a.sql": "SELECT 1;" });
    const duplicate = await migrationsDir({ "001_a.sql": "SELECT 1;", "001_b.sql": "SELECT 2;" });
    dirs.push(misnamed, duplicate);
    for (const dir of [misnamed, duplicate]) {
      const error = await loadMigrations(dir).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(MigrationError);
    }
  });
});

for (const backend of testBackends()) {
  describe(`db: migrate [${backend.name}]`, () => {
    const dirs: URL[] = [];
    let db: TestDatabase | undefined;

    afterEach(async () => {
      await db?.close();
      db = undefined;
    });
    after(async () => {
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    });

    async function scratch(files: Record<string, string>): Promise<URL> {
      const dir = await migrationsDir(files);
      dirs.push(dir);
      return dir;
    }

    it("applies the shipped schema once; a second run applies nothing", async () => {
      const shipped = await loadMigrations();
      const latest = shipped[shipped.length - 1]!.version;
      db = await backend.fresh({ migrate: false });
      const first = await migrate(db);
      expect(first.applied.map((m) => m.name)).to.deep.equal(shipped.map((m) => m.name));
      expect(first.version).to.equal(latest);
      expect(await tableNames(db)).to.include.members(["payments", "schema_migrations", "settlement_batches", "signer_nonces"]);

      const second = await migrate(db);
      expect(second.applied).to.deep.equal([]);
      expect(second.version).to.equal(latest);
      const recorded = await db.query<{ version: number; name: string; checksum: string; applied_at: Date }>(
        "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version",
      );
      expect(recorded.rows.map((row) => [row.version, row.name, row.checksum])).to.deep.equal(shipped.map((m) => [m.version, m.name, m.checksum]));
      expect(recorded.rows.every((row) => row.applied_at instanceof Date)).to.equal(true);
    });

    it("applies only the new files of a later release, in order", async () => {
      db = await backend.fresh({ migrate: false });
      const v1 = { "001_a.sql": "CREATE TABLE a (x INT);" };
      await migrate(db, { dir: await scratch(v1) });
      const v2 = await scratch({
        ...v1,
        "010_c.sql": "ALTER TABLE b ADD COLUMN z INT;", // numeric order, not file-system order
        "002_b.sql": "CREATE TABLE b (y INT);",
      });
      const result = await migrate(db, { dir: v2 });
      expect(result.applied.map((m) => m.version)).to.deep.equal([2, 10]);
      expect(await tableNames(db)).to.deep.equal(["a", "b", "schema_migrations"]);
    });

    it("refuses to start when an applied migration was edited", async () => {
      db = await backend.fresh({ migrate: false });
      await migrate(db, { dir: await scratch({ "001_a.sql": "CREATE TABLE a (x INT);" }) });
      const edited = await scratch({
        "001_a.sql": "CREATE TABLE a (x BIGINT);",
        "002_b.sql": "CREATE TABLE b (y INT);",
      });
      const error = await migrate(db, { dir: edited }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(MigrationError);
      expect((error as Error).message).to.match(/001_a\.sql was changed after it was applied/);
      // Nothing after the edited file ran either.
      expect(await tableNames(db)).to.deep.equal(["a", "schema_migrations"]);
    });

    it("refuses to run an older build against a database migrated by a newer one", async () => {
      db = await backend.fresh({ migrate: false });
      const v1 = { "001_a.sql": "CREATE TABLE a (x INT);" };
      await migrate(db, { dir: await scratch({ ...v1, "002_b.sql": "CREATE TABLE b (y INT);" }) });
      const error = await migrate(db, { dir: await scratch(v1) }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(MigrationError);
      expect((error as Error).message).to.match(/migration 2 \(b\), which this build does not have/);
    });

    it("refuses a new migration numbered below one already applied", async () => {
      db = await backend.fresh({ migrate: false });
      const a = { "001_a.sql": "CREATE TABLE a (x INT);" };
      const c = { "003_c.sql": "CREATE TABLE c (z INT);" };
      await migrate(db, { dir: await scratch({ ...a, ...c }) });
      const error = await migrate(db, { dir: await scratch({ ...a, "002_b.sql": "CREATE TABLE b (y INT);", ...c }) }).catch(
        (e: unknown) => e,
      );
      expect((error as Error).message).to.match(/002_b\.sql is older than the applied version 3/);
    });

    it("rolls a failing migration back completely and records nothing", async () => {
      db = await backend.fresh({ migrate: false });
      const dir = await scratch({
        "001_a.sql": "CREATE TABLE a (x INT);",
        "002_bad.sql": "CREATE TABLE b (y INT);\nINSERT INTO b VALUES (1);\nSELECT no_such_function();",
      });
      const error = await migrate(db, { dir }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(Error);
      expect(await tableNames(db)).to.deep.equal(["a", "schema_migrations"]);
      const versions = await db.query<{ version: number }>("SELECT version FROM schema_migrations");
      expect(versions.rows).to.deep.equal([{ version: 1 }]);
    });

    it("lets concurrent migrate() calls on one handle apply each file exactly once", async () => {
      db = await backend.fresh({ migrate: false });
      const shipped = await loadMigrations();
      const results = await Promise.all(Array.from({ length: 4 }, () => migrate(db as TestDatabase)));
      // Which call applies which file depends on who gets the lock between files; each file once is the point.
      const applied = results.flatMap((r) => r.applied).sort((x, y) => x.version - y.version);
      expect(applied.map((m) => m.name)).to.deep.equal(shipped.map((m) => m.name));
    });

    if (backend.name === "postgres") {
      it("lets four gateway processes (separate pools) migrate one schema at once without conflict", async () => {
        // A statement timeout far below the slow migration: neither running it nor waiting for
        // the lock is subject to the limit meant for normal traffic.
        const quick = { max: 2, statementTimeoutMs: 100 };
        db = await backend.fresh({ migrate: false, postgres: quick });
        const url = backend.url as string;
        const others = await Promise.all(
          Array.from({ length: 3 }, () => openPostgres(url, { ...quick, schema: (db as TestDatabase).schema })),
        );
        try {
          const dir = await scratch({
            "001_a.sql": "CREATE TABLE a (x INT);",
            // Slow enough that the other processes arrive while it runs.
            "002_slow.sql": "SELECT pg_sleep(0.3);\nCREATE TABLE b (y INT);",
            "003_c.sql": "CREATE INDEX b_y ON b (y);",
          });
          const results = await Promise.all([db, ...others].map((handle) => migrate(handle, { dir })));
          const applied = results.flatMap((r) => r.applied.map((m) => m.version)).sort();
          expect(applied).to.deep.equal([1, 2, 3]);
          expect(results.every((r) => r.version === 3)).to.equal(true);
          expect((await db.query("SELECT count(*) AS c FROM schema_migrations")).rows[0]).to.deep.equal({ c: "3" });
        } finally {
          await Promise.all(others.map((other) => other.close()));
        }
      });

      it("lets four gateway processes apply the shipped schema to an empty database at once", async () => {
        db = await backend.fresh({ migrate: false });
        const url = backend.url as string;
        const others = await Promise.all(
          Array.from({ length: 3 }, () => openPostgres(url, { schema: (db as TestDatabase).schema, max: 2 })),
        );
        try {
          // Includes the race on CREATE TABLE IF NOT EXISTS schema_migrations, which is unsafe
          // between concurrent sessions without the lock.
          const shipped = await loadMigrations();
          const results = await Promise.all([db, ...others].map((handle) => migrate(handle)));
          // Each migration is applied exactly once in all; which process applied which depends on
          // who got the lock first, so compare as sets.
          const applied = results.flatMap((r) => r.applied.map((m) => m.name));
          expect([...applied].sort()).to.deep.equal(shipped.map((m) => m.name).sort());
          const recorded = await db.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version");
          expect(recorded.rows.map((r) => Number(r.version))).to.deep.equal(shipped.map((m) => m.version));
        } finally {
          await Promise.all(others.map((other) => other.close()));
        }
      });

      it("openDatabase(url) opens PostgreSQL and migrates it", async () => {
        db = await backend.fresh({ migrate: false });
        const opened = await openDatabase({
          url: backend.url as string,
          postgres: { schema: db.schema, max: 2 },
          logger: recordingLogger(),
        });
        try {
          expect(opened.kind).to.equal("postgres");
          expect(await tableNames(opened)).to.include("payments");
        } finally {
          await opened.close();
        }
      });
    }
  });
}
