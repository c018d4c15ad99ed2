/**
 * Issue 5's promise, exactly as a user runs it: `npm start` brings the stack up and `npm run demo`
 * pays with every scheme, its balances agreeing with the chain. Both run as child processes on
 * free loopback ports with their state in a temporary directory, then the stack is stopped with
 * SIGINT, as Ctrl-C would.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { PROJECT_ROOT, freePort, readStackInfo, stackPaths } from "../../scripts/lib/local-stack.js";

function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith("HARDHAT_") || k === "NODE_ENV" || k === "DATABASE_URL") continue;
    env[k] = v;
  }
  return { ...env, FORCE_COLOR: "0", NO_COLOR: "1", ...extra };
}

describe("npm start and npm run demo on a fresh state directory", function () {
  this.timeout(240_000);

  let dir: string;
  let stack: ChildProcess | undefined;
  let output = "";

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "ppa-stack-"));
    const env = childEnv({ STACK_DIR: dir, PORT: String(await freePort(0)), RPC_PORT: String(await freePort(0)) });
    stack = spawn("npm", ["start"], { cwd: PROJECT_ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    stack.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    stack.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 180_000;
    while (!output.includes("the stack is up")) {
      if (stack.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not come up:\n${output}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  });

  after(async () => {
    if (stack !== undefined && stack.exitCode === null && stack.pid !== undefined) {
      const exited = once(stack, "exit");
      process.kill(-stack.pid, "SIGINT");
      const timer = setTimeout(() => stack?.pid !== undefined && process.kill(-stack.pid, "SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("prints every URL and the demo agent, with each step's progress", () => {
    for (const step of ["[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"]) expect(output).to.include(step);
    const info = readStackInfo(stackPaths(dir).stackFile);
    expect(info.chainId).to.equal(324705682);
    for (const p of ["/api/catalog", "/dashboard", "/metrics", "/health"]) expect(output).to.include(`${info.gatewayUrl}${p}`);
    expect(output).to.include(info.agentAddress);
    // The key stays in its file; it is never printed.
    const key = readFileSync(info.agentKeyFile, "utf8").trim();
    expect(key).to.match(/^0x[0-9a-f]{64}$/);
    expect(output.toLowerCase()).not.to.include(key.slice(2).toLowerCase());
  });

  it("serves health, and the demo pays with every scheme and token, agreeing with the chain", async () => {
    const info = readStackInfo(stackPaths(dir).stackFile);
    const health = (await (await fetch(`${info.gatewayUrl}/health`)).json()) as { status: string };
    expect(health.status).to.equal("ok");

    const demo = spawn("npm", ["run", "demo"], { cwd: PROJECT_ROOT, env: childEnv({ STACK_DIR: dir }), stdio: ["ignore", "pipe", "pipe"] });
    let demoOutput = "";
    demo.stdout.on("data", (d: Buffer) => (demoOutput += d.toString()));
    demo.stderr.on("data", (d: Buffer) => (demoOutput += d.toString()));
    const [code] = (await once(demo, "exit")) as [number | null];
    expect(code, demoOutput).to.equal(0);
    expect(demoOutput).to.include("all 6 payments check out against the chain");
    for (const [scheme, token] of [["exact", "USDC"], ["escrow", "USDC"], ["escrow", "USDT"], ["escrow", "SKL"], ["escrow", "WETH"], ["transfer", "USDT"]]) {
      expect(demoOutput).to.match(new RegExp(`\\s${scheme}\\s+${token}\\s+[0-9.]+\\s+0x[0-9a-f]{64}\\s.*ok`));
    }
  });
});
