/**
 * The `npx hardhat ppa …` admin tasks, run through Hardhat's task runner on the in-process
 * network (the tasks share it through `network.getOrCreate()`), plus the permission checks of
 * the underlying actions. The record goes to a temp DEPLOYMENTS_DIR.
 */
import { expect } from "chai";
import hre, { network } from "hardhat";
import { getAddress, keccak256, encodeAbiParameters, type Address, type Hex, type PublicClient } from "viem";
import { erc20Abi, settlementEscrowAbi, tokenRegistryAbi } from "../../scripts/lib/abis.js";
import { fundAgent, setPaused, setTokenStatus, registerToken } from "../../scripts/lib/admin.js";
import { CONTRACT_FQNS, type ChainContext } from "../../scripts/lib/context.js";
import { deploy } from "../../scripts/lib/deploy.js";
import { readDeploymentRecord, type DeploymentRecord } from "../../scripts/lib/deployment-record.js";
import { RecordStore } from "../../scripts/lib/journal.js";
import { ScriptError, type SignerWallet } from "../../scripts/lib/tx.js";
import { asWallet, captureConsole, loadConfigFile, recordPathIn, tempDir, testContext, TEST_KEYS } from "./helpers/fixtures.js";

type TaskOutcome = { success: true; value: unknown } | { success: false; error: string };

async function runTask(id: string[], args: Record<string, unknown>): Promise<TaskOutcome & { output: string }> {
  const { result, output } = await captureConsole(() => hre.tasks.getTask(id).run(args) as Promise<TaskOutcome>);
  return { ...result, output };
}

