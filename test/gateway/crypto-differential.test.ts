/**
 * The verification fast path (gateway/crypto: hand-made EIP-712 hash + libsecp256k1 recovery)
 * against viem's default path, on random keys, domains, messages and signatures, invalid and
 * malleable ones included. The reference is what the schemes did before the fast path: the
 * explicit canonical-signature rule (65 bytes, v 27/28, 0 < s ≤ n/2), written here with viem's
 * hex helpers, then viem's `recoverTypedDataAddress`. Every case must give the same address, or
 * both must reject.
 *
 * viem's side costs ~2 ms a case on the project's 2-core machines, so the big property computes
 * viem's digest once per case and recovers with `recoverAddress(hash)`, which is exactly what
 * `recoverTypedDataAddress` does after hashing (viem/utils/signature/recoverTypedDataAddress).
 */
import { expect } from "chai";
import fc from "fast-check";
import { createRequire } from "node:module";
import {
  type Address,
  type Hex,
  bytesToHex,
  concat,
  getAddress,
  hashTypedData,
  hexToBigInt,
  hexToBytes,
  hexToNumber,
  numberToHex,
  recoverAddress,
  recoverTypedDataAddress,
  size,
  slice,
} from "viem";
import { secp256k1 as noble } from "@noble/curves/secp256k1";
import {
  domainSeparator,
  nativeBackend,
  nobleBackend,
  parseCanonicalSignature,
  publicKeyAddress,
  recoverCanonicalSigner,
  recoveryBackend,
  structHasher,
  typedDataDigest,
} from "../../gateway/crypto/index.js";
import { transferWithAuthorizationTypes } from "../../gateway/schemes/exact/abi.js";
import { type Authorization, type TokenDomain, transferWithAuthorizationTypedData } from "../../gateway/schemes/exact/payload.js";
import { isCanonicalEcdsaSignature, recoverAuthorizationSigner } from "../../gateway/schemes/exact/signature.js";
import { paymentAuthorizationTypes } from "../../gateway/schemes/escrow/abi.js";
import {
  type EscrowAuthorization,
  type EscrowDomain,
  escrowDomain,
  paymentAuthorizationTypedData,
} from "../../gateway/schemes/escrow/payload.js";
import { isPayerEcdsaSignature, recoverPaymentSigner } from "../../gateway/schemes/escrow/signature.js";

const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_CURVE_ORDER = CURVE_ORDER >> 1n;
const MAX_UINT256 = (1n << 256n) - 1n;

/** The pre-fast-path rule, kept verbatim in viem terms so the fast parser is checked against it. */
function referenceIsCanonical(signature: Hex): boolean {
  if (size(signature) !== 65) return false;
  const s = hexToBigInt(slice(signature, 32, 64));
  const v = hexToNumber(slice(signature, 64, 65));
  return s > 0n && s <= HALF_CURVE_ORDER && (v === 27 || v === 28);
}

/** viem's answer for a signature over `hash`, behind the canonical rule; undefined when it throws. */
async function referenceSigner(hash: Hex, signature: Hex): Promise<Address | undefined> {
  if (!referenceIsCanonical(signature)) return undefined;
  try {
    return await recoverAddress({ hash, signature });
  } catch {
    return undefined;
  }
}

interface Signer {
  sign(hash: Hex, key: Uint8Array): { compact: Uint8Array; recoveryBit: number };
  address(key: Uint8Array): Address;
}

/**
 * Makes the cases' keys and signatures: libsecp256k1 when loaded (~50 µs a signature), else noble
 * (the same RFC 6979 signatures, ~20× slower). Only the checking side is under test.
 */
const signer: Signer = (() => {
  if (nativeBackend !== undefined) {
    const native = createRequire(import.meta.url)("secp256k1/bindings") as {
      ecdsaSign(message: Uint8Array, key: Uint8Array): { signature: Uint8Array; recid: number };
      publicKeyCreate(key: Uint8Array, compressed: false): Uint8Array;
    };
    return {
      sign(hash, key) {
        const { signature, recid } = native.ecdsaSign(hexToBytes(hash), key);
        return { compact: signature, recoveryBit: recid };
      },
      address: (key) => getAddress(publicKeyAddress(native.publicKeyCreate(key, false))),
    };
  }
  return {
    sign(hash, key) {
      const signature = noble.sign(hexToBytes(hash), key);
      return { compact: signature.toCompactRawBytes(), recoveryBit: signature.recovery };
    },
    address: (key) => getAddress(publicKeyAddress(noble.getPublicKey(key, false))),
  };
})();
const sign = signer.sign;

