/**
 * Section 2 — HTTP load on loopback. One gateway process (bench/servers/gateway.ts: createGateway
 * with its real payment flow on PostgreSQL or PGlite, against a local hardhat node) serves a free
 * route and a paid route with the same fixed body (the "cached upstream": an in-process handler).
 * Every paid request carries its own pre-signed escrow payment from one of many committed payers,
 * so each is verified in full (signature, the escrow's state on chain, the ledger) and served on
 * credit. autocannon (throughput) and paced-load.ts (fixed rate) load it from separate processes.
 *
 *  - throughput: free and paid routes in alternating rounds, the ratio per round, its median;
 *  - latency: the paid route at a fixed 1,000 requests/s, evenly spaced (bench/servers/paced-load.ts;
 *    autocannon's rate limit sends in bursts), latency counted from when each request was due.
 */
import { type CpuGroup, busyBetween, cpuBetween, machineTicks, mainThreadSchedule, snapshot } from "../lib/cpu.js";
import { median } from "../lib/timing.js";
import { FREE_PATH, PAID_PATH, type PaidStack, startPaidStack } from "../lib/paid-stack.js";
import { runLoad, runPacedLoad } from "../lib/processes.js";
import type { LoadResult, TargetResult } from "../servers/load.js";
import type { MeasuredRow, Section } from "../lib/types.js";

const SECTION = "2 http-load";
const CONNECTIONS = 50;
const ROUNDS = 3;
const ROUND_SECONDS = 5;
const FIXED_RATE = 1_000;
const FIXED_SECONDS = 10;
const PAYERS = 200;
const RATIO_TARGET_PERCENT = 40;
const P99_TARGET_MS = 10;

export interface PaidRun {
  readonly result: TargetResult;
  readonly paymentsSigned: number;
}

/**
 * A paid run of `seconds` at most: signs enough payments for three times the rate seen so far (plus
 * what every connection builds ahead), so the run never runs dry; a run that still does says so
 * in `exhausted`.
 */
export async function paidRun(
  stack: PaidStack,
  name: string,
  url: string,
  options: { seconds: number; expectedRate: number; connections: number; overallRate?: number },
  /** Called once the payments are signed, as the load starts: where a CPU measurement begins. */
  onLoadStart?: () => void,
): Promise<PaidRun> {
  const count = Math.ceil(options.expectedRate * options.seconds * 3) + options.connections * 2 + 100;
  const { file } = stack.paymentsFile(name, count);
  onLoadStart?.();
  const load: LoadResult = await runLoad({
    targets: [{ url, paymentsFile: file }],
    connections: options.connections,
    duration: options.seconds,
    ...(options.overallRate === undefined ? {} : { overallRate: options.overallRate }),
  });
  return { result: load.targets[0]!, paymentsSigned: count };
}

interface Percentiles {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** The bench gateway's own timing (bench/servers/gateway.ts, GET /bench/timing). */
async function gatewayTiming(url: string): Promise<{ paidRequest: Percentiles; recordStatement: Percentiles; eventLoopDelay: Percentiles }> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return (await response.json()) as { paidRequest: Percentiles; recordStatement: Percentiles; eventLoopDelay: Percentiles };
}

/** The statuses of a run with failures, for the log: which kind of failure voided it. */
export function statusNote(run: TargetResult): string {
  if (problems([run]) === 0) return "";
  const statuses = Object.entries(run.statuses).map(([code, n]) => `${code}×${n}`).join(" ");
  return ` — NOT ALL 200: ${statuses}, errors ${run.errors}, timeouts ${run.timeouts}, sent without payment ${run.exhausted}`;
}

/** Failed or refused answers, and requests sent after the payments ran out: any of them voids a run. */
export function problems(runs: readonly TargetResult[]): number {
  return runs.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts + r.exhausted, 0);
}

