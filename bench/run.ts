/**
 * `npm run bench` (node --import tsx bench/run.ts [section ids…]): runs the benchmark sections in
 * order, prints a table with the machine's details and PASS/FAIL per target, and writes the same
 * as JSON to bench/results/<timestamp>.json. Exits 1 when a target fails or a section crashes, so
 * CI can gate on it. See bench/README.md.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describeMachine } from "./lib/machine.js";
import { type BenchResult, type SectionError, checkRow, formatReport, summarize, writeResult } from "./lib/report.js";
import type { Row, Section } from "./lib/types.js";
import { gasSection } from "./sections/gas.js";
import { httpLoadSection } from "./sections/http-load.js";
import { memorySection } from "./sections/memory.js";
import { scaleOutSection } from "./sections/scale-out.js";
import { settlementSection } from "./sections/settlement.js";
import { verificationSection } from "./sections/verification.js";

/** In issue 6's order. */
const SECTIONS: readonly Section[] = [verificationSection, httpLoadSection, gasSection, settlementSection, scaleOutSection, memorySection];

const RESULTS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "results");

function selectSections(ids: readonly string[]): readonly Section[] {
  if (ids.length === 0) return SECTIONS;
  const unknown = ids.filter((id) => !SECTIONS.some((s) => s.id === id));
  if (unknown.length > 0) {
    throw new Error(`unknown section(s) ${unknown.join(", ")}; known: ${SECTIONS.map((s) => s.id).join(", ")}`);
  }
  return SECTIONS.filter((s) => ids.includes(s.id));
}

async function main(): Promise<number> {
  const sections = selectSections(process.argv.slice(2));
  const startedAt = new Date().toISOString();
  const machine = describeMachine();
  const rows: Row[] = [];
  const errors: SectionError[] = [];
  for (const section of sections) {
    const log = (message: string) => process.stderr.write(`[${section.id}] ${message}\n`);
    log(`${section.title}…`);
    const started = performance.now();
    try {
      rows.push(...(await section.run({ log })).map(checkRow));
    } catch (error) {
      errors.push({ section: section.id, message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    }
    log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
  const result: BenchResult = {
    startedAt,
    finishedAt: new Date().toISOString(),
    machine,
    sections: sections.map((s) => s.id),
    rows,
    errors,
    summary: summarize(rows),
  };
  console.log(formatReport(result));
  console.log(`\nresults: ${path.relative(process.cwd(), writeResult(RESULTS_DIR, result))}`);
  return result.summary.failed > 0 || errors.length > 0 ? 1 : 0;
}

process.exitCode = await main();