describe("ppa admin tasks (in-process network)", function () {
  let ctx: ChainContext;
  let wallets: SignerWallet[];
  let client: PublicClient;
  let dir: string;
  let recordPath: string;
  let previousDir: string | undefined;
  const record = (): DeploymentRecord => readDeploymentRecord(recordPath);
  const escrowAddress = () => record().contracts.SettlementEscrow!.address;
  const registryAddress = () => record().contracts.TokenRegistry!.address;
  const store = () => RecordStore.load(recordPath, "default");

  before(async function () {
    // The tasks call network.getOrCreate(): deploy on that same connection.
    const connection = await network.getOrCreate();
    ({ ctx, wallets } = await testContext(hre, connection));
    client = ctx.publicClient;
    dir = tempDir();
    recordPath = recordPathIn(dir, "default");
    previousDir = process.env.DEPLOYMENTS_DIR;
    process.env.DEPLOYMENTS_DIR = dir;
    await deploy(ctx, { config: loadConfigFile("default"), recordPath, deployMocks: true, env: {} });
  });

  after(function () {
    if (previousDir === undefined) delete process.env.DEPLOYMENTS_DIR;
    else process.env.DEPLOYMENTS_DIR = previousDir;
  });

  describe("set-fee", function () {
    it("sets the fee with a legacy transaction and records it", async function () {
      const r = await runTask(["ppa", "set-fee"], { bps: 25 });
      expect(r.success, r.output).to.equal(true);
      expect(await client.readContract({ address: escrowAddress(), abi: settlementEscrowAbi, functionName: "feeBps" })).to.equal(25);
      const rec = record();
      expect(rec.escrow!.feeBps).to.equal(25);
      const last = rec.transactions.at(-1)!;
      expect(last.step).to.equal("admin:set-fee:25");
      expect((await client.getTransaction({ hash: last.hash })).type).to.equal("legacy");
      expect(r.output).to.include("fee: 0 bps (0.00%) -> 25 bps (0.25%)");
    });

    it("does nothing when the fee is already set, and refuses out-of-range fees", async function () {
      const before = record().transactions.length;
      const same = await runTask(["ppa", "set-fee"], { bps: 25 });
      expect(same).to.deep.include({ success: true, value: false });
      expect(record().transactions).to.have.length(before);
      const tooHigh = await runTask(["ppa", "set-fee"], { bps: 1001 });
      expect(tooHigh.success).to.equal(false);
      expect(tooHigh.output).to.match(/Error: the fee must be a whole number of basis points in \[0, 1000\], got 1001/);
    });
  });

  describe("set-withdrawal-delay", function () {
    it("accepts durations and checks the escrow's bounds", async function () {
      expect((await runTask(["ppa", "set-withdrawal-delay"], { delay: "12h" })).success).to.equal(true);
      expect(await client.readContract({ address: escrowAddress(), abi: settlementEscrowAbi, functionName: "withdrawalDelay" })).to.equal(43_200n);
      expect(record().escrow!.withdrawalDelay).to.equal(43_200);
      const tooShort = await runTask(["ppa", "set-withdrawal-delay"], { delay: "10m" });
      expect(tooShort.success).to.equal(false);
      expect(tooShort.output).to.include("must be within [1h, 30d], got 10m");
      const garbage = await runTask(["ppa", "set-withdrawal-delay"], { delay: "soon" });
      expect(garbage.output).to.match(/expected seconds or a number with s\/m\/h\/d\/w/);
    });
  });

  describe("pause / unpause", function () {
    it("pauses and unpauses, and records the state", async function () {
      expect((await runTask(["ppa", "pause"], {})).success).to.equal(true);
      expect(await client.readContract({ address: escrowAddress(), abi: settlementEscrowAbi, functionName: "paused" })).to.equal(true);
      expect(record().escrow!.paused).to.equal(true);
      expect(await runTask(["ppa", "pause"], {})).to.deep.include({ success: true, value: false });
      expect((await runTask(["ppa", "unpause"], {})).success).to.equal(true);
      expect(record().escrow!.paused).to.equal(false);
    });

    it("explains that only a pauser can pause", async function () {
      const error = await setPaused(asWallet(ctx, wallets[4]!), store(), true).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ScriptError);
      expect((error as Error).message).to.match(/cannot pause the escrow: only a PAUSER_ROLE holder/);
    });
  });

  describe("token registration and status", function () {
    let other: Address;

    before(async function () {
      const artifact = await hre.artifacts.readArtifact(CONTRACT_FQNS.MockUSDC);
      const hash = await wallets[1]!.deployContract({ abi: artifact.abi, bytecode: artifact.bytecode as Hex, args: ["Other USD", "OUSD", "1"] } as never);
      other = getAddress((await client.waitForTransactionReceipt({ hash })).contractAddress!);
    });

    it("registers a token, reading its decimals and EIP-712 domain from it", async function () {
      const missingLimits = await runTask(["ppa", "register-token"], { token: other });
      expect(missingLimits.success).to.equal(false);
      expect(missingLimits.output).to.include("give the per-payment limits: --min <tokens> --max <tokens>");

      const r = await runTask(["ppa", "register-token"], { token: other, min: "0.01", max: "10" });
      expect(r.success, r.output).to.equal(true);
      const info = await client.readContract({ address: registryAddress(), abi: tokenRegistryAbi, functionName: "getToken", args: [other] });
      expect(info).to.deep.include({ symbol: "OUSD", decimals: 6, collectionMethods: 7, status: 1, eip712Name: "Other USD", eip712Version: "1", minAmount: 10_000n, maxAmount: 10_000_000n });
      const entry = record().tokens.find((t) => t.key === "OUSD")!;
      expect(entry).to.deep.include({ address: other, status: "Active", mock: false, minAmount: "10000", maxAmount: "10000000" });
      expect(entry.eip712).to.deep.equal({ name: "Other USD", version: "1", source: "erc5267", verified: true });
      expect(entry.registration?.txHash).to.equal(record().transactions.at(-1)!.hash);

      const again = await runTask(["ppa", "register-token"], { token: other, min: "1", max: "2" });
      expect(again.success).to.equal(false);
      expect(again.output).to.match(/already registered \(status Active\)/);
    });

    it("deprecates, removes and reactivates by record key, symbol or address", async function () {
      const statusOnChain = () => client.readContract({ address: registryAddress(), abi: tokenRegistryAbi, functionName: "statusOf", args: [other] });
      expect((await runTask(["ppa", "deprecate-token"], { token: "OUSD" })).success).to.equal(true);
      expect(await statusOnChain()).to.equal(2);
      expect(record().tokens.find((t) => t.key === "OUSD")!.status).to.equal("Deprecated");
      expect(await runTask(["ppa", "deprecate-token"], { token: "ousd" })).to.deep.include({ success: true, value: false });
      expect((await runTask(["ppa", "remove-token"], { token: other.toLowerCase() })).success).to.equal(true);
      expect(await statusOnChain()).to.equal(3);
      expect(record().tokens.find((t) => t.key === "OUSD")!.status).to.equal("Removed");
      expect((await runTask(["ppa", "activate-token"], { token: "OUSD" })).success).to.equal(true);
      expect(await statusOnChain()).to.equal(1);
      const unknown = await runTask(["ppa", "remove-token"], { token: "DAI" });
      expect(unknown.output).to.match(/unknown token "DAI": give an address or one of the recorded tokens \(USDC\.e, USDT, WETH, SKL, OUSD\)/);
    });

    it("explains that only the registry owner can change tokens", async function () {
      const error = await setTokenStatus(asWallet(ctx, wallets[3]!), store(), "OUSD", "Deprecated").catch((e: unknown) => e);
      expect((error as Error).message).to.match(/the registry owner is 0x[0-9a-fA-F]{40}, and this account is/);
      const error2 = await registerToken(asWallet(ctx, wallets[3]!), store(), { token: other, min: "1", max: "2" }).catch((e: unknown) => e);
      expect((error2 as Error).message).to.match(/already registered/);
    });
  });

  describe("fund-agent and inspect", function () {
    const agent = () => getAddress(wallets[7]!.account.address);

    it("mints mock tokens to an agent and deposits for it", async function () {
      const r = await runTask(["ppa", "fund-agent"], { agent: agent(), wallet: "50", deposit: "10" });
      expect(r.success, r.output).to.equal(true);
      for (const t of record().tokens.filter((x) => x.mock)) {
        const unit = 10n ** BigInt(t.decimals);
        expect(await client.readContract({ address: escrowAddress(), abi: settlementEscrowAbi, functionName: "balanceOf", args: [t.address, agent()] }), t.key).to.equal(10n * unit);
        expect(await client.readContract({ address: t.address, abi: erc20Abi, functionName: "balanceOf", args: [agent()] }), t.key).to.equal(50n * unit);
      }
      expect(r.output).to.match(/USDC\.e\s+50 USDC\.e\s+10 USDC\.e/);
      expect(record().transactions.some((t) => t.step === `admin:fund:${agent()}:USDT:deposit-for`)).to.equal(true);
    });

    it("lets an agent with a key (from the environment) approve and deposit itself", async function () {
      const previous = process.env.AGENT_PRIVATE_KEY;
      process.env.AGENT_PRIVATE_KEY = TEST_KEYS.third;
      try {
        const r = await runTask(["ppa", "fund-agent"], { tokens: "USDT", wallet: "1", deposit: "3" });
        expect(r.success, r.output).to.equal(true);
        expect(r.output).to.not.include(TEST_KEYS.third.slice(2));
        const usdt = record().tokens.find((t) => t.key === "USDT")!;
        const self = getAddress(wallets[2]!.account.address);
        expect(await client.readContract({ address: escrowAddress(), abi: settlementEscrowAbi, functionName: "balanceOf", args: [usdt.address, self] })).to.equal(3_000_000n);
        const deposit = record().transactions.find((t) => t.step === `admin:fund:${self}:USDT:deposit`)!;
        expect((await client.getTransaction({ hash: deposit.hash })).from.toLowerCase()).to.equal(self.toLowerCase());
      } finally {
        if (previous === undefined) delete process.env.AGENT_PRIVATE_KEY;
        else process.env.AGENT_PRIVATE_KEY = previous;
      }
    });

    it("refuses to mint anywhere but on a local network", async function () {
      const error = await fundAgent({ ...ctx, kind: "testnet" }, store(), { agent: agent(), tokens: [], walletAmount: "1", depositAmount: "1", nativeAmount: "0" }).catch(
        (e: unknown) => e,
      );
      expect((error as Error).message).to.match(/only runs on local networks; default is testnet/);
      const notMock = await runTask(["ppa", "fund-agent"], { agent: agent(), tokens: "OUSD" });
      expect(notMock.output).to.match(/OUSD is not a mock token of this deployment/);
    });

    it("shows per-token totals, per-account balances and holds", async function () {
      const usdc = record().tokens.find((t) => t.key === "USDC.e")!;
      const escrowArtifact = await hre.artifacts.readArtifact(CONTRACT_FQNS.SettlementEscrow);
      const { timestamp } = await client.getBlock();
      const agentWallet = wallets[7]!;
      await agentWallet.writeContract({
        address: escrowAddress(),
        abi: escrowArtifact.abi,
        functionName: "authorize",
        args: [usdc.address, getAddress(wallets[8]!.account.address), 2_000_000n, 77n, timestamp + 3600n, timestamp + 7200n, `0x${"cd".repeat(32)}`],
      } as never);
      const holdId = keccak256(encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [agent(), 77n]));
      const requestHash = await agentWallet.writeContract({
        address: escrowAddress(),
        abi: escrowArtifact.abi,
        functionName: "requestWithdrawal",
        args: [usdc.address, 1_000_000n],
      } as never);
      await client.waitForTransactionReceipt({ hash: requestHash });

      const r = await runTask(["ppa", "inspect"], { accounts: [agent()], holds: holdId });
      expect(r.success, r.output).to.equal(true);
      const out = r.output;
      expect(out).to.match(/paused:\s+no/);
      expect(out).to.match(/USDC\.e\s+Active\s+10 USDC\.e\s+10 USDC\.e\s+0 USDC\.e\s+0 USDC\.e/);
      expect(out).to.match(new RegExp(`${agent()}\\s+USDC\\.e\\s+7 USDC\\.e\\s+1 USDC\\.e\\s+\\S+ \\(in 12h\\)\\s+8 USDC\\.e\\s+0 USDC\\.e`));
      expect(out).to.match(new RegExp(`${holdId}\\s+Open\\s+${agent()}\\s+0x[0-9a-fA-F]{40}\\s+2 USDC\\.e\\s+0 USDC\\.e\\s+0 USDC\\.e`));

      const badHold = await runTask(["ppa", "inspect"], { accounts: [], holds: "0x1234" });
      expect(badHold.output).to.match(/a hold id is 32 bytes/);
    });

    it("skips deposits of a token that is not Active", async function () {
      await setTokenStatus(ctx, store(), "SKL", "Deprecated");
      const r = await runTask(["ppa", "fund-agent"], { agent: agent(), tokens: "SKL", wallet: "1", deposit: "1" });
      expect(r.success, r.output).to.equal(true);
      expect(r.output).to.match(/SKL is Deprecated: the escrow takes deposits of Active tokens only; skipping its deposit/);
    });
  });

  it("tells the user to deploy first when there is no record", async function () {
    process.env.DEPLOYMENTS_DIR = tempDir();
    try {
      const r = await runTask(["ppa", "inspect"], { accounts: [], holds: "" });
      expect(r.success).to.equal(false);
      expect(r.output).to.match(/no deployment record at .*default\.json\. Deploy first \(npx hardhat run scripts\/deploy\.ts --network default\)/);
    } finally {
      process.env.DEPLOYMENTS_DIR = dir;
    }
  });
});
