/**
 * Pre-signed escrow payments for the load sections: every request carries its own, valid
 * `PaymentAuthorization`, so the gateway does the full verification each time (no replay hits).
 * Signing goes through the gateway's own EIP-712 hashing (gateway/crypto) and libsecp256k1's
 * `ecdsaSign` (~0.1 ms a payment instead of viem's ~3 ms), so 100,000 payments take seconds.
 * test: the gateway verifies every one of them, and a section fails when any request is refused.
 */
import { createRequire } from "node:module";
import { secp256k1 as noble } from "@noble/curves/secp256k1";
import { type Address, type Hex, getAddress, hexToBytes } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { structHasher, typedDataDigest } from "../../gateway/crypto/index.js";
import { escrowNonce, paymentAuthorizationTypes, randomNonceWord } from "../../gateway/schemes/index.js";

/**
 * An x402 v2 `accepts` entry of an escrow offer, as the gateway's PAYMENT-REQUIRED header lists it
 * (escrow offers are announced in v2 only): what a client signs against and echoes as `accepted`.
 */
export interface EscrowAccept {
  readonly scheme: string;
  /** CAIP-2, e.g. eip155:324705682. */
  readonly network: string;
  readonly amount: string;
  readonly payTo: Address;
  readonly asset: Address;
  readonly maxTimeoutSeconds: number;
  readonly extra: { readonly escrow: Address; readonly name: string; readonly version: string; readonly challengeHash: Hex; readonly settlement?: string };
}

type Sign = (digest: Uint8Array, key: Uint8Array) => { signature: Uint8Array; recid: number };

function loadSigner(): { name: string; sign: Sign } {
  try {
    const native = createRequire(import.meta.url)("secp256k1/bindings") as { ecdsaSign: Sign };
    return { name: "libsecp256k1", sign: (digest, key) => native.ecdsaSign(digest, key) };
  } catch {
    return {
      name: "noble",
      sign(digest, key) {
        const s = noble.sign(digest, key, { lowS: true });
        return { signature: s.toCompactRawBytes(), recid: s.recovery };
      },
    };
  }
}

const signer = loadSigner();
const hashAuthorization = structHasher("PaymentAuthorization", paymentAuthorizationTypes.PaymentAuthorization);

/** One payer's session: a random nonce word and a counter, a new word every 256 payments (as the SDK does). */
export interface PayerSession {
  readonly key: Uint8Array;
  readonly address: Address;
  word: bigint;
  counter: number;
}

/**
 * A session per payer key. Signing several batches from the same sessions continues each payer's
 * nonce word, as an agent paying on does; fresh sessions start every payer on a new word, which
 * the gateway has not read yet.
 */
export function payerSessions(payerKeys: readonly Hex[]): PayerSession[] {
  return payerKeys.map((key) => ({ key: hexToBytes(key), address: privateKeyToAccount(key).address, word: randomNonceWord(), counter: 0 }));
}

/** The payload's wire form (docs/escrow-scheme.md, section 2). */
export interface EscrowWirePayload {
  readonly signature: Hex;
  readonly authorization: {
    readonly payer: Address;
    readonly payee: Address;
    readonly token: Address;
    readonly amount: string;
    readonly nonce: string;
    readonly validAfter: string;
    readonly validBefore: string;
    readonly challengeHash: Hex;
  };
}

export interface SignedPayments {
  /** One `PAYMENT-SIGNATURE` value per request, each a different authorization. */
  readonly headers: string[];
  /** The same payments as payloads, in the same order. */
  readonly payloads: EscrowWirePayload[];
  /** The nonce words these payments used, by payer: `nonceBitmap(payer, word)` shows which of them settled. */
  readonly words: ReadonlyMap<Address, readonly bigint[]>;
  readonly signer: string;
  readonly microsPerPayment: number;
}

/** The header every paid request carries (x402 v2). */
export const PAYMENT_HEADER = "payment-signature";

/** The v2 `PAYMENT-SIGNATURE` value: the accepted offer echoed, the resource, and `payload`. */
export function paymentHeader(accept: EscrowAccept, resource: { readonly url: string }, payload: EscrowWirePayload): string {
  return Buffer.from(JSON.stringify({ x402Version: 2, resource, accepted: accept, payload })).toString("base64");
}

/**
 * `count` payments answering `accept`, spread round-robin over `payerKeys`. `validBefore` is the
 * authorization's expiry (Unix seconds): the load sections sign ahead of a long run, so they pass
 * one that leaves the async window open for all of it.
 */
export function signEscrowPayments(
  accept: EscrowAccept,
  resource: { readonly url: string },
  chainId: number,
  payerKeys: readonly Hex[],
  count: number,
  validBefore: bigint,
  sessions: PayerSession[] = payerSessions(payerKeys),
): SignedPayments {
  const started = performance.now();
  if (sessions.length !== payerKeys.length) throw new Error(`${sessions.length} sessions for ${payerKeys.length} payer keys`);
  const words = new Map<Address, Set<bigint>>();
  const domain = { name: accept.extra.name, version: accept.extra.version, chainId, verifyingContract: getAddress(accept.extra.escrow) };
  const payee = getAddress(accept.payTo);
  const token = getAddress(accept.asset);
  const amount = BigInt(accept.amount);
  const headers: string[] = new Array<string>(count);
  const payloads: EscrowWirePayload[] = new Array<EscrowWirePayload>(count);
  for (let i = 0; i < count; i++) {
    const session = sessions[i % sessions.length]!;
    if (session.counter > 0xff) {
      session.word = randomNonceWord();
      session.counter = 0;
    }
    words.set(session.address, (words.get(session.address) ?? new Set()).add(session.word));
    const nonce = escrowNonce(session.word, session.counter++);
    const message = { payer: session.address, payee, token, amount, nonce, validAfter: 0n, validBefore, challengeHash: accept.extra.challengeHash };
    const { signature, recid } = signer.sign(typedDataDigest(domain, hashAuthorization(message)), session.key);
    const payload: EscrowWirePayload = {
      signature: `0x${Buffer.from(signature).toString("hex")}${(27 + recid).toString(16)}`,
      authorization: {
        payer: session.address,
        payee,
        token,
        amount: amount.toString(),
        nonce: nonce.toString(),
        validAfter: "0",
        validBefore: validBefore.toString(),
        challengeHash: accept.extra.challengeHash,
      },
    };
    payloads[i] = payload;
    headers[i] = paymentHeader(accept, resource, payload);
  }
  return {
    headers,
    payloads,
    words: new Map([...words].map(([payer, used]) => [payer, [...used]])),
    signer: signer.name,
    microsPerPayment: ((performance.now() - started) * 1000) / Math.max(count, 1),
  };
}
