/**
 * The deployment, as resumable steps:
 *
 *   1. preflight: chain id, mock policy, token addresses, token probes, deployer balance
 *      (nothing is sent and no record is written until all of it passes);
 *   2. mocks (MockUSDC, MockUSDT, MockSKL, WETH9), only with `deployMocks`;
 *   3. TokenRegistry (owner: the deployer, so it can register the tokens);
 *   4. SettlementEscrow(registry, admin, adminTransferDelay, withdrawalDelay, feeRecipient);
 *   5. PAUSER_ROLE / OPERATOR_ROLE grants and the initial fee (when the deployer is the admin);
 *   6. token registrations (skipping tokens `statusOf` already knows);
 *   7. registry ownership transfer to the configured owner (two-step: they must accept);
 *   8. final refresh of the record from the chain.
 *
 * After every transaction the record is saved; a rerun checks each recorded contract against
 * the chain (code at the address, deployment receipt) and continues where the last run stopped.
 */
import { getAddress, isAddressEqual, keccak256, type Address, type Hex, type TransactionReceipt } from "viem";
import { settlementEscrowAbi, tokenRegistryAbi } from "./abis.js";
import { evmVersionRunsOnSkale, mockRefusalReason, SKALE_MAX_EVM_VERSION } from "./chains.js";
import {
  CONTRACT_FQNS,
  MOCK_USDC_EIP712_VERSION,
  MOCK_USDC_NAME,
  MOCK_USDC_SYMBOL,
  type ChainContext,
} from "./context.js";
import {
  DEPLOYMENT_RECORD_SCHEMA_VERSION,
  readDeploymentRecordIfExists,
  type ContractRecord,
  type DeployedContractName,
  type DeploymentRecord,
  type JsonValue,
  type PendingTransactionRecord,
  type TokenRecord,
} from "./deployment-record.js";
import { archiveRecord, journaledTx, RecordStore, resolvePendingTransaction, type JournalHooks } from "./journal.js";
import { resolveDeployParams, type DeployParams, type MockContractName, type NetworkDeployConfig, type TokenConfig } from "./network-config.js";
import { readEscrowState, readRegistryState, readTokenTable, statusName, tokenRecordFromPlan } from "./state.js";
import { planTokenRegistration, probeToken, type TokenPlan } from "./token-probe.js";
import { ScriptError, sendContractCall, type SendParams } from "./tx.js";

export interface DeployOptions {
  config: NetworkDeployConfig;
  recordPath: string;
  deployMocks: boolean;
  /** Archive an existing record and deploy everything again. */
  reset?: boolean;
  /** Required to deploy on a mainnet. */
  confirmMainnet?: boolean;
  /** Source of the ESCROW_* / REGISTRY_OWNER overrides. */
  env?: NodeJS.ProcessEnv;
  hooks?: JournalHooks;
}

export interface DeployResult {
  record: DeploymentRecord;
  recordPath: string;
  transactionsSent: number;
  params: DeployParams;
  /** Where a stale or reset record was moved to. */
  archivedRecord?: string;
}

const MOCK_ARGS: Record<MockContractName, readonly unknown[]> = {
  MockUSDC: [MOCK_USDC_NAME, MOCK_USDC_SYMBOL, MOCK_USDC_EIP712_VERSION],
  MockUSDT: [],
  MockSKL: [],
  WETH9: [],
};

/** bigint -> number when safe, else decimal string; everything else as is. */
function toJson(values: readonly unknown[]): JsonValue[] {
  return values.map((v) => {
    if (typeof v === "bigint") return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
    return v as JsonValue;
  });
}

function missingTokensMessage(config: NetworkDeployConfig, missing: TokenConfig[]): string {
  const lines = missing.map((t) => `  - ${t.key}${t.comment ? `: ${t.comment}` : ""}`);
  return [
    `Missing real token address(es) in ${config.file}:`,
    ...lines,
    `Fill in each address after checking it on the network's explorer, or (local and test networks only) deploy mock tokens instead with DEPLOY_MOCKS=true.`,
  ].join("\n");
}

function inconsistent(recordPath: string, chainId: number, detail: string): ScriptError {
  return new ScriptError(
    `${recordPath} does not match chain ${chainId}: ${detail}. If the chain was reset, run again with DEPLOY_RESET=true to archive the record and deploy from scratch; otherwise fix the record by hand.`,
  );
}

