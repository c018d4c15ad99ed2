/**
 * The agent CLI: every command run in-process through `runCli` (its arguments, environment,
 * output and exit codes) against Hardhat's in-process chain served over HTTP, and one smoke test
 * of the real entry point as a child process (`node --import tsx agent/cli/main.ts`).
 */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { network } from "hardhat";
import { expect } from "chai";
import { type Address, getAddress } from "viem";
import { generatePrivateKey } from "viem/accounts";
import { closeTestBackends, testBackends, type TestDatabase } from "../../gateway/db/testing.js";
import { runCli } from "../../agent/cli/run.js";
import { EXIT } from "../../agent/cli/errors.js";
import { deployEscrowSystem } from "../contracts/helpers/escrow.js";
import { type EscrowSystem, type FundedAgent, type TestGateway, fundedAgent, startTestGateway } from "./helpers/gateway.js";
import { type RpcBridge, startRpcBridge } from "./helpers/rpc-bridge.js";
import { writeTestRecord } from "./helpers/record.js";

const PROJECT_ROOT = path.resolve(import.meta.dirname, "..", "..");

after(closeTestBackends);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

for (const backend of testBackends()) {
  describe(`agent CLI [${backend.name}]`, function () {
    this.timeout(120_000);

    let s: EscrowSystem;
    let db: TestDatabase;
    let gateway: TestGateway;
    let bridge: RpcBridge;
    let dir: string;
    let recordFile: string;
    let agent: FundedAgent;
    // A chain per suite: the last test moves its clock a day ahead.
    let connection: Awaited<ReturnType<typeof network.create>>;

    before(async () => {
      connection = await network.create();
      const { viem, provider } = connection;
      s = await deployEscrowSystem(viem);
      db = await backend.fresh();
      gateway = await startTestGateway(s, db, { schemes: ["exact", "escrow", "transfer"], tokens: ["usdc", "usdt", "skl"] });
      bridge = await startRpcBridge(provider);
      dir = mkdtempSync(path.join(tmpdir(), "agent-cli-"));
      recordFile = await writeTestRecord(s, dir);
      agent = await fundedAgent(s, provider, generatePrivateKey(), { usdc: 5_000_000n, usdt: 5_000_000n, skl: 10n ** 19n });
    });

    after(async () => {
      await Promise.all([gateway.close(), bridge.close()]);
      await db.close();
      await connection.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const env = (extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv => ({
      AGENT_PRIVATE_KEY: agent.key,
      RPC_URL: bridge.url,
      DEPLOYMENTS_FILE: recordFile,
      AGENT_BUDGET_FILE: path.join(dir, "budget.json"),
      ...extra,
    });

    async function cli(args: string[], extra: Record<string, string | undefined> = {}): Promise<Run> {
      let stdout = "";
      let stderr = "";
      const code = await runCli(args, env(extra), { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
      return { code, stdout, stderr };
    }

    const usdc = (): Address => getAddress(s.usdc.address);
    const escrowBalance = (token: Address) => s.escrow.read.balanceOf([token, agent.address]) as Promise<bigint>;

    it("balance prints a table of every token in the deployment record", async () => {
      const run = await cli(["balance"]);
      expect(run.code, run.stderr).to.equal(EXIT.ok);
      expect(run.stdout).to.include(`Account ${agent.address} on chain ${s.chainId}`);
      expect(run.stdout).to.match(/Token\s+Wallet\s+Escrow\s+Withdrawing\s+Unlocks \(UTC\)\s+Spent today/);
      expect(run.stdout).to.match(/USDC\.e\s+5\s+0\s+0\s+-\s+0/);
      expect(run.stdout).to.match(/SKL\s+10\s+0/);
      expect(run.stdout).to.match(/WETH\s+0\s+0/);
    });

    it("deposit parses the amount exactly with the token's decimals and deposits by permit", async () => {
      const run = await cli(["deposit", "USDC.e", "1.25"]);
      expect(run.code, run.stderr).to.equal(EXIT.ok);
      expect(run.stderr).to.match(/Method\s+permit/);
      expect(run.stderr).to.match(/In escrow\s+1\.25 USDC\.e/);
      expect(await escrowBalance(usdc())).to.equal(1_250_000n);

      const usdt = await cli(["deposit", "USDT", "0.5"]);
      expect(usdt.code, usdt.stderr).to.equal(EXIT.ok);
      expect(usdt.stderr).to.match(/approve \+ deposit/);
    });

    it("deposit refuses an amount with more decimals than the token has, sending nothing", async () => {
      const nonce = await s.publicClient.getTransactionCount({ address: agent.address });
      const run = await cli(["deposit", "USDC.e", "0.0000001"]);
      expect(run.code).to.equal(EXIT.usage);
      expect(run.stderr).to.include("more than 6 decimal places");
      expect(await s.publicClient.getTransactionCount({ address: agent.address })).to.equal(nonce);
      expect((await cli(["deposit", "DAI", "1"])).stderr).to.include('unknown token "DAI"');
      expect((await cli(["deposit", "USDT", "99999"])).code).to.equal(EXIT.refused);
    });

    it("pay prints the body to stdout and the payment to stderr, and moves the money", async () => {
      const before = (await s.usdc.read.balanceOf([agent.address])) as bigint;
      const run = await cli(["pay", `${gateway.base}/quote`, "--token", "USDC.e", "--max-price", "0.01", "--scheme", "exact"]);
      expect(run.code, run.stderr).to.equal(EXIT.ok);
      expect(JSON.parse(run.stdout)).to.deep.equal({ quote: 42 });
      expect(run.stderr).to.match(/Status\s+200 OK/);
      expect(run.stderr).to.match(/Scheme\s+exact \(x402 v2, eip155:324705682\)/);
      expect(run.stderr).to.match(/Price\s+0\.002 USDC\.e/);
      expect(run.stderr).to.match(/Settlement\s+0x[0-9a-f]{64} \(success\)/);
      expect(run.stderr).to.match(/Charged\s+yes/);
      expect(await s.usdc.read.balanceOf([agent.address])).to.equal(before - 2_000n);
    });

    it("pay sends a body with --data and pays with the escrow deposit", async () => {
      const run = await cli(["pay", `${gateway.base}/echo`, "--data", "ping", "--token", "USDC.e", "--max-price", "0.01", "--scheme", "escrow"]);
      expect(run.code, run.stderr).to.equal(EXIT.ok);
      expect(JSON.parse(run.stdout)).to.deep.equal({ echo: "ping" });
      expect(await escrowBalance(usdc())).to.equal(1_250_000n - 2_000n);
    });

    it("pay refuses above the maximum price (exit 3) and over the daily budget kept in AGENT_BUDGET_FILE", async () => {
      const cheap = await cli(["pay", `${gateway.base}/quote`, "--token", "USDC.e", "--max-price", "0.001"]);
      expect(cheap.code).to.equal(EXIT.refused);
      expect(cheap.stderr).to.include("[price_too_high]");

      const budgetEnv = { AGENT_TOKENS: "USDC.e", AGENT_MAX_PRICE: "0.01", AGENT_DAILY_BUDGET: "0.005", AGENT_BUDGET_FILE: path.join(dir, "daily.json") };
      expect((await cli(["pay", `${gateway.base}/quote`], budgetEnv)).code).to.equal(EXIT.ok);
      expect((await cli(["pay", `${gateway.base}/quote`], budgetEnv)).code).to.equal(EXIT.ok);
      const third = await cli(["pay", `${gateway.base}/quote`], budgetEnv);
      expect(third.code).to.equal(EXIT.refused);
      expect(third.stderr).to.include("[budget_exceeded]");
    });

    it("pay takes per-token prices and refuses a bare price for several tokens", async () => {
      const several = await cli(["pay", `${gateway.base}/quote`, "--token", "USDT,SKL", "--max-price", "0.01"]);
      expect(several.code).to.equal(EXIT.usage);
      expect(several.stderr).to.include("per-token amounts");
      const missing = await cli(["pay", `${gateway.base}/quote`, "--token", "USDT,SKL", "--max-price", "USDT=0.01"]);
      expect(missing.code).to.equal(EXIT.usage);
      expect(missing.stderr).to.include("no maximum price for SKL");
      // SKL first: paid by transfer (no EIP-3009, no SKL deposit) at 0.1 SKL.
      const ok = await cli(["pay", `${gateway.base}/quote`, "--token", "SKL,USDT", "--max-price", "USDT=0.01,SKL=0.5"]);
      expect(ok.code, ok.stderr).to.equal(EXIT.ok);
      expect(ok.stderr).to.match(/Scheme\s+transfer/);
      expect(ok.stderr).to.match(/Price\s+0\.1 SKL/);
    });

    it("reports a non-2xx paid answer with exit 1 and says nothing was charged", async () => {
      const run = await cli(["pay", `${gateway.base}/fail`, "--token", "USDC.e", "--max-price", "0.01", "--scheme", "exact"]);
      expect(run.code).to.equal(EXIT.httpError);
      expect(run.stderr).to.match(/Status\s+502/);
      expect(run.stderr).to.match(/Charged\s+no/);
    });

    it("fails clearly on bad configuration, never printing the key", async () => {
      const noKey = await cli(["balance"], { AGENT_PRIVATE_KEY: undefined });
      expect(noKey.code).to.equal(EXIT.usage);
      expect(noKey.stderr).to.include("AGENT_PRIVATE_KEY is not set");
      const badKey = await cli(["balance"], { AGENT_PRIVATE_KEY: "0xsecretsecret" });
      expect(badKey.code).to.equal(EXIT.usage);
      expect(badKey.stderr).to.not.include("secret");
      const noRpc = await cli(["balance"], { RPC_URL: "http://127.0.0.1:1/some/api/key" });
      expect(noRpc.code).to.equal(EXIT.unavailable);
      expect(noRpc.stderr).to.include("cannot reach the RPC at 127.0.0.1:1");
      expect(noRpc.stderr).to.not.include("api/key");
      expect((await cli(["balance"], { DEPLOYMENTS_FILE: path.join(dir, "missing.json") })).code).to.equal(EXIT.usage);
      const unknown = await cli(["frobnicate"]);
      expect(unknown.code).to.equal(EXIT.usage);
      expect(unknown.stderr).to.include("Usage: agent <command>");
      expect((await cli(["pay"])).code).to.equal(EXIT.usage);
      expect((await cli(["pay", "not a url", "--max-price", "1", "--token", "USDC.e"])).code).to.equal(EXIT.usage);
      expect((await cli(["pay", `${gateway.base}/quote`, "--token", "USDC.e"])).stderr).to.include("no maximum price");
      expect((await cli(["withdraw", "sideways", "USDC.e"])).code).to.equal(EXIT.usage);
      expect((await cli(["--bogus"])).code).to.equal(EXIT.usage);
      for (const run of [noKey, badKey, noRpc]) expect(run.stderr + run.stdout).to.not.include(agent.key.slice(2));
    });

    it("runs as a child process: node --import tsx agent/cli/main.ts pay …", async function () {
      this.timeout(60_000);
      const child = spawn(
        process.execPath,
        ["--import", "tsx", "agent/cli/main.ts", "pay", `${gateway.base}/quote`, "--token", "USDC.e", "--max-price", "0.01", "--scheme", "exact"],
        { cwd: PROJECT_ROOT, env: { PATH: process.env["PATH"], HOME: dir, ...env() }, stdio: ["ignore", "pipe", "pipe"] },
      );
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => child.kill("SIGKILL"), 55_000);
      const [code] = (await once(child, "exit")) as [number | null];
      clearTimeout(timer);
      expect(code, stderr).to.equal(EXIT.ok);
      expect(JSON.parse(stdout)).to.deep.equal({ quote: 42 });
      expect(stderr).to.match(/Charged\s+yes/);
      expect(stderr + stdout).to.not.include(agent.key.slice(2));
    });

    // Last: it moves the chain's clock a day ahead, and payments are signed with the wall clock.
    it("withdraw request, then complete once unlocked (refused before)", async () => {
      const request = await cli(["withdraw", "request", "USDC.e", "0.25"]);
      expect(request.code, request.stderr).to.equal(EXIT.ok);
      expect(request.stderr).to.match(/Amount\s+0\.25 USDC\.e/);
      const early = await cli(["withdraw", "complete", "USDC.e"]);
      expect(early.code).to.equal(EXIT.refused);
      expect(early.stderr).to.match(/unlocks at \d{4}-\d\d-\d\dT/);

      const pending = (await s.escrow.read.pendingWithdrawal([usdc(), agent.address])) as { unlockAt: bigint };
      await connection.networkHelpers.time.increaseTo(Number(pending.unlockAt) + 1);
      const walletBefore = (await s.usdc.read.balanceOf([agent.address])) as bigint;
      const done = await cli(["withdraw", "complete", "USDC.e"]);
      expect(done.code, done.stderr).to.equal(EXIT.ok);
      expect(await s.usdc.read.balanceOf([agent.address])).to.equal(walletBefore + 250_000n);
      expect(await escrowBalance(usdc())).to.equal(1_248_000n - 250_000n);
      expect((await cli(["withdraw", "complete", "USDC.e"])).code).to.equal(EXIT.refused);
    });
  });
}
