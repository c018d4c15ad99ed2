/**
 * Section 6 — memory: the gateway process's RSS after 100,000 paid requests against its RSS
 * after the first 10,000 (process.memoryUsage() through its /bench/memory route). Every request
 * carries its own escrow payment, as in section 2, and is served on credit; nothing is settled
 * meanwhile, so the ledger holds every row unsettled at the end. No garbage collection is forced:
 * RSS is what the operating system sees.
 *
 * The load runs in chunks of about 20 s, with RSS read after each, until 100,000 requests are
 * served or the time budget (BENCH_MEMORY_BUDGET_S, default 300 s of load) runs out. 100,000 paid
 * requests take longer than that budget wherever the paid path is slow (section 2); then the
 * ratio is reported for the requests that were made, unjudged, and a row says the 100,000 were
 * not reached (FAIL). `BENCH_MEMORY_BUDGET_S=3600` runs the whole measurement.
 */
import { PAID_PATH, startPaidStack } from "../lib/paid-stack.js";
import { runLoad } from "../lib/processes.js";
import type { MeasuredRow, Section } from "../lib/types.js";

const SECTION = "6 memory";
const BASELINE_REQUESTS = 10_000;
const TOTAL_REQUESTS = 100_000;
const CONNECTIONS = 50;
/** Nothing settles during the run, so the ledger's per-payer sums grow with requests ÷ payers. */
const PAYERS = 400;
const RATIO_TARGET = 1.5;
const CHUNK_SECONDS = 20;
const DEFAULT_BUDGET_SECONDS = 300;

const MiB = 2 ** 20;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;
const count = (n: number) => n.toLocaleString("en-US");

interface Sample {
  readonly served: number;
  readonly memory: NodeJS.MemoryUsage;
}

export const memorySection: Section = {
  id: "memory",
  title: "6. memory (gateway RSS after 100,000 paid requests vs after 10,000)",
  async run({ log }) {
    const budgetSeconds = Number(process.env["BENCH_MEMORY_BUDGET_S"] ?? DEFAULT_BUDGET_SECONDS);
    if (!(budgetSeconds > 0)) throw new Error("BENCH_MEMORY_BUDGET_S must be a positive number of seconds");
    const stack = await startPaidStack({ payers: PAYERS, gateways: 1, log });
    try {
      const gateway = stack.gateways[0]!;
      const url = `${gateway.url}${PAID_PATH}`;
      const started = performance.now();
      const elapsed = () => (performance.now() - started) / 1000;
      let served = 0;
      let failed = 0;
      let rate = 100;
      const samples: Sample[] = [];
      let baseline: Sample | undefined;
      let chunk = 0;
      // Chunks end exactly at 10,000 (the baseline) and at 100,000; each is sized from the last rate.
      while (served < TOTAL_REQUESTS && elapsed() < budgetSeconds) {
        const boundary = served < BASELINE_REQUESTS ? BASELINE_REQUESTS : TOTAL_REQUESTS;
        const amount = Math.min(boundary - served, Math.max(500, Math.round(rate * CHUNK_SECONDS)));
        const { file } = stack.paymentsFile(`chunk-${chunk++}`, amount + CONNECTIONS * 2 + 100);
        const chunkStarted = performance.now();
        const result = (await runLoad({ targets: [{ url, paymentsFile: file }], connections: CONNECTIONS, amount })).targets[0]!;
        served += result.ok;
        failed += amount - result.ok;
        rate = Math.max(result.ok / ((performance.now() - chunkStarted) / 1000), 10);
        const sample = { served, memory: await gateway.memory() };
        samples.push(sample);
        if (baseline === undefined && served >= BASELINE_REQUESTS) baseline = sample;
        log(`${count(served)} served (${rate.toFixed(0)} req/s), ${elapsed().toFixed(0)} s: RSS ${mib(sample.memory.rss)}, heap ${mib(sample.memory.heapUsed)} used of ${mib(sample.memory.heapTotal)}, external ${mib(sample.memory.external)}`);
        if (result.ok === 0) throw new Error(`a chunk of ${amount} paid requests got no 200 at all`);
      }
      const last = samples.at(-1)!;
      const reached = served >= TOTAL_REQUESTS;
      const conditions = `${stack.db.kind}, ${PAYERS} payers, ${CONNECTIONS} connections, no settlement (every row stays unsettled), no forced GC`;
      const rows: MeasuredRow[] = [
        {
          section: SECTION,
          name: `paid requests served within ${budgetSeconds} s`,
          value: served,
          unit: "requests",
          target: { atLeast: TOTAL_REQUESTS },
          note: reached
            ? `${(served / elapsed()).toFixed(0)} req/s`
            : `${(served / elapsed()).toFixed(0)} req/s is too slow for ${count(TOTAL_REQUESTS)} in the budget; BENCH_MEMORY_BUDGET_S=3600 runs them all`,
        },
      ];
      if (baseline === undefined) {
        rows.push({ section: SECTION, name: `RSS after ${count(served)} paid requests`, value: last.memory.rss / MiB, unit: "MiB", note: `the ${count(BASELINE_REQUESTS)}-request baseline was not reached` });
        return rows;
      }
      const growth = samples.filter((s) => s.served >= BASELINE_REQUESTS);
      const peak = Math.max(...samples.map((s) => s.memory.rss));
      rows.push(
        { section: SECTION, name: `RSS after ${count(baseline.served)} paid requests`, value: baseline.memory.rss / MiB, unit: "MiB", note: `heap used ${mib(baseline.memory.heapUsed)}` },
        {
          section: SECTION,
          name: `RSS after ${count(last.served)} paid requests`,
          value: last.memory.rss / MiB,
          unit: "MiB",
          note: `heap used ${mib(last.memory.heapUsed)}, peak RSS seen ${mib(peak)}; RSS by requests served: ${growth.map((s) => `${count(s.served)}: ${mib(s.memory.rss)}`).join(", ")}`,
        },
        {
          section: SECTION,
          name: `RSS ratio, ${count(last.served)} ÷ ${count(baseline.served)}`,
          value: last.memory.rss / baseline.memory.rss,
          unit: "×",
          ...(reached ? { target: { atMost: RATIO_TARGET } } : {}),
          note: reached ? conditions : `not judged: the target is defined at ${count(TOTAL_REQUESTS)} requests; ${conditions}`,
        },
        {
          section: SECTION,
          name: "paid requests not answered 200 (validity)",
          value: failed,
          unit: "requests",
          target: { atMost: 0 },
          note: "refused, failed or timed out (each chunk sends exactly its amount)",
        },
      );
      return rows;
    } finally {
      await stack.close();
    }
  },
};
