import type { Address } from "viem";
import type { ChainHead, HeadTracker } from "../../chain/head.js";
import { tokenRegistryReadAbi } from "../../chain/token-registry-abi.js";
import type { PaymentError } from "../../x402/errors.js";
import { chainUnavailable, classifyCallError } from "../chain.js";
import type { ChainReader } from "../types.js";
import { settlementEscrowAbi } from "./abi.js";

/**
 * What verifying an escrow payment needs from the chain, read once per block and shared by every
 * payment of that block: whether the escrow is paused, the token's payment policy, the payer's
 * commitment to and funds for the payee, whether the payer has code, and the payer's nonce word.
 *
 * State only changes with a block, so values read while the head was block B stay right until a
 * later block is seen; the head tracker re-reads the head at most every few hundred ms, which
 * bounds how stale a value can be. A paid request from a known payer then costs no RPC at all:
 * with thousands of requests a second from a few hundred payers, the chain node would otherwise
 * be the bottleneck (bench section 2; five reads per request before this view).
 *
 * Every value carries the head seen before it was requested (a lower bound on the block it
 * reflects, whose timestamp is the escrow's clock). The ledger keeps counting payments confirmed
 * within the head's maximum age, which the values may predate (`FundsCondition.stateMaxAgeMs`).
 */
export interface EscrowAccountState {
  /** The values reflect this block or a later one; its timestamp is the escrow's clock. */
  readonly head: ChainHead;
  readonly paused: boolean;
  readonly policy: { readonly status: number; readonly minAmount: bigint; readonly maxAmount: bigint };
  readonly commitment: { readonly amount: bigint; readonly releaseAt: bigint };
  readonly spendable: bigint;
  readonly payerHasCode: boolean;
  /** `nonceBitmap(payer, nonce >> 8)`. */
  readonly nonceWord: bigint;
}

export interface EscrowAccountQuery {
  readonly token: Address;
  readonly payer: Address;
  readonly payee: Address;
  readonly nonce: bigint;
}

export interface EscrowChainView {
  /** Throws `chain_unavailable` (PaymentError) when a read fails; a failed read is not cached. */
  read(query: EscrowAccountQuery): Promise<EscrowAccountState>;
}

export interface EscrowChainViewOptions {
  readonly reader: ChainReader;
  readonly escrow: Address;
  readonly head: HeadTracker;
  /** Values kept per block before the view starts over (memory bound); default 100,000. */
  readonly maxEntries?: number;
}

/** One block's values, each a promise so concurrent requests for it share one read. */
interface Generation {
  readonly head: ChainHead;
  readonly values: Map<string, Promise<unknown>>;
}

export function createEscrowChainView(options: EscrowChainViewOptions): EscrowChainView {
  const { reader, escrow, head } = options;
  const maxEntries = options.maxEntries ?? 100_000;
  const contract = { address: escrow, abi: settlementEscrowAbi } as const;
  let generation: Generation | undefined;
  // The escrow's registry is immutable: read once, and again only after a failure.
  let registry: Promise<Address> | undefined;

  const registryAddress = (): Promise<Address> => {
    registry ??= reader.readContract({ ...contract, functionName: "registry" }).catch((error: unknown) => {
      registry = undefined;
      throw error;
    });
    return registry;
  };

  const generationAt = (head: ChainHead): Generation => {
    if (generation === undefined || generation.head.hash !== head.hash || generation.values.size >= maxEntries) {
      generation = { head, values: new Map() };
    }
    return generation;
  };

  /** The value under `key` in this block, read by `load` once; a failure is forgotten, not kept. */
  function once<T>(g: Generation, key: string, what: string, load: () => Promise<T>): Promise<T> {
    const known = g.values.get(key) as Promise<T> | undefined;
    if (known !== undefined) return known;
    const value = load().catch((error: unknown) => {
      if (g.values.get(key) === value) g.values.delete(key);
      throw new FailedRead(what, error);
    });
    g.values.set(key, value);
    return value;
  }

  return {
    async read({ token, payer, payee, nonce }) {
      let latest: ChainHead;
      try {
        latest = await head.latest();
      } catch (error) {
        throw chainUnavailable("the latest block could not be read", error, { payer });
      }
      const g = generationAt(latest);
      const word = nonce >> 8n;
      const account = `${token}:${payer}:${payee}`.toLowerCase();
      try {
        const [paused, policy, commitment, spendable, code, nonceWord] = await Promise.all([
          once(g, "paused", "paused", () => reader.readContract({ ...contract, functionName: "paused" })),
          once(g, `policy:${token.toLowerCase()}`, "paymentPolicy", async () => {
            const [status, minAmount, maxAmount] = await reader.readContract({
              address: await registryAddress(),
              abi: tokenRegistryReadAbi,
              functionName: "paymentPolicy",
              args: [token],
            });
            return { status, minAmount, maxAmount };
          }),
          once(g, `commitment:${account}`, "commitmentOf", async () => {
            const c = await reader.readContract({ ...contract, functionName: "commitmentOf", args: [token, payer, payee] });
            return { amount: c.amount, releaseAt: BigInt(c.releaseAt) };
          }),
          once(g, `spendable:${account}`, "spendableFor", () =>
            reader.readContract({ ...contract, functionName: "spendableFor", args: [token, payer, payee] }),
          ),
          once(g, `code:${payer.toLowerCase()}`, "eth_getCode", () => reader.getCode({ address: payer })),
          once(g, `word:${payer.toLowerCase()}:${word}`, "nonceBitmap", () =>
            reader.readContract({ ...contract, functionName: "nonceBitmap", args: [payer, word] }),
          ),
        ]);
        return {
          head: latest,
          paused,
          policy,
          commitment,
          spendable,
          payerHasCode: code !== undefined && code !== "0x",
          nonceWord,
        };
      } catch (error) {
        if (error instanceof FailedRead) throw readFailure(error.cause, error.what, escrow, { payer });
        throw error;
      }
    },
  };
}

/**
 * A read that failed is `chain_unavailable`. A revert or an empty answer from the escrow is not a
 * verdict on the payment either: the configured address does not answer as an escrow, which is
 * ours to fix, never the payer's.
 */
export function readFailure(error: unknown, what: string, escrow: Address, details?: Record<string, unknown>): PaymentError {
  const kind = classifyCallError(error).kind;
  const where = kind === "unavailable" ? what : `${what} on ${escrow} (${kind === "no_data" ? "no data" : "reverted"})`;
  return chainUnavailable(`${where} failed`, error, details);
}

/** Which read failed, so the shared (cached) failure is reported per payer. */
class FailedRead extends Error {
  constructor(
    readonly what: string,
    override readonly cause: unknown,
  ) {
    super(`${what} failed`);
  }
}
