/**
 * Section 5 — scale-out: paid throughput of one gateway process against two sharing one
 * PostgreSQL (same paid route, the load split evenly over both, the same connections in total),
 * in alternating rounds, reported with the core count. Then correctness: two settlement engines
 * (as two instances would run them) settle everything the gateways accepted, and every paid
 * request answered 200 must be exactly one `confirmed` row and exactly one spent nonce on chain.
 */
import { availableParallelism } from "node:os";
import { createPublicClient, createWalletClient, http, parseAbi } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { Database } from "../../gateway/db/index.js";
import { silentLogger } from "../../gateway/log.js";
import type { ChainReader, SettlementWallet } from "../../gateway/schemes/index.js";
import { createSettlementEngine } from "../../gateway/settlement/index.js";
import { viemChain } from "../lib/chain.js";
import { PAID_PATH, type PaidStack, startPaidStack } from "../lib/paid-stack.js";
import { runLoad } from "../lib/processes.js";
import { median } from "../lib/timing.js";
import type { MeasuredRow, Section } from "../lib/types.js";
import type { TargetResult } from "../servers/load.js";
import { problems, statusNote } from "./http-load.js";

const SECTION = "5 scale-out";
const CONNECTIONS = 50;
const ROUNDS = 2;
const ROUND_SECONDS = 6;
const PAYERS = 200;
const BATCH_MAX = 200;

const nonceBitmapAbi = parseAbi(["function nonceBitmap(address payer, uint256 wordPosition) view returns (uint256)"]);

/** All targets at once, each with its share of the connections; 2xx answers per second in total. */
async function splitRun(stack: PaidStack, name: string, urls: readonly string[], expectedRate: number): Promise<readonly TargetResult[]> {
  const connections = Math.floor(CONNECTIONS / urls.length);
  const perTarget = Math.ceil((expectedRate * ROUND_SECONDS * 3) / urls.length) + connections * 2 + 100;
  const targets = urls.map((url, i) => ({ url, paymentsFile: stack.paymentsFile(`${name}-${i}`, perTarget).file }));
  return (await runLoad({ targets, connections, duration: ROUND_SECONDS })).targets;
}

const total = (runs: readonly TargetResult[]) => runs.reduce((n, r) => n + r.ok, 0) / Math.max(...runs.map((r) => r.seconds));

export const scaleOutSection: Section = {
  id: "scale-out",
  title: "5. scale-out (1 vs 2 gateway processes on one PostgreSQL)",
  async run({ log }) {
    const stack = await startPaidStack({ payers: PAYERS, gateways: 2, log, requirePostgres: true });
    let db: Database | undefined;
    try {
      const urls = stack.gateways.map((g) => `${g.url}${PAID_PATH}`);
      const all: TargetResult[] = [];
      // Warm-up of both processes, split as in the measured runs.
      const warm = await splitRun(stack, "warm-up", urls, 1_500);
      all.push(...warm);
      let expectedRate = Math.max(total(warm), 50);
      const single: number[] = [];
      const dual: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const one = await splitRun(stack, `one-${round}`, urls.slice(0, 1), expectedRate);
        const two = await splitRun(stack, `two-${round}`, urls, expectedRate * 2);
        all.push(...one, ...two);
        single.push(total(one));
        dual.push(total(two));
        expectedRate = Math.max(expectedRate, total(one), total(two));
        log(`round ${round + 1}: 1 process ${total(one).toFixed(0)} req/s, 2 processes ${total(two).toFixed(0)} req/s${[...one, ...two].map(statusNote).join("")}`);
      }
      const answered = all.reduce((n, r) => n + r.ok, 0);
      const invalid = problems(all);
      // Stopping waits for the requests still in flight when a run ended: the gateways served
      // those too, though autocannon no longer counted them.
      for (const gateway of stack.gateways) await gateway.stop();

      db = await stack.db.open();
      const before = await statesOf(db);
      const served = before["verified"] ?? 0;
      // Settle everything with two engines at once, as two instances would.
      const settled = await settleAll(stack, db, log);
      const after = await statesOf(db);
      const confirmed = after["confirmed"] ?? 0;
      const noncesSpent = await spentNonces(stack);
      const otherBefore = sumExcept(before, "verified");
      const otherAfter = sumExcept(after, "confirmed");
      log(`served ${served} (autocannon saw ${answered}), confirmed ${confirmed}, nonces spent ${noncesSpent}, in ${settled.toFixed(1)} s of settlement`);

      const cores = availableParallelism();
      const one = median(single);
      const two = median(dual);
      return [
        { section: SECTION, name: "paid throughput, 1 process", value: one, unit: "req/s", note: `median of ${ROUNDS} rounds of ${ROUND_SECONDS} s, ${CONNECTIONS} connections` },
        {
          section: SECTION,
          name: "paid throughput, 2 processes",
          value: two,
          unit: "req/s",
          note: `${CONNECTIONS / 2} connections to each, one PostgreSQL, one hardhat node, autocannon in a third process`,
        },
        {
          section: SECTION,
          name: "speed-up, 2 processes ÷ 1",
          value: two / one,
          unit: "×",
          note: `on ${cores} cores shared by both gateways, the node, PostgreSQL and the load generator`,
        },
        { section: SECTION, name: "cores", value: cores, unit: "cores" },
        {
          section: SECTION,
          name: "paid requests served",
          value: served,
          unit: "requests",
          note: `rows verified when the gateways stopped; autocannon counted ${answered} 200s (it stops counting at the end of a run, with up to ${CONNECTIONS} requests in flight)`,
        },
        {
          section: SECTION,
          name: "not settled exactly once",
          value: Math.abs(served - confirmed) + Math.abs(served - noncesSpent) + otherBefore + otherAfter + Math.max(0, answered - served) + invalid,
          unit: "payments",
          target: { atMost: 0 },
          note:
            `after two engines settled for ${settled.toFixed(1)} s: ${confirmed} rows confirmed, ${noncesSpent} nonces spent on chain ` +
            `(nonceBitmap of every word signed); rows by state ${JSON.stringify(before)} before settling, ${JSON.stringify(after)} after; ` +
            `${invalid} requests refused or failed`,
        },
      ] satisfies MeasuredRow[];
    } finally {
      await db?.close();
      await stack.close();
    }
  },
};

