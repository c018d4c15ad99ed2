import { createHash } from "node:crypto";
import { z } from "zod";
import { type Address, isAddressEqual, zeroAddress } from "viem";
import { tokenLimits } from "../schemes/escrow/offer.js";
import type { Offer, PaymentScheme, ResourceDescription } from "../schemes/types.js";
import type { JsonObject } from "../x402/codec.js";
import { PaymentError, isPaymentError } from "../x402/errors.js";
import { type FacilitatorRequest, parseFacilitatorRequest } from "../x402/facilitator.js";
import { parseCaip2, v1NetworkChainId } from "../x402/networks.js";
import type { X402Version } from "../x402/parse.js";
import { paymentRequirementsV1Schema } from "../x402/v1.js";
import { jsonEqual, paymentRequirementsV2Schema, requirementMismatchV2 } from "../x402/v2.js";
import type { FacilitatorChain, FacilitatorDeps } from "./types.js";

/**
 * From a facilitator request body to the one offer it is about. The offer is rebuilt by the
 * scheme from the client's requirements, but only from parts the facilitator vouches for: a token
 * the registry lists as Active (with its EIP-712 domain from the registry, never from `extra`), an
 * amount within the registry's limits, a network this instance serves.
 */

export interface ResolvedRequest {
  readonly version: X402Version;
  readonly chainId: number;
  /** The network as the request spelled it; answers repeat it (v1 names, v2 CAIP-2 ids). */
  readonly network: string;
  readonly scheme: PaymentScheme;
  readonly offer: Offer;
  /** The scheme payload (the envelope's `payload`). */
  readonly payload: JsonObject;
  /**
   * Binds a settlement to these exact terms: a retry with the same requirements is served the
   * stored answer, the same payment presented with other terms is refused.
   */
  readonly fingerprint: string;
}

/** The body as a request, or `invalid_request` (400) with the offending fields. */
export function parseRequest(body: JsonObject): FacilitatorRequest {
  try {
    return parseFacilitatorRequest(body);
  } catch (error) {
    // A version we do not speak is still a request we cannot read: the body's shape is unknown.
    if (isPaymentError(error) && error.code === "unsupported_version") {
      throw new PaymentError("invalid_request", error.message, { ...error.details, reason: "unsupported_version" });
    }
    throw error;
  }
}

/** The network as the request spells it, for answers that fail before anything is resolved. */
export function requestNetwork(request: FacilitatorRequest): string {
  return request.paymentRequirements.network;
}

/**
 * Keys of an offer's `extra` that are the facilitator's own policy rather than terms the payer
 * signs: a resource server may advertise something else there without the payment being wrong.
 * (The facilitator always settles on /settle, so escrow's async/sync hint has no say here.)
 */
const ADVISORY_EXTRA_KEYS: ReadonlySet<string> = new Set(["settlement"]);

/** Throws `PaymentError` with the code that says why the request cannot be served. */
export function resolveRequest(deps: FacilitatorDeps, request: FacilitatorRequest): ResolvedRequest {
  const terms = requestTerms(request);
  const chain = deps.chains.find((c) => c.chainId === terms.chainId);
  if (terms.chainId === undefined || chain === undefined) {
    throw new PaymentError("wrong_network", `this facilitator does not settle on ${terms.network}`);
  }
  const scheme = deps.schemes.find((s) => s.name === terms.scheme && s.chainId === chain.chainId);
  if (scheme === undefined) {
    const elsewhere = deps.schemes.some((s) => s.name === terms.scheme);
    throw elsewhere
      ? new PaymentError("wrong_network", `scheme ${terms.scheme} is not served on ${terms.network}`)
      : new PaymentError("unsupported_scheme", `scheme ${terms.scheme} is not supported`);
  }
  const offer = buildOffer(chain, scheme, terms);
  checkExtra(offer, terms.extra);
  return {
    version: request.x402Version,
    chainId: chain.chainId,
    network: terms.network,
    scheme,
    offer,
    payload: request.paymentPayload.payload,
    fingerprint: fingerprint(request),
  };
}

interface Terms {
  readonly scheme: string;
  readonly network: string;
  readonly chainId: number | undefined;
  readonly asset: Address;
  readonly payTo: Address;
  readonly amount: bigint;
  readonly maxTimeoutSeconds: number;
  readonly extra: JsonObject | undefined;
  readonly resource: ResourceDescription | undefined;
}