function word(value: bigint): Hex {
  return numberToHex(value, { size: 32 });
}

// ---- arbitraries --------------------------------------------------------------------------------

const arbPrivateKey = fc.bigInt({ min: 1n, max: CURVE_ORDER - 1n }).map((k) => hexToBytes(word(k)));

/** Addresses as the payload schema delivers them (checksummed), sometimes all lower case (viem accepts both). */
const arbAddress: fc.Arbitrary<Address> = fc
  .tuple(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.boolean())
  .map(([bytes, checksummed]) => (checksummed ? getAddress(bytesToHex(bytes)) : bytesToHex(bytes)));

const arbBytes32: fc.Arbitrary<Hex> = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => bytesToHex(b));

/** Whole uint256 range, with the edges and small values fast-check biases toward. */
const arbUint256 = fc.oneof(fc.bigInt({ min: 0n, max: MAX_UINT256 }), fc.bigInt({ min: 0n, max: 2n ** 64n }), fc.constantFrom(0n, MAX_UINT256));

/** Any UTF-16 string, lone surrogates included: both sides must UTF-8 encode them alike. */
const arbDomainText = fc.oneof(fc.string({ unit: "binary", maxLength: 40 }), fc.constantFrom("USD Coin", "PayPerAgent Settlement Escrow", ""));

const arbDomain: fc.Arbitrary<TokenDomain> = fc.record({
  name: arbDomainText,
  version: arbDomainText,
  chainId: fc.oneof(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom(324705682, 1187947933, 1, 0)),
  verifyingContract: arbAddress,
});

const arbTransfer = (from: fc.Arbitrary<Address>): fc.Arbitrary<Authorization> =>
  fc.record({ from, to: arbAddress, value: arbUint256, validAfter: arbUint256, validBefore: arbUint256, nonce: arbBytes32 });

const arbPayment = (payer: fc.Arbitrary<Address>): fc.Arbitrary<EscrowAuthorization> =>
  fc.record({
    payer,
    payee: arbAddress,
    token: arbAddress,
    amount: arbUint256,
    nonce: arbUint256,
    validAfter: arbUint256,
    validBefore: arbUint256,
    challengeHash: arbBytes32,
  });

/** What happens to the good signature before it is checked. */
type Mutation =
  | { readonly kind: "none" }
  | { readonly kind: "highS" }
  | { readonly kind: "v"; readonly v: number }
  | { readonly kind: "r"; readonly r: bigint }
  | { readonly kind: "s"; readonly s: bigint }
  | { readonly kind: "length"; readonly bytes: Uint8Array }
  | { readonly kind: "flip"; readonly bit: number }
  | { readonly kind: "otherMessage"; readonly digest: Hex }
  | { readonly kind: "upperCase" };

const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: "none" } as const) },
  { weight: 1, arbitrary: fc.constant({ kind: "highS" } as const) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("v" as const), v: fc.oneof(fc.constantFrom(0, 1, 27, 28, 29, 35, 36), fc.integer({ min: 0, max: 255 })) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("r" as const),
      r: fc.oneof(fc.constantFrom(0n, CURVE_ORDER, CURVE_ORDER + 1n, MAX_UINT256), fc.bigInt({ min: CURVE_ORDER, max: MAX_UINT256 }), fc.bigInt({ min: 1n, max: CURVE_ORDER - 1n })),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("s" as const),
      s: fc.oneof(fc.constantFrom(0n, 1n, HALF_CURVE_ORDER, HALF_CURVE_ORDER + 1n, CURVE_ORDER - 1n, CURVE_ORDER, MAX_UINT256), fc.bigInt({ min: 0n, max: MAX_UINT256 })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("length" as const), bytes: fc.uint8Array({ minLength: 0, maxLength: 100 }).filter((b) => b.length !== 65) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("flip" as const), bit: fc.integer({ min: 0, max: 65 * 8 - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("otherMessage" as const), digest: arbBytes32 }) },
  { weight: 1, arbitrary: fc.constant({ kind: "upperCase" } as const) },
);

