/**
 * The pieces of `npm start`'s local stack that do not depend on the gateway: a Hardhat node
 * imitating SKALE Base Sepolia, the deployment with mock tokens, and the funded demo agent. Each
 * step is a child `npx hardhat …` process, exactly what a deployer would type, so the stack
 * exercises the same scripts the README documents.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Hex } from "viem";
import { generatePrivateKey, mnemonicToAccount, privateKeyToAccount } from "viem/accounts";

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Hardhat's built-in development mnemonic: its accounts are public knowledge and exist only on local chains. */
const HARDHAT_DEV_MNEMONIC = "test test test test test test test test test test test junk";

/**
 * Roles on the local chain, taken from the development mnemonic: index 0 deploys (the node's
 * first unlocked account), 1 signs settlements, 2 receives payments. Never valid anywhere else.
 */
export function localRoleKeys(): { settlementSigner: Hex; payee: `0x${string}` } {
  const signer = mnemonicToAccount(HARDHAT_DEV_MNEMONIC, { addressIndex: 1 });
  const payee = mnemonicToAccount(HARDHAT_DEV_MNEMONIC, { addressIndex: 2 });
  const key = signer.getHdKey().privateKey;
  if (key === null) throw new Error("the development mnemonic yielded no private key");
  return { settlementSigner: `0x${Buffer.from(key).toString("hex")}`, payee: payee.address };
}

/** Where the local stack keeps its state; wiped on every start, because the chain is new each time. */
export interface StackPaths {
  readonly root: string;
  readonly deploymentsDir: string;
  readonly deploymentsFile: string;
  readonly pgliteDir: string;
  /** The demo agent's key (0600), kept across starts so its address stays the same. */
  readonly agentKeyFile: string;
  /** What `npm run demo` reads to find the running stack. */
  readonly stackFile: string;
  readonly budgetFile: string;
}

/** `STACK_DIR` moves the state elsewhere (tests run a second stack beside a developer's own). */
export function stackPaths(root = process.env.STACK_DIR?.trim() ? path.resolve(process.env.STACK_DIR.trim()) : path.join(PROJECT_ROOT, ".data/local")): StackPaths {
  return {
    root,
    deploymentsDir: path.join(root, "deployments"),
    deploymentsFile: path.join(root, "deployments", "localhost.json"),
    pgliteDir: path.join(root, "pglite"),
    agentKeyFile: path.join(root, "demo-agent.key"),
    stackFile: path.join(root, "stack.json"),
    budgetFile: path.join(root, "demo-agent-budget.json"),
  };
}

/** Removes the previous run's chain-bound state (records, database), keeping the agent key. */
export function resetStackState(paths: StackPaths): void {
  rmSync(paths.deploymentsDir, { recursive: true, force: true });
  rmSync(paths.pgliteDir, { recursive: true, force: true });
  rmSync(paths.stackFile, { force: true });
  rmSync(paths.budgetFile, { force: true });
  mkdirSync(paths.root, { recursive: true });
}

export function loadOrCreateAgentKey(file: string): Hex {
  if (existsSync(file)) {
    const key = readFileSync(file, "utf8").trim();
    if (/^0x[0-9a-fA-F]{64}$/.test(key)) return key as Hex;
  }
  const key = generatePrivateKey();
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return key;
}

export function agentAddress(key: Hex): `0x${string}` {
  return privateKeyToAccount(key).address;
}

/** What a running stack publishes for `npm run demo` and for people. */
export interface StackInfo {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly gatewayUrl: string;
  readonly upstreamUrl?: string;
  readonly deploymentsFile: string;
  readonly agentKeyFile: string;
  readonly agentAddress: string;
  readonly payTo: string;
  readonly startedAt: string;
}

export function writeStackInfo(file: string, info: StackInfo): void {
  writeFileSync(file, `${JSON.stringify(info, null, 2)}\n`);
}

export function readStackInfo(file: string): StackInfo {
  if (!existsSync(file)) throw new Error(`no running local stack (${path.relative(PROJECT_ROOT, file)} is missing): run \`npm start\` first`);
  return JSON.parse(readFileSync(file, "utf8")) as StackInfo;
}

