/**
 * Timing for microbenchmarks on shared, noisy machines: absolute times drift with whatever else
 * runs, so two implementations are timed in alternating rounds and compared round by round; the
 * median of the per-round figures is reported.
 */

export type Operation = (index: number) => unknown;

export interface Contender {
  readonly name: string;
  readonly operation: Operation;
  /** Operations per round: enough for a round to take a few ms, few enough for many rounds. */
  readonly opsPerRound: number;
}

export interface Comparison {
  /** Median µs per operation, by contender name. */
  readonly microsPerOp: Readonly<Record<string, number>>;
  /** Median over rounds of (baseline µs/op ÷ candidate µs/op) in that round. */
  readonly speedup: number;
  readonly rounds: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median of nothing");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** µs per operation over `ops` calls (awaiting each result that is a promise). */
export async function timeOps(operation: Operation, ops: number, offset = 0): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) {
    const result = operation(offset + i);
    if (result instanceof Promise) await result;
  }
  return Number(process.hrtime.bigint() - start) / 1_000 / ops;
}

/** µs per operation, median of `rounds` rounds after one warm-up round. */
export async function measure(operation: Operation, opsPerRound: number, rounds: number): Promise<number> {
  await timeOps(operation, opsPerRound);
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) samples.push(await timeOps(operation, opsPerRound, round * opsPerRound));
  return median(samples);
}

/** Times `candidate` against `baseline` in alternating rounds (after one warm-up round each). */
export async function compare(candidate: Contender, baseline: Contender, rounds: number): Promise<Comparison> {
  await timeOps(candidate.operation, candidate.opsPerRound);
  await timeOps(baseline.operation, baseline.opsPerRound);
  const candidateTimes: number[] = [];
  const baselineTimes: number[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const c = await timeOps(candidate.operation, candidate.opsPerRound, round * candidate.opsPerRound);
    const b = await timeOps(baseline.operation, baseline.opsPerRound, round * baseline.opsPerRound);
    candidateTimes.push(c);
    baselineTimes.push(b);
    ratios.push(b / c);
  }
  return {
    microsPerOp: { [candidate.name]: median(candidateTimes), [baseline.name]: median(baselineTimes) },
    speedup: median(ratios),
    rounds,
  };
}
