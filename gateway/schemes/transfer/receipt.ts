import {
  type Address,
  type Hash,
  type TransactionReceipt,
  TransactionNotFoundError,
  TransactionReceiptNotFoundError,
} from "viem";
import { PaymentError } from "../../x402/errors.js";
import { chainUnavailable } from "../chain.js";
import type { ChainReader } from "../types.js";

/**
 * The receipt of the payer's transaction. No receipt has two meanings, told apart with one more
 * lookup: the node knows the transaction but has not mined it (`insufficient_confirmations`:
 * retry shortly), or the chain has no such transaction at all (`transfer_not_found`, which is also
 * what a hash from another chain gets). Only a node that cannot answer is `chain_unavailable`;
 * "null" from a working node is an answer.
 */
export async function fetchTransferReceipt(reader: ChainReader, transaction: Hash, payer: Address): Promise<TransactionReceipt> {
  const details = { payer, transaction };
  try {
    return await reader.getTransactionReceipt({ hash: transaction });
  } catch (error) {
    if (!(error instanceof TransactionReceiptNotFoundError)) throw chainUnavailable("eth_getTransactionReceipt failed", error, details);
  }
  try {
    await reader.getTransaction({ hash: transaction });
  } catch (error) {
    if (error instanceof TransactionNotFoundError) {
      throw new PaymentError("transfer_not_found", `chain has no transaction ${transaction}`, details);
    }
    throw chainUnavailable("eth_getTransactionByHash failed", error, details);
  }
  throw new PaymentError("insufficient_confirmations", "the transaction is not mined yet", { ...details, confirmations: 0 });
}

/** Where the chain stands relative to a mined transaction. */
export interface Inclusion {
  readonly blockNumber: bigint;
  /** The chain's latest block number. */
  readonly latest: bigint;
  /** Unix seconds of the transaction's block. */
  readonly timestamp: bigint;
}

/**
 * The latest block number and the timestamp of the receipt's block, in one round trip. The block
 * is fetched by hash, so its timestamp is that of the block the receipt is in, not of whatever
 * holds that height now. `cacheTime: 0`: viem otherwise serves the block number from a cache as
 * old as its polling interval, which would undercount confirmations.
 */
export async function fetchInclusion(reader: ChainReader, receipt: TransactionReceipt, payer: Address): Promise<Inclusion> {
  try {
    const [latest, block] = await Promise.all([
      reader.getBlockNumber({ cacheTime: 0 }),
      reader.getBlock({ blockHash: receipt.blockHash }),
    ]);
    return { blockNumber: receipt.blockNumber, latest, timestamp: block.timestamp };
  } catch (error) {
    throw chainUnavailable("block lookup failed", error, { payer, transaction: receipt.transactionHash });
  }
}
