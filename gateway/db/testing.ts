/**
 * Test harness for code that needs a real database: every suite runs against in-memory PGlite,
 * and also against PostgreSQL when TEST_DATABASE_URL is set (CI). Each `fresh()` database lives
 * in its own new schema, dropped on close, so runs never see each other's rows and the test
 * database is left as it was found.
 *
 * PGlite costs ~5-10 s to create (initdb in WASM), so one instance is shared by the whole test
 * process and switched between schemas. Being a single connection, it can serve only one fresh
 * database at a time: close one before opening the next. Call `closeTestBackends()` from a root
 * `after` hook.
 *
 * Usage:
 *   for (const backend of testBackends()) describe(`thing [${backend.name}]`, () => {
 *     let db: TestDatabase;
 *     before(async () => { db = await backend.fresh(); });
 *     after(async () => { await db.close(); });
 *   });
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { PGlite } from "@electric-sql/pglite";
import type { Database, DatabaseKind, DbLogger } from "./database.js";
import { migrate } from "./migrate.js";
import { createPGlite, pgliteDatabase } from "./pglite.js";
import { openPostgres } from "./postgres.js";
import type { PostgresConfig } from "./postgres.js";

export interface TestDatabase extends Database {
  /** The schema holding this database's tables. */
  readonly schema: string;
}

export interface FreshOptions {
  /** Apply the gateway's migrations (default true). */
  migrate?: boolean;
  /** PostgreSQL only: pool settings. */
  postgres?: PostgresConfig;
}

export interface TestBackend {
  readonly name: DatabaseKind;
  /** Opens a database in a new empty schema (migrated unless told otherwise). */
  fresh(options?: FreshOptions): Promise<TestDatabase>;
  /** PostgreSQL only: the connection URL, e.g. to open a second pool on the same schema. */
  readonly url?: string;
}

/** PGlite always; PostgreSQL too when TEST_DATABASE_URL is set. */
export function testBackends(): TestBackend[] {
  const url = process.env.TEST_DATABASE_URL;
  return url === undefined || url.trim() === "" ? [pgliteBackend] : [pgliteBackend, postgresBackend(url)];
}

/** Closes the shared PGlite instance. Idempotent. */
export async function closeTestBackends(): Promise<void> {
  const instance = sharedPGlite;
  sharedPGlite = undefined;
  if (instance !== undefined) await (await instance).close();
}

/** Collects warnings instead of printing them, so tests can assert on pool errors. */
export function recordingLogger(): DbLogger & { readonly messages: string[] } {
  const messages: string[] = [];
  return {
    messages,
    warn(_details, message) {
      messages.push(message);
    },
  };
}

export function randomSchemaName(): string {
  return `test_${process.pid}_${randomBytes(4).toString("hex")}`;
}

let sharedPGlite: Promise<PGlite> | undefined;
let pgliteInUse: string | undefined;

const pgliteBackend: TestBackend = {
  name: "pglite",
  async fresh(options: FreshOptions = {}): Promise<TestDatabase> {
    if (pgliteInUse !== undefined) {
      throw new Error(`the shared PGlite test database (schema ${pgliteInUse}) is still open; close it first`);
    }
    sharedPGlite ??= createPGlite();
    const instance = await sharedPGlite;
    const schema = randomSchemaName();
    pgliteInUse = schema;
    try {
      // search_path is per session, and PGlite has exactly one session: it switches the whole
      // instance to the new schema.
      await instance.exec(`CREATE SCHEMA ${schema}; SET search_path TO ${schema}`);
    } catch (error) {
      pgliteInUse = undefined;
      throw error;
    }
    const db = pgliteDatabase(instance, async () => {
      try {
        await instance.exec(`SET search_path TO public; DROP SCHEMA ${schema} CASCADE`);
      } finally {
        pgliteInUse = undefined;
      }
    });
    return withMigrations({ ...db, schema }, options);
  },
};

function postgresBackend(url: string): TestBackend {
  return {
    name: "postgres",
    url,
    async fresh(options: FreshOptions = {}): Promise<TestDatabase> {
      const schema = randomSchemaName();
      await adminQuery(url, `CREATE SCHEMA ${schema}`);
      let db: Database;
      try {
        db = await openPostgres(url, { max: 10, ...options.postgres, schema });
      } catch (error) {
        await adminQuery(url, `DROP SCHEMA ${schema} CASCADE`);
        throw error;
      }
      const close = async (): Promise<void> => {
        try {
          await db.close();
        } finally {
          await adminQuery(url, `DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        }
      };
      let closing: Promise<void> | undefined;
      return withMigrations({ ...db, schema, close: () => (closing ??= close()) }, options);
    },
  };
}

async function withMigrations(db: TestDatabase, options: FreshOptions): Promise<TestDatabase> {
  if (options.migrate === false) return db;
  try {
    await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

/** Schema DDL on a short-lived connection of its own, independent of the pool under test. */
async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  // A dropped connection also rejects the pending call; the listener only prevents a crash.
  client.on("error", () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
