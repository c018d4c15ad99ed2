/**
 * The database contract the whole gateway codes against. Two implementations exist — embedded
 * PGlite (pglite.ts) and a PostgreSQL pool (postgres.ts) — and both take the same SQL with
 * $1.. placeholders and return the same JavaScript types, so a query tested on one runs
 * unchanged on the other.
 *
 * Value mapping (identical on both backends):
 *   - NUMERIC and INT8/BIGSERIAL columns come back as decimal strings; convert with `toBigInt`.
 *     Money is therefore never a float anywhere between the chain and the database.
 *   - bigint parameters are sent as decimal strings; plain objects are sent as JSON text with
 *     bigints written as decimal strings (for JSONB columns); arrays become PostgreSQL arrays.
 *   - BYTEA comes back as a Buffer, TIMESTAMPTZ as a Date, JSONB as parsed JSON.
 */

/** A value that can be bound to a $n placeholder. */
export type SqlValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | undefined
  | Date
  | Uint8Array
  | readonly SqlValue[]
  | { readonly [key: string]: unknown };

export interface QueryResult<T> {
  rows: T[];
  /** Rows changed by INSERT/UPDATE/DELETE/MERGE, otherwise rows returned (0 for DDL). */
  rowCount: number;
}

/** How one statement is sent. */
export interface QueryOptions {
  /**
   * PostgreSQL: keep the statement prepared under this name on each pooled connection, so the
   * server parses and plans it once per connection instead of on every call (about a fifth of
   * the server's CPU for the statement that records payments). Only for a fixed statement run on
   * every paid request: the name must always come with the same text, and the statement's
   * result columns must not change while the gateway runs. PGlite ignores it.
   */
  readonly prepareAs?: string;
}

/** Something SQL can be sent to: the database itself, or an open transaction. */
export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: readonly SqlValue[], options?: QueryOptions): Promise<QueryResult<T>>;
  /**
   * Runs a script of one or more statements without parameters (migrations, DDL). Separate from
   * `query` because PGlite only accepts a multi-statement string through its simple protocol.
   */
  exec(sql: string): Promise<void>;
}

export type DatabaseKind = "pglite" | "postgres";

export interface Database extends Queryable {
  readonly kind: DatabaseKind;
  /**
   * Runs `fn` inside BEGIN/COMMIT on one connection; any throw rolls back and is rethrown.
   * Use only `tx` inside `fn`: calling the database itself (or nesting `transaction`) from
   * inside throws, because on PGlite it would wait forever for the transaction to finish and on
   * PostgreSQL it would silently run outside the transaction on another connection.
   * Keep network I/O out of `fn`: locks (and, on PGlite, the whole database) are held until it
   * returns.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs `fn` while holding the exclusive lock named `key`: every caller with the same key, in
   * this process and in every other process on the same database, runs after the previous one
   * finished. Unlike `transaction`, `fn` may take its time (RPC calls) and keeps using the
   * database itself; what it writes commits at once, so the next holder sees it.
   *
   * PostgreSQL: a session advisory lock (`pg_advisory_lock(hashtextextended(key, 0))`) held on one
   * pooled connection, which `fn`'s own statements reuse, so a lock holder never waits for a
   * second connection (a pool full of holders cannot deadlock). If that connection dies, the
   * server drops the lock with it and `fn`'s next statement fails. PGlite: an in-process mutex
   * (one process owns the data directory).
   * Must not be called inside `transaction`; a `transaction` inside `fn` runs on a connection of
   * its own.
   */
  withLock<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** Idempotent. Waits for running statements on PostgreSQL; PGlite flushes its data dir. */
  close(): Promise<void>;
}

/** Raised when COMMIT turned into ROLLBACK because a statement inside the transaction failed. */
export class TransactionAbortedError extends Error {
  constructor(options?: { cause?: unknown }) {
    super("transaction was aborted by an earlier failed statement and has been rolled back", options);
    this.name = "TransactionAbortedError";
  }
}

const DECIMAL_INTEGER = /^-?\d+$/;

