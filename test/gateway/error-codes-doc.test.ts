/**
 * docs/error-codes.md is the contract clients code against: every code in gateway/x402/errors.ts
 * must have a row there with the same HTTP status and the facilitator reason the code maps to.
 * Adding a code without documenting it fails here.
 */
import { readFileSync } from "node:fs";
import { expect } from "chai";
import { type ErrorCode, errorCodes, facilitatorReason } from "../../gateway/x402/index.js";

const DOC = new URL("../../docs/error-codes.md", import.meta.url);

/** The section listing codes the HTTP layer answers on its own, outside errors.ts. */
const HTTP_LAYER_SECTION = "### Codes answered by the HTTP layer itself";

interface Row {
  readonly code: string;
  readonly status: number;
  readonly meaning: string;
  readonly action: string;
  readonly charged: string;
  readonly reason: string;
  readonly httpLayer: boolean;
}

function parseRows(markdown: string): Row[] {
  const rows: Row[] = [];
  let httpLayer = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("### ")) httpLayer = line.trim() === HTTP_LAYER_SECTION;
    const match = /^\|\s*`([a-z0-9_]+)`\s*\|/.exec(line);
    if (match === null) continue;
    const cells = line.split("|").slice(1, -1).map((cell) => cell.trim());
    expect(cells, `row for ${match[1]} must have 6 cells`).to.have.length(6);
    const [, status, meaning, action, charged, reason] = cells as [string, string, string, string, string, string];
    rows.push({ code: match[1]!, status: Number(status), meaning, action, charged, reason: reason.replace(/`/g, ""), httpLayer });
  }
  return rows;
}

describe("docs/error-codes.md", () => {
  const rows = parseRows(readFileSync(DOC, "utf8"));
  const codes = Object.keys(errorCodes) as ErrorCode[];

  it("has exactly one row per code", () => {
    const seen = rows.map((row) => row.code);
    expect(seen.length, `duplicate rows: ${seen.filter((c, i) => seen.indexOf(c) !== i).join(", ")}`).to.equal(new Set(seen).size);
  });

  it("documents every code of gateway/x402/errors.ts with its HTTP status", () => {
    const documented = new Map(rows.filter((row) => !row.httpLayer).map((row) => [row.code, row]));
    const missing = codes.filter((code) => !documented.has(code));
    expect(missing, "codes in errors.ts without a row in docs/error-codes.md").to.deep.equal([]);
    for (const code of codes) expect(documented.get(code)?.status, code).to.equal(errorCodes[code].status);
  });

  it("documents no code errors.ts does not have, except in the HTTP-layer section", () => {
    const unknown = rows.filter((row) => !row.httpLayer && !Object.hasOwn(errorCodes, row.code)).map((row) => row.code);
    expect(unknown, "rows for codes that errors.ts does not define").to.deep.equal([]);
    const moved = rows.filter((row) => row.httpLayer && Object.hasOwn(errorCodes, row.code)).map((row) => row.code);
    expect(moved, "now defined in errors.ts: move these rows into the section of their status").to.deep.equal([]);
  });

  it("names the facilitator reason each code maps to", () => {
    for (const row of rows.filter((r) => !r.httpLayer)) {
      expect(row.reason, row.code).to.equal(facilitatorReason(row.code as ErrorCode, "verify"));
    }
  });

  it("says for every code what it means, what to do, and whether anything was charged", () => {
    for (const row of rows) {
      expect(row.meaning.length, `${row.code}: meaning`).to.be.greaterThan(10);
      expect(row.action.length, `${row.code}: what to do`).to.be.greaterThan(5);
      expect(row.charged, `${row.code}: charged?`).to.match(/^(No|Not|At most|Usually)/);
    }
  });
});
