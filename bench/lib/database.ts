/**
 * The database the load sections run on: PostgreSQL when one answers (TEST_DATABASE_URL,
 * DATABASE_URL, else the local default postgres://postgres@127.0.0.1:5432/test), in a schema of
 * its own that is dropped afterwards; otherwise embedded PGlite in a temporary directory. The
 * rows say which, because the two differ a lot under load and only PostgreSQL can be shared by
 * several gateway processes.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { type Database, migrate, openPGlite, openPostgres } from "../../gateway/db/index.js";

const DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/test";

export interface BenchDatabase {
  readonly kind: "PostgreSQL" | "PGlite";
  /** How the gateway processes reach it (environment for bench/servers/gateway.ts). */
  readonly env: Readonly<Record<string, string>>;
  /** Opens it in this process (migrated). PGlite: only while no gateway process has it open. */
  open(): Promise<Database>;
  /** Drops the schema / removes the directory. */
  drop(): Promise<void>;
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function reachable(url: string): Promise<boolean> {
  try {
    await adminQuery(url, "SELECT 1");
    return true;
  } catch {
    return false;
  }
}

export function postgresUrl(): string {
  const configured = [process.env["TEST_DATABASE_URL"], process.env["DATABASE_URL"]].find((u) => u !== undefined && u.trim() !== "");
  return configured ?? DEFAULT_URL;
}

/** A new, empty, migrated database for one section; PostgreSQL if reachable. */
export async function benchDatabase(): Promise<BenchDatabase> {
  const url = postgresUrl();
  if (await reachable(url)) {
    const schema = `bench_${randomBytes(6).toString("hex")}`;
    await adminQuery(url, `CREATE SCHEMA ${schema}`);
    const database: BenchDatabase = {
      kind: "PostgreSQL",
      env: { BENCH_DB_URL: url, BENCH_DB_SCHEMA: schema },
      async open() {
        const db = await openPostgres(url, { schema, applicationName: "payperagent-bench" });
        await migrate(db);
        return db;
      },
      drop: () => adminQuery(url, `DROP SCHEMA IF EXISTS ${schema} CASCADE`),
    };
    // Migrated once here, so gateway processes started together do not race to create tables.
    await (await database.open()).close();
    return database;
  }
  const dir = mkdtempSync(path.join(tmpdir(), "bench-pglite-"));
  return {
    kind: "PGlite",
    env: { BENCH_PGLITE_DIR: dir },
    async open() {
      const db = await openPGlite({ dataDir: dir });
      await migrate(db);
      return db;
    },
    async drop() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
