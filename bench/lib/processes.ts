/**
 * Child processes of the load sections: gateway processes (bench/servers/gateway.ts) and the
 * load generator (bench/servers/load.ts). Each runs on this Node binary with tsx, like
 * `npm run bench` itself, and is stopped by its own pid.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { BenchChain } from "./chain.js";
import type { BenchDatabase } from "./database.js";
import type { LoadResult, LoadSpec, TargetResult } from "../servers/load.js";
import type { PacedLoadSpec } from "../servers/paced-load.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const READY_PREFIX = "BENCH_READY ";

/** The base URL every paid route's challenge is bound to (PUBLIC_URL), the same for every process. */
export const PUBLIC_URL = "http://gateway.bench.local";

function tsxChild(script: string, args: readonly string[], env: NodeJS.ProcessEnv, nodeArgs: readonly string[] = []): ChildProcess {
  return spawn(process.execPath, [...nodeArgs, "--import", "tsx", path.join(ROOT, script), ...args], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
}

export interface GatewayProcess {
  readonly url: string;
  readonly pid: number;
  /** process.memoryUsage() of the gateway process, through its /bench/memory route. */
  memory(): Promise<NodeJS.MemoryUsage>;
  stop(): Promise<void>;
}

export interface GatewayProcessOptions {
  readonly chain: BenchChain;
  readonly db: BenchDatabase;
  /** Gateway log level; `warn` keeps per-request info lines out of the measurement. */
  readonly logLevel?: string;
}

/** Starts one gateway process and waits until it listens. */
export async function startGatewayProcess(options: GatewayProcessOptions): Promise<GatewayProcess> {
  const { chain } = options;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env["PATH"],
    HOME: process.env["HOME"],
    NODE_ENV: "production",
    RPC_URL: chain.rpcUrl,
    CHAIN_ID: String(chain.chainId),
    DEPLOYMENTS_FILE: chain.deploymentsFile,
    PAY_TO: chain.payTo,
    SIGNER_PRIVATE_KEY: chain.signerKey,
    PUBLIC_URL,
    LOG_LEVEL: options.logLevel ?? "warn",
    SETTLEMENT_WORKER: "false",
    BENCH_PORT: "0",
    ...(process.env["BENCH_RPC_BATCH"] === undefined ? {} : { BENCH_RPC_BATCH: process.env["BENCH_RPC_BATCH"] }),
    // The gateway's own switch, for comparing the two ways of recording a payment on credit.
    ...(process.env["SERVE_BEFORE_RECORDING"] === undefined ? {} : { SERVE_BEFORE_RECORDING: process.env["SERVE_BEFORE_RECORDING"] }),
    ...options.db.env,
  };
  // BENCH_GATEWAY_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the gateway processes.
  const nodeArgs = (process.env["BENCH_GATEWAY_NODE_ARGS"] ?? "").split(" ").filter((a) => a !== "");
  const child = tsxChild("bench/servers/gateway.ts", [], env, nodeArgs);
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-8_000);
  });
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(() => reject(new Error(`the gateway process did not start in time:\n${stderr}`)), 90_000);
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
      const line = stdout.split("\n").find((l) => l.startsWith(READY_PREFIX));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve((JSON.parse(line.slice(READY_PREFIX.length)) as { url: string }).url);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the gateway process exited with ${code}:\n${stderr}`));
    });
  });
  const pid = child.pid!;
  return {
    url,
    pid,
    async memory() {
      const response = await fetch(`${url}/bench/memory`);
      if (!response.ok) throw new Error(`/bench/memory answered ${response.status}`);
      return (await response.json()) as NodeJS.MemoryUsage;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs the load generator to completion and returns what it measured. */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return runJsonChild<LoadResult>("bench/servers/load.ts", spec, "the load generator");
}

/** A fixed, evenly spaced request rate (bench/servers/paced-load.ts), in its own process. */
export function runPacedLoad(spec: PacedLoadSpec): Promise<TargetResult> {
  return runJsonChild<TargetResult>("bench/servers/paced-load.ts", spec, "the paced load generator");
}

/** Runs a load script on `spec` (passed as a JSON file) and parses the last line it prints. */
async function runJsonChild<T>(script: string, spec: object, what: string): Promise<T> {
  const dir = mkdtempSync(path.join(tmpdir(), "bench-load-"));
  try {
    const file = path.join(dir, "spec.json");
    writeFileSync(file, JSON.stringify(spec));
    const child = tsxChild(script, [file], { PATH: process.env["PATH"], HOME: process.env["HOME"] });
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8_000)));
    const [code] = (await once(child, "exit")) as [number | null];
    if (code !== 0) throw new Error(`${what} exited with ${code}:\n${stderr}`);
    return JSON.parse(stdout.trim().split("\n").at(-1)!) as T;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes payment headers where the load generator reads them; removed with `dir`. */
export function writePayments(dir: string, name: string, headers: readonly string[]): string {
  const file = path.join(dir, `${name}.txt`);
  writeFileSync(file, `${headers.join("\n")}\n`);
  return file;
}
