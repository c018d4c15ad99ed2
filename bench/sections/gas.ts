/**
 * Section 3 — gas per payment: single settle, both batch calls (`settleBatch` and the gateway's
 * `settleBatchFor`) at 10 and 100, plain ERC-20 and EIP-3009 transfers for reference. The chain
 * work needs Hardhat's runtime (`network.create()` only works inside `hardhat run`), so this
 * section runs bench/chain/gas.ts as a child process and reads back the rows it writes.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { MeasuredRow, Section } from "../lib/types.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const HARDHAT = path.join(ROOT, "node_modules", ".bin", "hardhat");

function runHardhat(script: string, env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(HARDHAT, ["run", script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
      else {
        log(output.trim());
        reject(new Error(`hardhat run ${script} exited with ${code}`));
      }
    });
  });
}

export const gasSection: Section = {
  id: "gas",
  title: "3. gas per payment (in-process EDR chain)",
  async run({ log }) {
    const dir = mkdtempSync(path.join(tmpdir(), "bench-gas-"));
    const out = path.join(dir, "rows.json");
    try {
      await runHardhat("bench/chain/gas.ts", { BENCH_GAS_OUT: out }, log);
      return JSON.parse(readFileSync(out, "utf8")) as MeasuredRow[];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
