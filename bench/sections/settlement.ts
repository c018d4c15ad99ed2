/**
 * Section 4 — settlement throughput: payments per second from `verified` (served on credit, in
 * the ledger) to `confirmed` (mined in a `settleBatch`, recorded), through the real settlement
 * engine (gateway/settlement) against a local `hardhat node` over HTTP.
 *
 * For each batch size, K fresh payments (real signatures, spread over several payers, rows shaped
 * exactly as the escrow scheme's `verify` shapes them: checked on a sample) are inserted as
 * `verified`; then `runOnce()` is called in a loop, as the engine's timer does while a backlog
 * lasts (a full cycle is followed at once by the next), until every row is confirmed. One run
 * before them warms the process up and is not measured. The default size is then run again with
 * every batch simulated (`simulation: "always"`), which shows what sending first attempts
 * unsimulated buys. Every JSON-RPC call is timed by method, which shows how much of the time is
 * the node simulating, executing and mining the batches.
 *
 * BENCH_SETTLEMENT_BATCH_SIZES (e.g. `100,200`) and BENCH_SETTLEMENT_BATCHES_PER_CYCLE override
 * the sizes measured and the engine's batches per cycle, for trying other settings.
 */
import { availableParallelism } from "node:os";
import { createPublicClient, createWalletClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { Database } from "../../gateway/db/index.js";
import { silentLogger } from "../../gateway/log.js";
import {
  type ChainReader,
  type Offer,
  type PaymentScheme,
  type SettlementWallet,
  type TokenInfo,
  collectionMethods,
  createEscrowScheme,
} from "../../gateway/schemes/index.js";
import { SETTLEMENT_DEFAULTS, type SimulationPolicy, createSettlementEngine } from "../../gateway/settlement/index.js";
import { type BenchChain, fundPayers, startBenchChain, viemChain } from "../lib/chain.js";
import { benchDatabase } from "../lib/database.js";
import { profiledTransport } from "../lib/rpc-profile.js";
import { insertVerified, verifiedEscrowPayment } from "../lib/rows.js";
import { type EscrowAccept, type EscrowWirePayload, signEscrowPayments } from "../lib/sign.js";
import type { MeasuredRow, Section } from "../lib/types.js";
import { caip2 } from "../../gateway/x402/index.js";

const SECTION = "4 settlement";
const TARGET_PER_SECOND = 2_000;
/**
 * 240 is about the largest batch of EOA payers whose bounded gas limit stays under 2^24, the
 * engine's default ceiling (docs/settlement-engine.md, "Gas"); a larger one is estimated.
 */
const BATCH_SIZES = (process.env["BENCH_SETTLEMENT_BATCH_SIZES"]?.split(",").map(Number) ?? [50, 100, 200, 240]) as readonly number[];
const BATCHES_PER_CYCLE = Number(process.env["BENCH_SETTLEMENT_BATCHES_PER_CYCLE"] ?? SETTLEMENT_DEFAULTS.batchesPerCycle);
/** Payments per batch size: whole batches of every size. */
const PAYMENTS_PER_RUN = 9_600;
const WARM_UP = { batchMax: 100, payments: 1_500 } as const;
const PAYERS = 32;
const PRICE = 1_000n;
const HORIZON_SECONDS = 300n;

interface RunResult {
  readonly batchMax: number;
  readonly simulation: SimulationPolicy;
  readonly payments: number;
  readonly seconds: number;
  readonly cycles: number;
  readonly batches: number;
  readonly rpc: Record<string, { readonly ms: number; readonly calls: number }>;
}

interface EscrowRoute {
  readonly scheme: PaymentScheme;
  readonly offer: Offer;
  /** The offer as a client sees it in a 402 (what payments are signed against). */
  readonly accept: EscrowAccept;
}

/** The escrow scheme as the gateway configures it, and its USDC offer for the bench route. */
function escrowRoute(chain: BenchChain, reader: ChainReader, wallet: SettlementWallet): EscrowRoute {
  const scheme = createEscrowScheme({
    chainId: chain.chainId,
    escrow: chain.escrow,
    publicClient: reader,
    walletClient: wallet,
    settlementHorizonSeconds: HORIZON_SECONDS,
  });
  const usdc: TokenInfo = { address: chain.usdc, symbol: "USDC", decimals: 6, collectionMethods: collectionMethods.erc20, eip712: { name: "", version: "" } };
  const offer = scheme.offer({
    token: usdc,
    amount: PRICE,
    payTo: chain.payTo,
    maxTimeoutSeconds: 600,
    resource: { url: "http://gateway.bench.local/bench/paid", description: "bench", mimeType: "application/json" },
  });
  if (offer === undefined) throw new Error("the escrow scheme makes no USDC offer");
  const accept: EscrowAccept = {
    scheme: offer.scheme,
    network: caip2(offer.chainId),
    amount: offer.amount.toString(),
    payTo: offer.payTo,
    asset: offer.token.address,
    maxTimeoutSeconds: offer.maxTimeoutSeconds,
    extra: offer.extra as unknown as EscrowAccept["extra"],
  };
  return { scheme, offer, accept };
}

/** The bench's rows must be exactly what the flow stores: one payment goes through the real verify. */
async function checkRowShape(chain: BenchChain, route: EscrowRoute, wire: EscrowWirePayload): Promise<void> {
  // `funds` is the condition the flow records the payment under (the ledger's check), not part of the row.
  const { funds: _condition, ...verified } = await route.scheme.verify(wire, route.offer, BigInt(Math.floor(Date.now() / 1000)));
  const built = verifiedEscrowPayment(chain.chainId, chain.escrow, wire);
  if (JSON.stringify(verified, bigints) !== JSON.stringify(built, bigints)) {
    throw new Error(`bench rows differ from what the escrow scheme verifies:\n${JSON.stringify(verified, bigints)}\n${JSON.stringify(built, bigints)}`);
  }
}

const bigints = (_: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v);

export const settlementSection: Section = {
  id: "settlement",
  title: "4. settlement throughput (settlement engine, local hardhat node)",
  async run({ log }) {
    const chain = await startBenchChain(log);
    const database = await benchDatabase();
    let db: Database | undefined;
    try {
      const payers = await fundPayers(chain, PAYERS, { deposit: 10n ** 12n, commit: 10n ** 12n }, log);
      const store = (db = await database.open());
      log(`database: ${database.kind}`);
      const profile = profiledTransport(chain.rpcUrl);
      const viem = viemChain(chain.rpcUrl);
      // Clients like the gateway's (plain HTTP, default polling), with every call timed.
      const reader = createPublicClient({ chain: viem, transport: profile.transport }) as unknown as ChainReader;
      const wallet = createWalletClient({ account: privateKeyToAccount(chain.signerKey), chain: viem, transport: profile.transport }) as unknown as SettlementWallet;
      const route = escrowRoute(chain, reader, wallet);
      const accept = route.accept;
      const validBefore = BigInt(Math.floor(Date.now() / 1000)) + 3_600n;
      await checkRowShape(chain, route, signEscrowPayments(accept, route.offer.resource, chain.chainId, payers.keys, 1, validBefore).payloads[0]!);

      const run = async (batchMax: number, payments: number, simulation: SimulationPolicy = SETTLEMENT_DEFAULTS.simulation): Promise<RunResult> => {
        const signed = signEscrowPayments(accept, route.offer.resource, chain.chainId, payers.keys, payments, validBefore);
        await insertVerified(store, signed.payloads.map((p) => verifiedEscrowPayment(chain.chainId, chain.escrow, p)));
        const engine = createSettlementEngine({
          db: store,
          chains: [{ chainId: chain.chainId, publicClient: reader, walletClient: wallet, escrow: chain.escrow }],
          workerId: `bench-settlement-${batchMax}`,
          log: silentLogger(),
          batchMax,
          batchesPerCycle: BATCHES_PER_CYCLE,
          simulation,
        });
        profile.reset();
        const started = performance.now();
        let confirmed = 0;
        let cycles = 0;
        let batches = 0;
        while (confirmed < payments) {
          const summary = await engine.runOnce();
          cycles += 1;
          confirmed += summary.confirmed;
          batches += summary.batches;
          if (summary.failed > 0 || summary.retried > 0) throw new Error(`batchMax ${batchMax}: ${summary.failed} failed, ${summary.retried} retried`);
          if (summary.claimed === 0) throw new Error(`batchMax ${batchMax}: nothing left to claim with ${confirmed}/${payments} confirmed`);
        }
        const seconds = (performance.now() - started) / 1000;
        await engine.stop();
        return { batchMax, simulation, payments: confirmed, seconds, cycles, batches, rpc: profile.snapshot() };
      };

      // The engine is a long-lived process: the first cycles of a fresh one load modules and JIT
      // compile (and the node and PostgreSQL warm their caches). Not measured.
      const warm = await run(WARM_UP.batchMax, WARM_UP.payments);
      log(`warm-up: ${warm.payments} confirmed in ${warm.seconds.toFixed(2)} s (${(warm.payments / warm.seconds).toFixed(0)}/s), not measured`);
      const runs: RunResult[] = [];
      const plan = [...BATCH_SIZES.map((batchMax) => [batchMax, SETTLEMENT_DEFAULTS.simulation] as const), [SETTLEMENT_DEFAULTS.batchMax, "always"] as const];
      for (const [batchMax, simulation] of plan) {
        const result = await run(batchMax, PAYMENTS_PER_RUN, simulation);
        runs.push(result);
        const { payments: confirmed, seconds, batches, cycles } = result;
        log(`batchMax ${batchMax}, simulation ${simulation}: ${confirmed} confirmed in ${seconds.toFixed(2)} s (${(confirmed / seconds).toFixed(0)}/s), ${batches} batches, ${cycles} cycles`);
        log(`  JSON-RPC: ${describeProfile(result.rpc)}`);
      }
      await checkAllConfirmed(store, warm.payments + runs.reduce((n, r) => n + r.payments, 0));
      return rowsOf(runs, database.kind);
    } finally {
      await db?.close();
      await database.drop();
      await chain.stop();
    }
  },
};

/** Every method's total time and calls, slowest first: what to attack next. */
function describeProfile(rpc: RunResult["rpc"]): string {
  return Object.entries(rpc)
    .sort(([, a], [, b]) => b.ms - a.ms)
    .map(([method, s]) => `${method} ${s.ms.toFixed(0)} ms/${s.calls}`)
    .join(", ");
}

async function checkAllConfirmed(db: Database, expected: number): Promise<void> {
  const { rows } = await db.query<{ state: string; n: string }>("SELECT state, count(*) AS n FROM payments GROUP BY state");
  const confirmed = Number(rows.find((r) => r.state === "confirmed")?.n ?? 0);
  if (confirmed !== expected || rows.length !== 1) throw new Error(`expected ${expected} confirmed payments, found ${JSON.stringify(rows)}`);
}

function rowsOf(runs: readonly RunResult[], dbKind: string): MeasuredRow[] {
  const rate = (r: RunResult) => r.payments / r.seconds;
  const perCall = (r: RunResult, method: string) => (r.rpc[method]?.ms ?? 0) / Math.max(r.rpc[method]?.calls ?? 1, 1);
  const share = (r: RunResult, method: string) => `${(((r.rpc[method]?.ms ?? 0) / 1000 / r.seconds) * 100).toFixed(0)}%`;
  // The target is the engine's as it ships (its default batch size and simulation policy); the
  // other sizes show the shape, and the simulated run what the policy buys.
  const shipped = (r: RunResult) => r.batchMax === SETTLEMENT_DEFAULTS.batchMax && r.simulation === SETTLEMENT_DEFAULTS.simulation;
  const rows: MeasuredRow[] = runs.map((r) => ({
    section: SECTION,
    name:
      r.simulation !== SETTLEMENT_DEFAULTS.simulation
        ? `throughput, batchMax ${r.batchMax}, every batch simulated`
        : shipped(r)
          ? `throughput, batchMax ${r.batchMax} (default)`
          : `throughput, batchMax ${r.batchMax}`,
    value: rate(r),
    unit: "payments/s",
    ...(shipped(r) ? { target: { atLeast: TARGET_PER_SECOND } } : {}),
    note:
      `${r.payments} payments in ${r.seconds.toFixed(2)} s: ${r.batches} settleBatch transactions in ${r.cycles} engine cycles ` +
      `(runOnce back to back, ≤ ${BATCHES_PER_CYCLE} batches a cycle), ${PAYERS} payers, ${dbKind}, simulation "${r.simulation}" ` +
      `(${r.simulation === "always" ? "every batch simulated before it is sent" : "first attempts sent unsimulated, one paused() read a cycle"}). ` +
      `Time in JSON-RPC, as a share of wall time (calls overlap: the engine has up to 3 batches in progress): ` +
      `eth_call ${share(r, "eth_call")}, eth_sendRawTransaction (the node executes and mines the batch) ${share(r, "eth_sendRawTransaction")}, ` +
      `eth_getTransactionReceipt ${share(r, "eth_getTransactionReceipt")}, eth_estimateGas ${share(r, "eth_estimateGas")} ` +
      `(${r.rpc["eth_estimateGas"]?.calls ?? 0} calls: only a batch whose bounded gas limit is above the cap is estimated)`,
  }));
  const defaults = runs.filter((r) => r.simulation === SETTLEMENT_DEFAULTS.simulation);
  const best = defaults.reduce((a, b) => (rate(b) > rate(a) ? b : a));
  const simulated = runs.find((r) => r.simulation === "always");
  const node = (r: RunResult, method: string, what: string, extra = "") => ({
    section: SECTION,
    name: `node: ${what}, batch(${r.batchMax})`,
    value: perCall(r, method),
    unit: "ms",
    note: `${method} on hardhat node (EDR), ${(perCall(r, method) / r.batchMax).toFixed(2)} ms a payment, waiting behind the engine's other calls included${extra}`,
  });
  const mineMs = perCall(best, "eth_sendRawTransaction");
  rows.push(
    ...(simulated === undefined ? [] : [node(simulated, "eth_call", "simulation", ", from the run with every batch simulated")]),
    node(best, "eth_sendRawTransaction", "execute and mine", `: mining alone would allow ~${Math.round((best.batchMax * 1000) / Math.max(mineMs, 0.001))} payments/s`),
    node(best, "eth_getTransactionReceipt", "receipt"),
  );
  // Per batch rather than per cycle: the last cycle of a run is usually not full.
  const cycleMs = ((best.seconds * 1000) / best.batches) * BATCHES_PER_CYCLE;
  rows.push(
    {
      section: SECTION,
      name: "fastest batch size measured",
      value: best.batchMax,
      unit: "payments",
      note: `fastest of ${defaults.map((r) => r.batchMax).join(", ")}`,
    },
    {
      section: SECTION,
      name: "one full cycle at that size",
      value: Math.round(cycleMs),
      unit: "ms",
      note:
        `${BATCHES_PER_CYCLE} full batches of ${best.batchMax} (${availableParallelism()} cores). A full cycle is followed at once by the ` +
        "next, so the interval does not bound throughput; it paces a trickle, and a cycle shorter than it means the engine idles between cycles",
    },
  );
  return rows;
}
