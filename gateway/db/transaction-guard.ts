/**
 * Detects use of the Database object from inside its own transaction callback. On PGlite such a
 * call queues behind the transaction that is waiting for it — a silent deadlock — and on
 * PostgreSQL it runs on a different pooled connection, outside the transaction. Both are bugs,
 * so both backends throw the same clear error instead.
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** One per open transaction; `open` turns false at COMMIT/ROLLBACK so work spawned from inside a
 * transaction that outlives it (a fire-and-forget log write) is not refused later. */
interface TransactionScope {
  readonly owner: object;
  open: boolean;
}

const scopes = new AsyncLocalStorage<TransactionScope>();

export function assertOutsideTransaction(owner: object, operation: string): void {
  const scope = scopes.getStore();
  if (scope !== undefined && scope.open && scope.owner === owner) {
    throw new Error(
      `Database.${operation}() called inside transaction(); use the tx argument (nested transactions are not supported)`,
    );
  }
}

/** Runs `fn` marked as inside a transaction of `owner` (the Database object). */
export async function runInTransactionScope<T>(owner: object, fn: () => Promise<T>): Promise<T> {
  const scope: TransactionScope = { owner, open: true };
  try {
    return await scopes.run(scope, fn);
  } finally {
    scope.open = false;
  }
}
