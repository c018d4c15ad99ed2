import { type Address, isAddressEqual } from "viem";
import { PaymentError } from "../../x402/errors.js";
import { parseWire } from "../../x402/parse.js";
import { chainUnavailable, classifyCallError } from "../chain.js";
import type { ChainReader, Offer, VerifiedPayment } from "../types.js";
import { eip3009Abi } from "./abi.js";
import {
  type Authorization,
  type ExactPayload,
  type TokenDomain,
  encodeExactPayload,
  exactPaymentKey,
  exactPayloadSchema,
  transferWithAuthorizationArgs,
} from "./payload.js";
import { revertCode } from "./reverts.js";
import { verifyAuthorizationSignature } from "./signature.js";

export const EXACT_SCHEME = "exact";

/**
 * Seconds an authorization must stay valid beyond `now`: 6 for clock skew between client, gateway
 * and chain (what the x402 spec's facilitator allows), plus 30 for a synchronous settlement to be
 * mined before `validBefore` (SKALE blocks take seconds; this covers a slow node and a retry).
 */
export const DEFAULT_VALIDITY_MARGIN_SECONDS = 36n;

export interface ExactVerifierContext {
  readonly chainId: number;
  readonly reader: ChainReader;
  readonly validityMarginSeconds: bigint;
  /** Sender of the simulated settlement (the settlement account); irrelevant to the token's checks. */
  readonly simulationSender: Address | undefined;
}

/** The token's EIP-712 domain, from the registry's data for it; never from the client. */
export function tokenDomain(chainId: number, offer: Offer): TokenDomain {
  const { address, eip712 } = offer.token;
  if (eip712.name === "" || eip712.version === "") {
    throw new TypeError(`token ${address} has no EIP-712 domain; the exact scheme cannot offer it`);
  }
  return { name: eip712.name, version: eip712.version, chainId, verifyingContract: address };
}

/**
 * Verifies an exact-scheme payload against the offer it accepted. Checks run cheapest first, and
 * the first failure decides the code:
 *
 *  1. payload shape                               malformed_payment
 *  2. `to` is the offer's payTo                   wrong_recipient
 *  3. `value` equals the price exactly            amount_mismatch
 *  4. `validAfter <= now`                         not_yet_valid
 *  5. `validBefore > now + margin`                expired
 *  6. signature: ECDSA recovering `from` (low s, 65 bytes) under the token's domain, or ERC-1271
 *     when `from` has code                        invalid_signature
 *  7. nonce unused: `authorizationState`          nonce_used (unsupported_token if the token
 *                                                 has no such view)
 *  8. `balanceOf(from) >= value`                  insufficient_funds
 *  9. `transferWithAuthorization` simulated       the revert's own code (settlement_failed if none)
 *
 * 1–5 and the EOA signature cost no RPC, so junk is refused for free; 7–9 go out together and
 * take one round trip. A node that cannot answer is `chain_unavailable` at any step.
 */
export async function verifyExact(
  ctx: ExactVerifierContext,
  payloadValue: unknown,
  offer: Offer,
  now: bigint,
): Promise<VerifiedPayment> {
  if (offer.scheme !== EXACT_SCHEME || offer.chainId !== ctx.chainId) {
    throw new TypeError(`offer for ${offer.scheme} on chain ${offer.chainId} sent to exact on chain ${ctx.chainId}`);
  }
  const domain = tokenDomain(ctx.chainId, offer);
  const payload = parseWire(exactPayloadSchema, payloadValue, "malformed_payment", "exact payment payload");
  const { authorization } = payload;
  checkTerms(authorization, offer, now, ctx.validityMarginSeconds);
  await verifyAuthorizationSignature(ctx.reader, domain, authorization, payload.signature);
  await checkChainState(ctx, offer.token.address, payload);

  return {
    scheme: EXACT_SCHEME,
    chainId: ctx.chainId,
    payer: authorization.from,
    payee: authorization.to,
    token: offer.token.address,
    amount: authorization.value,
    paymentKey: exactPaymentKey(ctx.chainId, offer.token.address, authorization),
    nonce: authorization.nonce,
    validBefore: authorization.validBefore,
    settlementData: encodeExactPayload(payload),
  };
}

