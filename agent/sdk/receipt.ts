import type { Address, Hash } from "viem";
import { type SettlementResponse, decodeSettlementResponse } from "../../gateway/x402/index.js";
import { PAYMENT_RESPONSE_HEADER, type X402Version } from "./challenge.js";
import { describe } from "./chain.js";

/** What a payment bought, and what it cost. */
export interface PaymentReceipt {
  readonly version: X402Version;
  readonly scheme: string;
  readonly network: string;
  readonly chainId: number;
  readonly token: Address;
  /** Atomic units paid (the offer's exact price). */
  readonly amount: bigint;
  readonly payTo: Address;
  readonly payer: Address;
  /** The agent's own transaction (the transfer scheme's ERC-20 transfer). */
  readonly transaction?: Hash;
  /**
   * The decoded `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE`; absent when the server sent none. An
   * escrow payment settled asynchronously is served before any transaction exists: `success` is
   * true and `transaction` is "" (its batch is mined within the gateway's settlement horizon).
   */
  readonly settlement?: SettlementResponse;
  /** Set when the header was present but unreadable. */
  readonly settlementError?: string;
  /** Whether the payment counts against the daily budget (see docs/agent-sdk.md, "Budgets"). */
  readonly charged: boolean;
}

/** The settlement header of `response`, preferring the payment's own protocol version. */
export function readSettlement(response: Response, version: X402Version): Pick<PaymentReceipt, "settlement" | "settlementError"> {
  for (const v of version === 2 ? ([2, 1] as const) : ([1, 2] as const)) {
    const value = response.headers.get(PAYMENT_RESPONSE_HEADER[v]);
    if (value === null) continue;
    try {
      return { settlement: v === 1 ? decodeSettlementResponse(value, 1) : decodeSettlementResponse(value, 2) };
    } catch (error) {
      return { settlementError: `unreadable ${PAYMENT_RESPONSE_HEADER[v]}: ${describe(error)}` };
    }
  }
  return {};
}

/**
 * Whether a payment the server has answered counts as spent. Counted: a success receipt; a
 * served request without one (asynchronous settlement follows); an unknown outcome (503, or
 * another 5xx without a receipt). Not counted: a refusal (any 4xx, 402 included: the payment was
 * turned down before it was used) and a 5xx whose receipt says nothing was charged.
 */
export function isCharged(status: number, settlement: SettlementResponse | undefined): boolean {
  if (settlement?.success === true) return true;
  if (status < 400) return true;
  if (status === 503) return true;
  if (status >= 500) return settlement === undefined;
  return false;
}