/** The signature a case checks: a valid signature over `hash` by `key`, then the mutation. */
function signatureFor(hash: Hex, key: Uint8Array, mutation: Mutation): Hex {
  const signed = sign(mutation.kind === "otherMessage" ? mutation.digest : hash, key);
  const r = hexToBigInt(bytesToHex(signed.compact.subarray(0, 32)));
  const s = hexToBigInt(bytesToHex(signed.compact.subarray(32, 64)));
  const v = 27 + signed.recoveryBit;
  const encode = (r_: bigint, s_: bigint, v_: number): Hex => concat([word(r_), word(s_), numberToHex(v_, { size: 1 })]);
  switch (mutation.kind) {
    case "none":
    case "otherMessage":
      return encode(r, s, v);
    case "highS":
      return encode(r, CURVE_ORDER - s, v === 27 ? 28 : 27);
    case "v":
      return encode(r, s, mutation.v);
    case "r":
      return encode(mutation.r, s, v);
    case "s":
      return encode(r, mutation.s, v);
    case "length": {
      const good = hexToBytes(encode(r, s, v));
      const bytes = mutation.bytes.length < 65 ? good.subarray(0, mutation.bytes.length) : new Uint8Array([...good, ...mutation.bytes.subarray(65)]);
      return bytesToHex(bytes);
    }
    case "flip": {
      const bytes = hexToBytes(encode(r, s, v));
      bytes[mutation.bit >> 3]! ^= 1 << (mutation.bit & 7);
      return bytesToHex(bytes);
    }
    case "upperCase":
      return `0x${encode(r, s, v).slice(2).toUpperCase()}`;
  }
}

type Case =
  | { readonly scheme: "exact"; readonly domain: TokenDomain; readonly message: Authorization; readonly key: Uint8Array; readonly mutation: Mutation }
  | { readonly scheme: "escrow"; readonly domain: EscrowDomain; readonly message: EscrowAuthorization; readonly key: Uint8Array; readonly mutation: Mutation };

/** Half the cases have the signer's own address as payer (the interesting case), the rest anyone's. */
const arbCase: fc.Arbitrary<Case> = fc
  .tuple(arbPrivateKey, fc.boolean(), fc.boolean(), arbMutation)
  .chain(([key, escrow, payerIsSigner, mutation]): fc.Arbitrary<Case> => {
    const payer = payerIsSigner ? fc.constant(signer.address(key)) : arbAddress;
    if (escrow) {
      const domain: fc.Arbitrary<EscrowDomain> = fc.oneof(arbDomain, fc.tuple(fc.constantFrom(324705682, 1), arbAddress).map(([c, a]) => escrowDomain(c, a)));
      return fc.record({ domain, message: arbPayment(payer) }).map(({ domain, message }) => ({ scheme: "escrow", domain, message, key, mutation }));
    }
    return fc.record({ domain: arbDomain, message: arbTransfer(payer) }).map(({ domain, message }) => ({ scheme: "exact", domain, message, key, mutation }));
  });

const hashTransfer = structHasher("TransferWithAuthorization", transferWithAuthorizationTypes.TransferWithAuthorization);
const hashPayment = structHasher("PaymentAuthorization", paymentAuthorizationTypes.PaymentAuthorization);

function viemDigest(c: Case): Hex {
  return c.scheme === "exact"
    ? hashTypedData(transferWithAuthorizationTypedData(c.domain, c.message))
    : hashTypedData(paymentAuthorizationTypedData(c.domain, c.message));
}

function fastDigest(c: Case): Hex {
  const struct = c.scheme === "exact" ? hashTransfer(c.message) : hashPayment(c.message);
  return bytesToHex(typedDataDigest(c.domain, struct));
}

// ---- properties ---------------------------------------------------------------------------------

