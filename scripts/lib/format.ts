/**
 * Parsing and printing helpers for the scripts' human-facing input and output: durations,
 * token amounts, tables. Pure functions.
 */
import { formatUnits, parseUnits } from "viem";

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400, w: 604_800 };

/** Parses "86400", "90s", "30m", "1h", "1d", "2w" into whole seconds. */
export function parseDuration(input: string | number, what = "duration"): number {
  if (typeof input === "number") {
    if (!Number.isSafeInteger(input) || input < 0) throw new Error(`${what}: expected a whole number of seconds, got ${input}`);
    return input;
  }
  const m = /^\s*(\d+)\s*([smhdw]?)\s*$/.exec(input);
  if (!m) throw new Error(`${what}: expected seconds or a number with s/m/h/d/w (e.g. "1d"), got "${input}"`);
  const seconds = Number(m[1]) * (DURATION_UNITS[m[2] || "s"] ?? 1);
  if (!Number.isSafeInteger(seconds)) throw new Error(`${what}: too large: "${input}"`);
  return seconds;
}

/** "1d 2h", "45m", "0s": compact human form of a number of seconds. */
export function formatDuration(totalSeconds: number | bigint): string {
  let s = Number(totalSeconds);
  if (s === 0) return "0s";
  const parts: string[] = [];
  for (const [unit, size] of [["d", 86_400], ["h", 3_600], ["m", 60], ["s", 1]] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
  }
  return parts.join(" ");
}

/** Parses a decimal amount in whole tokens ("0.01") into atomic units, refusing excess precision. */
export function parseTokenAmount(input: string, decimals: number, what = "amount"): bigint {
  const s = input.trim();
  if (!/^\d+(\.\d+)?$/.test(s)) throw new Error(`${what}: expected a decimal number of tokens (e.g. "0.01"), got "${input}"`);
  const fraction = s.split(".")[1] ?? "";
  if (fraction.replace(/0+$/, "").length > decimals) {
    throw new Error(`${what}: "${input}" has more than ${decimals} decimal places`);
  }
  return parseUnits(s, decimals);
}

export function formatTokenAmount(atomic: bigint, decimals: number, symbol?: string): string {
  const text = formatUnits(atomic, decimals);
  return symbol ? `${text} ${symbol}` : text;
}

export function formatBps(bps: number | bigint): string {
  return `${bps} bps (${(Number(bps) / 100).toFixed(2)}%)`;
}

/** Renders rows as an aligned plain-text table with a header rule. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ").trimEnd();
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** Renders label/value pairs one per line, labels aligned. */
export function renderKeyValues(pairs: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${v}`).join("\n");
}

/** "2026-05-05T10:00:00Z (in 3h 2m)" / "(unlocked 5m ago)". */
export function formatUnlockTime(unlockAt: bigint | number, now: bigint | number): string {
  const at = Number(unlockAt);
  if (at === 0) return "-";
  const iso = new Date(at * 1000).toISOString().replace(".000Z", "Z");
  const delta = at - Number(now);
  return delta > 0 ? `${iso} (in ${formatDuration(delta)})` : `${iso} (unlocked ${formatDuration(-delta)} ago)`;
}

export function shortAddress(a: string): string {
  return `${a.slice(0, 6)}…${a.slice(-4)}`;
}

/** Splits a comma/space separated list, dropping empties. */
export function splitList(input: string | undefined): string[] {
  return (input ?? "")
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
