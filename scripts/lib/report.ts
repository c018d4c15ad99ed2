/**
 * Human-facing output shared by the deploy script, verify script and admin tasks: summaries of
 * a record, the equivalent `hardhat verify` commands, and clean error reports.
 */
import { styleText } from "node:util";
import { DeploymentRecordError, type DeploymentRecord, type JsonValue } from "./deployment-record.js";
import { formatBps, formatDuration, formatTokenAmount, renderKeyValues, renderTable } from "./format.js";
import { NetworkConfigError } from "./network-config.js";
import { TokenProbeError } from "./token-probe.js";
import { ScriptError } from "./tx.js";

/** Failures the scripts anticipate: printed as one clear message, no stack trace. */
export function isExpectedError(error: unknown): error is Error {
  return (
    error instanceof ScriptError ||
    error instanceof NetworkConfigError ||
    error instanceof TokenProbeError ||
    error instanceof DeploymentRecordError
  );
}

/** Prints an anticipated error cleanly and sets the exit code; rethrows anything else. */
export function reportFailure(error: unknown): void {
  if (!isExpectedError(error)) throw error;
  console.error(`${styleText(["red", "bold"], "Error:")} ${error.message}`);
  process.exitCode = 1;
}

export function envFlag(env: NodeJS.ProcessEnv, name: string): boolean {
  const v = env[name]?.trim().toLowerCase();
  if (v === undefined || v === "" || v === "0" || v === "false" || v === "no") return false;
  if (v === "1" || v === "true" || v === "yes") return true;
  throw new ScriptError(`${name} must be true or false, got "${env[name]}"`);
}

/** Renders a constructor argument for a shell command line. */
function shellArg(value: JsonValue): string {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return /^[A-Za-z0-9_.:@/+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** One `npx hardhat verify blockscout ...` command per recorded contract. */
export function verifyCommands(record: DeploymentRecord): string[] {
  const profile = record.compiler.buildProfile === "production" ? "" : ` --build-profile ${record.compiler.buildProfile}`;
  return Object.values(record.contracts).map(
    (c) =>
      `npx hardhat verify blockscout${profile} --network ${record.network} --contract ${c.contract} ${c.address}${c.constructorArgs.map((a) => ` ${shellArg(a)}`).join("")}`,
  );
}

export function formatDeploymentSummary(record: DeploymentRecord, recordPath: string): string {
  const contracts = renderTable(
    ["contract", "address", "block", "tx"],
    Object.entries(record.contracts).map(([name, c]) => [name, c.address, String(c.blockNumber), c.txHash]),
  );
  const tokens = renderTable(
    ["token", "symbol", "address", "dec", "EIP-712 name / version", "source", "methods", "min", "max", "status"],
    record.tokens.map((t) => [
      t.key,
      t.symbol,
      t.address,
      String(t.decimals),
      t.eip712.name === "" ? "-" : `"${t.eip712.name}" / "${t.eip712.version}"`,
      `${t.eip712.source}${t.eip712.verified ? " (verified)" : ""}`,
      t.methods.join(","),
      formatTokenAmount(BigInt(t.minAmount), t.decimals),
      formatTokenAmount(BigInt(t.maxAmount), t.decimals),
      t.status + (t.mock ? " (mock)" : ""),
    ]),
  );
  const escrow = record.escrow;
  const settings: [string, string][] = [
    ["network", `${record.network} (chain ${record.chainId}, ${record.kind})`],
    ["status", record.status],
    ["deployer", record.deployer],
    ["compiler", `solc ${record.compiler.solcLongVersion ?? record.compiler.solcVersion}, evm ${record.compiler.evmVersion}, optimizer ${record.compiler.optimizer.enabled ? `on (${record.compiler.optimizer.runs} runs)` : "off"}, profile ${record.compiler.buildProfile}`],
  ];
  if (record.registry) settings.push(["registry owner", record.registry.owner + (record.registry.pendingOwner ? ` (pending: ${record.registry.pendingOwner})` : "")]);
  if (escrow) {
    settings.push(
      ["escrow admin", `${escrow.admin} (transfer delay ${formatDuration(escrow.adminTransferDelay)})`],
      ["fee", `${formatBps(escrow.feeBps)} to ${escrow.feeRecipient}`],
      ["withdrawal delay", formatDuration(escrow.withdrawalDelay)],
      ["paused", String(escrow.paused)],
      ["pausers", escrow.pausers.join(", ") || "-"],
      ["operators", escrow.operators.join(", ") || "-"],
    );
  }
  settings.push(["record", recordPath]);
  return [renderKeyValues(settings), "", contracts, "", tokens].join("\n");
}