/**
 * Converts a NUMERIC/INT8 column value (a decimal string) or a safe integer to a bigint.
 * Anything that is not an exact integer — "1.5", "NaN", "1e3", null, an unsafe number — throws,
 * so a corrupt amount can never be rounded into a plausible one.
 */
export function toBigInt(value: unknown): bigint {
  if (typeof value === "bigint") return value;
  if (typeof value === "string" && DECIMAL_INTEGER.test(value)) return BigInt(value);
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  throw new TypeError(`not an exact integer: ${describe(value)}`);
}

/** Like `toBigInt` but passes SQL NULL through, for nullable columns. */
export function toBigIntOrNull(value: unknown): bigint | null {
  return value === null || value === undefined ? null : toBigInt(value);
}

/** Normalizes parameters so both drivers receive the same text for every value. */
export function toSqlParams(params: readonly SqlValue[] | undefined): unknown[] {
  return params === undefined ? [] : params.map(toSqlParam);
}

function toSqlParam(value: SqlValue): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number") {
    // NaN/Infinity would reach NUMERIC as 'NaN'/'Infinity', and an unsafe integer has already
    // lost digits: both are bugs upstream, never values to store.
    if (!Number.isFinite(value)) throw new TypeError(`non-finite number parameter: ${value}`);
    if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
      throw new TypeError(`integer parameter ${value} exceeds 2^53; pass a bigint`);
    }
    return value;
  }
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw new TypeError("invalid Date parameter");
    return value;
  }
  if (value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map((item: SqlValue) => toSqlParam(item));
  return JSON.stringify(value, jsonBigIntReplacer);
}

/** JSON has no bigint; decimal strings keep full precision and read back with `toBigInt`. */
export function jsonBigIntReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

/** The SQLSTATE of a database error from either driver, e.g. "23505". */
export function sqlState(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null || !("code" in error)) return undefined;
  const code = error.code;
  return typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export const SQLSTATE = {
  uniqueViolation: "23505",
  checkViolation: "23514",
  foreignKeyViolation: "23503",
  notNullViolation: "23502",
  serializationFailure: "40001",
  deadlockDetected: "40P01",
} as const;

export function isUniqueViolation(error: unknown): boolean {
  return sqlState(error) === SQLSTATE.uniqueViolation;
}

export function isCheckViolation(error: unknown): boolean {
  return sqlState(error) === SQLSTATE.checkViolation;
}

/** Node socket errors that mean the server could not be reached or went away. */
const UNREACHABLE_SOCKET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH"]);

/**
 * Whether `error` says the database cannot be used right now (as opposed to a bad statement, which
 * is our bug): connection exceptions (SQLSTATE class 08), a server shutting down or refusing
 * connections (57P01-57P03), too many connections (53300), a cancelled or timed-out statement
 * (57014), unreachable sockets, and pg's pool and client messages for the same. These become a 503
 * `database_unavailable`, so clients retry instead of being told the request was wrong.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const state = sqlState(error);
  if (state !== undefined) {
    return state.startsWith("08") || ["57P01", "57P02", "57P03", "53300", "57014"].includes(state);
  }
  if (typeof error !== "object" || error === null) return false;
  const code = "code" in error ? error.code : undefined;
  if (typeof code === "string" && UNREACHABLE_SOCKET_CODES.has(code)) return true;
  const message = error instanceof Error ? error.message : "";
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message);
}

/** Error fields worth logging without dumping parameters (which may hold signatures). */
export function describeError(error: unknown): { message: string; code?: string } {
  const message = error instanceof Error ? error.message : String(error);
  const code = sqlState(error) ?? (typeof error === "object" && error !== null && "code" in error ? String(error.code) : undefined);
  return code === undefined ? { message } : { message, code };
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value === null || value === undefined) {
    return String(value);
  }
  return typeof value;
}

/** Minimal logger shape; a pino Logger satisfies it. */
export interface DbLogger {
  warn(details: object, message: string): void;
}

/** Used when no logger is passed: a pool error must be visible somewhere, never silent. */
export const stderrLogger: DbLogger = {
  warn(details, message) {
    process.stderr.write(`${JSON.stringify({ level: "warn", msg: message, ...details })}\n`);
  },
};
