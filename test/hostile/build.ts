/**
 * Turns corpus cases (cases.ts) into HTTP requests against a running hostile stack (stack.ts):
 * encodes literal payloads, expands generated bombs, and makes live payments (real EIP-712
 * signatures over the gateway's own offers, real transfers on the in-process chain) that are then
 * broken exactly as the case says.
 */
import { expect } from "chai";
import {
  type Address,
  type Hash,
  type Hex,
  concat,
  erc20Abi,
  getAddress,
  maxUint256,
  numberToHex,
  slice,
  toHex,
} from "viem";
import type { WalletClient } from "@nomicfoundation/hardhat-viem/types";
import {
  TRANSFER_PROOF_NAME,
  TRANSFER_PROOF_VERSION,
  escrowNonce,
  paymentAuthorizationTypes,
  randomNonceWord,
  transferProofTypes,
  transferWithAuthorizationTypes,
} from "../../gateway/schemes/index.js";
import { type Content, type LivePayment, type LoadedCase, generate } from "./cases.js";
import { FACILITATOR_TOKEN, type HostileStack, type TokenName } from "./stack.js";

/** secp256k1's group order: `n − s` is the high-s twin of a signature's `s`. */
const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** An address no contract lives at and the registry has never heard of. */
export const UNKNOWN_TOKEN = getAddress("0x1111111111111111111111111111111111111111");

export const PAYMENT_HEADER = { 1: "X-PAYMENT", 2: "PAYMENT-SIGNATURE" } as const;

/** What the runner needs beyond the stack: chain access for transactions that must fail or live elsewhere. */
export interface BuildContext {
  readonly stack: HostileStack;
  /** A mined, reverted ERC-20 transfer from `agent` on this chain. */
  readonly failedTransaction: () => Promise<Hash>;
  /** A successful transfer to payTo mined on another chain (SKALE Base's chain id). */
  readonly otherChainTransaction: Hash;
}

export interface V1Accept {
  scheme: string;
  network: string;
  maxAmountRequired: string;
  resource: string;
  description: string;
  mimeType: string;
  payTo: Address;
  maxTimeoutSeconds: number;
  asset: Address;
  extra: Record<string, unknown>;
}

export interface V2Accept {
  scheme: string;
  network: string;
  amount: string;
  asset: Address;
  payTo: Address;
  maxTimeoutSeconds: number;
  extra: Record<string, unknown>;
}

export interface Challenge {
  readonly v1: V1Accept[];
  readonly v2: V2Accept[];
  readonly resource: { url: string; description?: string; mimeType?: string };
}

/** The 402 challenge of `path`: the v1 body's offers and the PAYMENT-REQUIRED header's. */
export async function challengeOf(base: string, path: string, query: Record<string, string> = {}): Promise<Challenge> {
  const res = await fetch(urlOf(base, path, query));
  expect(res.status, `challenge of ${path}`).to.equal(402);
  const body = (await res.json()) as { accepts: V1Accept[] };
  const header = res.headers.get("payment-required");
  expect(header, "PAYMENT-REQUIRED").to.be.a("string");
  const v2 = JSON.parse(Buffer.from(header!, "base64").toString("utf8")) as { accepts: V2Accept[]; resource: Challenge["resource"] };
  return { v1: body.accepts, v2: v2.accepts, resource: v2.resource };
}

/**
 * The v1 requirements of an offer. The v1 body lists only exact offers (x402-fetch 1.x refuses a
 * 402 naming a scheme it does not know), but v1 payments of every scheme are accepted: their
 * requirements are the v2 offer spelled the v1 way.
 */
export function v1Requirements(challenge: Challenge, v2: V2Accept): V1Accept {
  const listed = challenge.v1.find((a) => a.scheme === v2.scheme && getAddress(a.asset) === getAddress(v2.asset));
  return (
    listed ?? {
      scheme: v2.scheme,
      network: "skale-base-sepolia",
      maxAmountRequired: v2.amount,
      resource: challenge.resource.url,
      description: challenge.resource.description ?? "",
      mimeType: challenge.resource.mimeType ?? "",
      payTo: v2.payTo,
      maxTimeoutSeconds: v2.maxTimeoutSeconds,
      asset: v2.asset,
      extra: v2.extra,
    }
  );
}

export function urlOf(base: string, path: string, query: Record<string, string> = {}): string {
  const search = new URLSearchParams(query).toString();
  return `${base}${path}${search === "" ? "" : `?${search}`}`;
}

export const base64Json = (value: unknown): string => Buffer.from(JSON.stringify(value), "utf8").toString("base64");

export function highSTwin(signature: Hex): Hex {
  const r = slice(signature, 0, 32);
  const s = BigInt(slice(signature, 32, 64));
  const v = Number(BigInt(slice(signature, 64, 65)));
  return concat([r, numberToHex(CURVE_ORDER - s, { size: 32 }), numberToHex(v === 27 ? 28 : 27, { size: 1 })]);
}

