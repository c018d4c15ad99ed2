/**
 * Reads coverage/lcov.info written by `hardhat test --coverage` and fails when line or statement
 * coverage of the production contracts falls below the threshold. Mocks and test helpers are
 * excluded: they exist to exercise the real contracts, not to be measured.
 *
 * Hardhat 3's lcov report has no branch figure, so branches are covered by tests that take
 * every `if` both ways, not by this check.
 */
import { readFileSync } from "node:fs";

const THRESHOLD_PERCENT = 95;
const LCOV_PATH = process.argv[2] ?? "coverage/lcov.info";
const EXCLUDED = [/\/mocks\//, /\/test-helpers\//, /\.t\.sol$/, /^test\//, /\/test\//];

interface FileCoverage {
  file: string;
  linesFound: number;
  linesHit: number;
}

function parseLcov(text: string): FileCoverage[] {
  const files: FileCoverage[] = [];
  let current: FileCoverage | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("SF:")) current = { file: line.slice(3), linesFound: 0, linesHit: 0 };
    else if (current && line.startsWith("LF:")) current.linesFound = Number(line.slice(3));
    else if (current && line.startsWith("LH:")) current.linesHit = Number(line.slice(3));
    else if (current && line === "end_of_record") {
      files.push(current);
      current = undefined;
    }
  }
  return files;
}

const measured = parseLcov(readFileSync(LCOV_PATH, "utf8")).filter(
  (f) => f.file.includes("contracts/") && !EXCLUDED.some((re) => re.test(f.file)),
);
if (measured.length === 0) {
  console.error(`No production contracts found in ${LCOV_PATH}`);
  process.exit(1);
}

let found = 0;
let hit = 0;
for (const f of measured) {
  found += f.linesFound;
  hit += f.linesHit;
  const pct = f.linesFound === 0 ? 100 : (100 * f.linesHit) / f.linesFound;
  console.log(`${pct.toFixed(2).padStart(7)}%  ${f.linesHit}/${f.linesFound}  ${f.file}`);
}
const total = found === 0 ? 100 : (100 * hit) / found;
console.log(`${total.toFixed(2).padStart(7)}%  ${hit}/${found}  total (mocks and test helpers excluded)`);
if (total < THRESHOLD_PERCENT) {
  console.error(`Coverage ${total.toFixed(2)}% is below ${THRESHOLD_PERCENT}%`);
  process.exit(1);
}
