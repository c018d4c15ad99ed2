/**
 * The shared backend: a node-postgres pool. Several gateway instances pointed at one PostgreSQL
 * coordinate through it (unique constraints, row locks, advisory locks).
 *
 * Failure handling: PostgreSQL may drop a connection at any time (restart, failover,
 * pg_terminate_backend, network). node-postgres reports that as an 'error' event, and an
 * 'error' event without a listener kills the process. The pool listens for idle clients; we
 * listen on a client while it is checked out for a transaction and discard it afterwards, so a
 * dropped connection fails only the statement that used it. A statement that checks out a
 * connection in the instant between the server closing it and the client noticing also fails,
 * once; there is no automatic retry because a failed statement may still have committed — the
 * caller retries, as after any transient error, relying on the ledger's idempotency.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import pg from "pg";
import { TransactionAbortedError, describeError, stderrLogger, toSqlParams } from "./database.js";
import type { Database, DbLogger, QueryOptions, QueryResult, Queryable, SqlValue } from "./database.js";
import { createKeyedMutex } from "../lib/keyed-mutex.js";
import { assertOutsideTransaction, runInTransactionScope } from "./transaction-guard.js";

export interface PostgresConfig {
  /** Pool size per gateway process. Default 10. */
  max?: number;
  /** Server-side limit per statement, so a stuck query cannot hold locks forever. Default 15 s. */
  statementTimeoutMs?: number;
  /** Limit on opening a connection (and on waiting for a free pooled one). Default 5 s. */
  connectionTimeoutMs?: number;
  /** The server ends sessions idle inside a transaction this long, releasing their locks
   * (a process frozen mid-transaction). Default 60 s. */
  idleInTransactionTimeoutMs?: number;
  /** Schema to put first on search_path, e.g. to host several deployments in one database. */
  schema?: string;
  applicationName?: string;
  /**
   * Keep the statements named by `prepareAs` prepared on each connection. Default true; false
   * for a connection pooler that drops prepared statements (PgBouncer in transaction mode before
   * 1.21, or without `max_prepared_statements`): every statement is then parsed on each call.
   */
  preparedStatements?: boolean;
  logger?: DbLogger;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

export async function openPostgres(url: string, config: PostgresConfig = {}): Promise<Database> {
  const logger = config.logger ?? stderrLogger;
  if (config.schema !== undefined && !IDENTIFIER.test(config.schema)) {
    throw new Error(`invalid schema name ${JSON.stringify(config.schema)}: use lowercase letters, digits and _`);
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: config.max ?? 10,
    connectionTimeoutMillis: config.connectionTimeoutMs ?? 5_000,
    statement_timeout: config.statementTimeoutMs ?? 15_000,
    idle_in_transaction_session_timeout: config.idleInTransactionTimeoutMs ?? 60_000,
    application_name: config.applicationName ?? "payperagent-gateway",
    // Startup options apply to every pooled connection; a `SET` would reach only one of them.
    ...(config.schema === undefined ? {} : { options: `-c search_path=${config.schema}` }),
  });
  pool.on("error", (error) => {
    logger.warn({ err: describeError(error) }, "idle PostgreSQL connection failed; the pool replaces it");
  });
  try {
    // Fail at start, not at the first payment, when the database is unreachable.
    await pool.query("SELECT 1");
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  return postgresDatabase(pool, logger, config.preparedStatements ?? true);
}

/**
 * A statement for node-postgres. A named one is parsed once per connection (node-postgres
 * remembers which connections have it) and then only bound and executed.
 */
function statement(sql: string, params: readonly SqlValue[] | undefined, options: QueryOptions | undefined, prepared: boolean): pg.QueryConfig {
  // Values reach node-postgres already as text, numbers, Dates, bytes or arrays: should building
  // the Bind message throw, node-postgres would close a named statement yet still count it prepared.
  const values = toSqlParams(params);
  return !prepared || options?.prepareAs === undefined ? { text: sql, values } : { name: options.prepareAs, text: sql, values };
}

/** The connection holding an advisory lock, while the holder's `fn` runs. */
interface LockScope {
  readonly owner: object;
  readonly client: pg.PoolClient;
  /** False once `fn` returned: late statements from work it left running go to the pool. */
  open: boolean;
}

const lockScopes = new AsyncLocalStorage<LockScope>();

