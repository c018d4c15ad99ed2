import type { Hash } from "viem";
import type { JsonObject } from "../../../gateway/x402/index.js";
import type { AgentChain } from "../chain.js";
import type { PaymentOption } from "../challenge.js";

export const SCHEME_NAMES = ["exact", "escrow", "transfer"] as const;
export type SchemeName = (typeof SCHEME_NAMES)[number];

export function isSchemeName(value: string): value is SchemeName {
  return (SCHEME_NAMES as readonly string[]).includes(value);
}

export interface MadePayment {
  /** The scheme payload to put in the envelope. */
  readonly payload: JsonObject;
  /** A transaction the agent itself sent (the transfer scheme's ERC-20 transfer). */
  readonly transaction?: Hash;
}

/** The client side of one payment scheme: what the gateway's scheme module verifies. */
export interface SchemeClient {
  readonly name: SchemeName;
  /** Why this client cannot pay the option as offered (missing `extra` terms…), or undefined. No RPC. */
  unpayable(option: PaymentOption): string | undefined;
  /** Whether the wallet (or escrow deposit) covers the option. True when there is no reader to ask. */
  canFund(agent: AgentChain, option: PaymentOption): Promise<boolean>;
  /**
   * Makes the payment. `moneyMoved` is awaited the moment funds leave irrevocably before the
   * payload exists (a mined transfer), so the budget counts them whatever happens next.
   */
  pay(agent: AgentChain, option: PaymentOption, moneyMoved: () => Promise<void>): Promise<MadePayment>;
}

export function nowSeconds(): bigint {
  return BigInt(Math.floor(Date.now() / 1000));
}
