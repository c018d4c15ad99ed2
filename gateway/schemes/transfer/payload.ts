import { z } from "zod";
import type { Hash } from "viem";
import { addressSchema, bytes32Schema, signatureSchema, uint256StringSchema } from "../../x402/primitives.js";
import type { JsonValue } from "../types.js";
import { TRANSFER_PROOF_NAME, TRANSFER_PROOF_VERSION, transferProofTypes } from "./abi.js";

/**
 * A log's position as JSON-RPC reports it: its index in the BLOCK (not in the transaction), a
 * quantity nodes keep far below 2^32.
 */
export const logIndexSchema = z.int().min(0).max(0xffff_ffff);

/**
 * The transfer scheme's payload: the hash of the payer's own transfer transaction, who paid, the
 * payer's EIP-712 `TransferProof` signature, and optionally which log of the transaction is meant.
 * Unknown keys are dropped, not refused, as for the exact scheme.
 */
export const transferPayloadSchema = z.object({
  transaction: bytes32Schema,
  payer: addressSchema,
  signature: signatureSchema,
  logIndex: logIndexSchema.optional(),
});

export type TransferPayload = z.output<typeof transferPayloadSchema>;
export type TransferPayloadWire = z.input<typeof transferPayloadSchema>;

/**
 * What the ledger keeps of a verified transfer: where the money moved (transaction, log, block) and
 * the signed proof with the challenge it answers, so the claim can be re-checked without the offer.
 */
export const transferSettlementSchema = z.object({
  transaction: bytes32Schema,
  logIndex: logIndexSchema,
  blockNumber: uint256StringSchema,
  blockHash: bytes32Schema,
  challengeHash: bytes32Schema,
  signature: signatureSchema,
});

export type TransferSettlementData = z.output<typeof transferSettlementSchema>;

/** The settlement data in canonical wire form (lower-case hex, decimal block number). */
export function encodeTransferSettlement(data: TransferSettlementData): { readonly [key: string]: JsonValue } {
  return z.encode(transferSettlementSchema, data);
}

/**
 * The ledger's replay guard: one key per Transfer log, so each log buys at most one response.
 * (txHash, logIndex) names a log uniquely on a chain; lower case makes every spelling one key.
 */
export function transferPaymentKey(chainId: number, transaction: Hash, logIndex: number): string {
  return `transfer:${chainId}:${transaction}:${logIndex}`.toLowerCase();
}

/** The signed statement: `transaction` pays for `challengeHash`. */
export interface TransferProof {
  readonly transaction: Hash;
  readonly challengeHash: Hash;
}

/**
 * The proof's EIP-712 domain. No `verifyingContract`: no contract ever checks the proof, and the
 * chain id plus the challenge's payTo and resource URL already scope it to this gateway and chain.
 */
export function transferProofDomain(chainId: number) {
  return { name: TRANSFER_PROOF_NAME, version: TRANSFER_PROOF_VERSION, chainId } as const;
}

export function transferProofTypedData(chainId: number, proof: TransferProof) {
  return {
    domain: transferProofDomain(chainId),
    types: transferProofTypes,
    primaryType: "TransferProof",
    message: proof,
  } as const;
}