function postgresDatabase(pool: pg.Pool, logger: DbLogger, prepared: boolean): Database {
  let closing: Promise<void> | undefined;
  const mutex = createKeyedMutex();
  // Statements of a lock holder run on the lock's connection (see Database.withLock).
  const connection = (): pg.Pool | pg.PoolClient => {
    const scope = lockScopes.getStore();
    return scope !== undefined && scope.open && scope.owner === db ? scope.client : pool;
  };
  const db: Database = {
    kind: "postgres",
    async query<T>(sql: string, params?: readonly SqlValue[], options?: QueryOptions): Promise<QueryResult<T>> {
      assertOutsideTransaction(db, "query");
      return toResult<T>(await connection().query(statement(sql, params, options, prepared)));
    },
    async exec(sql: string): Promise<void> {
      assertOutsideTransaction(db, "exec");
      // Without parameters node-postgres uses the simple protocol, which runs several statements.
      await connection().query(sql);
    },
    async withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
      assertOutsideTransaction(db, "withLock");
      // The mutex keeps this process from parking one connection per waiter on a busy key.
      return mutex.run(key, () => holdAdvisoryLock(pool, logger, key, (client) => {
        const scope: LockScope = { owner: db, client, open: true };
        return lockScopes.run(scope, async () => {
          try {
            return await fn();
          } finally {
            scope.open = false;
          }
        });
      }));
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      assertOutsideTransaction(db, "transaction");
      return runTransaction(pool, logger, prepared, (tx) => runInTransactionScope(db, () => fn(tx)));
    },
    close(): Promise<void> {
      closing ??= pool.end();
      return closing;
    },
  };
  return db;
}

/**
 * Takes the session advisory lock for `key` on a connection of its own, runs `fn`, and unlocks.
 * A connection that failed on the way is destroyed rather than returned to the pool: if it still
 * held the lock, closing the session is what frees it.
 */
async function holdAdvisoryLock<T>(
  pool: pg.Pool,
  logger: DbLogger,
  key: string,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let connectionError: Error | undefined;
  const onError = (error: Error): void => {
    connectionError = error;
    logger.warn({ err: describeError(error) }, "PostgreSQL connection failed while holding an advisory lock");
  };
  client.on("error", onError);
  let locked = false;
  try {
    // 64-bit hash of the name: collisions only ever serialize two unrelated keys, never split one.
    await client.query("SELECT pg_advisory_lock(hashtextextended($1, 0))", [key]);
    locked = true;
    return await fn(client);
  } catch (error) {
    // A lock wait cut short (statement timeout) may leave the session in any state: start over.
    if (!locked) connectionError ??= error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    if (locked) {
      try {
        const { rows } = await client.query<{ unlocked: boolean }>(
          "SELECT pg_advisory_unlock(hashtextextended($1, 0)) AS unlocked",
          [key],
        );
        if (rows[0]?.unlocked !== true) connectionError ??= new Error(`advisory lock ${key} was not held at unlock`);
      } catch (unlockError) {
        connectionError ??= unlockError instanceof Error ? unlockError : new Error(String(unlockError));
      }
    }
    client.off("error", onError);
    client.release(connectionError);
  }
}

async function runTransaction<T>(pool: pg.Pool, logger: DbLogger, prepared: boolean, fn: (tx: Queryable) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let connectionError: Error | undefined;
  const onError = (error: Error): void => {
    connectionError = error;
    logger.warn({ err: describeError(error) }, "PostgreSQL connection failed inside a transaction");
  };
  client.on("error", onError);
  // Statements after COMMIT/ROLLBACK would run on a client already back in the pool, possibly
  // inside someone else's transaction, so a leaked `tx` is closed for good.
  let open = true;
  const ensureOpen = (): void => {
    if (!open) throw new Error("transaction is already finished; this tx object can no longer be used");
  };
  const tx: Queryable = {
    async query<R>(sql: string, params?: readonly SqlValue[], options?: QueryOptions): Promise<QueryResult<R>> {
      ensureOpen();
      return toResult<R>(await client.query(statement(sql, params, options, prepared)));
    },
    async exec(sql: string): Promise<void> {
      ensureOpen();
      await client.query(sql);
    },
  };
  // True once COMMIT or ROLLBACK has reached the server; until then a failure must roll back.
  let settled = false;
  try {
    await client.query("BEGIN");
    const result = await fn(tx);
    open = false;
    const commit = await client.query("COMMIT");
    settled = true;
    // A statement that failed inside `fn` (its error caught there) aborts the transaction, and
    // PostgreSQL then answers COMMIT with ROLLBACK instead of an error: the caller must know.
    if (commit.command === "ROLLBACK") throw new TransactionAbortedError();
    return result;
  } catch (error) {
    open = false;
    if (!settled) {
      try {
        await client.query("ROLLBACK");
      } catch (rollbackError) {
        // The connection is gone or confused; it must not go back into the pool.
        connectionError ??= rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      }
    }
    throw error;
  } finally {
    client.off("error", onError);
    // Passing an error destroys the client instead of returning a possibly broken one.
    client.release(connectionError);
  }
}

function toResult<T>(result: pg.QueryResult): QueryResult<T> {
  return { rows: result.rows as T[], rowCount: result.rowCount ?? 0 };
}
