/**
 * The deployment record as a write-ahead journal: every transaction is written to the record
 * right after it is broadcast (as `pendingTransaction`) and again once its receipt is in, so a
 * run that stops at any point can be resumed without sending anything twice.
 */
import { existsSync, renameSync } from "node:fs";
import { getAddress, type Hex, type TransactionReceipt } from "viem";
import {
  readDeploymentRecord,
  writeDeploymentRecord,
  type DeploymentRecord,
  type PendingTransactionRecord,
  type TransactionRecord,
} from "./deployment-record.js";
import { feeFields, nextNonce, ScriptError, waitForReceipt, explainError, type SendParams, type TxContext } from "./tx.js";

export class RecordStore {
  constructor(
    readonly path: string,
    public record: DeploymentRecord,
  ) {}

  /** Loads the record for an existing deployment; explains what to do when there is none. */
  static load(file: string, networkName: string): RecordStore {
    if (!existsSync(file)) {
      throw new ScriptError(
        `no deployment record at ${file}. Deploy first (npx hardhat run scripts/deploy.ts --network ${networkName}) or point DEPLOYMENTS_DIR at the directory holding ${networkName}.json.`,
      );
    }
    return new RecordStore(file, readDeploymentRecord(file));
  }

  save(): void {
    this.record.updatedAt = new Date().toISOString();
    writeDeploymentRecord(this.path, this.record);
  }
}

/** Moves a record aside (`<name>.<timestamp>.stale.json`) and returns the new path. */
export function archiveRecord(file: string): string {
  const target = file.replace(/\.json$/, `.${new Date().toISOString().replace(/[:.]/g, "-")}.stale.json`);
  renameSync(file, target);
  return target;
}

export interface JournalHooks {
  /** Runs after a transaction was broadcast and journaled, before its receipt is awaited. */
  afterBroadcast?(step: string, hash: Hex): void | Promise<void>;
  /** Runs after a transaction's receipt was recorded. */
  afterTransaction?(step: string, hash: Hex): void | Promise<void>;
}

export interface JournaledTxOptions {
  /** For deployments: the data the pending entry needs to rebuild the ContractRecord. */
  deployment?: PendingTransactionRecord["deployment"];
  /** Applies the step's result to the record; saved together with the receipt. */
  apply?(receipt: TransactionReceipt): void;
  hooks?: JournalHooks;
}

export function transactionRecord(step: string, receipt: TransactionReceipt): TransactionRecord {
  return {
    step,
    hash: receipt.transactionHash,
    blockNumber: Number(receipt.blockNumber),
    type: receipt.type as TransactionRecord["type"],
    gasUsed: receipt.gasUsed.toString(),
    gasPrice: receipt.effectiveGasPrice.toString(),
    at: new Date().toISOString(),
  };
}

/**
 * Sends one transaction as step `step`: picks the nonce and fees, journals the hash, waits for
 * the receipt, journals the result. A reverted receipt throws (after journaling it).
 */
export async function journaledTx(
  ctx: TxContext,
  store: RecordStore,
  step: string,
  send: (params: SendParams) => Promise<Hex>,
  options: JournaledTxOptions = {},
): Promise<TransactionReceipt> {
  if (store.record.pendingTransaction !== null) {
    throw new ScriptError(`internal: step ${step} started while ${store.record.pendingTransaction.step} is still pending`);
  }
  const nonce = await nextNonce(ctx);
  const fees = await feeFields(ctx);
  let hash: Hex;
  try {
    hash = await send({ nonce, fees });
  } catch (error) {
    throw new ScriptError(`${step}: ${explainError(error, ctx.errorAbis)}`);
  }
  store.record.pendingTransaction = { step, hash, nonce, sentAt: new Date().toISOString(), deployment: options.deployment ?? null };
  store.save();
  ctx.log.info(`  ${step}: sent ${hash} (nonce ${nonce}${"gasPrice" in fees ? `, legacy, gas price ${fees.gasPrice} wei` : ""})`);
  await options.hooks?.afterBroadcast?.(step, hash);
  const receipt = await waitForReceipt(ctx, hash);
  return completeStep(ctx, store, step, receipt, options);
}

function completeStep(
  ctx: TxContext,
  store: RecordStore,
  step: string,
  receipt: TransactionReceipt,
  options: JournaledTxOptions,
): Promise<TransactionReceipt> | TransactionReceipt {
  store.record.pendingTransaction = null;
  store.record.transactions.push(transactionRecord(step, receipt));
  if (receipt.status !== "success") {
    store.save();
    throw new ScriptError(`${step}: transaction ${receipt.transactionHash} reverted in block ${receipt.blockNumber}`);
  }
  options.apply?.(receipt);
  store.save();
  ctx.log.info(`  ${step}: confirmed in block ${receipt.blockNumber} (gas used ${receipt.gasUsed})`);
  const after = options.hooks?.afterTransaction?.(step, receipt.transactionHash);
  return after instanceof Promise ? after.then(() => receipt) : receipt;
}

/**
 * Settles a transaction left pending by an interrupted run: waits for it if the node knows it,
 * records its receipt, or forgets it if it was dropped (its nonce is still free). Returns the
 * receipt when there was one, so the caller can apply the step's result.
 */
export async function resolvePendingTransaction(
  ctx: TxContext,
  store: RecordStore,
  apply: (pending: PendingTransactionRecord, receipt: TransactionReceipt) => void,
): Promise<TransactionReceipt | undefined> {
  const pending = store.record.pendingTransaction;
  if (pending === null) return undefined;
  ctx.log.info(`Resuming: ${pending.step} was sent as ${pending.hash} (nonce ${pending.nonce}) but its receipt was not recorded.`);
  let receipt: TransactionReceipt | undefined;
  try {
    receipt = await ctx.publicClient.getTransactionReceipt({ hash: pending.hash });
  } catch {
    let known = false;
    try {
      await ctx.publicClient.getTransaction({ hash: pending.hash });
      known = true;
    } catch {
      known = false;
    }
    if (known) {
      ctx.log.info(`  the node still has it; waiting for the receipt`);
      receipt = await waitForReceipt(ctx, pending.hash);
    }
  }
  if (receipt === undefined) {
    const mined = await ctx.publicClient.getTransactionCount({ address: getAddress(ctx.wallet.account.address), blockTag: "latest" });
    if (mined > pending.nonce) {
      throw new ScriptError(
        `${pending.step}: transaction ${pending.hash} is unknown to the node, yet nonce ${pending.nonce} of ${ctx.wallet.account.address} was used by another transaction. ` +
          `Find out what that transaction did (explorer), then fix or remove "pendingTransaction" in ${store.path} by hand before running again.`,
      );
    }
    ctx.log.warn(`  ${pending.hash} was dropped (nonce ${pending.nonce} is still unused); the step will be sent again`);
    store.record.pendingTransaction = null;
    store.save();
    return undefined;
  }
  const options: JournaledTxOptions = {};
  if (receipt.status === "success") options.apply = (r) => apply(pending, r);
  try {
    await completeStep(ctx, store, pending.step, receipt, options);
  } catch (error) {
    if (error instanceof ScriptError && receipt.status !== "success") {
      ctx.log.warn(`  ${error.message}; the step will be attempted again`);
      return undefined;
    }
    throw error;
  }
  return receipt;
}
