/**
 * End to end, the way a deployer runs it: a real `npx hardhat node` child process (imitating
 * SKALE Base Sepolia: chain 324705682, shanghai) on a free loopback port, and the deploy script
 * and admin tasks run as `npx hardhat …` child processes against it over HTTP.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { expect } from "chai";
import { createPublicClient, getAddress, http, type PublicClient } from "viem";
import { SKALE_BASE_SEPOLIA_CHAIN_ID } from "../../scripts/lib/chains.js";
import { readDeploymentRecord } from "../../scripts/lib/deployment-record.js";
import { PROJECT_ROOT, recordPathIn, tempDir, TEST_KEYS } from "./helpers/fixtures.js";

/** A clean environment for child Hardhat processes: none of the HARDHAT_* variables the test runner exports. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith("HARDHAT_") || k === "HH_TEST" || k === "NODE_ENV" || k === "DEPLOYMENTS_DIR" || k === "DEPLOY_MOCKS") continue;
    env[k] = v;
  }
  return { ...env, FORCE_COLOR: "0", NO_COLOR: "1", ...extra };
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

interface RunResult {
  code: number | null;
  output: string;
}

/** Runs `npx hardhat <args>` to completion in the project, --no-compile (the test run already built). */
async function hardhat(args: string[], env: Record<string, string>, timeoutMs = 90_000): Promise<RunResult> {
  const child = spawn("npx", ["hardhat", ...args], { cwd: PROJECT_ROOT, env: childEnv(env), stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const [code] = (await once(child, "exit")) as [number | null];
  clearTimeout(timer);
  return { code, output };
}

/** Stops a child started in its own process group (npx and the node process under it). */
async function stop(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }, 5_000);
  await exited;
  clearTimeout(timer);
}

describe("end to end: npx hardhat node + deploy script + admin tasks over HTTP", function () {
  this.timeout(180_000);

  let node: ChildProcess;
  let nodeOutput = "";
  let url: string;
  let client: PublicClient;
  let dir: string;
  const env = () => ({ LOCAL_RPC_URL: url, DEPLOYMENTS_DIR: dir });

  before(async function () {
    // Under --coverage the artifacts are instrumented (and SettlementEscrow exceeds the contract
    // size limit): a separate, uninstrumented node cannot run them. The in-process tests cover
    // the same code paths there.
    if (process.env.HARDHAT_COVERAGE === "true") this.skip();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    dir = tempDir();
    // The "default" network profile is the one configured like SKALE Base Sepolia.
    node = spawn("npx", ["hardhat", "node", "--network", "default", "--hostname", "127.0.0.1", "--port", String(port)], {
      cwd: PROJECT_ROOT,
      env: childEnv({}),
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    node.stdout!.on("data", (d: Buffer) => (nodeOutput += d.toString()));
    node.stderr!.on("data", (d: Buffer) => (nodeOutput += d.toString()));
    const started = Date.now();
    while (!nodeOutput.includes("Started HTTP and WebSocket JSON-RPC server")) {
      if (node.exitCode !== null) throw new Error(`hardhat node exited early:\n${nodeOutput}`);
      if (Date.now() - started > 90_000) throw new Error(`hardhat node did not start:\n${nodeOutput}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    client = createPublicClient({ transport: http(url) });
  });

  after(async function () {
    if (node) await stop(node);
  });

  it("deploys with mock tokens using legacy transactions, then finds nothing left to do", async function () {
    expect(await client.getChainId()).to.equal(SKALE_BASE_SEPOLIA_CHAIN_ID);
    const first = await hardhat(["run", "--no-compile", "scripts/deploy.ts", "--network", "localhost"], { ...env(), DEPLOY_MOCKS: "true" });
    expect(first.code, first.output).to.equal(0);
    expect(first.output).to.include("Network:  localhost (chain 324705682, local, legacy transactions)");
    expect(first.output).to.include("Done: 11 transaction(s) sent.");

    const record = readDeploymentRecord(recordPathIn(dir, "localhost"));
    expect(record).to.deep.include({ network: "localhost", chainId: SKALE_BASE_SEPOLIA_CHAIN_ID, status: "complete", mocks: true, kind: "local" });
    expect(record.genesisHash).to.equal((await client.getBlock({ blockNumber: 0n })).hash);
    for (const t of record.transactions) {
      const tx = await client.getTransaction({ hash: t.hash });
      expect(tx.type, t.step).to.equal("legacy");
      expect(tx.from.toLowerCase()).to.equal(record.deployer.toLowerCase());
    }
    for (const c of Object.values(record.contracts)) {
      expect((await client.getCode({ address: c.address }))?.length ?? 0).to.be.greaterThan(2);
    }
    const nonce = await client.getTransactionCount({ address: record.deployer });

    const second = await hardhat(["run", "--no-compile", "scripts/deploy.ts", "--network", "localhost"], { ...env(), DEPLOY_MOCKS: "true" });
    expect(second.code, second.output).to.equal(0);
    expect(second.output).to.include("Nothing to do: the deployment was already complete.");
    expect(await client.getTransactionCount({ address: record.deployer })).to.equal(nonce);
  });

  it("runs the admin tasks as a deployer would", async function () {
    const agent = getAddress("0x90F79bf6EB2c4f870365E785982E1f101E93b906");
    const fund = await hardhat(["ppa", "fund-agent", agent, "--wallet", "5", "--deposit", "2", "--network", "localhost"], env());
    expect(fund.code, fund.output).to.equal(0);
    expect(fund.output).to.match(/USDC\.e\s+5 USDC\.e\s+2 USDC\.e/);

    const fee = await hardhat(["ppa", "set-fee", "30", "--network", "localhost"], env());
    expect(fee.code, fee.output).to.equal(0);
    expect(readDeploymentRecord(recordPathIn(dir, "localhost")).escrow!.feeBps).to.equal(30);

    const bad = await hardhat(["ppa", "deprecate-token", "DAI", "--network", "localhost"], env());
    expect(bad.code).to.equal(1);
    expect(bad.output).to.include("Error: unknown token \"DAI\"");
    expect(bad.output).to.not.include("An unexpected error occurred");

    const inspect = await hardhat(["ppa", "inspect", agent, "--network", "localhost"], env());
    expect(inspect.code, inspect.output).to.equal(0);
    expect(inspect.output).to.match(/fee:\s+30 bps \(0\.30%\)/);
    expect(inspect.output).to.match(new RegExp(`${agent}\\s+USDT\\s+2 USDT`));
  });

  it("refuses mock tokens on skaleBase before connecting anywhere", async function () {
    const run = await hardhat(["run", "--no-compile", "scripts/deploy.ts", "--network", "skaleBase"], {
      ...env(),
      DEPLOY_MOCKS: "true",
      // A closed loopback port: nothing may reach a real network from a test.
      SKALE_BASE_RPC_URL: "http://127.0.0.1:9",
      DEPLOYER_PRIVATE_KEY: TEST_KEYS.deployer,
    });
    expect(run.code).to.equal(1);
    expect(run.output).to.include("Error: refusing to deploy mock tokens on skaleBase");
    expect(existsSync(recordPathIn(dir, "skaleBase"))).to.equal(false);
  });
});