export async function deploy(ctx: ChainContext, options: DeployOptions): Promise<DeployResult> {
  const { config, log } = { config: options.config, log: ctx.log };
  const env = options.env ?? process.env;

  // ------------------------------------------------------------------ 1. preflight
  if (config.chainId !== null && config.chainId !== ctx.chainId) {
    throw new ScriptError(`${config.file} is for chain ${config.chainId}, but network ${ctx.networkName} is chain ${ctx.chainId}`);
  }
  if (options.deployMocks) {
    const reason = mockRefusalReason(ctx.networkName, ctx.chainId, ctx.kind === "mainnet" || config.kind === "mainnet" ? "mainnet" : ctx.kind);
    if (reason) throw new ScriptError(reason);
  }
  if (ctx.kind === "mainnet" && options.confirmMainnet !== true) {
    throw new ScriptError(`${ctx.networkName} is a mainnet: set CONFIRM_MAINNET=true to deploy to it`);
  }
  if (ctx.policy.legacy && !evmVersionRunsOnSkale(ctx.compiler.evmVersion)) {
    throw new ScriptError(
      `build profile "${ctx.compiler.buildProfile}" compiles for EVM "${ctx.compiler.evmVersion}", but SKALE runs up to ${SKALE_MAX_EVM_VERSION} (no MCOPY/TSTORE). ` +
        `Deploy with the default profile (no --build-profile), or give that profile evmVersion "${SKALE_MAX_EVM_VERSION}" in hardhat.config.ts.`,
    );
  }
  const deployer = getAddress(ctx.wallet.account.address);
  const params = resolveDeployParams(config, deployer, env);
  const missing = options.deployMocks ? [] : config.tokens.filter((t) => t.address === null);
  if (missing.length > 0) throw new ScriptError(missingTokensMessage(config, missing));

  const genesisHash = (await ctx.publicClient.getBlock({ blockNumber: 0n })).hash;
  if (genesisHash === null) throw new ScriptError("the node returned no hash for block 0");

  // A record to move aside (reset, or a restarted local chain) is archived only once every
  // preflight check has passed, right before the new record is written.
  let archiveReason: string | undefined;
  let existing = readDeploymentRecordIfExists(options.recordPath);
  if (existing && options.reset) {
    archiveReason = "DEPLOY_RESET";
    existing = undefined;
  }
  if (existing) {
    if (existing.chainId !== ctx.chainId) throw inconsistent(options.recordPath, ctx.chainId, `the record is for chain ${existing.chainId}`);
    if (existing.genesisHash !== genesisHash) {
      if (ctx.kind !== "local") throw inconsistent(options.recordPath, ctx.chainId, `block 0 is ${genesisHash}, the record says ${existing.genesisHash}`);
      archiveReason = "The local chain was restarted (new genesis block)";
      existing = undefined;
    }
  }
  if (existing) {
    if (existing.mocks !== options.deployMocks) {
      throw new ScriptError(
        `${options.recordPath} was made ${existing.mocks ? "with" : "without"} mock tokens; run again with DEPLOY_MOCKS=${existing.mocks} (or DEPLOY_RESET=true to start over)`,
      );
    }
    if (!isAddressEqual(existing.deployer, deployer)) {
      throw new ScriptError(`${options.recordPath} was deployed by ${existing.deployer}; resume with that account, not ${deployer}`);
    }
  }

  // Probe the real tokens before sending anything: a wrong address stops the run here.
  const realPlans = new Map<string, TokenPlan>();
  if (!options.deployMocks) {
    for (const token of config.tokens) {
      const plan = planTokenRegistration(await probeToken(ctx.publicClient, token.address as Address), token, ctx.chainId, false);
      realPlans.set(token.key, plan);
    }
  }

  // The artifacts about to be deployed must have been compiled with this profile's EVM target.
  const toDeploy: DeployedContractName[] = [
    ...(options.deployMocks ? [...new Set(config.tokens.map((t) => t.mock))] : []),
    "TokenRegistry",
    "SettlementEscrow",
  ];
  for (const name of toDeploy) {
    if (existing?.contracts[name]) continue;
    const artifact = await ctx.artifacts.load(CONTRACT_FQNS[name]);
    if (artifact.evmVersion !== null && artifact.evmVersion !== ctx.compiler.evmVersion) {
      throw new ScriptError(
        `the ${name} artifact was compiled for EVM "${artifact.evmVersion}", but build profile "${ctx.compiler.buildProfile}" says "${ctx.compiler.evmVersion}": ` +
          `the artifacts are stale or from another profile. Rebuild (npx hardhat build${ctx.compiler.buildProfile === "default" ? "" : ` --build-profile ${ctx.compiler.buildProfile}`}) and run again.`,
      );
    }
    if (ctx.policy.legacy && artifact.evmVersion !== null && !evmVersionRunsOnSkale(artifact.evmVersion)) {
      throw new ScriptError(`the ${name} artifact targets EVM "${artifact.evmVersion}", which SKALE cannot run (up to ${SKALE_MAX_EVM_VERSION})`);
    }
  }

  log.info(`Network:  ${ctx.networkName} (chain ${ctx.chainId}, ${ctx.kind}${ctx.policy.legacy ? ", legacy transactions" : ""})`);
  log.info(`Deployer: ${deployer}`);
  log.info(`Escrow:   admin ${params.admin}, fee recipient ${params.feeRecipient}, withdrawal delay ${params.withdrawalDelay}s, admin transfer delay ${params.adminTransferDelay}s`);
  log.info(`Registry: owner after deployment ${params.registryOwner}`);
  log.info(`Tokens:   ${options.deployMocks ? "mocks (DEPLOY_MOCKS=true)" : config.tokens.map((t) => `${t.key} ${t.address}`).join(", ")}`);
  log.info(`Record:   ${options.recordPath}${existing ? ` (resuming, status ${existing.status})` : " (new)"}`);
  for (const plan of realPlans.values()) for (const note of plan.notes) log.warn(`${plan.key}: ${note}`);

  const balance = await ctx.publicClient.getBalance({ address: deployer });
  if (balance === 0n && ctx.kind !== "local") {
    const gasPrice = await ctx.publicClient.getGasPrice();
    if (gasPrice > 0n) throw new ScriptError(`deployer ${deployer} has no gas token on chain ${ctx.chainId}; fund it first (sFUEL / CREDIT from the SKALE faucet or portal)`);
  }

  const now = new Date().toISOString();
  const record: DeploymentRecord = existing ?? {
    schemaVersion: DEPLOYMENT_RECORD_SCHEMA_VERSION,
    network: ctx.networkName,
    chainId: ctx.chainId,
    genesisHash,
    kind: ctx.kind,
    status: "in-progress",
    deployer,
    mocks: options.deployMocks,
    compiler: ctx.compiler,
    contracts: {},
    registry: null,
    escrow: null,
    tokens: [],
    pendingTransaction: null,
    transactions: [],
    createdAt: now,
    updatedAt: now,
    completedAt: null,
  };
  if (Object.keys(record.contracts).length === 0) record.compiler = ctx.compiler;
  else if (record.compiler.buildProfile !== ctx.compiler.buildProfile) {
    log.warn(`the recorded contracts were built with the "${record.compiler.buildProfile}" profile, this run uses "${ctx.compiler.buildProfile}"`);
  }
  let archivedRecord: string | undefined;
  if (archiveReason !== undefined) {
    archivedRecord = archiveRecord(options.recordPath);
    log.warn(`${archiveReason}: moved the previous record to ${archivedRecord}; deploying from scratch.`);
  }
  const store = new RecordStore(options.recordPath, record);
  store.save();

  let transactionsSent = 0;
  const registrations = new Map<string, TokenRecord["registration"]>();
  const tx = async (step: string, send: (p: SendParams) => Promise<Hex>, apply?: (r: TransactionReceipt) => void, deployment?: PendingTransactionRecord["deployment"]) => {
    transactionsSent += 1;
    const opts: Parameters<typeof journaledTx>[4] = { hooks: options.hooks };
    if (apply) opts.apply = apply;
    if (deployment) opts.deployment = deployment;
    return journaledTx(ctx, store, step, send, opts);
  };

  // A transaction left pending by an interrupted run.
  await resolvePendingTransaction(ctx, store, (pending, receipt) => {
    const name = pending.step.startsWith("deploy:") ? (pending.step.slice("deploy:".length) as DeployedContractName) : undefined;
    if (name && pending.deployment && receipt.contractAddress) {
      store.record.contracts[name] = contractRecord(pending.deployment, receipt);
    }
    if (pending.step.startsWith("register:")) {
      registrations.set(pending.step.slice("register:".length), { txHash: receipt.transactionHash, blockNumber: Number(receipt.blockNumber) });
    }
  });

  // Every recorded contract must still be on the chain, created by its recorded transaction.
  for (const [name, c] of Object.entries(store.record.contracts) as [DeployedContractName, ContractRecord][]) {
    const code = await ctx.publicClient.getCode({ address: c.address });
    if (code === undefined || code === "0x") throw inconsistent(options.recordPath, ctx.chainId, `${name} at ${c.address} has no code`);
    let receipt: TransactionReceipt;
    try {
      receipt = await ctx.publicClient.getTransactionReceipt({ hash: c.txHash });
    } catch {
      throw inconsistent(options.recordPath, ctx.chainId, `${name}'s deployment transaction ${c.txHash} is unknown to the node`);
    }
    if (!receipt.contractAddress || !isAddressEqual(receipt.contractAddress, c.address)) {
      throw inconsistent(options.recordPath, ctx.chainId, `transaction ${c.txHash} created ${receipt.contractAddress ?? "no contract"}, not ${name} at ${c.address}`);
    }
  }

  // ------------------------------------------------------------------ 2-4. contracts
  const ensureContract = async (name: DeployedContractName, args: readonly unknown[]): Promise<Address> => {
    const artifact = await ctx.artifacts.load(CONTRACT_FQNS[name]);
    const bytecodeHash = keccak256(artifact.bytecode);
    const recorded = store.record.contracts[name];
    if (recorded) {
      log.info(`  ${name}: already deployed at ${recorded.address} (tx ${recorded.txHash}), skipping`);
      if (recorded.bytecodeHash !== bytecodeHash) {
        log.warn(`  ${name}: the compiled bytecode changed since that deployment; keeping the deployed contract`);
      }
      if (JSON.stringify(recorded.constructorArgs) !== JSON.stringify(toJson(args))) {
        log.warn(`  ${name}: deployed with ${JSON.stringify(recorded.constructorArgs)}; the current settings would give ${JSON.stringify(toJson(args))}. Keeping the deployed contract.`);
      }
      return recorded.address;
    }
    const deployment = { contract: artifact.contract, deployer, constructorArgs: toJson(args), bytecodeHash, buildInfoId: artifact.buildInfoId };
    let receipt: TransactionReceipt;
    try {
      receipt = await tx(
        `deploy:${name}`,
        ({ nonce, fees }) => ctx.wallet.deployContract({ abi: artifact.abi, bytecode: artifact.bytecode, args, nonce, ...fees } as never),
        (r) => {
          store.record.contracts[name] = contractRecord(deployment, r);
        },
        deployment,
      );
    } catch (error) {
      if (error instanceof ScriptError && ctx.policy.legacy && ctx.kind !== "local") {
        throw new ScriptError(
          `${error.message}\nSKALE chains can restrict who deploys contracts: check that ${deployer} may deploy on this chain (deployer allow-list) and holds gas (sFUEL / CREDIT).`,
        );
      }
      throw error;
    }
    if (!receipt.contractAddress) throw new ScriptError(`deploy:${name}: the receipt has no contract address`);
    log.info(`  ${name}: deployed at ${getAddress(receipt.contractAddress)}`);
    return getAddress(receipt.contractAddress);
  };

  log.info("Contracts:");
  const mockAddresses = new Map<MockContractName, Address>();
  if (options.deployMocks) {
    for (const token of config.tokens) {
      if (!mockAddresses.has(token.mock)) mockAddresses.set(token.mock, await ensureContract(token.mock, MOCK_ARGS[token.mock]));
    }
  }
  const registry = await ensureContract("TokenRegistry", [deployer]);
  const escrow = await ensureContract("SettlementEscrow", [registry, params.admin, params.adminTransferDelay, BigInt(params.withdrawalDelay), params.feeRecipient]);

  // ------------------------------------------------------------------ 5. roles and fee
  const readEscrow = <F extends "DEFAULT_ADMIN_ROLE" | "PAUSER_ROLE" | "OPERATOR_ROLE">(functionName: F) =>
    ctx.publicClient.readContract({ address: escrow, abi: settlementEscrowAbi, functionName }) as Promise<Hex>;
  const hasRole = (role: Hex, account: Address) =>
    ctx.publicClient.readContract({ address: escrow, abi: settlementEscrowAbi, functionName: "hasRole", args: [role, account] });
  const deployerIsAdmin = await hasRole(await readEscrow("DEFAULT_ADMIN_ROLE"), deployer);
  log.info("Escrow roles:");
  for (const [roleName, accounts] of [["PAUSER_ROLE", params.pausers], ["OPERATOR_ROLE", params.operators]] as const) {
    const role = await readEscrow(roleName);
    for (const account of accounts) {
      if (await hasRole(role, account)) {
        log.info(`  ${roleName} ${account}: already granted`);
      } else if (!deployerIsAdmin) {
        log.warn(`  ${roleName} ${account}: not granted; the escrow admin ${params.admin} must call grantRole(${role}, ${account})`);
      } else {
        await tx(`grant:${roleName}:${account}`, (p) =>
          sendContractCall(ctx, { address: escrow, abi: settlementEscrowAbi, functionName: "grantRole", args: [role, account] }, p),
        );
      }
    }
  }
  if (params.feeBps !== null) {
    const current = await ctx.publicClient.readContract({ address: escrow, abi: settlementEscrowAbi, functionName: "feeBps" });
    if (current === params.feeBps) log.info(`  fee: already ${current} bps`);
    else if (!deployerIsAdmin) log.warn(`  fee: is ${current} bps, configured ${params.feeBps}; the escrow admin must call setFee(${params.feeBps})`);
    else {
      await tx(`set-fee:${params.feeBps}`, (p) =>
        sendContractCall(ctx, { address: escrow, abi: settlementEscrowAbi, functionName: "setFee", args: [params.feeBps as number] }, p),
      );
    }
  }

  // ------------------------------------------------------------------ 6. tokens
  log.info("Tokens:");
  const plans: TokenPlan[] = [];
  for (const token of config.tokens) {
    let plan = realPlans.get(token.key);
    if (plan === undefined) {
      const mockAddress = mockAddresses.get(token.mock);
      if (mockAddress === undefined) throw new ScriptError(`internal: no address for ${token.key}`);
      plan = planTokenRegistration(await probeToken(ctx.publicClient, mockAddress), token, ctx.chainId, true);
      for (const note of plan.notes) log.warn(`${plan.key}: ${note}`);
    }
    plans.push(plan);
    const status = statusName(await ctx.publicClient.readContract({ address: registry, abi: tokenRegistryAbi, functionName: "statusOf", args: [plan.address] }));
    if (status !== "None") {
      log.info(`  ${plan.key} ${plan.address}: already registered (${status}), skipping`);
      await warnOnRegistryDifferences(ctx, registry, plan);
      continue;
    }
    const { owner } = await readRegistryState(ctx.publicClient, registry);
    if (!isAddressEqual(owner, deployer)) {
      throw new ScriptError(
        `cannot register ${plan.key}: the registry is owned by ${owner}, not the deployer ${deployer}. Register it from the owner account with: npx hardhat ppa register-token --network ${ctx.networkName} --token ${plan.address} ...`,
      );
    }
    const plannedPlan = plan;
    await tx(
      `register:${plan.key}`,
      (p) =>
        sendContractCall(
          ctx,
          {
            address: registry,
            abi: tokenRegistryAbi,
            functionName: "registerToken",
            args: [
              {
                token: plannedPlan.address,
                symbol: plannedPlan.symbol,
                decimals: plannedPlan.decimals,
                collectionMethods: plannedPlan.collectionMethods,
                status: 1,
                eip712Name: plannedPlan.eip712.name,
                eip712Version: plannedPlan.eip712.version,
                minAmount: plannedPlan.minAmount,
                maxAmount: plannedPlan.maxAmount,
              },
            ],
          },
          p,
        ),
      (r) => {
        const registration = { txHash: r.transactionHash, blockNumber: Number(r.blockNumber) };
        registrations.set(plannedPlan.key, registration);
        upsertToken(store.record, tokenRecordFromPlan(plannedPlan, "Active", registration));
      },
    );
  }

  // ------------------------------------------------------------------ 7. registry ownership
  if (!isAddressEqual(params.registryOwner, deployer)) {
    const { owner, pendingOwner } = await readRegistryState(ctx.publicClient, registry);
    if (isAddressEqual(owner, params.registryOwner)) {
      log.info(`Registry owner: already ${owner}`);
    } else if (pendingOwner !== null && isAddressEqual(pendingOwner, params.registryOwner)) {
      log.info(`Registry owner: transfer to ${pendingOwner} pending; they must call acceptOwnership() on ${registry}`);
    } else if (isAddressEqual(owner, deployer)) {
      await tx(`transfer-registry-ownership:${params.registryOwner}`, (p) =>
        sendContractCall(ctx, { address: registry, abi: tokenRegistryAbi, functionName: "transferOwnership", args: [params.registryOwner] }, p),
      );
      log.info(`Registry owner: transfer to ${params.registryOwner} started; they must call acceptOwnership() on ${registry}`);
    } else {
      log.warn(`Registry owner is ${owner}; cannot hand it to ${params.registryOwner} from the deployer`);
    }
  }

  // ------------------------------------------------------------------ 8. final state
  store.record.registry = await readRegistryState(ctx.publicClient, registry);
  store.record.escrow = await readEscrowState(ctx.publicClient, escrow, {
    pausers: [...params.pausers, ...(store.record.escrow?.pausers ?? [])],
    operators: [...params.operators, ...(store.record.escrow?.operators ?? [])],
  });
  store.record.tokens = await readTokenTable(ctx.publicClient, registry, { plans, previous: store.record.tokens, registrations });
  if (store.record.status !== "complete") {
    store.record.status = "complete";
    store.record.completedAt = new Date().toISOString();
  }
  store.save();
  log.info(transactionsSent === 0 ? "Nothing to do: the deployment was already complete." : `Done: ${transactionsSent} transaction(s) sent.`);
  const result: DeployResult = { record: store.record, recordPath: options.recordPath, transactionsSent, params };
  if (archivedRecord !== undefined) result.archivedRecord = archivedRecord;
  return result;
}