describe("verification fast path agrees with viem", function () {
  it(`recovers with libsecp256k1 where the secp256k1 package ships a prebuild (here: ${recoveryBackend.name})`, function () {
    // linux-x64 glibc/musl, darwin-arm64 and win32-x64 prebuilds are in secp256k1 5.0.2: falling
    // back to JS there would silently cost ~25× per payment.
    const prebuilt = (process.platform === "linux" && process.arch === "x64") || (process.platform === "darwin" && process.arch === "arm64") || (process.platform === "win32" && process.arch === "x64");
    if (!prebuilt) this.skip();
    expect(nativeBackend?.name).to.equal("libsecp256k1");
    expect(recoveryBackend).to.equal(nativeBackend);
  });

  it("on 10,000 random cases: same digest, and the same signer or both reject (exact and escrow)", async function () {
    this.timeout(180_000);
    let recovered = 0;
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(arbCase, async (c) => {
        const hash = viemDigest(c);
        expect(fastDigest(c)).to.equal(hash);
        const signature = signatureFor(hash, c.key, c.mutation);
        const expected = await referenceSigner(hash, signature);
        const [actual, isPayer] =
          c.scheme === "exact"
            ? [await recoverAuthorizationSigner(c.domain, c.message, signature), undefined]
            : [await recoverPaymentSigner(c.domain, c.message, signature), await isPayerEcdsaSignature(c.domain, c.message, signature)];
        expect(actual, `signature ${signature}`).to.equal(expected);
        if (c.scheme === "escrow") expect(isPayer).to.equal(expected !== undefined && expected === getAddress(c.message.payer));
        expect(isCanonicalEcdsaSignature(signature)).to.equal(referenceIsCanonical(signature));
        if (expected === undefined) rejected++;
        else recovered++;
      }),
      { numRuns: 10_000 },
    );
    // Both outcomes must be well represented, or the property says little.
    expect(recovered).to.be.greaterThan(4_000);
    expect(rejected).to.be.greaterThan(2_000);
  });

  it("the noble fallback gives the same answers as viem", async function () {
    this.timeout(60_000);
    await fc.assert(
      fc.asyncProperty(arbBytes32, arbPrivateKey, arbMutation, async (hash, key, mutation) => {
        const signature = signatureFor(hash, key, mutation);
        const expected = await referenceSigner(hash, signature);
        const actual = recoverCanonicalSigner(hexToBytes(hash), signature, nobleBackend);
        expect(actual === undefined ? undefined : getAddress(actual)).to.equal(expected);
      }),
      { numRuns: 300 },
    );
  });

  it("without the canonical rule, both backends recover exactly what viem recovers (v 0/1/27/28, high s)", async function () {
    this.timeout(60_000);
    const backends = nativeBackend === undefined ? [nobleBackend] : [nativeBackend, nobleBackend];
    await fc.assert(
      fc.asyncProperty(arbBytes32, arbPrivateKey, fc.boolean(), fc.constantFrom(0, 27), async (hash, key, highS, vBase) => {
        const signed = sign(hash, key);
        let s = hexToBigInt(bytesToHex(signed.compact.subarray(32, 64)));
        let bit = signed.recoveryBit as 0 | 1;
        if (highS) {
          s = CURVE_ORDER - s;
          bit = bit === 0 ? 1 : 0;
        }
        const compact = hexToBytes(concat([bytesToHex(signed.compact.subarray(0, 32)), word(s)]));
        const signature = concat([bytesToHex(compact), numberToHex(vBase + bit, { size: 1 })]);
        const expected = await recoverAddress({ hash, signature });
        for (const backend of backends) {
          const publicKey = backend.recoverPublicKey(hexToBytes(hash), compact, bit);
          expect(publicKey, backend.name).to.not.equal(undefined);
          expect(getAddress(publicKeyAddress(publicKey!)), backend.name).to.equal(expected);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe("verification fast path: edges", function () {
  const key = hexToBytes(word(0x1234567890abcdefn));
  const keyOwner = signer.address(key);
  const domain: TokenDomain = { name: "USD Coin", version: "2", chainId: 324705682, verifyingContract: getAddress(`0x${"ab".repeat(20)}`) };
  const authorization: Authorization = {
    from: keyOwner,
    to: getAddress(`0x${"cd".repeat(20)}`),
    value: 10_000n,
    validAfter: 0n,
    validBefore: 2_000_000_000n,
    nonce: `0x${"42".repeat(32)}`,
  };

  function signedTransfer(): Hex {
    return signatureFor(hashTypedData(transferWithAuthorizationTypedData(domain, authorization)), key, { kind: "none" });
  }

  it("recovers the signer of a real authorization, and its high-s twin is refused though viem recovers it", async function () {
    const signature = signedTransfer();
    expect(await recoverAuthorizationSigner(domain, authorization, signature)).to.equal(keyOwner);
    const twin = signatureFor(hashTypedData(transferWithAuthorizationTypedData(domain, authorization)), key, { kind: "highS" });
    expect(await recoverTypedDataAddress({ ...transferWithAuthorizationTypedData(domain, authorization), signature: twin })).to.equal(keyOwner);
    expect(await recoverAuthorizationSigner(domain, authorization, twin)).to.equal(undefined);
  });

  it("a field outside its type recovers nobody, as viem refuses to hash it", async function () {
    const signature = signedTransfer();
    const tooBig = { ...authorization, value: MAX_UINT256 + 1n };
    const negative = { ...authorization, validAfter: -1n };
    const badNonce = { ...authorization, nonce: "0x42" as Hex };
    const badAddress = { ...authorization, to: "0x1234" as Address };
    for (const message of [tooBig, negative, badNonce, badAddress]) {
      expect(await recoverAuthorizationSigner(domain, message, signature)).to.equal(undefined);
      let viemThrew = false;
      try {
        hashTypedData(transferWithAuthorizationTypedData(domain, message));
      } catch {
        viemThrew = true;
      }
      expect(viemThrew).to.equal(true);
    }
  });

  it("rejects non-hex and odd-length signatures instead of decoding part of them", function () {
    const good = signedTransfer();
    expect(parseCanonicalSignature(good)).to.not.equal(undefined);
    expect(parseCanonicalSignature(`${good.slice(0, -1)}g` as Hex)).to.equal(undefined);
    expect(parseCanonicalSignature(good.slice(0, -1) as Hex)).to.equal(undefined);
    expect(parseCanonicalSignature(good.slice(2) as Hex)).to.equal(undefined);
  });

  it("caches one separator per domain: any change of name, version, chain or contract is another domain", function () {
    const base = domainSeparator(domain);
    expect(domainSeparator({ ...domain })).to.equal(base);
    expect(domainSeparator({ ...domain, verifyingContract: domain.verifyingContract.toLowerCase() as Address })).to.deep.equal(base);
    const variants: TokenDomain[] = [
      { ...domain, name: "USD Coin " },
      { ...domain, version: "1" },
      { ...domain, chainId: 1 },
      { ...domain, verifyingContract: getAddress(`0x${"ac".repeat(20)}`) },
      // The cache key must not let a name and version run into each other.
      { ...domain, name: "USD Coin2", version: "" },
    ];
    const separators = variants.map((d) => bytesToHex(domainSeparator(d)));
    expect(new Set([bytesToHex(base), ...separators]).size).to.equal(variants.length + 1);
  });

  it("refuses struct types it cannot hash as one word per field", function () {
    expect(() => structHasher("Mail", [{ name: "contents", type: "string" }])).to.throw(TypeError, /single-word/);
    expect(() => structHasher("Batch", [{ name: "items", type: "uint256[]" }])).to.throw(TypeError, /single-word/);
  });

  it("the escrow's own domain and struct hash match viem's for a signed payment", async function () {
    const escrow = escrowDomain(324705682, getAddress(`0x${"ef".repeat(20)}`));
    const payment: EscrowAuthorization = {
      payer: keyOwner,
      payee: authorization.to,
      token: domain.verifyingContract,
      amount: 10_000n,
      nonce: (123n << 8n) | 7n,
      validAfter: 0n,
      validBefore: 2_000_000_000n,
      challengeHash: `0x${"77".repeat(32)}`,
    };
    const hash = hashTypedData(paymentAuthorizationTypedData(escrow, payment));
    expect(bytesToHex(typedDataDigest(escrow, hashPayment(payment)))).to.equal(hash);
    const signature = signatureFor(hash, key, { kind: "none" });
    expect(await isPayerEcdsaSignature(escrow, payment, signature)).to.equal(true);
    expect(await isPayerEcdsaSignature(escrow, { ...payment, amount: 10_001n }, signature)).to.equal(false);
    expect(await isPayerEcdsaSignature(escrowDomain(1, escrow.verifyingContract), payment, signature)).to.equal(false);
  });
});