export const httpLoadSection: Section = {
  id: "http-load",
  title: "2. HTTP load on loopback (one gateway process, autocannon in another)",
  async run({ log }) {
    const stack = await startPaidStack({ payers: PAYERS, gateways: 1, log });
    try {
      const gateway = stack.gateways[0]!;
      const free = `${gateway.url}${FREE_PATH}`;
      const paid = `${gateway.url}${PAID_PATH}`;

      // Warm-up: JIT, connection pools, the token catalog; its rate sizes the payments signed next.
      await runLoad({ targets: [{ url: free }], connections: CONNECTIONS, duration: 2 });
      const warm = await paidRun(stack, "warm-up", paid, { seconds: 3, expectedRate: 1_500, connections: CONNECTIONS });
      let expectedRate = Math.max(warm.result.throughput, 50);
      log(`warm-up: paid ${warm.result.throughput.toFixed(0)} req/s`);

      const freeRuns: TargetResult[] = [];
      const paidRuns: TargetResult[] = [];
      const ratios: number[] = [];
      // CPU ms per paid request answered, by process group, per round: where the time goes.
      const freeGatewayCpu: number[] = [];
      const cpuPerPaid: Record<CpuGroup, number[]> = { gateway: [], PostgreSQL: [], "chain node": [], "load generator": [], other: [] };
      for (let round = 0; round < ROUNDS; round++) {
        const beforeFree = snapshot(stack.gateways.map((g) => g.pid));
        const f = (await runLoad({ targets: [{ url: free }], connections: CONNECTIONS, duration: ROUND_SECONDS })).targets[0]!;
        freeGatewayCpu.push(cpuBetween(beforeFree, snapshot(stack.gateways.map((g) => g.pid))).gateway / (f.ok || 1));
        // Measured from when the round's payments are signed (by this process, beforehand).
        let before = snapshot(stack.gateways.map((g) => g.pid));
        const p = (
          await paidRun(stack, `paid-${round}`, paid, { seconds: ROUND_SECONDS, expectedRate, connections: CONNECTIONS }, () => {
            before = snapshot(stack.gateways.map((g) => g.pid));
          })
        ).result;
        const spent = cpuBetween(before, snapshot(stack.gateways.map((g) => g.pid)));
        for (const group of Object.keys(spent) as CpuGroup[]) cpuPerPaid[group].push(spent[group] / (p.ok || 1));
        expectedRate = Math.max(expectedRate, p.throughput);
        freeRuns.push(f);
        paidRuns.push(p);
        ratios.push(p.throughput / f.throughput);
        log(`round ${round + 1}: free ${f.throughput.toFixed(0)} req/s, paid ${p.throughput.toFixed(0)} req/s (p99 ${p.latency.p99} ms)${statusNote(p)}`);
      }

      // Evenly spaced arrivals from paced-load.ts: autocannon's rate limit sends each second's
      // quota as one burst, which measures draining a burst rather than a steady rate.
      const fixedPayments = stack.paymentsFile("fixed-rate", FIXED_RATE * FIXED_SECONDS + 100);
      const timingUrl = `${stack.gateways[0]!.url}/bench/timing`;
      await gatewayTiming(`${timingUrl}?reset=1`);
      // What the steady rate costs each process per request, and how busy it keeps the machine:
      // the latency tail is requests waiting for a core.
      const beforeFixed = snapshot(stack.gateways.map((g) => g.pid));
      const machineBefore = machineTicks();
      const scheduleBefore = mainThreadSchedule(gateway.pid);
      const fixedStarted = performance.now();
      const fixed = await runPacedLoad({ url: paid, rate: FIXED_RATE, seconds: FIXED_SECONDS, connections: CONNECTIONS, paymentsFile: fixedPayments.file });
      const fixedWallNs = (performance.now() - fixedStarted) * 1e6;
      const fixedBusy = busyBetween(machineBefore, machineTicks());
      const scheduleAfter = mainThreadSchedule(gateway.pid);
      // Shares of the run the gateway's thread spent waiting for a core, and on one.
      const gatewayThread =
        scheduleBefore === undefined || scheduleAfter === undefined
          ? undefined
          : {
              waited: (scheduleAfter.waitingNs - scheduleBefore.waitingNs) / fixedWallNs,
              ran: (scheduleAfter.runningNs - scheduleBefore.runningNs) / fixedWallNs,
            };
      const fixedCpu = cpuBetween(beforeFixed, snapshot(stack.gateways.map((g) => g.pid)));
      const inside = await gatewayTiming(timingUrl);
      const fixedFree = await runPacedLoad({ url: free, rate: FIXED_RATE, seconds: FIXED_SECONDS, connections: CONNECTIONS });
      log(`fixed ${FIXED_RATE} req/s, free route: p50 ${fixedFree.latency.p50} ms, p99 ${fixedFree.latency.p99} ms`);
      log(`fixed ${FIXED_RATE} req/s: achieved ${fixed.throughput.toFixed(0)} req/s, p50 ${fixed.latency.p50} ms, p99 ${fixed.latency.p99} ms${statusNote(fixed)}`);
      log(
        `  inside the gateway: request p50 ${inside.paidRequest.p50} / p99 ${inside.paidRequest.p99} / max ${inside.paidRequest.max} ms; ` +
          `recording statement p50 ${inside.recordStatement.p50} / p99 ${inside.recordStatement.p99} / max ${inside.recordStatement.max} ms; ` +
          `event-loop delay p99 ${inside.eventLoopDelay.p99.toFixed(1)} / max ${inside.eventLoopDelay.max.toFixed(1)} ms`,
      );

      const conditions =
        `${stack.db.kind}, ${PAYERS} committed payers, a unique escrow payment per request, ${CONNECTIONS} connections, ` +
        "JSON-RPC reads batched per verification (as startGateway), log level warn, no settlement engine";
      const freeRate = median(freeRuns.map((r) => r.throughput));
      const paidRate = median(paidRuns.map((r) => r.throughput));
      const cpuRows: MeasuredRow[] = (Object.keys(cpuPerPaid) as CpuGroup[])
        .filter((group) => cpuPerPaid[group].length > 0)
        .map((group) => ({
          section: SECTION,
          name: `paid request CPU: ${group}`,
          value: median(cpuPerPaid[group]) * 1_000,
          unit: "µs",
          note:
            group === "load generator"
              ? "autocannon's process; it shares the 2 cores with everything else"
              : group === "other"
                ? "every other process on the machine during the paid rounds (the bench runner, other jobs)"
                : `CPU time of ${group === "gateway" ? "the gateway process" : group === "PostgreSQL" ? "all PostgreSQL backends" : "the hardhat node"} over the paid rounds ÷ paid requests answered (median of rounds; /proc)`,
        }));
      const rows: MeasuredRow[] = [
        { section: SECTION, name: "free route, throughput", value: freeRate, unit: "req/s", note: `median of ${ROUNDS} rounds of ${ROUND_SECONDS} s` },
        {
          section: SECTION,
          name: "paid route, throughput",
          value: paidRate,
          unit: "req/s",
          note: `median of ${ROUNDS} rounds of ${ROUND_SECONDS} s, p99 ${median(paidRuns.map((r) => r.latency.p99))} ms at full load; ${conditions}`,
        },
        {
          section: SECTION,
          name: "paid ÷ free throughput",
          value: median(ratios) * 100,
          unit: "%",
          target: { atLeast: RATIO_TARGET_PERCENT },
          note: `median of the per-round ratios (rounds alternate free, paid): ${ratios.map((r) => `${(r * 100).toFixed(1)}%`).join(", ")}`,
        },
        {
          section: SECTION,
          name: `paid route, p99 at ${FIXED_RATE.toLocaleString("en-US")} req/s`,
          value: fixed.latency.p99,
          unit: "ms",
          target: { atMost: P99_TARGET_MS },
          note:
            `${FIXED_SECONDS} s of requests spaced ${1_000 / FIXED_RATE} ms apart (bench/servers/paced-load.ts), latency from when each was due; ` +
            `the gateway answered ${fixed.throughput.toFixed(0)} req/s of the ${FIXED_RATE} offered`,
        },
        { section: SECTION, name: `paid route, p50 at ${FIXED_RATE.toLocaleString("en-US")} req/s`, value: fixed.latency.p50, unit: "ms" },
        {
          section: SECTION,
          name: "  of which inside the gateway, p99",
          value: inside.paidRequest.p99,
          unit: "ms",
          note: `the same requests timed by the gateway from arrival to the last byte written (p50 ${inside.paidRequest.p50} ms, max ${inside.paidRequest.max} ms)`,
        },
        {
          section: SECTION,
          name: "  of which recording the payment, p99",
          value: inside.recordStatement.p99,
          unit: "ms",
          note: `the record_payment statement, one per batch of concurrent payments, as the gateway waited for it (p50 ${inside.recordStatement.p50} ms, max ${inside.recordStatement.max} ms)`,
        },
        {
          section: SECTION,
          name: "  gateway event-loop delay, p99",
          value: Number(inside.eventLoopDelay.p99.toFixed(2)),
          unit: "ms",
          note: `perf_hooks.monitorEventLoopDelay over the same run (max ${inside.eventLoopDelay.max.toFixed(1)} ms): garbage collection and long synchronous work`,
        },
        {
          section: SECTION,
          name: `  gateway CPU per paid request at ${FIXED_RATE.toLocaleString("en-US")} req/s`,
          value: (fixedCpu.gateway / (fixed.ok || 1)) * 1_000,
          unit: "µs",
          note: `against ${(median(cpuPerPaid.gateway) * 1_000).toFixed(0)} µs at full load: at a steady rate fewer requests share each wakeup, socket write and database round trip`,
        },
        {
          section: SECTION,
          name: `  PostgreSQL CPU per paid request at ${FIXED_RATE.toLocaleString("en-US")} req/s`,
          value: (fixedCpu.PostgreSQL / (fixed.ok || 1)) * 1_000,
          unit: "µs",
          note: `against ${(median(cpuPerPaid.PostgreSQL) * 1_000).toFixed(0)} µs at full load: smaller batches, a commit for fewer payments each`,
        },
        ...(fixedBusy === undefined
          ? []
          : [
              {
                section: SECTION,
                name: `  machine CPU busy at ${FIXED_RATE.toLocaleString("en-US")} req/s`,
                value: Number((fixedBusy * 100).toFixed(1)),
                unit: "%",
                note: "all cores, /proc/stat, over the same run: the gateway, PostgreSQL, the chain node and the load generator share them",
              },
            ]),
        ...(gatewayThread === undefined
          ? []
          : [
              {
                section: SECTION,
                name: `  gateway thread ready but waiting for a core`,
                value: Number((gatewayThread.waited * 100).toFixed(1)),
                unit: "% of run",
                note:
                  `the gateway's JavaScript thread over the same run (/proc/<pid>/task/<pid>/schedstat): runnable with no core free for it, ` +
                  `against ${(gatewayThread.ran * 100).toFixed(1)}% of the run on a core`,
              },
            ]),
        {
          section: SECTION,
          name: `free route, p99 at ${FIXED_RATE.toLocaleString("en-US")} req/s`,
          value: fixedFree.latency.p99,
          unit: "ms",
          note: `the same paced load without a payment (p50 ${fixedFree.latency.p50} ms): what the machine and Koa give before any payment work`,
        },
        { section: SECTION, name: `paid route, rate served of ${FIXED_RATE.toLocaleString("en-US")} req/s offered`, value: fixed.throughput, unit: "req/s" },
        {
          section: SECTION,
          name: "paid requests not answered 200 (validity)",
          value: problems([warm.result, ...paidRuns, fixed]),
          unit: "requests",
          target: { atMost: 0 },
          note: "refused, failed, timed out, or sent after the pre-signed payments ran out; any of these voids the figures above",
        },
      ];
      const freeCpu: MeasuredRow = {
        section: SECTION,
        name: "free request CPU: gateway",
        value: median(freeGatewayCpu) * 1_000,
        unit: "µs",
        note: "the gateway process over the free rounds ÷ requests answered: Koa and the middlewares alone",
      };
      return [...rows, freeCpu, ...cpuRows];
    } finally {
      await stack.close();
    }
  },
};
