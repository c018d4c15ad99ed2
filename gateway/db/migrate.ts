/**
 * Versioned schema migrations, applied at start.
 *
 * Files are `migrations/NNN_name.sql`, shipped as SQL and read at runtime. Each pending file runs
 * in its own transaction together with its row in `schema_migrations`, so a crash leaves it
 * either fully applied and recorded or not at all.
 *
 * Several gateway processes may start at once against one PostgreSQL. Every migration
 * transaction first takes a transaction-scoped advisory lock with a fixed key and then re-reads
 * `schema_migrations`, so exactly one process applies each file and the others see it recorded
 * and skip it. (PGlite has a single connection, where the lock is trivially uncontended.)
 *
 * An applied file must never change: the database already holds its old effect, and a new
 * environment would get a different schema than an old one. A SHA-256 per file is recorded and
 * a mismatch stops the start. So does a recorded version missing from the files (a database
 * already migrated by a newer gateway whose invariants this build does not know), and a new file
 * numbered below the highest applied version (a merge that needs renumbering).
 */
import { createHash } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import type { Database, Queryable } from "./database.js";

export interface Migration {
  /** File name, e.g. 001_payments.sql. */
  file: string;
  version: number;
  name: string;
  sql: string;
  /** SHA-256 hex of the file with line endings normalized to \n (a CRLF checkout is no change). */
  checksum: string;
}

export interface MigrateResult {
  /** Migrations this call applied, in order. */
  applied: Migration[];
  /** Highest version recorded after the call (0 when there are no migrations). */
  version: number;
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MigrationError";
  }
}

export const DEFAULT_MIGRATIONS_DIR = new URL("./migrations/", import.meta.url);

/** Arbitrary fixed key ("PPAGMIGR" in ASCII) shared by every process migrating this database. */
export const MIGRATION_LOCK_KEY = 0x5050_4147_4d49_4752n;

const FILE_NAME = /^(\d{3,})_([a-z0-9][a-z0-9_]*)\.sql$/;

/** Reads and validates every .sql file in `dir`, ordered by version. */
export async function loadMigrations(dir: URL = DEFAULT_MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((file) => file.endsWith(".sql"));
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = FILE_NAME.exec(file);
    if (match === null || match[1] === undefined || match[2] === undefined) {
      // A misnamed file would otherwise be skipped silently and its schema never applied.
      throw new MigrationError(`migration file ${file} is not named NNN_name.sql (lowercase name)`);
    }
    const sql = (await readFile(new URL(file, dir), "utf8")).replace(/\r\n/g, "\n");
    migrations.push({
      file,
      version: Number.parseInt(match[1], 10),
      name: match[2],
      sql,
      checksum: createHash("sha256").update(sql).digest("hex"),
    });
  }
  migrations.sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    const previous = migrations[i - 1];
    const current = migrations[i];
    if (previous !== undefined && current !== undefined && previous.version === current.version) {
      throw new MigrationError(`two migration files have version ${current.version}: ${previous.file}, ${current.file}`);
    }
  }
  return migrations;
}

export interface MigrateOptions {
  /** Directory of NNN_name.sql files; defaults to the gateway's own migrations. */
  dir?: URL;
  /** Already loaded migrations (takes precedence over `dir`). */
  migrations?: Migration[];
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

export async function migrate(db: Database, options: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = options.migrations ?? (await loadMigrations(options.dir));

  // Verify everything already recorded before applying anything new.
  const recorded = await db.transaction(async (tx) => {
    await beginMigrationTransaction(tx);
    await tx.exec(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        checksum   TEXT NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`);
    return (await tx.query<AppliedRow>("SELECT version, name, checksum FROM schema_migrations ORDER BY version")).rows;
  });
  const byVersion = new Map(migrations.map((migration) => [migration.version, migration]));
  for (const row of recorded) {
    const migration = byVersion.get(row.version);
    if (migration === undefined) {
      throw new MigrationError(
        `database has migration ${row.version} (${row.name}), which this build does not have; refusing to run an older gateway against a newer schema`,
      );
    }
    assertUnchanged(migration, row);
  }

  const done = new Set(recorded.map((row) => row.version));
  const highest = recorded[recorded.length - 1]?.version ?? 0;
  const late = migrations.find((migration) => !done.has(migration.version) && migration.version < highest);
  if (late !== undefined) {
    // Applying it now would give this database a different history (and maybe schema) than a
    // fresh one, which applies it before the later versions.
    throw new MigrationError(`migration ${late.file} is older than the applied version ${highest}; renumber it`);
  }

  const applied: Migration[] = [];
  for (const migration of migrations) {
    if (done.has(migration.version)) continue;
    const appliedHere = await db.transaction(async (tx) => {
      await beginMigrationTransaction(tx);
      // Re-read under the lock: another process may have applied it while we waited.
      const existing = await tx.query<AppliedRow>(
        "SELECT version, name, checksum FROM schema_migrations WHERE version = $1",
        [migration.version],
      );
      const row = existing.rows[0];
      if (row !== undefined) {
        assertUnchanged(migration, row);
        return false;
      }
      await tx.exec(migration.sql);
      await tx.query("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", [
        migration.version,
        migration.name,
        migration.checksum,
      ]);
      return true;
    });
    if (appliedHere) applied.push(migration);
  }

  const last = migrations[migrations.length - 1];
  return { applied, version: last?.version ?? 0 };
}

/**
 * Lifts the statement timeout of normal traffic — a migration, or waiting for another process's
 * migration, may legitimately take longer — then serializes migrators until COMMIT/ROLLBACK.
 */
async function beginMigrationTransaction(tx: Queryable): Promise<void> {
  await tx.exec("SET LOCAL statement_timeout = 0");
  await tx.query("SELECT pg_advisory_xact_lock($1::bigint)", [MIGRATION_LOCK_KEY]);
}

function assertUnchanged(migration: Migration, row: AppliedRow): void {
  if (row.checksum !== migration.checksum) {
    throw new MigrationError(
      `migration ${migration.file} was changed after it was applied ` +
        `(recorded sha256 ${row.checksum}, file ${migration.checksum}); add a new migration instead`,
    );
  }
}