/** Two engines (two worker ids, one signer, as two gateway instances) until nothing is left. */
async function settleAll(stack: PaidStack, db: Database, log: (message: string) => void): Promise<number> {
  const { chain } = stack;
  const viem = viemChain(chain.rpcUrl);
  const reader = createPublicClient({ chain: viem, transport: http(chain.rpcUrl) }) as unknown as ChainReader;
  const wallet = createWalletClient({ account: privateKeyToAccount(chain.signerKey), chain: viem, transport: http(chain.rpcUrl) }) as unknown as SettlementWallet;
  const engines = ["a", "b"].map((id) =>
    createSettlementEngine({
      db,
      chains: [{ chainId: chain.chainId, publicClient: reader, walletClient: wallet, escrow: chain.escrow }],
      workerId: `bench-scale-out-${id}`,
      log: silentLogger(),
      batchMax: BATCH_MAX,
    }),
  );
  const started = performance.now();
  await Promise.all(
    engines.map(async (engine) => {
      for (;;) {
        const summary = await engine.runOnce();
        if (summary.failed > 0) log(`an engine failed ${summary.failed} payments`);
        if (summary.claimed === 0) return;
      }
    }),
  );
  await Promise.all(engines.map((e) => e.stop()));
  return (performance.now() - started) / 1000;
}

async function statesOf(db: Database): Promise<Record<string, number>> {
  const { rows } = await db.query<{ state: string; n: string }>("SELECT state, count(*) AS n FROM payments GROUP BY state");
  return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
}

function sumExcept(states: Record<string, number>, state: string): number {
  return Object.entries(states).reduce((n, [s, c]) => (s === state ? n : n + c), 0);
}

/** Nonces spent on chain in every word the payers signed with: one per settled payment. */
async function spentNonces(stack: PaidStack): Promise<number> {
  const { chain } = stack;
  const reader = createPublicClient({ chain: viemChain(chain.rpcUrl), transport: http(chain.rpcUrl) });
  const slots = [...stack.nonceWords()].flatMap(([payer, used]) => used.map((word) => [payer, word] as const));
  let spent = 0;
  for (let i = 0; i < slots.length; i += 25) {
    const bitmaps = await Promise.all(
      slots.slice(i, i + 25).map((args) => reader.readContract({ address: chain.escrow, abi: nonceBitmapAbi, functionName: "nonceBitmap", args })),
    );
    spent += bitmaps.reduce((n, bitmap) => n + popcount(bitmap), 0);
  }
  return spent;
}

function popcount(value: bigint): number {
  let count = 0;
  for (let v = value; v > 0n; v >>= 1n) count += Number(v & 1n);
  return count;
}