const randomHash = (): Hex => toHex(crypto.getRandomValues(new Uint8Array(32)));

const DELETE = Symbol("delete");

/** The value a placeholder stands for; `current` is what the mutated path holds now. */
export function resolveToken(value: unknown, ctx: { stack: HostileStack; now: bigint; price: bigint }, current?: unknown): unknown {
  if (typeof value !== "string" || !value.startsWith("$")) return value;
  const { chain } = ctx.stack;
  const time = /^\$now([+-]\d+)$/.exec(value);
  if (time !== null) return (ctx.now + BigInt(time[1]!)).toString();
  const price = /^\$price([+-]\d+)?$/.exec(value);
  if (price !== null) return (ctx.price + BigInt(price[1] ?? "0")).toString();
  const addresses: Record<string, Address> = {
    $agent: getAddress(chain.agent.account.address),
    $agent2: getAddress(chain.agent2.account.address),
    $stranger: getAddress(chain.stranger.account.address),
    $payTo: chain.payTo,
    $escrow: getAddress(chain.escrow.address),
    $registry: getAddress(chain.registry.address),
    $usdc: getAddress(chain.usdc.address),
    $usdt: getAddress(chain.usdt.address),
    $deprecatedToken: chain.deprecatedToken,
    $unknownToken: UNKNOWN_TOKEN,
  };
  if (Object.hasOwn(addresses, value)) return addresses[value];
  switch (value) {
    case "$delete":
      return DELETE;
    case "$randomHash":
      return randomHash();
    case "$uint256max":
      return maxUint256.toString();
    case "$uint256+1":
      return (maxUint256 + 1n).toString();
    case "$highS":
      return highSTwin(current as Hex);
    case "$v01": {
      // The same signature with v as 0/1 instead of 27/28: recoverable, but not what the token takes.
      const v = Number(BigInt(slice(current as Hex, 64, 65)));
      return concat([slice(current as Hex, 0, 64), numberToHex(v - 27, { size: 1 })]);
    }
    case "$compact64":
      return slice(current as Hex, 0, 64);
    case "$upper":
      return `0x${(current as string).slice(2).toUpperCase()}`;
  }
  throw new Error(`unknown placeholder ${value}`);
}

