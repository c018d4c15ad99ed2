/**
 * Open-loop load at a fixed rate, in its own process: request i is due at start + i / rate,
 * whatever happened to the requests before it. bench/lib/processes.ts (`runPacedLoad`) starts it:
 *
 *   node --import tsx bench/servers/paced-load.ts <spec.json>
 *
 * Why not autocannon's `overallRate`: it gives each connection a quota per second and sends that
 * quota back to back the moment the second starts (autocannon/lib/httpClient.js), so "1,000
 * requests/s over 50 connections" arrives as a burst of 1,000 at the top of every second and the
 * latencies measure how fast a burst drains, not how the gateway serves a steady 1,000 a second.
 *
 * Latency is counted from the moment a request was DUE, not from when it went out: if the
 * gateway falls behind and every connection is busy, the wait for a free one is charged to it
 * (no coordinated omission). Requests go over a fixed pool of keep-alive connections (undici,
 * Node's own HTTP client), each with the next unused payment from the file, as in load.ts.
 * Prints one line of JSON (`TargetResult`, see load.ts) on stdout.
 */
import { readFileSync } from "node:fs";
import * as hdr from "hdr-histogram-js";
import { Pool } from "undici";
import type { TargetResult } from "./load.js";

export interface PacedLoadSpec {
  readonly url: string;
  /** Requests per second, evenly spaced. */
  readonly rate: number;
  readonly seconds: number;
  /** Keep-alive connections; requests wait for a free one (and that wait counts as latency). */
  readonly connections: number;
  /** File of payment header values, one a line; none for a free route. */
  readonly paymentsFile?: string;
  /** Default PAYMENT-SIGNATURE (x402 v2). */
  readonly paymentHeader?: string;
}

async function run(spec: PacedLoadSpec): Promise<TargetResult> {
  const url = new URL(spec.url);
  const payments = spec.paymentsFile === undefined ? undefined : readFileSync(spec.paymentsFile, "utf8").split("\n").filter((l) => l !== "");
  const headerName = (spec.paymentHeader ?? "payment-signature").toLowerCase();
  const pool = new Pool(url.origin, { connections: spec.connections, pipelining: 1, keepAliveTimeout: 60_000 });
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const statuses: Record<string, number> = {};
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let exhausted = 0;
  let next = 0;
  const total = Math.round(spec.rate * spec.seconds);
  const intervalMs = 1_000 / spec.rate;
  const pending = new Set<Promise<void>>();

  const send = (due: number): void => {
    const payment = payments?.[next];
    if (payments !== undefined) {
      if (payment === undefined) exhausted += 1;
      else next += 1;
    }
    const request = pool
      .request({ path: `${url.pathname}${url.search}`, method: "GET", headers: payment === undefined ? {} : { [headerName]: payment } })
      .then(async (response) => {
        await response.body.dump();
        statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
        if (response.statusCode >= 200 && response.statusCode < 300) ok += 1;
        else non2xx += 1;
      })
      .catch(() => {
        errors += 1;
      })
      .finally(() => {
        histogram.recordValue(Math.max(1, Math.round((performance.now() - due) * 1_000)));
        pending.delete(request);
      });
    pending.add(request);
  };

  const start = performance.now() + 50;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + sent * intervalMs <= now) {
        send(start + sent * intervalMs);
        sent += 1;
      }
      if (sent >= total) {
        resolve();
        return;
      }
      // Timers fire at millisecond granularity at best; each tick sends everything already due.
      setTimeout(tick, Math.max(0, Math.min(intervalMs, start + sent * intervalMs - now)));
    };
    tick();
  });
  await Promise.all(pending);
  const elapsed = (performance.now() - start) / 1_000;
  await pool.close();
  const ms = (percentile: number) => histogram.getValueAtPercentile(percentile) / 1_000;
  return {
    url: spec.url,
    seconds: elapsed,
    ok,
    non2xx,
    errors,
    timeouts: 0,
    exhausted,
    statuses,
    paymentsUsed: next,
    throughput: ok / elapsed,
    latency: { p50: ms(50), p90: ms(90), p99: ms(99), max: histogram.maxValue / 1_000, mean: histogram.mean / 1_000 },
  };
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (file === undefined) throw new Error("usage: paced-load.ts <spec.json>");
  const spec = JSON.parse(readFileSync(file, "utf8")) as PacedLoadSpec;
  process.stdout.write(`${JSON.stringify(await run(spec))}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`paced load generator failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
