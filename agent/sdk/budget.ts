import { randomUUID } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import path from "node:path";
import { AgentError } from "./errors.js";

/**
 * The daily budget: how much of each token the agent has paid (or may have paid) today, UTC.
 *
 * A payment reserves its amount before anything is signed, and the reservation is then either
 * committed (the money left, or may have left) or released (the server said nothing was charged).
 * Checks count spent + reserved, so concurrent payments can never jointly overshoot the budget,
 * and reservations live in the store itself, so two processes sharing a budget file see each
 * other's payments in flight. A process that dies mid-payment leaves its reservation counted
 * until the day ends: the payment may have gone through, and over-counting is the safe error.
 */

/** What a store keeps. Amounts are decimal strings (JSON has no bigint). */
export interface SpendRecord {
  readonly version: 1;
  /** UTC date the `spent` figures belong to, YYYY-MM-DD. */
  readonly day: string;
  /** Per budget key (`<chainId>:<token>`): committed spending today, atomic units. */
  readonly spent: Readonly<Record<string, string>>;
  /** Payments in flight, by reservation id. */
  readonly pending: Readonly<Record<string, { readonly key: string; readonly amount: string }>>;
}

export interface BudgetStore {
  /** Applies `change` to the current record and stores the result, atomically for every user of the store. */
  transact<T>(change: (record: SpendRecord | undefined) => { record: SpendRecord; result: T }): Promise<T>;
}

export interface Reservation {
  readonly key: string;
  readonly amount: bigint;
  /** The money left (or may have): count it against today's budget. */
  commit(): Promise<void>;
  /** Nothing was charged: free the amount again. */
  release(): Promise<void>;
}

export function budgetKey(chainId: number, token: string): string {
  return `${chainId}:${token.toLowerCase()}`;
}

export function utcDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export class DailyBudget {
  constructor(
    private readonly store: BudgetStore = memoryBudgetStore(),
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Committed plus reserved spending of `key` today. */
  async usedToday(key: string): Promise<bigint> {
    return this.store.transact((record) => {
      const current = this.today(record);
      return { record: current, result: used(current, key) };
    });
  }

  /**
   * Reserves `amount` under `key` when `used + amount <= limit` (no limit: always), or returns
   * undefined. The caller must commit or release what it got.
   */
  async reserve(key: string, amount: bigint, limit: bigint | undefined): Promise<Reservation | undefined> {
    if (amount < 0n) throw new AgentError("invalid_argument", "cannot reserve a negative amount");
    const id = randomUUID();
    const granted = await this.store.transact((record) => {
      const current = this.today(record);
      if (limit !== undefined && used(current, key) + amount > limit) return { record: current, result: false };
      return {
        record: { ...current, pending: { ...current.pending, [id]: { key, amount: amount.toString() } } },
        result: true,
      };
    });
    if (!granted) return undefined;

    let settled = false;
    const finish = async (commit: boolean) => {
      if (settled) return;
      settled = true;
      await this.store.transact((record) => {
        const current = this.today(record);
        const { [id]: _done, ...pending } = current.pending;
        if (!commit) return { record: { ...current, pending }, result: undefined };
        const spent = { ...current.spent, [key]: (BigInt(current.spent[key] ?? "0") + amount).toString() };
        return { record: { ...current, spent, pending }, result: undefined };
      });
    };
    return { key, amount, commit: () => finish(true), release: () => finish(false) };
  }

  /** The record as of today: yesterday's spending is forgotten, payments in flight are not. */
  private today(record: SpendRecord | undefined): SpendRecord {
    const day = utcDay(this.now());
    if (record === undefined) return { version: 1, day, spent: {}, pending: {} };
    return record.day === day ? record : { version: 1, day, spent: {}, pending: record.pending };
  }
}

function used(record: SpendRecord, key: string): bigint {
  let total = BigInt(record.spent[key] ?? "0");
  for (const entry of Object.values(record.pending)) if (entry.key === key) total += BigInt(entry.amount);
  return total;
}

/** Forgets everything when the process ends: one agent session. */
export function memoryBudgetStore(): BudgetStore {
  let stored: SpendRecord | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  return {
    transact(change) {
      const run = queue.then(() => {
        const { record, result } = change(stored);
        stored = record;
        return result;
      });
      queue = run.catch(() => undefined);
      return run;
    },
  };
}

const LOCK_WAIT_MS = 5_000;
/** A lock older than this belongs to a process that died holding it. */
const STALE_LOCK_MS = 30_000;

/**
 * A JSON file, so separate CLI runs remember what they spent today. Writes go to a temporary file
 * that is renamed over the old one (a crash leaves the old or the new record, never half of one),
 * and every read-modify-write holds `<file>.lock`, created exclusively, so concurrent processes
 * take turns.
 */
export function jsonFileBudgetStore(file: string): BudgetStore {
  const lock = `${file}.lock`;
  return {
    async transact(change) {
      mkdirSync(path.dirname(file), { recursive: true });
      await acquire(lock);
      try {
        const { record, result } = change(readRecord(file));
        writeRecord(file, record);
        return result;
      } finally {
        rmSync(lock, { force: true });
      }
    },
  };
}

async function acquire(lock: string): Promise<void> {
  const started = Date.now();
  for (;;) {
    try {
      closeSync(openSync(lock, "wx"));
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    try {
      if (Date.now() - statSync(lock).mtimeMs > STALE_LOCK_MS) rmSync(lock, { force: true });
    } catch {
      // Released between our attempts.
    }
    if (Date.now() - started > LOCK_WAIT_MS) {
      throw new AgentError("invalid_argument", `budget file is locked by another process: ${lock}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function readRecord(file: string): SpendRecord | undefined {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  let value: Partial<SpendRecord>;
  try {
    value = JSON.parse(text) as Partial<SpendRecord>;
  } catch {
    throw new AgentError("invalid_argument", `budget file ${file} is not JSON; fix or remove it`);
  }
  const amounts = (o: unknown) => typeof o === "object" && o !== null && Object.values(o).every((v) => typeof v === "string" && /^(0|[1-9][0-9]*)$/.test(v));
  const pendingOk =
    typeof value.pending === "object" &&
    value.pending !== null &&
    Object.values(value.pending).every((p) => typeof p?.key === "string" && /^(0|[1-9][0-9]*)$/.test(String(p.amount)));
  if (value.version !== 1 || typeof value.day !== "string" || !amounts(value.spent) || !pendingOk) {
    // Refusing beats guessing: a budget silently reset to zero would let the agent overspend.
    throw new AgentError("invalid_argument", `budget file ${file} is not a budget record; fix or remove it`);
  }
  return value as SpendRecord;
}

function writeRecord(file: string, record: SpendRecord): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, `${JSON.stringify(record, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}