/** The requirements in one shape, after checking that the payment answers them. */
function requestTerms(request: FacilitatorRequest): Terms {
  if (request.x402Version === 1) {
    const { paymentPayload: payment, paymentRequirements: r } = request;
    if (payment.scheme !== r.scheme) {
      throw new PaymentError("requirements_mismatch", `the payment is for scheme ${payment.scheme}, the requirements for ${r.scheme}`);
    }
    if (payment.network !== r.network) {
      throw new PaymentError("wrong_network", `the payment is for ${payment.network}, the requirements for ${r.network}`);
    }
    return {
      scheme: r.scheme,
      network: r.network,
      chainId: v1NetworkChainId(r.network),
      asset: r.asset,
      payTo: r.payTo,
      amount: r.maxAmountRequired,
      maxTimeoutSeconds: r.maxTimeoutSeconds,
      extra: r.extra,
      resource: { url: r.resource, description: r.description, mimeType: r.mimeType },
    };
  }
  const { paymentPayload: payment, paymentRequirements: r } = request;
  const field = requirementMismatchV2(r, payment.accepted);
  if (field !== undefined) {
    throw field === "network"
      ? new PaymentError("wrong_network", `the payment is for ${payment.accepted.network}, the requirements for ${r.network}`)
      : new PaymentError("requirements_mismatch", `the payment's accepted.${field} differs from the requirements`, { field });
  }
  const echoed = payment.resource;
  return {
    scheme: r.scheme,
    network: r.network,
    chainId: parseCaip2(r.network),
    asset: r.asset,
    payTo: r.payTo,
    amount: r.amount,
    maxTimeoutSeconds: r.maxTimeoutSeconds,
    extra: r.extra,
    // v2 requirements do not name the resource; the payment echoes it (schemes that bind a
    // challenge to the URL need it, the others ignore it).
    resource: echoed === undefined ? undefined : { url: echoed.url, description: echoed.description ?? "", mimeType: echoed.mimeType ?? "" },
  };
}

function buildOffer(chain: FacilitatorChain, scheme: PaymentScheme, terms: Terms): Offer {
  const token = chain.tokens().find((t) => isAddressEqual(t.address, terms.asset));
  if (token === undefined) {
    throw new PaymentError("unsupported_token", `token ${terms.asset} is not an active registry token on ${terms.network}`);
  }
  if (terms.amount < 1n) throw new PaymentError("requirements_mismatch", "the amount must be at least 1 atomic unit");
  const limits = tokenLimits(token);
  if (limits !== undefined && (terms.amount < limits.min || terms.amount > limits.max)) {
    throw new PaymentError(
      "requirements_mismatch",
      `the amount ${terms.amount} is outside the registry's per-payment limits for ${token.symbol} (${limits.min} to ${limits.max})`,
      { min: limits.min.toString(), max: limits.max.toString() },
    );
  }
  if (isAddressEqual(terms.payTo, zeroAddress)) throw new PaymentError("wrong_recipient", "payTo must not be the zero address");

  let offer: Offer | undefined;
  try {
    offer = scheme.offer({
      token,
      amount: terms.amount,
      payTo: terms.payTo,
      maxTimeoutSeconds: terms.maxTimeoutSeconds,
      resource: terms.resource ?? { url: "", description: "", mimeType: "" },
    });
  } catch (error) {
    // The scheme refuses terms it could never settle (a timeout inside its safety margin, a payee
    // the escrow rejects): the requirements are wrong, not the facilitator.
    if (error instanceof RangeError) throw new PaymentError("requirements_mismatch", error.message);
    throw error;
  }
  if (offer === undefined) {
    throw new PaymentError("unsupported_token", `${token.symbol} cannot be paid with the ${scheme.name} scheme`);
  }
  if (terms.resource === undefined && "challengeHash" in offer.extra) {
    throw new PaymentError("requirements_mismatch", `${scheme.name} payments bind the resource: the payment must echo resource.url`);
  }
  return offer;
}

/**
 * Every term the facilitator put in `extra` that the requirements also state must agree: the
 * token's EIP-712 name and version, the escrow and its challenge hash. A difference means the
 * payer signed something this facilitator cannot settle, which is best said before any RPC.
 * Keys the requirements leave out are fine (the signature check settles it).
 */
function checkExtra(offer: Offer, extra: JsonObject | undefined): void {
  if (extra === undefined) return;
  for (const [key, ours] of Object.entries(offer.extra)) {
    if (ADVISORY_EXTRA_KEYS.has(key) || !Object.hasOwn(extra, key)) continue;
    if (!jsonEqual(extra[key], ours)) {
      throw new PaymentError("requirements_mismatch", `extra.${key} differs from the facilitator's (${JSON.stringify(ours)})`, {
        field: `extra.${key}`,
      });
    }
  }
}

/** sha256 of the requirements in canonical form (checksummed addresses, sorted keys). */
function fingerprint(request: FacilitatorRequest): string {
  const requirements =
    request.x402Version === 1
      ? z.encode(paymentRequirementsV1Schema, request.paymentRequirements)
      : z.encode(paymentRequirementsV2Schema, request.paymentRequirements);
  const digest = createHash("sha256").update(canonicalJson(requirements)).digest("hex");
  return `facilitator:settle:v${request.x402Version}:${digest}`;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
