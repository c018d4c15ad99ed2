import type { Address } from "viem";
import { chainUnavailable, classifyCallError } from "../chain.js";
import type { ChainReader } from "../types.js";
import { ESCROW_DOMAIN_NAME, ESCROW_DOMAIN_VERSION, settlementEscrowAbi } from "./abi.js";

/**
 * The relation that makes serving before settling safe, as configuration the gateway refuses to
 * start without.
 *
 * An async payment is guaranteed by the payer's commitment only until the payer can take it back.
 * A release requested after verification unlocks `withdrawalDelay` later (the delay in force when
 * it is requested), so the settlement, which lands within the horizon (plus the clock margin) of
 * verification, always comes first if
 *
 *     settlementHorizonSeconds + validityMarginSeconds < withdrawalDelay.
 *
 * The escrow admin may lower `withdrawalDelay` at any time, for requests made afterwards, but never
 * below `MIN_WITHDRAWAL_DELAY`; so the relation is checked against that floor, which no admin
 * action can undercut, and against the current delay as well.
 */

/** `EscrowAccounts.MIN_WITHDRAWAL_DELAY`: one hour. `checkEscrowDeployment` confirms it on chain. */
export const MIN_WITHDRAWAL_DELAY_SECONDS = 3_600n;

export interface HorizonConfig {
  readonly settlementHorizonSeconds: bigint;
  readonly validityMarginSeconds: bigint;
}

/** Throws RangeError unless `0 < horizon` and `horizon + margin < withdrawalDelaySeconds`. */
export function checkSettlementHorizon(config: HorizonConfig, withdrawalDelaySeconds: bigint): void {
  const { settlementHorizonSeconds: horizon, validityMarginSeconds: margin } = config;
  if (horizon <= 0n) throw new RangeError("settlementHorizonSeconds must be positive");
  if (margin < 0n) throw new RangeError("validityMarginSeconds must not be negative");
  if (horizon + margin >= withdrawalDelaySeconds) {
    throw new RangeError(
      `settlementHorizonSeconds (${horizon}) + validityMarginSeconds (${margin}) must be below the escrow's ` +
        `withdrawal delay (${withdrawalDelaySeconds}s), or a payer could take its commitment back before settlement`,
    );
  }
}

export interface EscrowDeployment {
  readonly withdrawalDelay: bigint;
  readonly minWithdrawalDelay: bigint;
}

/**
 * Start-up check of the configured escrow against the chain: the node serves `chainId`, the
 * contract answers with the EIP-712 domain payers are told to sign, and the horizon relation holds
 * against its minimum and current withdrawal delays. Throws `chain_unavailable` when the node
 * cannot answer, Error / RangeError for a misconfiguration.
 */
export async function checkEscrowDeployment(
  reader: ChainReader,
  config: HorizonConfig & { readonly chainId: number; readonly escrow: Address },
): Promise<EscrowDeployment> {
  const escrow = { address: config.escrow, abi: settlementEscrowAbi } as const;
  let answers: [number, string, string, bigint, bigint];
  try {
    answers = await Promise.all([
      reader.getChainId(),
      reader.readContract({ ...escrow, functionName: "DOMAIN_NAME" }),
      reader.readContract({ ...escrow, functionName: "DOMAIN_VERSION" }),
      reader.readContract({ ...escrow, functionName: "withdrawalDelay" }),
      reader.readContract({ ...escrow, functionName: "MIN_WITHDRAWAL_DELAY" }),
    ]);
  } catch (error) {
    if (classifyCallError(error).kind === "unavailable") throw chainUnavailable("escrow deployment check failed", error);
    throw new Error(`${config.escrow} does not answer as a SettlementEscrow`, { cause: error });
  }
  const [chainId, name, version, withdrawalDelay, minWithdrawalDelay] = answers;
  if (chainId !== config.chainId) throw new Error(`the node serves chain ${chainId}, configured ${config.chainId}`);
  if (name !== ESCROW_DOMAIN_NAME || version !== ESCROW_DOMAIN_VERSION) {
    throw new Error(`escrow ${config.escrow} signs as "${name}" version "${version}", not the scheme's domain`);
  }
  checkSettlementHorizon(config, minWithdrawalDelay < withdrawalDelay ? minWithdrawalDelay : withdrawalDelay);
  return { withdrawalDelay, minWithdrawalDelay };
}
