/**
 * Ledger ↔ chain reconciliation: reads every row of the gateway's `payments` table and the
 * chain's own record of what was spent (the escrow's `PaymentSettled`, EIP-3009
 * `AuthorizationUsed` + `Transfer`, the transfer proofs' `Transfer` logs) and reports where they
 * disagree. Used by the load test's final report and by every fault-injection test.
 *
 * The rules, per payment:
 * - `confirmed`: its authorization is spent on chain (escrow `isNonceUsed` / EIP-3009
 *   `authorizationState`) by exactly one settlement event, in the transaction the row names;
 * - `released` / `failed` / `reserved`: nothing on chain spent it (it was never charged);
 * - `verified` / `submitted`: still owed to the chain — "pending" while the engine works, "lost"
 *   once the caller says the engine has drained;
 * - a served response (2xx stored) whose payment is not `confirmed` at the end is lost money;
 * and over the chain: a settlement event for a payer of interest that no `confirmed` row explains
 * was charged behind the ledger's back; one authorization in two events is a double charge.
 */
import { type Address, type Hash, type Hex, getAddress, parseEventLogs } from "viem";
import type { Queryable } from "../../gateway/db/index.js";
import { type ChainReader, eip3009Abi, settlementEscrowAbi, transferEventsAbi } from "../../gateway/schemes/index.js";

export interface ReconcileInput {
  readonly db: Queryable;
  readonly publicClient: Pick<ChainReader, "getLogs" | "readContract" | "getTransactionReceipt" | "getBlockNumber">;
  readonly escrow: Address | undefined;
  /** Tokens whose EIP-3009 events count (the exact scheme's); their `AuthorizationUsed` logs are read. */
  readonly eip3009Tokens: readonly Address[];
  /** First block of the run: events before it belong to someone else. */
  readonly fromBlock: bigint;
  /** Only these payers' chain events are judged (other activity on a shared chain is ignored); default all. */
  readonly payers?: readonly Address[];
  /** The settlement engine has drained: anything still owed to the chain is lost, not pending. */
  readonly final: boolean;
}

export interface TokenTotals {
  count: number;
  amount: bigint;
}

export interface ReconcileReport {
  /** Rows per `scheme:state`. */
  readonly rows: Record<string, number>;
  /** Rows with a stored 2xx response: requests served against a payment. */
  readonly served: number;
  /** Payments that passed verification: every row (the flow writes none for a refused payment). */
  readonly verified: number;
  /** Settled on chain, from the chain's own events, per token address and scheme. */
  readonly settledOnChain: Record<string, TokenTotals>;
  /** `confirmed` rows per token address and scheme, from the ledger. */
  readonly confirmedInLedger: Record<string, TokenTotals>;
  /** Authorizations spent by more than one event, or one event claimed by several rows. */
  readonly doubleCharges: string[];
  /** Served or verified payments that never reached the chain (only when `final`). */
  readonly lost: string[];
  /** Still owed to the chain (not `final`). */
  readonly pending: number;
  /** Ledger says one thing, the chain another. */
  readonly mismatches: string[];
  /** Chain events for the payers of interest that no confirmed row explains. */
  readonly unknownSpends: string[];
}

interface LedgerRow {
  id: string;
  scheme: string;
  state: string;
  token: string;
  payer: string;
  payee: string;
  amount: string;
  tx_hash: string | null;
  payload: Record<string, unknown>;
  response_status: number | null;
}

interface Spend {
  readonly transaction: Hash;
  readonly amount: bigint;
  readonly token: Address;
}

const OWED = new Set(["verified", "submitted"]);
const NEVER_CHARGED = new Set(["released", "failed", "reserved"]);