/** Applies dotted-path edits to a JSON object (copied), resolving placeholders against the current values. */
export function applyMutations(
  root: Record<string, unknown>,
  mutations: Record<string, unknown> | undefined,
  ctx: { stack: HostileStack; now: bigint; price: bigint },
): Record<string, unknown> {
  // A JSON copy, not structuredClone: that keeps shared references, and v2 requests share the
  // requirements object between paymentRequirements and the payment's accepted.
  const copy = JSON.parse(JSON.stringify(root)) as Record<string, unknown>;
  for (const [path, raw] of Object.entries(mutations ?? {})) {
    const keys = path.split(".");
    let node = copy as Record<string, unknown>;
    for (const key of keys.slice(0, -1)) {
      if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    const last = keys.at(-1)!;
    const value = resolveToken(raw, ctx, node[last]);
    if (value === DELETE) delete node[last];
    else node[last] = value;
  }
  return copy;
}

function walletOf(stack: HostileStack, who: "agent" | "agent2" | "stranger" | undefined): WalletClient {
  const chain = stack.chain;
  return who === "agent2" ? chain.agent2 : who === "stranger" ? chain.stranger : chain.agent;
}

const NUMERIC_FIELDS = new Set(["value", "validAfter", "validBefore", "amount", "nonce"]);

/** Sign-time overrides resolved, numbers as bigints where the typed data wants uint256. */
function resolveMessage(
  message: Record<string, unknown>,
  overrides: Record<string, unknown> | undefined,
  ctx: { stack: HostileStack; now: bigint; price: bigint },
  numeric: ReadonlySet<string>,
): Record<string, unknown> {
  const out = { ...message };
  for (const [key, raw] of Object.entries(overrides ?? {})) {
    const value = resolveToken(raw, ctx, out[key]);
    out[key] = numeric.has(key) && typeof value === "string" ? BigInt(value) : value;
  }
  return out;
}

const wire = (message: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(message).map(([k, v]) => [k, typeof v === "bigint" ? v.toString() : v]));

export interface LiveBuilt {
  /** The payment envelope (gateway) or request body (facilitator), mutations applied. */
  readonly value: Record<string, unknown>;
  /** The same before mutation: what the setup step spends. */
  readonly unmutated: Record<string, unknown>;
}

/** A real payment for the case's offer, signed (with the case's overrides) and then mutated. */
export async function buildLive(ctx: BuildContext, c: LoadedCase, live: LivePayment): Promise<LiveBuilt> {
  const { stack } = ctx;
  const { chain } = stack;
  const version = c.version ?? 1;
  const routePath = c.target === "gateway" ? c.path : "/api/weather";
  const routeQuery = c.target === "gateway" ? (c.query ?? {}) : { city: "Lisbon" };
  const challenge = await challengeOf(stack.base, routePath, routeQuery);
  const tokenAddress = getAddress(chain.token[live.token].address);
  const v2 = challenge.v2.find((a) => a.scheme === live.base && getAddress(a.asset) === tokenAddress);
  if (v2 === undefined) throw new Error(`${c.id}: no ${live.base} offer in ${live.token}`);
  const v1 = v1Requirements(challenge, v2);
  const price = BigInt(v1.maxAmountRequired);
  // "$now" is the gateway's clock (it judges validity windows on its own wall clock); a valid
  // payment must also be valid on the chain's clock, which runs ahead of the wall when the
  // in-process chain mines many blocks a second.
  const now = BigInt(Math.floor(Date.now() / 1000));
  const chainNow = (await chain.publicClient.getBlock()).timestamp;
  const latest = chainNow > now ? chainNow : now;
  const tokenCtx = { stack, now, price };
  const signer = walletOf(stack, live.sign?.signer);
  const agent = getAddress(chain.agent.account.address);

  let payload: Record<string, unknown>;
  if (live.base === "exact") {
    const domain = resolveMessage(
      { name: v1.extra["name"], version: v1.extra["version"], chainId: chain.chainId, verifyingContract: tokenAddress },
      live.sign?.domain,
      tokenCtx,
      new Set(),
    );
    const message = resolveMessage(
      { from: agent, to: chain.payTo, value: price, validAfter: 0n, validBefore: latest + BigInt(v1.maxTimeoutSeconds), nonce: randomHash() },
      live.sign?.message,
      tokenCtx,
      NUMERIC_FIELDS,
    );
    const signature = await signer.signTypedData({
      account: signer.account,
      domain: domain as never,
      types: transferWithAuthorizationTypes,
      primaryType: "TransferWithAuthorization",
      message: message as never,
    });
    payload = { signature, authorization: wire(message) };
  } else if (live.base === "escrow") {
    const domain = resolveMessage(
      { name: v1.extra["name"], version: v1.extra["version"], chainId: chain.chainId, verifyingContract: v1.extra["escrow"] },
      live.sign?.domain,
      tokenCtx,
      new Set(),
    );
    const message = resolveMessage(
      {
        payer: agent,
        payee: chain.payTo,
        token: tokenAddress,
        amount: price,
        nonce: escrowNonce(randomNonceWord(), 0),
        validAfter: 0n,
        validBefore: latest + BigInt(v1.maxTimeoutSeconds),
        challengeHash: v1.extra["challengeHash"],
      },
      live.sign?.message,
      tokenCtx,
      NUMERIC_FIELDS,
    );
    const signature = await signer.signTypedData({
      account: signer.account,
      domain: domain as never,
      types: paymentAuthorizationTypes,
      primaryType: "PaymentAuthorization",
      message: message as never,
    });
    payload = { signature, authorization: wire(message) };
  } else {
    const transaction = await transferFor(ctx, live, tokenAddress, price);
    const domain = resolveMessage({ name: TRANSFER_PROOF_NAME, version: TRANSFER_PROOF_VERSION, chainId: chain.chainId }, live.sign?.domain, tokenCtx, new Set());
    const message = resolveMessage({ transaction, challengeHash: v1.extra["challengeHash"] }, live.sign?.message, tokenCtx, new Set());
    const signature = await signer.signTypedData({
      account: signer.account,
      domain: domain as never,
      types: transferProofTypes,
      primaryType: "TransferProof",
      message: message as never,
    });
    payload = { transaction: message["transaction"], payer: agent, signature };
  }

  const envelope =
    version === 1
      ? { x402Version: 1, scheme: v1.scheme, network: v1.network, payload }
      : { x402Version: 2, resource: challenge.resource, accepted: v2, payload };
  const unmutated =
    c.target === "gateway" ? envelope : { x402Version: version, paymentPayload: envelope, paymentRequirements: version === 1 ? v1 : v2 };
  return { value: applyMutations(unmutated, live.mutate, tokenCtx), unmutated };
}

/** The per-stack shared valid transfer: rejected proofs of it never consume it. */
const sharedTransfers = new WeakMap<HostileStack, Map<string, Promise<Hash>>>();

async function sendTransfer(stack: HostileStack, token: Address, amount: bigint): Promise<Hash> {
  const { chain } = stack;
  const hash = await chain.agent.writeContract({ address: token, abi: erc20Abi, functionName: "transfer", args: [chain.payTo, amount], account: chain.agent.account, chain: chain.agent.chain });
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash });
  expect(receipt.status).to.equal("success");
  return hash;
}