export async function freePort(preferred: number, host = "127.0.0.1"): Promise<number> {
  const tryListen = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(undefined));
      server.listen(port, host, () => {
        const address = server.address();
        server.close(() => resolve(typeof address === "object" && address !== null ? address.port : undefined));
      });
    });
  return (await tryListen(preferred)) ?? (await tryListen(0)) ?? Promise.reject(new Error("no free port"));
}

/** Environment for child Hardhat processes: the parent's, minus what the Hardhat test runner injects. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith("HARDHAT_") || k === "DEPLOY_MOCKS" || k === "DEPLOYMENTS_DIR" || k === "AGENT_PRIVATE_KEY") continue;
    env[k] = v;
  }
  return { ...env, FORCE_COLOR: "0", NO_COLOR: "1", ...extra };
}

export interface LocalChain {
  readonly rpcUrl: string;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * `npx hardhat node --network default` on a loopback port: the simulated network configured in
 * hardhat.config.ts (chain 324705682, shanghai), served over HTTP.
 */
export async function startLocalChain(port: number, options: { timeoutMs?: number; onOutput?: (line: string) => void } = {}): Promise<LocalChain> {
  const child = spawn("npx", ["hardhat", "node", "--network", "default", "--hostname", "127.0.0.1", "--port", String(port)], {
    cwd: PROJECT_ROOT,
    env: childEnv({}),
    stdio: ["ignore", "pipe", "pipe"],
    detached: process.platform !== "win32",
  });
  let output = "";
  const collect = (d: Buffer) => {
    output = (output + d.toString()).slice(-8_000);
    for (const line of d.toString().split("\n")) if (line.trim() !== "") options.onOutput?.(line);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const rpcUrl = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, "exit");
    killTree(child, "SIGTERM");
    const timer = setTimeout(() => killTree(child, "SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the local chain exited with code ${child.exitCode}:\n${output}`);
    if ((await rpcChainId(rpcUrl)) !== undefined) return { rpcUrl, child, stop };
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`the local chain did not answer on ${rpcUrl} in time:\n${output}`);
}

function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    // npx starts hardhat as a grandchild; the process group takes both down.
    if (child.pid !== undefined && process.platform !== "win32") process.kill(-child.pid, signal);
    else child.kill(signal);
  } catch {
    child.kill(signal);
  }
}

export async function rpcChainId(rpcUrl: string): Promise<number | undefined> {
  try {
    const response = await fetch(rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      signal: AbortSignal.timeout(2_000),
    });
    const body = (await response.json()) as { result?: string };
    return body.result === undefined ? undefined : Number.parseInt(body.result, 16);
  } catch {
    return undefined;
  }
}

/** Runs `npx hardhat <args>` to completion; throws with its output when it fails. */
export async function runHardhat(args: readonly string[], env: Record<string, string>, timeoutMs = 300_000): Promise<string> {
  const child = spawn("npx", ["hardhat", ...args], { cwd: PROJECT_ROOT, env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [code] = (await once(child, "exit")) as [number | null];
  clearTimeout(timer);
  if (code !== 0) throw new Error(`npx hardhat ${args.join(" ")} failed (exit ${code}):\n${output}`);
  return output;
}

/** Deploys the registry, the escrow and the four mock tokens to the local chain. */
export async function deployLocal(rpcUrl: string, paths: StackPaths): Promise<string> {
  return runHardhat(["run", "scripts/deploy.ts", "--network", "localhost"], {
    LOCAL_RPC_URL: rpcUrl,
    DEPLOY_MOCKS: "true",
    DEPLOYMENTS_DIR: paths.deploymentsDir,
  });
}

/**
 * Mints every mock token to the agent, tops up its gas, and has it deposit into the escrow itself
 * (the key travels to the child through its environment only).
 */
export async function fundAgent(rpcUrl: string, paths: StackPaths, agentKey: Hex): Promise<string> {
  return runHardhat(["ppa", "fund-agent", agentAddress(agentKey), "--network", "localhost"], {
    LOCAL_RPC_URL: rpcUrl,
    DEPLOYMENTS_DIR: paths.deploymentsDir,
    AGENT_PRIVATE_KEY: agentKey,
  });
}
