import { hash } from "node:crypto";
import type { Context, Middleware } from "koa";
import { type Address, getAddress, isAddress } from "viem";
import { PAYER_ADDRESS_HEADER } from "../analytics/reputation.js";
import type { ObservedPayment } from "../analytics/types.js";
import type { PaidRoute, PaymentFlow, Receipt, ReservedPayment, StoredResponse } from "../payments/index.js";
import { PaymentError } from "../x402/index.js";
import { PAYMENT_HEADERS, PAYMENT_RESPONSE_HEADERS } from "./headers.js";
import { readBody, state } from "./middleware.js";

/** What an upstream handler answers; `body` is bytes, text, or anything JSON-serializable. */
export interface UpstreamResponse {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body: unknown;
}

export interface PaidRequest {
  readonly ctx: Context;
  /** The raw body (already read for the fingerprint). */
  readonly body: Uint8Array;
  readonly payment: ReservedPayment;
}

export type PaidHandler = (request: PaidRequest) => Promise<UpstreamResponse>;

export interface PaidOptions {
  readonly maxBodyBytes: number;
  /** The gateway's public base URL; see `resourceUrl`. */
  readonly publicUrl?: string;
}

/**
 * The payment middleware (docs/gateway-design.md, steps 2–7). The handler runs only for a
 * verified, reserved payment; the payment is charged (settled now, or queued for the settlement
 * engine when accepted on credit) only when the handler answered successfully, and released
 * otherwise. A request naming its wallet in `X-Payer-Address` is quoted that wallet's reputation
 * discount (which only that wallet can then pay). Once verified, the payment counts against its
 * payer's rate limit (a refusal releases it) and is described on `ctx.state.observedPayment` for
 * the metrics and the analytics recorder.
 */
export function paid(flow: PaymentFlow, route: PaidRoute, handler: PaidHandler, options: PaidOptions): Middleware {
  return async (ctx) => {
    const s = state(ctx);
    const resource = { url: resourceUrl(ctx, options.publicUrl), description: route.description, mimeType: route.mimeType };
    const payer = claimedPayer(ctx);
    const offers = await flow.quote(route, resource, payer === undefined ? {} : { payer });
    s.challenge = () => flow.challenge(offers, resource);

    const v1 = header(ctx, PAYMENT_HEADERS[1]);
    const v2 = header(ctx, PAYMENT_HEADERS[2]);
    if (v1 === undefined && v2 === undefined) throw new PaymentError("payment_required");

    const body = await readBody(ctx, options.maxBodyBytes);
    const accepted = await flow.acceptPayment({ v1, v2 }, offers, fingerprint(ctx, body));
    if (accepted.kind === "replay") {
      s.log.info("replayed a stored response");
      send(ctx, accepted.response);
      return;
    }
    const { reserved } = accepted;
    const { payment } = reserved;
    s.log.info({ payer: payment.payer, scheme: payment.scheme, amount: payment.amount.toString() }, "payment reserved");
    const observed: ObservedPayment = {
      payer: payment.payer,
      scheme: payment.scheme,
      token: payment.token,
      amount: payment.amount,
      priceNanoUsd: reserved.offer?.priceUsd,
      charged: false,
    };
    s.observedPayment = observed;
    // A payment served first has not been checked against earlier requests yet: one that turns
    // out recorded already (a retry reaching a process that did not know its key) is answered as
    // a replay, never with a failure that says nothing was charged.
    const replayedInstead = async (): Promise<boolean> => {
      const earlier = await flow.earlierOutcome(reserved);
      if (earlier === undefined) return false;
      s.log.info("replayed a stored response");
      send(ctx, earlier);
      return true;
    };
    try {
      // Counted against the verified payer only now: a claimed address could be anyone's.
      await s.rateLimit?.identify(payment.payer);
    } catch (error) {
      if (await replayedInstead()) return;
      s.receipt = await flow.releasePayment(reserved, "rate limited");
      throw error;
    }

    let upstream: UpstreamResponse;
    try {
      upstream = await handler({ ctx, body, payment: reserved });
    } catch (error) {
      s.log.warn({ err: error }, "upstream failed; releasing the payment");
      if (await replayedInstead()) return;
      s.receipt = await flow.releasePayment(reserved, "upstream failed");
      throw upstreamFailed("the upstream service failed", s.receipt);
    }
    const status = upstream.status ?? 200;
    // A server error, or not an HTTP status at all (a handler's bug: it could be neither relayed nor stored).
    if (!Number.isInteger(status) || status < 100 || status >= 500) {
      if (await replayedInstead()) return;
      s.receipt = await flow.releasePayment(reserved, `upstream answered ${status}`);
      throw upstreamFailed(`the upstream service answered ${status}`, s.receipt);
    }
    if (status >= 400) {
      // The request itself was refused (bad query...): relay the answer, but do not charge for it.
      if (await replayedInstead()) return;
      const receipt = await flow.releasePayment(reserved, `upstream answered ${status}`);
      send(ctx, withReceipt(serialize(upstream, status), receipt));
      return;
    }

    try {
      let transaction: string | undefined;
      const response = await flow.completePayment(reserved, (receipt) => {
        transaction = receipt.transaction;
        return withReceipt(serialize(upstream, status), receipt);
      });
      s.observedPayment = { ...observed, charged: true, ...(transaction === undefined ? {} : { txHash: transaction }) };
      s.log.info({ payer: payment.payer, settlement: reserved.settlement }, "payment completed");
      send(ctx, response);
    } catch (error) {
      const receipt = error instanceof PaymentError ? (error.details?.["receipt"] as Receipt | undefined) : undefined;
      if (receipt !== undefined) s.receipt = receipt;
      throw error;
    }
  };
}

