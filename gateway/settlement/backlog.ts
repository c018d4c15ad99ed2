import type { Queryable } from "../db/index.js";

export interface SettlementBacklog {
  /** Payments served and not yet settled on chain (`verified` or `submitted`). */
  readonly pending: number;
  /** Age of the oldest of them in whole seconds, by the database's clock; null when none. */
  readonly oldestSeconds: number | null;
}

/**
 * For /health and metrics: how much accepted money waits for settlement, and for how long. The
 * age is what to alert on: it must stay well inside the settlement horizon the escrow scheme's
 * safety argument relies on (docs/escrow-scheme.md, section 8). Answered from the partial index
 * `payments_pending_idx`, so it stays cheap however many settled rows accumulate.
 */
export async function settlementBacklog(db: Queryable): Promise<SettlementBacklog> {
  const { rows } = await db.query<{ pending: string; oldest: string | null }>(
    `SELECT count(*) AS pending, floor(EXTRACT(EPOCH FROM now() - min(created_at)))::bigint AS oldest
       FROM payments
      WHERE state IN ('verified', 'submitted')`,
  );
  const row = rows[0];
  return {
    pending: Number(row?.pending ?? 0),
    oldestSeconds: row?.oldest === null || row?.oldest === undefined ? null : Math.max(0, Number(row.oldest)),
  };
}
