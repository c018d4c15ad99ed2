/**
 * CPU time by process group, read from /proc (Linux), so a section can say where a paid request's
 * time goes across processes: the gateway, PostgreSQL, the chain node, the load generator. On
 * other platforms `snapshot()` is empty and the breakdown says so.
 */
import { readFileSync, readdirSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat times; 100 on every Linux build that matters. */
const TICKS_PER_SECOND = 100;

/** "load generator": the exited load generator children of this process (see `snapshot`). */
export type CpuGroup = "gateway" | "PostgreSQL" | "chain node" | "load generator" | "other";

interface ProcessTimes {
  readonly group: CpuGroup;
  readonly ticks: number;
}

export type CpuSnapshot = ReadonlyMap<number, ProcessTimes>;

export function snapshot(gatewayPids: readonly number[]): CpuSnapshot {
  const result = new Map<number, ProcessTimes>();
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return result;
  }
  for (const name of pids) {
    const pid = Number(name);
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // Fields after the parenthesised command: state is 3rd, utime 14th, stime 15th.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ticks = Number(fields[11]) + Number(fields[12]);
      const command = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");
      result.set(pid, { group: groupOf(pid, command, gatewayPids), ticks });
    } catch {
      // The process ended between listing and reading.
    }
  }
  // A load generator is a child of this process that has exited by the time a run is measured:
  // its time shows in this process's children's times (cutime + cstime) once it was waited for.
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    result.set(-1, { group: "load generator", ticks: Number(fields[13]) + Number(fields[14]) });
  } catch {
    // Not Linux.
  }
  return result;
}

function groupOf(pid: number, command: string, gatewayPids: readonly number[]): CpuGroup {
  if (gatewayPids.includes(pid)) return "gateway";
  if (command.startsWith("postgres")) return "PostgreSQL";
  if (command.includes("hardhat node")) return "chain node";
  return "other";
}

/** CPU milliseconds spent by each group between two snapshots. */
export function cpuBetween(before: CpuSnapshot, after: CpuSnapshot): Record<CpuGroup, number> {
  const totals: Record<CpuGroup, number> = { gateway: 0, PostgreSQL: 0, "chain node": 0, "load generator": 0, other: 0 };
  for (const [pid, now] of after) {
    const then = before.get(pid)?.ticks ?? 0;
    totals[now.group] += ((now.ticks - then) * 1_000) / TICKS_PER_SECOND;
  }
  return totals;
}

/** All cores' clock ticks from /proc/stat: busy (not idle, not waiting for I/O) and in all. */
export interface MachineTicks {
  readonly busy: number;
  readonly total: number;
}

export function machineTicks(): MachineTicks | undefined {
  try {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal; guest time is already inside user.
    const total = values.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/** The share of all cores busy between two readings, 0–1; undefined off Linux. */
export function busyBetween(before: MachineTicks | undefined, after: MachineTicks | undefined): number | undefined {
  if (before === undefined || after === undefined || after.total === before.total) return undefined;
  return (after.busy - before.busy) / (after.total - before.total);
}

/** A thread's scheduler times in ns (/proc/<pid>/task/<tid>/schedstat): on a core, and ready but waiting for one. */
export interface ThreadSchedule {
  readonly runningNs: number;
  readonly waitingNs: number;
}

/** The main thread of `pid` (its JavaScript thread, for a Node process); undefined off Linux. */
export function mainThreadSchedule(pid: number): ThreadSchedule | undefined {
  try {
    const [running, waiting] = readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").trim().split(" ").map(Number);
    if (running === undefined || waiting === undefined || !Number.isFinite(running) || !Number.isFinite(waiting)) return undefined;
    return { runningNs: running, waitingNs: waiting };
  } catch {
    return undefined;
  }
}
