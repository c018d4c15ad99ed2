/**
 * Shared helpers for the deployment tests. No side effects on import (hardhat-mocha loads every
 * .ts file under test/ as a test file).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import type { NetworkConnection } from "hardhat/types/network";
import type { Address } from "viem";
import type { ChainContext } from "../../../scripts/lib/context.js";
import { deploymentRecordPath } from "../../../scripts/lib/deployment-record.js";
import { createChainContext } from "../../../scripts/lib/hardhat-context.js";
import { parseNetworkConfig, type NetworkDeployConfig } from "../../../scripts/lib/network-config.js";
import { memoryLogger, type Logger, type SignerWallet } from "../../../scripts/lib/tx.js";

export const PROJECT_ROOT = path.resolve(import.meta.dirname, "..", "..", "..");

/** Hardhat's first two default accounts (public test keys, never used outside local chains). */
export const TEST_KEYS = {
  deployer: "0xac0974bec39a17e36ba4a6b4d238ff944bcb478cbed5efcae784d7bf4f2ff80",
  second: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  third: "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
} as const;

const createdDirs: string[] = [];

/** A fresh directory under the OS temp dir, removed when the test process exits. */
export function tempDir(prefix = "ppa-deploy-test-"): string {
  if (createdDirs.length === 0) {
    process.once("exit", () => {
      for (const dir of createdDirs) rmSync(dir, { recursive: true, force: true });
    });
  }
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  createdDirs.push(dir);
  return dir;
}

/** A network config as checked in, optionally rewritten (e.g. to point tokens at addresses). */
export function loadConfigFile(name: string, edit?: (raw: Record<string, unknown>) => void): NetworkDeployConfig {
  const file = path.join(PROJECT_ROOT, "scripts", "networks", `${name}.json`);
  const raw = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  edit?.(raw);
  return parseNetworkConfig(raw, file);
}

/** The local config with every token address set (for deployments without mocks). */
export function configWithTokens(addresses: Record<string, Address>): NetworkDeployConfig {
  return loadConfigFile("default", (raw) => {
    for (const token of raw.tokens as { key: string; address: string | null }[]) {
      token.address = addresses[token.key] ?? token.address;
    }
  });
}

export interface TestContext {
  ctx: ChainContext;
  log: Logger & { lines: string[] };
  wallets: SignerWallet[];
}

export async function testContext(hre: HardhatRuntimeEnvironment, connection: NetworkConnection): Promise<TestContext> {
  const log = memoryLogger();
  const ctx = await createChainContext(hre, connection, { log, env: {} });
  const wallets = (await connection.viem.getWalletClients()) as SignerWallet[];
  return { ctx, log, wallets };
}

/** The same context, signing with another account. */
export function asWallet(ctx: ChainContext, wallet: SignerWallet): ChainContext {
  return { ...ctx, wallet };
}

export function recordPathIn(dir: string, network: string): string {
  return deploymentRecordPath(dir, network);
}

/** Runs `fn` with console output captured; returns what it printed. */
export async function captureConsole<T>(fn: () => Promise<T>): Promise<{ result: T; output: string }> {
  const lines: string[] = [];
  const original = { log: console.log, error: console.error, warn: console.warn };
  const capture = (...args: unknown[]) => lines.push(args.map(String).join(" "));
  console.log = capture;
  console.error = capture;
  console.warn = capture;
  try {
    const result = await fn();
    return { result, output: lines.join("\n") };
  } finally {
    console.log = original.log;
    console.error = original.error;
    console.warn = original.warn;
  }
}