/** Steps 2–5: what the authorization says against what was offered, and when. */
export function checkTerms(authorization: Authorization, offer: Offer, now: bigint, marginSeconds: bigint): void {
  const payer = authorization.from;
  if (!isAddressEqual(authorization.to, offer.payTo)) {
    throw new PaymentError("wrong_recipient", `the authorization pays ${authorization.to}, not ${offer.payTo}`, {
      payer,
      expected: offer.payTo,
      actual: authorization.to,
    });
  }
  if (authorization.value !== offer.amount) {
    throw new PaymentError("amount_mismatch", `the authorization is for ${authorization.value}, the price is ${offer.amount}`, {
      payer,
      expected: offer.amount.toString(),
      actual: authorization.value.toString(),
    });
  }
  // The token wants block.timestamp > validAfter; equality is left to the simulation, which runs
  // on the chain's clock (the clients sign now − 600 or 0, far from the edge anyway).
  if (authorization.validAfter > now) {
    throw new PaymentError("not_yet_valid", `the authorization is valid only after ${authorization.validAfter}`, {
      payer,
      validAfter: authorization.validAfter.toString(),
    });
  }
  if (authorization.validBefore <= now + marginSeconds) {
    throw new PaymentError(
      "expired",
      `the authorization expires at ${authorization.validBefore}, too soon to settle (needs ${marginSeconds}s)`,
      { payer, validBefore: authorization.validBefore.toString() },
    );
  }
}

/**
 * Steps 7–9, sent concurrently and judged in order. The reads give the specific codes cheaply;
 * the simulation is the token's own verdict on everything at once (including what no read shows:
 * blacklists, pauses, a smart wallet's delegate) and runs against current state.
 */
async function checkChainState(ctx: ExactVerifierContext, token: Address, payload: ExactPayload): Promise<void> {
  const { from, nonce, value } = payload.authorization;
  const [used, balance, simulation] = await Promise.allSettled([
    ctx.reader.readContract({ address: token, abi: eip3009Abi, functionName: "authorizationState", args: [from, nonce] }),
    ctx.reader.readContract({ address: token, abi: eip3009Abi, functionName: "balanceOf", args: [from] }),
    ctx.reader.simulateContract({
      address: token,
      abi: eip3009Abi,
      functionName: "transferWithAuthorization",
      args: transferWithAuthorizationArgs(payload),
      account: ctx.simulationSender,
    }),
  ]);

  if (used.status === "rejected") throw readFailure("authorizationState", token, used.reason, from);
  if (used.value) {
    throw new PaymentError("nonce_used", `nonce ${nonce} of ${from} is already used or canceled`, { payer: from });
  }
  if (balance.status === "rejected") throw readFailure("balanceOf", token, balance.reason, from);
  if (balance.value < value) {
    throw new PaymentError("insufficient_funds", `balance ${balance.value} is below ${value}`, { payer: from });
  }
  if (simulation.status === "rejected") {
    const failure = classifyCallError(simulation.reason);
    if (failure.kind === "unavailable") {
      throw chainUnavailable("transferWithAuthorization simulation failed", simulation.reason, { payer: from });
    }
    const code = failure.kind === "revert" ? revertCode(failure) : "settlement_failed";
    const reason = failure.kind === "revert" ? (failure.error?.errorName ?? failure.reason) : "no data";
    throw new PaymentError(code, `the token refuses the transfer (${reason ?? "reverted"})`, { payer: from }, {
      cause: simulation.reason,
    });
  }
}

/**
 * A view the token should have did not answer: when the node is fine and the contract refused
 * (no code, no such function), the token cannot take EIP-3009 payments however the registry
 * describes it, which is `unsupported_token`; anything else is the node's failure.
 */
function readFailure(view: string, token: Address, error: unknown, payer: Address): PaymentError {
  if (classifyCallError(error).kind === "unavailable") return chainUnavailable(`${view} failed`, error, { payer });
  return new PaymentError("unsupported_token", `token ${token} does not answer ${view}`, { payer, token }, { cause: error });
}
