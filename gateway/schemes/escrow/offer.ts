import { z } from "zod";
import { type Address, isAddressEqual, zeroAddress } from "viem";
import { addressSchema, bytes32Schema } from "../../x402/primitives.js";
import type { Offer, OfferInput, TokenInfo } from "../types.js";
import { ESCROW_DOMAIN_NAME, ESCROW_DOMAIN_VERSION } from "./abi.js";
import { challengeHash } from "./challenge.js";
import { SETTLEMENT_MODES } from "./payload.js";

export const ESCROW_SCHEME = "escrow";

/**
 * The offer's `extra`, as the scheme writes it and reads it back. Clients build the signing
 * domain from `escrow`, `name` and `version` (plus the network's chain id), copy `challengeHash`
 * into the authorization verbatim, and learn from `settlement` whether the gateway intends to
 * serve before settling.
 */
export const escrowExtraSchema = z.object({
  escrow: addressSchema,
  name: z.literal(ESCROW_DOMAIN_NAME),
  version: z.literal(ESCROW_DOMAIN_VERSION),
  challengeHash: bytes32Schema,
  settlement: z.enum(SETTLEMENT_MODES),
});

export type EscrowExtra = z.output<typeof escrowExtraSchema>;

export interface EscrowOfferContext {
  readonly chainId: number;
  readonly escrow: Address;
  readonly settlementHorizonSeconds: bigint;
  readonly validityMarginSeconds: bigint;
}

/**
 * The escrow offer for a price, or undefined when the token cannot carry it. Any registered
 * token works: the payer signs against the escrow's domain, not the token's, so the token needs
 * no EIP-712 or EIP-3009 support of its own (USDT, SKL and WETH included).
 *
 * `settlement` is "async" when a client signing `validBefore = now + maxTimeoutSeconds` (what
 * x402 clients do) leaves the settlement horizon plus margin to settle in; otherwise only
 * synchronous settlement is possible and the offer says so.
 */
export function escrowOffer(ctx: EscrowOfferContext, input: OfferInput): Offer | undefined {
  const { token, amount, payTo, maxTimeoutSeconds } = input;
  if (amount < 1n) throw new RangeError(`price must be at least 1 atomic unit, got ${amount}`);
  // Clients sign validBefore = now + maxTimeoutSeconds; a timeout inside the margin could never verify.
  if (BigInt(maxTimeoutSeconds) <= ctx.validityMarginSeconds) {
    throw new RangeError(`maxTimeoutSeconds ${maxTimeoutSeconds} must exceed the ${ctx.validityMarginSeconds}s validity margin`);
  }
  // The escrow refuses both as payees (InvalidPayee): money paid to them could never be claimed.
  if (isAddressEqual(payTo, zeroAddress) || isAddressEqual(payTo, ctx.escrow)) {
    throw new RangeError(`payTo ${payTo} cannot receive escrow payments`);
  }
  if (isAddressEqual(token.address, zeroAddress)) return undefined;
  const limits = tokenLimits(token);
  if (limits !== undefined && (amount < limits.min || amount > limits.max)) return undefined;

  const asyncPossible = BigInt(maxTimeoutSeconds) > ctx.settlementHorizonSeconds + ctx.validityMarginSeconds;
  const extra: EscrowExtra = {
    escrow: ctx.escrow,
    name: ESCROW_DOMAIN_NAME,
    version: ESCROW_DOMAIN_VERSION,
    challengeHash: challengeHash({
      chainId: ctx.chainId,
      escrow: ctx.escrow,
      resourceUrl: input.resource.url,
      token: token.address,
      amount,
      payTo,
    }),
    settlement: asyncPossible ? "async" : "sync",
  };
  return {
    scheme: ESCROW_SCHEME,
    chainId: ctx.chainId,
    token,
    amount,
    payTo,
    maxTimeoutSeconds,
    extra: z.encode(escrowExtraSchema, extra),
    resource: input.resource,
  };
}

/**
 * The escrow terms of an offer this instance made. Offers are the gateway's own (rebuilt from
 * configuration), so one for another scheme, chain or escrow is a routing bug: TypeError.
 */
export function escrowOfferTerms(ctx: Pick<EscrowOfferContext, "chainId" | "escrow">, offer: Offer): EscrowExtra {
  if (offer.scheme !== ESCROW_SCHEME || offer.chainId !== ctx.chainId) {
    throw new TypeError(`offer for ${offer.scheme} on chain ${offer.chainId} sent to escrow on chain ${ctx.chainId}`);
  }
  const parsed = escrowExtraSchema.safeParse(offer.extra);
  if (!parsed.success) throw new TypeError(`offer extra is not an escrow offer's: ${parsed.error.message}`);
  if (!isAddressEqual(parsed.data.escrow, ctx.escrow)) {
    throw new TypeError(`offer for escrow ${parsed.data.escrow} sent to escrow ${ctx.escrow}`);
  }
  return parsed.data;
}

/**
 * The registry's per-payment limits, when the token object carries them. `TokenInfo` does not
 * declare them, but the token catalog's entries (what the gateway passes) do; reading them here
 * keeps an offer the escrow would refuse (`AmountOutOfRange`) from being made at all.
 */
export function tokenLimits(token: TokenInfo): { readonly min: bigint; readonly max: bigint } | undefined {
  const { minAmount, maxAmount } = token as Partial<Record<"minAmount" | "maxAmount", unknown>>;
  if (typeof minAmount !== "bigint" || typeof maxAmount !== "bigint") return undefined;
  return { min: minAmount, max: maxAmount };
}