export async function reconcileLedger(input: ReconcileInput): Promise<ReconcileReport> {
  const { db, publicClient } = input;
  const { rows } = await db.query<LedgerRow>(
    "SELECT id, scheme, state, token, payer, payee, amount, tx_hash, payload, response_status FROM payments ORDER BY id",
  );
  const interesting = input.payers === undefined ? undefined : new Set(input.payers.map((p) => p.toLowerCase()));
  const ofInterest = (payer: string) => interesting === undefined || interesting.has(payer.toLowerCase());

  const escrowSpends = new Map<string, Spend[]>();
  const exactSpends = new Map<string, Spend[]>();
  const settledOnChain: Record<string, TokenTotals> = {};
  const addTotal = (table: Record<string, TokenTotals>, key: string, amount: bigint) => {
    const entry = (table[key] ??= { count: 0, amount: 0n });
    entry.count += 1;
    entry.amount += amount;
  };

  if (input.escrow !== undefined) {
    const logs = parseEventLogs({
      abi: settlementEscrowAbi,
      eventName: "PaymentSettled",
      logs: await publicClient.getLogs({ address: input.escrow, fromBlock: input.fromBlock, toBlock: "latest" }),
    });
    for (const log of logs) {
      if (!ofInterest(log.args.payer)) continue;
      const key = `${log.args.payer.toLowerCase()}:${log.args.nonce.toString()}`;
      const list = escrowSpends.get(key) ?? [];
      list.push({ transaction: log.transactionHash, amount: log.args.amount, token: log.args.token });
      escrowSpends.set(key, list);
      addTotal(settledOnChain, `escrow:${getAddress(log.args.token)}`, log.args.amount);
    }
  }
  for (const token of input.eip3009Tokens) {
    const raw = await publicClient.getLogs({ address: token, fromBlock: input.fromBlock, toBlock: "latest" });
    const used = parseEventLogs({ abi: transferEventsAbi, eventName: "AuthorizationUsed", logs: raw });
    const transfers = parseEventLogs({ abi: eip3009Abi, eventName: "Transfer", logs: raw });
    for (const log of used) {
      if (!ofInterest(log.args.authorizer)) continue;
      // The Transfer of the same transaction from the authorizer is what it moved.
      const moved = transfers.find((t) => t.transactionHash === log.transactionHash && t.args.from.toLowerCase() === log.args.authorizer.toLowerCase());
      const key = `${log.args.authorizer.toLowerCase()}:${log.args.nonce.toLowerCase()}`;
      const list = exactSpends.get(key) ?? [];
      list.push({ transaction: log.transactionHash, amount: moved?.args.value ?? 0n, token: getAddress(token) });
      exactSpends.set(key, list);
      addTotal(settledOnChain, `exact:${getAddress(token)}`, moved?.args.value ?? 0n);
    }
  }

  const report = {
    rows: {} as Record<string, number>,
    served: 0,
    verified: 0,
    settledOnChain,
    confirmedInLedger: {} as Record<string, TokenTotals>,
    doubleCharges: [] as string[],
    lost: [] as string[],
    pending: 0,
    mismatches: [] as string[],
    unknownSpends: [] as string[],
  };
  const explained = new Set<string>();
  const transferLogsClaimed = new Map<string, string>();

  for (const row of rows) {
    report.rows[`${row.scheme}:${row.state}`] = (report.rows[`${row.scheme}:${row.state}`] ?? 0) + 1;
    const served = row.response_status !== null && row.response_status >= 200 && row.response_status < 300;
    if (served) report.served += 1;
    // A row is only ever written for a payment that verified (docs/gateway-design.md, step 4).
    report.verified += 1;
    const name = `payment ${row.id} (${row.scheme}, ${row.state})`;
    if (row.state === "confirmed") addTotal(report.confirmedInLedger, `${row.scheme}:${getAddress(row.token)}`, BigInt(row.amount));

    if (OWED.has(row.state)) {
      if (input.final) report.lost.push(`${name}: still ${row.state} after the engine drained`);
      else report.pending += 1;
    } else if (served && row.state !== "confirmed") {
      report.lost.push(`${name}: served but ${row.state}`);
    }

    if (row.scheme === "transfer") {
      // The money moved before the request; the ledger only has to use each transfer once.
      if (row.state === "confirmed" && row.tx_hash !== null) {
        const key = String(row.payload["logIndex"] ?? "") + row.tx_hash;
        const other = transferLogsClaimed.get(key);
        if (other !== undefined) report.doubleCharges.push(`${name}: its transfer also paid payment ${other}`);
        transferLogsClaimed.set(key, row.id);
        const receipt = await publicClient.getTransactionReceipt({ hash: row.tx_hash as Hash });
        const paid = parseEventLogs({ abi: transferEventsAbi, eventName: "Transfer", logs: receipt.logs }).some(
          (t) => t.args.to.toLowerCase() === row.payee && t.args.from.toLowerCase() === row.payer && t.args.value >= BigInt(row.amount),
        );
        if (receipt.status !== "success" || !paid) report.mismatches.push(`${name}: transaction ${row.tx_hash} does not pay it`);
        addTotal(report.settledOnChain, `transfer:${getAddress(row.token)}`, BigInt(row.amount));
      }
      continue;
    }

    const authorization = row.payload["authorization"] as Record<string, unknown> | undefined;
    const payer = String(authorization?.["payer"] ?? authorization?.["from"] ?? row.payer).toLowerCase() as Address;
    const nonce = String(authorization?.["nonce"] ?? "");
    const key = row.scheme === "escrow" ? `${payer}:${BigInt(nonce).toString()}` : `${payer}:${nonce.toLowerCase()}`;
    const spends = (row.scheme === "escrow" ? escrowSpends : exactSpends).get(key) ?? [];
    explained.add(`${row.scheme}:${key}`);
    if (spends.length > 1) report.doubleCharges.push(`${name}: settled ${spends.length} times (${spends.map((s) => s.transaction).join(", ")})`);

    const spentOnChain =
      row.scheme === "escrow"
        ? input.escrow !== undefined &&
          (await publicClient.readContract({ address: input.escrow, abi: settlementEscrowAbi, functionName: "isNonceUsed", args: [payer, BigInt(nonce)] }))
        : await publicClient.readContract({ address: getAddress(row.token), abi: eip3009Abi, functionName: "authorizationState", args: [payer, nonce as Hex] });

    if (row.state === "confirmed") {
      if (!spentOnChain) report.mismatches.push(`${name}: confirmed but its authorization is unused on chain`);
      else if (spends.length === 0) report.mismatches.push(`${name}: confirmed but no settlement event names it`);
      else if (row.tx_hash === null || !spends.some((s) => s.transaction.toLowerCase() === row.tx_hash!.toLowerCase())) {
        report.mismatches.push(`${name}: ledger says ${row.tx_hash}, chain says ${spends.map((s) => s.transaction).join(", ")}`);
      }
    } else if (NEVER_CHARGED.has(row.state) || OWED.has(row.state)) {
      // Owed rows may be mid-flight while not final; once final they are already "lost" above.
      if (spends.length > 0 && (NEVER_CHARGED.has(row.state) || input.final)) {
        report.mismatches.push(`${name}: the ledger did not record it as charged, but ${spends[0]!.transaction} settled it`);
      }
    }
  }

  for (const [scheme, spends] of [["escrow", escrowSpends], ["exact", exactSpends]] as const) {
    for (const [key, list] of spends) {
      if (!explained.has(`${scheme}:${key}`)) report.unknownSpends.push(`${scheme} ${key}: spent on chain in ${list.map((s) => s.transaction).join(", ")}, unknown to the ledger`);
    }
  }
  return report;
}

/** Every check that must hold; an empty list means the ledger and the chain agree. */
export function reconcileProblems(report: ReconcileReport): string[] {
  return [...report.doubleCharges, ...report.lost, ...report.mismatches, ...report.unknownSpends];
}
