/**
 * Reading an agent's reputation, for the discount the payment flow quotes.
 *
 * `discountFor(payer)` derives the tier from the stored counts with `tierFor`, the same function
 * the recorder uses, so a quote can never disagree with the rules. Answers are cached briefly
 * (default 15 s, per process): a discount that lags a few seconds behind the agent's latest
 * calls costs nothing, a database round trip on every 402 would. The recorder's `onStored` hook
 * can drop a wallet's entry as soon as its counts change.
 */
import { LRUCache } from "lru-cache";
import type { Queryable } from "../db/index.js";
import { type TierName, tierFor } from "./tiers.js";

export interface Discount {
  readonly tier: TierName;
  readonly discountBps: number;
}

export interface AgentReputation extends Discount {
  readonly wallet: string;
  readonly totalRequests: bigint;
  readonly successfulRequests: bigint;
  readonly totalSpentNanoUsd: bigint;
  /** Atomic units per token address. */
  readonly spent: Readonly<Record<string, bigint>>;
}

export interface Reputation {
  /** The payer's tier and discount; bronze (0) for an address never seen. Throws on a non-address. */
  discountFor(payer: string): Promise<Discount>;
  /** Everything stored about `payer`, or undefined. */
  get(payer: string): Promise<AgentReputation | undefined>;
  /** Drops cached discounts (all, or these wallets). */
  invalidate(wallets?: readonly string[]): void;
}

export interface ReputationOptions {
  readonly db: Queryable;
  /** How long a discount is reused, ms; default 15,000. 0 disables the cache. */
  readonly cacheTtlMs?: number;
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const BRONZE: Discount = { tier: "bronze", discountBps: 0 };

export function createReputation(options: ReputationOptions): Reputation {
  const { db } = options;
  const ttl = options.cacheTtlMs ?? 15_000;
  const cache = ttl > 0 ? new LRUCache<string, Discount>({ max: 50_000, ttl }) : undefined;

  return {
    async discountFor(payer) {
      const wallet = normalize(payer);
      const cached = cache?.get(wallet);
      if (cached !== undefined) return cached;
      const { rows } = await db.query<{ total_requests: string; successful_requests: string }>(
        `SELECT total_requests::text, successful_requests::text FROM agent_reputation WHERE wallet = $1`,
        [wallet],
      );
      const row = rows[0];
      const tier = row === undefined ? undefined : tierFor(BigInt(row.successful_requests), BigInt(row.total_requests));
      const discount = tier === undefined ? BRONZE : { tier: tier.name, discountBps: tier.discountBps };
      cache?.set(wallet, discount);
      return discount;
    },

    async get(payer) {
      const wallet = normalize(payer);
      const { rows } = await db.query<{ total_requests: string; successful_requests: string; total_spent_nano_usd: string }>(
        `SELECT total_requests::text, successful_requests::text, total_spent_nano_usd::text FROM agent_reputation WHERE wallet = $1`,
        [wallet],
      );
      const row = rows[0];
      if (row === undefined) return undefined;
      const spending = await db.query<{ token: string; amount: string }>(`SELECT token, amount::text FROM agent_spending WHERE wallet = $1 ORDER BY token`, [wallet]);
      const totalRequests = BigInt(row.total_requests);
      const successfulRequests = BigInt(row.successful_requests);
      const tier = tierFor(successfulRequests, totalRequests);
      return {
        wallet,
        totalRequests,
        successfulRequests,
        totalSpentNanoUsd: BigInt(row.total_spent_nano_usd),
        spent: Object.fromEntries(spending.rows.map((s) => [s.token, BigInt(s.amount)])),
        tier: tier.name,
        discountBps: tier.discountBps,
      };
    },

    invalidate(wallets) {
      if (wallets === undefined) cache?.clear();
      else for (const wallet of wallets) cache?.delete(wallet.toLowerCase());
    },
  };
}

function normalize(payer: string): string {
  if (typeof payer !== "string" || !ADDRESS.test(payer)) throw new TypeError("the payer must be a 0x-prefixed 20-byte hex address");
  return payer.toLowerCase();
}

/**
 * The request header an agent names its wallet in to be quoted its discounted price. It is a
 * claim, not a proof: the discounted amount is accepted only from a payment whose verified payer
 * is this address (the payment flow's side of the contract, docs/operations.md).
 */
export const PAYER_ADDRESS_HEADER = "X-Payer-Address";
