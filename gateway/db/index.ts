/**
 * Entry point of the gateway's storage: picks the backend and brings the schema up to date.
 * PostgreSQL when a URL is configured (required for several gateway instances), otherwise an
 * embedded PGlite database in a local data directory (one instance only; the directory is
 * locked against a second process).
 */
import type { Database, DbLogger } from "./database.js";
import { migrate } from "./migrate.js";
import { openPGlite } from "./pglite.js";
import { openPostgres } from "./postgres.js";
import type { PostgresConfig } from "./postgres.js";

export * from "./database.js";
export { MIGRATION_LOCK_KEY, MigrationError, loadMigrations, migrate } from "./migrate.js";
export type { MigrateOptions, MigrateResult, Migration } from "./migrate.js";
export { openPGlite } from "./pglite.js";
export type { PGliteConfig } from "./pglite.js";
export { openPostgres } from "./postgres.js";
export type { PostgresConfig } from "./postgres.js";

export const DEFAULT_DATA_DIR = ".data/pglite";

export interface DatabaseConfig {
  /** PostgreSQL connection URL; falls back to env DATABASE_URL. Empty means unset. */
  url?: string;
  /** PGlite data directory when no URL is set; default `.data/pglite` (relative to the cwd). */
  dataDir?: string;
  /** Pool settings when the URL is used. */
  postgres?: Omit<PostgresConfig, "logger">;
  logger?: DbLogger;
}

export async function openDatabase(config: DatabaseConfig = {}): Promise<Database> {
  const url = nonEmpty(config.url) ?? nonEmpty(process.env.DATABASE_URL);
  const db =
    url !== undefined
      ? await openPostgres(url, { ...config.postgres, ...(config.logger === undefined ? {} : { logger: config.logger }) })
      : await openPGlite({ dataDir: config.dataDir ?? DEFAULT_DATA_DIR });
  try {
    await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}
