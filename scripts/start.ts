/**
 * `npm start`: the whole system on this machine in one command, for seeing it work.
 *
 *   1. a local chain imitating SKALE Base Sepolia (chain 324705682, shanghai)
 *   2. the contracts and mock USDC / USDT / SKL / WETH, deployed by scripts/deploy.ts
 *   3. a demo agent, funded and with a deposit in the escrow
 *   4. the fake upstream (demo data, labelled as such) and the gateway on embedded PGlite
 *   5. the URLs and the agent's address
 *
 * Ctrl-C stops everything. State lives in .data/local and is reset on every start (the chain is new
 * each time); the demo agent's key is kept so its address stays the same.
 */
import { createLogger } from "../gateway/log.js";
import {
  type LocalChain,
  agentAddress,
  deployLocal,
  freePort,
  fundAgent,
  loadOrCreateAgentKey,
  localRoleKeys,
  resetStackState,
  stackPaths,
  startLocalChain,
  writeStackInfo,
} from "./lib/local-stack.js";
import { startLocalGateway } from "./lib/local-gateway.js";

const SKALE_BASE_SEPOLIA_CHAIN_ID = 324705682;

const steps = 5;
let step = 0;
function progress(message: string): () => void {
  step += 1;
  const started = Date.now();
  process.stdout.write(`[${step}/${steps}] ${message}…`);
  const ticker = setInterval(() => process.stdout.write("."), 2_000);
  return () => {
    clearInterval(ticker);
    process.stdout.write(` done (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  };
}

async function main(): Promise<void> {
  const paths = stackPaths();
  const stoppers: (() => Promise<void>)[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write("\nstopping…\n");
    for (const stop of stoppers.reverse()) await stop().catch((error: unknown) => console.error(`  ${(error as Error).message}`));
    process.exit(code);
  };
  process.once("SIGINT", () => void stopAll(0));
  process.once("SIGTERM", () => void stopAll(0));

  try {
    resetStackState(paths);
    const agentKey = loadOrCreateAgentKey(paths.agentKeyFile);

    let done = progress("starting the local chain (chain 324705682, shanghai)");
    const chain: LocalChain = await startLocalChain(await freePort(Number(process.env.RPC_PORT ?? 8545)));
    stoppers.push(() => chain.stop());
    done();

    done = progress("deploying TokenRegistry, SettlementEscrow and mock tokens");
    await deployLocal(chain.rpcUrl, paths);
    done();

    done = progress(`funding the demo agent ${agentAddress(agentKey)}`);
    await fundAgent(chain.rpcUrl, paths, agentKey);
    done();

    done = progress("starting the fake upstream and the gateway (embedded PGlite)");
    const roles = localRoleKeys();
    const logger = createLogger({ level: process.env.LOG_LEVEL ?? "warn" });
    const gateway = await startLocalGateway({
      rpcUrl: chain.rpcUrl,
      chainId: SKALE_BASE_SEPOLIA_CHAIN_ID,
      deploymentsFile: paths.deploymentsFile,
      dataDir: paths.pgliteDir,
      port: await freePort(Number(process.env.PORT ?? 8080)),
      payTo: roles.payee,
      signerKey: roles.settlementSigner,
      logger,
    });
    stoppers.push(() => gateway.close());
    done();

    step += 1;
    writeStackInfo(paths.stackFile, {
      rpcUrl: chain.rpcUrl,
      chainId: SKALE_BASE_SEPOLIA_CHAIN_ID,
      gatewayUrl: gateway.url,
      ...(gateway.upstreamUrl === undefined ? {} : { upstreamUrl: gateway.upstreamUrl }),
      deploymentsFile: paths.deploymentsFile,
      agentKeyFile: paths.agentKeyFile,
      agentAddress: agentAddress(agentKey),
      payTo: roles.payee,
      startedAt: new Date().toISOString(),
    });
    const rows: [string, string][] = [
      ["API", `${gateway.url}/api/catalog`],
      ["Dashboard", `${gateway.url}/dashboard`],
      ["Metrics", `${gateway.url}/metrics`],
      ["Health", `${gateway.url}/health`],
      ["Facilitator", `${gateway.url}/facilitator/supported`],
      ["Chain RPC", `${chain.rpcUrl} (chain ${SKALE_BASE_SEPOLIA_CHAIN_ID})`],
      ["Demo agent", `${agentAddress(agentKey)} (key in ${paths.agentKeyFile})`],
      ["Payments to", roles.payee],
      ["Admin token", `${gateway.adminToken} (this run only; Authorization: Bearer … on /admin/*)`],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    process.stdout.write(`[${step}/${steps}] the stack is up:\n\n`);
    for (const [name, value] of rows) process.stdout.write(`  ${name.padEnd(width)}  ${value}\n`);
    process.stdout.write(
      "\nUpstream data is the local fake upstream's recorded demo data (labelled \"demo\": true) unless API keys are set." +
        "\nRun `npm run demo` in another terminal to watch an agent pay. Ctrl-C stops everything.\n",
    );
  } catch (error) {
    process.stdout.write("\n");
    console.error(`npm start failed: ${error instanceof Error ? error.message : String(error)}`);
    await stopAll(1);
  }
}

await main();