function contractRecord(deployment: NonNullable<PendingTransactionRecord["deployment"]>, receipt: TransactionReceipt): ContractRecord {
  if (!receipt.contractAddress) throw new ScriptError(`the receipt of ${receipt.transactionHash} has no contract address`);
  return {
    contract: deployment.contract,
    address: getAddress(receipt.contractAddress),
    txHash: receipt.transactionHash,
    blockNumber: Number(receipt.blockNumber),
    deployer: deployment.deployer,
    constructorArgs: deployment.constructorArgs,
    bytecodeHash: deployment.bytecodeHash,
    buildInfoId: deployment.buildInfoId,
    deployedAt: new Date().toISOString(),
  };
}

function upsertToken(record: DeploymentRecord, token: TokenRecord): void {
  const index = record.tokens.findIndex((t) => isAddressEqual(t.address, token.address) || t.key === token.key);
  if (index === -1) record.tokens.push(token);
  else record.tokens[index] = token;
}

/** Tells the operator when a registered token differs from what this run would register. */
async function warnOnRegistryDifferences(ctx: ChainContext, registry: Address, plan: TokenPlan): Promise<void> {
  const info = await ctx.publicClient.readContract({ address: registry, abi: tokenRegistryAbi, functionName: "getToken", args: [plan.address] });
  const diffs: string[] = [];
  if (info.decimals !== plan.decimals) diffs.push(`decimals ${info.decimals} vs ${plan.decimals}`);
  if (info.collectionMethods !== plan.collectionMethods) diffs.push(`methods ${info.collectionMethods} vs ${plan.collectionMethods}`);
  if (info.eip712Name !== plan.eip712.name || info.eip712Version !== plan.eip712.version) {
    diffs.push(`EIP-712 ("${info.eip712Name}", "${info.eip712Version}") vs ("${plan.eip712.name}", "${plan.eip712.version}")`);
  }
  if (info.minAmount !== plan.minAmount || info.maxAmount !== plan.maxAmount) {
    diffs.push(`limits [${info.minAmount}, ${info.maxAmount}] vs [${plan.minAmount}, ${plan.maxAmount}]`);
  }
  if (diffs.length > 0) {
    ctx.log.warn(`  ${plan.key}: the registry differs from the config (registry vs config): ${diffs.join("; ")}. Change it with the registry owner if intended.`);
  }
}