/**
 * The 502 for a failed upstream. Normally nothing was charged; a payment that was on chain
 * before the request (a transfer) stays charged, and the same request with the same payment
 * header is served once the upstream works again.
 */
function upstreamFailed(what: string, receipt: Receipt): PaymentError {
  return receipt.success
    ? new PaymentError("upstream_failed", `${what}; your payment is kept: retry this request with the same payment`, {
        retrySamePayment: true,
      })
    : new PaymentError("upstream_failed", `${what}; nothing was charged`);
}

/** The wallet the request says it pays from (`X-Payer-Address`), for its discount; a claim only. */
function claimedPayer(ctx: Context): Address | undefined {
  const value = header(ctx, PAYER_ADDRESS_HEADER.toLowerCase());
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (!isAddress(trimmed, { strict: false })) {
    throw new PaymentError("invalid_request", `${PAYER_ADDRESS_HEADER} must be a 0x-prefixed 20-byte hex address`, {
      fields: { [PAYER_ADDRESS_HEADER]: ["a 0x-prefixed 20-byte hex address"] },
    });
  }
  return getAddress(trimmed);
}

/** Absent or not; an empty value counts as present (and malformed). */
function header(ctx: Context, name: string): string | undefined {
  const value = ctx.headers[name];
  return Array.isArray(value) ? value.join(",") : value;
}

/**
 * The resource URL a challenge names. With a configured public base URL it is that base plus the
 * request path, so a client cannot choose the host its payment is bound to; without one (local
 * development) it is the URL as the client addressed it (behind a trusted proxy, its scheme and host).
 */
export function resourceUrl(request: Pick<Context, "protocol" | "host" | "path">, publicUrl?: string): string {
  if (publicUrl === undefined) return `${request.protocol}://${request.host}${request.path}`;
  return `${publicUrl.replace(/\/+$/, "")}${request.path}`;
}

/**
 * Identifies "the same request" for idempotent retries: method, path, the query with its
 * parameters in a canonical order, and a hash of the body.
 */
export function fingerprint(ctx: Context, body: Uint8Array): string {
  const query = new URLSearchParams(ctx.querystring);
  query.sort();
  // One-shot hashes (no Hash object): this runs on every paid request. Same digest as hashing
  // the lines and the body's hex digest in sequence.
  return hash("sha256", `${ctx.method}\n${ctx.path}\n${query.toString()}\n${hash("sha256", body, "hex")}`, "hex");
}

function serialize(upstream: UpstreamResponse, status: number): StoredResponse {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(upstream.headers ?? {})) headers[name.toLowerCase()] = value;
  let body: Uint8Array;
  if (upstream.body instanceof Uint8Array) {
    body = upstream.body;
    headers["content-type"] ??= "application/octet-stream";
  } else if (typeof upstream.body === "string") {
    body = Buffer.from(upstream.body, "utf8");
    headers["content-type"] ??= "text/plain; charset=utf-8";
  } else {
    body = Buffer.from(JSON.stringify(upstream.body ?? null), "utf8");
    headers["content-type"] ??= "application/json; charset=utf-8";
  }
  return { status, headers, body };
}

function withReceipt(response: StoredResponse, receipt: Receipt): StoredResponse {
  return { ...response, headers: { ...response.headers, [PAYMENT_RESPONSE_HEADERS[receipt.version].toLowerCase()]: receipt.value } };
}

function send(ctx: Context, response: StoredResponse): void {
  ctx.status = response.status;
  for (const [name, value] of Object.entries(response.headers)) ctx.set(name, value);
  ctx.body = Buffer.from(response.body);
}
