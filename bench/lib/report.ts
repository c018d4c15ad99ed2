import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Machine } from "./machine.js";
import type { MeasuredRow, Row, Target } from "./types.js";

export interface SectionError {
  readonly section: string;
  readonly message: string;
}

export interface BenchResult {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: Machine;
  readonly sections: readonly string[];
  readonly rows: readonly Row[];
  readonly errors: readonly SectionError[];
  readonly summary: { readonly targets: number; readonly passed: number; readonly failed: number };
}

export function meets(value: number, target: Target): boolean {
  return "atMost" in target ? value <= target.atMost : value >= target.atLeast;
}

export function checkRow(row: MeasuredRow): Row {
  return row.target === undefined ? row : { ...row, pass: meets(row.value, row.target) };
}

export function summarize(rows: readonly Row[]): BenchResult["summary"] {
  const checked = rows.filter((r) => r.pass !== undefined);
  const passed = checked.filter((r) => r.pass === true).length;
  return { targets: checked.length, passed, failed: checked.length - passed };
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function formatTarget(target: Target | undefined, unit: string): string {
  if (target === undefined) return "";
  return "atMost" in target ? `≤ ${formatNumber(target.atMost)} ${unit}` : `≥ ${formatNumber(target.atLeast)} ${unit}`;
}

function table(header: readonly string[], body: readonly (readonly string[])[], rightAligned: ReadonlySet<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

/** The human-readable report: machine, one line per row, then the verdict. */
export function formatReport(result: BenchResult): string {
  const m = result.machine;
  const lines = [
    `PayPerAgent bench  ${result.startedAt}${m.commit === undefined ? "" : `  commit ${m.commit}`}`,
    `machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB RAM, Node ${m.node}, ${m.platform}, load ${m.loadAverage}`,
    "",
    table(
      ["section", "measurement", "value", "unit", "target", "result"],
      result.rows.map((r) => [
        r.section,
        r.name,
        formatNumber(r.value),
        r.unit,
        formatTarget(r.target, r.unit),
        r.pass === undefined ? "" : r.pass ? "PASS" : "FAIL",
      ]),
      new Set([2]),
    ),
  ];
  const notes = result.rows.filter((r) => r.note !== undefined);
  if (notes.length > 0) lines.push("", "notes:", ...notes.map((r) => `  ${r.section} / ${r.name}: ${r.note}`));
  for (const e of result.errors) lines.push("", `ERROR in section ${e.section}: ${e.message}`);
  const s = result.summary;
  lines.push("", `${s.passed}/${s.targets} targets met${s.failed > 0 ? `, ${s.failed} FAILED` : ""}${result.errors.length > 0 ? `, ${result.errors.length} section(s) crashed` : ""}`);
  return lines.join("\n");
}

/** Writes `<dir>/<timestamp>.json` and returns its path. */
export function writeResult(dir: string, result: BenchResult): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${result.startedAt.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}