async function transferFor(ctx: BuildContext, live: LivePayment, token: Address, price: bigint): Promise<Hash> {
  const { stack } = ctx;
  switch (live.transaction) {
    case "shared": {
      let byToken = sharedTransfers.get(stack);
      if (byToken === undefined) sharedTransfers.set(stack, (byToken = new Map()));
      let hash = byToken.get(token);
      if (hash === undefined) byToken.set(token, (hash = sendTransfer(stack, token, price)));
      return hash;
    }
    case "fresh":
      return sendTransfer(stack, token, price);
    case "underpaid":
      return sendTransfer(stack, token, price - 1n);
    case "wrong-token": {
      const other = getAddress(token) === getAddress(stack.chain.usdt.address) ? stack.chain.usdc.address : stack.chain.usdt.address;
      return sendTransfer(stack, other, price);
    }
    case "failed":
      return ctx.failedTransaction();
    case "other-chain":
      return ctx.otherChainTransaction;
  }
}

/** A case as a fetch request, plus the setup step to run before the snapshot. */
export interface BuiltRequest {
  readonly url: string;
  readonly init: RequestInit;
  readonly setup?: () => Promise<void>;
}

function encodeHeader(content: Exclude<Content, LivePayment>): string {
  if ("raw" in content) return content.raw;
  if ("text" in content) return Buffer.from(content.text, "utf8").toString("base64");
  if ("json" in content) return base64Json(content.json);
  if ("bytesHex" in content) return Buffer.from(content.bytesHex, "hex").toString("base64");
  const text = generate(content.generate);
  return content.encode ? Buffer.from(text, "utf8").toString("base64") : text;
}

function encodeBody(content: Exclude<Content, LivePayment>): string | Uint8Array {
  if ("raw" in content) return content.raw;
  if ("text" in content) return content.text;
  if ("json" in content) return JSON.stringify(content.json);
  if ("bytesHex" in content) return Buffer.from(content.bytesHex, "hex");
  return generate(content.generate);
}

const isLive = (content: Content): content is LivePayment => "base" in content;

export async function buildRequest(ctx: BuildContext, c: LoadedCase): Promise<BuiltRequest> {
  const { stack } = ctx;
  const headers = new Headers();
  for (const [name, value] of c.headers) headers.append(name, value);
  let setup: (() => Promise<void>) | undefined;

  if (c.payment !== undefined) {
    if (c.version === null) throw new Error(`${c.id}: a payment needs a version`);
    const name = PAYMENT_HEADER[c.version];
    if (isLive(c.payment)) {
      const live = c.payment;
      const built = await buildLive(ctx, c, live);
      headers.append(name, base64Json(built.value));
      if (live.setup === "pay-first") {
        setup = async () => {
          const res = await fetch(urlOf(stack.base, c.path, live.setupQuery ?? {}), { headers: { [name]: base64Json(built.unmutated) } });
          expect(res.status, `${c.id}: setup payment (${await res.clone().text()})`).to.equal(200);
        };
      }
    } else {
      headers.append(name, encodeHeader(c.payment));
    }
  }

  let body: string | Uint8Array | undefined;
  if (c.body !== undefined) {
    if (isLive(c.body)) {
      const live = c.body;
      const built = await buildLive(ctx, c, live);
      body = JSON.stringify(built.value);
      if (live.setup === "settle-first") {
        setup = async () => {
          const res = await fetch(`${stack.facilitatorBase}/settle`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${FACILITATOR_TOKEN}` },
            body: JSON.stringify(built.unmutated),
          });
          const answer = (await res.json()) as { success?: boolean };
          expect(res.status, `${c.id}: setup settlement`).to.equal(200);
          expect(answer.success, `${c.id}: setup settlement ${JSON.stringify(answer)}`).to.equal(true);
        };
      }
    } else {
      body = encodeBody(c.body);
    }
    headers.set("content-type", c.contentType ?? "application/json");
  } else if (c.contentType !== undefined) {
    headers.set("content-type", c.contentType);
  }

  if (c.target === "facilitator") {
    if (c.auth === "valid") headers.set("authorization", `Bearer ${FACILITATOR_TOKEN}`);
    if (c.auth === "wrong") headers.set("authorization", `Bearer ${FACILITATOR_TOKEN.replace(/.$/, "X")}`);
  }
  const base = c.target === "facilitator" ? stack.facilitatorBase : stack.base;
  const init: RequestInit = { method: c.method, headers, ...(body === undefined ? {} : { body: body as NonNullable<RequestInit["body"]> }) };
  return { url: urlOf(base, c.path, c.query ?? {}), init, ...(setup === undefined ? {} : { setup }) };
}

export type { TokenName };
