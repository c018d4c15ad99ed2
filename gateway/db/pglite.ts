/**
 * The embedded backend: PGlite, real PostgreSQL compiled to WASM, running in this process.
 * Used when no DATABASE_URL is configured (a single gateway instance) and by the tests.
 *
 * Concurrency: PGlite is one connection. Its own `query()` and `transaction()` both take the same
 * internal "transaction mutex" for their whole duration, so a transaction's statements can never
 * interleave with another caller's: concurrent callers queue. We therefore use PGlite's
 * `transaction()` as is; the only extra rule is the reentrancy guard (see transaction-guard.ts).
 *
 * Cost (PGlite 0.5, measured on a busy 2-core machine): creating a database runs initdb in WASM,
 * 5-10 s; reopening an existing data directory ~1 s; a simple statement ~1 ms. PGlite runs with
 * fsync=off: committed data survives a crash of this process, not of the machine.
 */
import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { PGlite, TransactionAbortedError as PGliteTransactionAbortedError } from "@electric-sql/pglite";
import type { Results, Transaction } from "@electric-sql/pglite";
import { TransactionAbortedError, toSqlParams } from "./database.js";
import type { Database, QueryResult, Queryable, SqlValue } from "./database.js";
import { lockDirectory } from "./dir-lock.js";
import { createKeyedMutex } from "../lib/keyed-mutex.js";
import { assertOutsideTransaction, runInTransactionScope } from "./transaction-guard.js";

export interface PGliteConfig {
  /** Directory for the database files; in-memory (lost on close) when omitted. */
  dataDir?: string;
}

const INT8_OID = 20;
const BYTEA_OID = 17;

/**
 * Creates a PGlite instance whose result types match node-postgres: INT8 as a decimal string
 * (PGlite would return a number or a bigint depending on magnitude) and BYTEA as a Buffer.
 */
export async function createPGlite(dataDir?: string): Promise<PGlite> {
  return PGlite.create({
    ...(dataDir === undefined ? {} : { dataDir }),
    parsers: {
      [INT8_OID]: (text: string) => text,
      [BYTEA_OID]: (text: string) => Buffer.from(text.slice(2), "hex"),
    },
  });
}

export async function openPGlite(config: PGliteConfig = {}): Promise<Database> {
  if (config.dataDir === undefined) {
    const pg = await createPGlite();
    return pgliteDatabase(pg, () => pg.close());
  }
  const dataDir = resolve(config.dataDir);
  await mkdir(dirname(dataDir), { recursive: true });
  const lock = await lockDirectory(dataDir);
  let pg: PGlite;
  try {
    pg = await createPGlite(dataDir);
  } catch (error) {
    await lock.release();
    throw error;
  }
  return pgliteDatabase(pg, async () => {
    try {
      await pg.close();
    } finally {
      await lock.release();
    }
  });
}

/**
 * Wraps an existing PGlite instance (created by `createPGlite`, so the parsers match).
 * `close` decides what closing means — the test harness shares one instance between handles.
 */
export function pgliteDatabase(pg: PGlite, close: () => Promise<void>): Database {
  let closing: Promise<void> | undefined;
  // One process owns the data directory (dir-lock.ts), so an in-process lock is a global one.
  const mutex = createKeyedMutex();
  const db: Database = {
    kind: "pglite",
    async query<T>(sql: string, params?: readonly SqlValue[]): Promise<QueryResult<T>> {
      assertOutsideTransaction(db, "query");
      return toResult<T>(await pg.query<T>(sql, toSqlParams(params)));
    },
    async exec(sql: string): Promise<void> {
      assertOutsideTransaction(db, "exec");
      await pg.exec(sql);
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      assertOutsideTransaction(db, "transaction");
      try {
        return await pg.transaction((ptx) => runInTransactionScope(db, () => fn(wrapTransaction(ptx))));
      } catch (error) {
        if (error instanceof PGliteTransactionAbortedError) throw new TransactionAbortedError({ cause: error });
        throw error;
      }
    },
    withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
      assertOutsideTransaction(db, "withLock");
      return mutex.run(key, fn);
    },
    close(): Promise<void> {
      closing ??= close();
      return closing;
    },
  };
  return db;
}

function wrapTransaction(ptx: Transaction): Queryable {
  return {
    async query<T>(sql: string, params?: readonly SqlValue[]): Promise<QueryResult<T>> {
      return toResult<T>(await ptx.query<T>(sql, toSqlParams(params)));
    },
    async exec(sql: string): Promise<void> {
      await ptx.exec(sql);
    },
  };
}

const ROW_CHANGING_COMMANDS = new Set(["INSERT", "UPDATE", "DELETE", "MERGE"]);

function toResult<T>(result: Results<T>): QueryResult<T> {
  // Match node-postgres: affected rows for DML (with or without RETURNING), rows returned
  // otherwise. PGlite's `affectedRows` is 0 for SELECT, hence the command check.
  const changed = result.command !== undefined && ROW_CHANGING_COMMANDS.has(result.command);
  const rowCount = result.rowCount ?? (changed ? (result.affectedRows ?? 0) : result.rows.length);
  return { rows: result.rows, rowCount };
}
