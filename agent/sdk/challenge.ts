import type { Address } from "viem";
import {
  type JsonObject,
  decodeHeaderJson,
  parseCaip2,
  paymentRequirementsV1Schema,
  paymentRequirementsV2Schema,
  resourceInfoSchema,
  v1NetworkChainId,
} from "../../gateway/x402/index.js";
import { AgentError } from "./errors.js";

/** Header names as x402 spells them (fetch's Headers are case-insensitive). */
export const PAYMENT_REQUIRED_HEADER = "PAYMENT-REQUIRED";
export const PAYMENT_HEADER = { 1: "X-PAYMENT", 2: "PAYMENT-SIGNATURE" } as const;
export const PAYMENT_RESPONSE_HEADER = { 1: "X-PAYMENT-RESPONSE", 2: "PAYMENT-RESPONSE" } as const;

export type X402Version = 1 | 2;

/** One `accepts` entry, the same shape whichever protocol version carried it. */
export interface PaymentOption {
  readonly version: X402Version;
  readonly scheme: string;
  /** As on the wire: `eip155:<id>` (v2) or a v1 name such as `skale-base-sepolia`. */
  readonly network: string;
  /** Undefined for networks this client cannot map to an EVM chain. */
  readonly chainId: number | undefined;
  readonly asset: Address;
  /** The exact price in atomic units (v1 `maxAmountRequired`, v2 `amount`). */
  readonly amount: bigint;
  readonly payTo: Address;
  readonly maxTimeoutSeconds: number;
  readonly extra: Readonly<Record<string, unknown>>;
  /** The resource the price is for, as the server named it. */
  readonly resourceUrl: string | undefined;
  /** The entry exactly as received: v2 payments echo it back verbatim in `accepted`. */
  readonly raw: JsonObject;
}

export interface PaymentChallenge {
  readonly version: X402Version;
  /** v2's top-level `resource`, exactly as received (echoed in the payment). */
  readonly resource: JsonObject | undefined;
  /** What the server said was wrong (a code such as `nonce_used`, or free text). */
  readonly error: string | undefined;
  readonly options: readonly PaymentOption[];
  /** Entries that did not parse (unknown networks' address formats, say); they are never paid. */
  readonly unreadable: number;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Reads the challenge of a 402: the v2 `PAYMENT-REQUIRED` header when present (the richer
 * protocol), the v1 JSON body otherwise. Entries are parsed one by one with the gateway's wire
 * schemas, so one entry in a format this client does not know (another chain family, a future
 * field) costs that entry, not the whole challenge. Consumes the body.
 */
export async function readChallenge(response: Response): Promise<PaymentChallenge> {
  const header = response.headers.get(PAYMENT_REQUIRED_HEADER);
  const body = await readJsonBody(response);
  if (header !== null) return readV2(header, body);
  if (body !== undefined && body["x402Version"] === 1) return readV1(body);
  throw new AgentError("invalid_challenge", "the 402 response has neither a PAYMENT-REQUIRED header nor an x402 v1 body", {
    status: response.status,
    serverError: serverError(body),
  });
}

async function readJsonBody(response: Response): Promise<JsonObject | undefined> {
  try {
    const parsed: unknown = JSON.parse(await response.text());
    return isObject(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The gateway's error code (`error`) when the body has one. */
export function serverError(body: JsonObject | undefined): string | undefined {
  const error = body?.["error"];
  return typeof error === "string" ? error : undefined;
}

function readV2(header: string, body: JsonObject | undefined): PaymentChallenge {
  let message: JsonObject;
  try {
    message = decodeHeaderJson(header, { maxLength: 64 * 1024, maxDepth: 16 });
  } catch (error) {
    throw new AgentError("invalid_challenge", "the PAYMENT-REQUIRED header is not base64 JSON", undefined, { cause: error });
  }
  if (message["x402Version"] !== 2) {
    throw new AgentError("invalid_challenge", `PAYMENT-REQUIRED has x402Version ${String(message["x402Version"])}, expected 2`);
  }
  const resource = isObject(message["resource"]) ? message["resource"] : undefined;
  const resourceUrl = resourceInfoSchema.safeParse(resource).data?.url;
  const entries = Array.isArray(message["accepts"]) ? (message["accepts"] as unknown[]) : [];
  const options: PaymentOption[] = [];
  for (const entry of entries) {
    const parsed = paymentRequirementsV2Schema.safeParse(entry);
    if (!parsed.success || !isObject(entry)) continue;
    const r = parsed.data;
    options.push({
      version: 2,
      scheme: r.scheme,
      network: r.network,
      chainId: parseCaip2(r.network),
      asset: r.asset,
      amount: r.amount,
      payTo: r.payTo,
      maxTimeoutSeconds: r.maxTimeoutSeconds,
      extra: r.extra ?? {},
      resourceUrl,
      raw: entry,
    });
  }
  // The body's stable code beats the header's free text.
  const error = serverError(body) ?? (typeof message["error"] === "string" ? message["error"] : undefined);
  return { version: 2, resource, error, options, unreadable: entries.length - options.length };
}

function readV1(body: JsonObject): PaymentChallenge {
  const entries = Array.isArray(body["accepts"]) ? (body["accepts"] as unknown[]) : [];
  const options: PaymentOption[] = [];
  for (const entry of entries) {
    const parsed = paymentRequirementsV1Schema.safeParse(entry);
    if (!parsed.success || !isObject(entry)) continue;
    const r = parsed.data;
    options.push({
      version: 1,
      scheme: r.scheme,
      network: r.network,
      chainId: v1NetworkChainId(r.network) ?? parseCaip2(r.network),
      asset: r.asset,
      amount: r.maxAmountRequired,
      payTo: r.payTo,
      maxTimeoutSeconds: r.maxTimeoutSeconds,
      extra: r.extra ?? {},
      resourceUrl: r.resource,
      raw: entry,
    });
  }
  return { version: 1, resource: undefined, error: serverError(body), options, unreadable: entries.length - options.length };
}
