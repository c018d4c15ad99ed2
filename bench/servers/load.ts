/**
 * The load generator: autocannon in its own process, apart from the gateway it loads (issue 6).
 * bench/lib/load.ts starts it:
 *
 *   node --import tsx bench/servers/load.ts <spec.json>
 *
 * The spec names one or more targets, loaded at the same time (scale-out splits the load over
 * two gateways); each target may name a file of payment header values, one a line, and then every
 * request takes the next unused one, so no payment is ever sent twice. When a target's payments
 * run out it sends requests without one, which the gateway answers 402 and the result counts as
 * `exhausted`: a run that needed more payments than it had says so instead of replaying any.
 * Prints one line of JSON (`LoadResult`) on stdout.
 */
import { readFileSync } from "node:fs";
import autocannon from "autocannon";

export interface LoadTarget {
  readonly url: string;
  /** File of payment header values, one a line; none for a free route. */
  readonly paymentsFile?: string;
  /** The header they go in; default PAYMENT-SIGNATURE (x402 v2). */
  readonly paymentHeader?: string;
}

export interface LoadSpec {
  readonly targets: readonly LoadTarget[];
  /** Connections per target. */
  readonly connections: number;
  /** Seconds to run (ignored when `amount` is set). */
  readonly duration?: number;
  /** Requests per target, then stop. */
  readonly amount?: number;
  /** Fixed request rate per target (requests/s over all its connections); unlimited when absent. */
  readonly overallRate?: number;
}

export interface TargetResult {
  readonly url: string;
  readonly seconds: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  /** Requests sent after the payments ran out. */
  readonly exhausted: number;
  /** Answers by HTTP status, so a run with failures says which. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Payments taken from the file (a few are built and never sent when the run stops). */
  readonly paymentsUsed: number;
  /** 2xx answers per second over the run. */
  readonly throughput: number;
  /** Milliseconds; corrected for coordinated omission when a rate is set (autocannon's default). */
  readonly latency: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number; readonly mean: number };
}

export interface LoadResult {
  readonly targets: readonly TargetResult[];
}

async function runTarget(target: LoadTarget, spec: LoadSpec): Promise<TargetResult> {
  const payments = target.paymentsFile === undefined ? undefined : readFileSync(target.paymentsFile, "utf8").split("\n").filter((l) => l !== "");
  const headerName = (target.paymentHeader ?? "payment-signature").toLowerCase();
  let next = 0;
  let exhausted = 0;
  const requests =
    payments === undefined
      ? undefined
      : [
          {
            method: "GET" as const,
            setupRequest(request: { headers?: Record<string, string> }) {
              const payment = payments[next];
              if (payment === undefined) {
                exhausted += 1;
                request.headers = {};
              } else {
                next += 1;
                request.headers = { [headerName]: payment };
              }
              return request;
            },
          },
        ];
  const options: autocannon.Options = {
    url: target.url,
    connections: spec.connections,
    pipelining: 1,
    timeout: 30,
    ...(spec.amount === undefined ? { duration: spec.duration ?? 10 } : { amount: spec.amount }),
    ...(spec.overallRate === undefined ? {} : { overallRate: spec.overallRate }),
    ...(requests === undefined ? {} : { requests: requests as autocannon.Request[] }),
  };
  const result = await autocannon(options);
  const ok = result["2xx"];
  return {
    url: target.url,
    seconds: result.duration,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    exhausted,
    statuses: Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, stat]) => [code, stat?.count ?? 0])),
    paymentsUsed: next,
    throughput: ok / result.duration,
    latency: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max, mean: result.latency.average },
  };
}

async function main(): Promise<void> {
  const file = process.argv[2];
  if (file === undefined) throw new Error("usage: load.ts <spec.json>");
  const spec = JSON.parse(readFileSync(file, "utf8")) as LoadSpec;
  const targets = await Promise.all(spec.targets.map((t) => runTarget(t, spec)));
  process.stdout.write(`${JSON.stringify({ targets } satisfies LoadResult)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`load generator failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
