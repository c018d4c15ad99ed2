/**
 * The exact scheme (EIP-3009 TransferWithAuthorization) against Hardhat's in-process chain, with
 * payloads built the way the official clients build them: x402-fetch 1.x signs validAfter =
 * now − 600 and v2 (@x402/evm) signs validAfter = 0, both with a random 32-byte nonce, and every
 * number travels as a decimal string.
 */
import { createServer } from "node:net";
import { network } from "hardhat";
import { expect } from "chai";
import {
  type Address,
  type Hex,
  BaseError,
  ContractFunctionRevertedError,
  ExecutionRevertedError,
  HttpRequestError,
  concat,
  createPublicClient,
  createWalletClient,
  encodeErrorResult,
  encodeFunctionData,
  getAddress,
  http,
  numberToHex,
  recoverTypedDataAddress,
  size,
  slice,
  toHex,
} from "viem";
import { type PrivateKeyAccount, generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type ErrorCode, PaymentError, isPaymentError } from "../../gateway/x402/index.js";
import {
  type Offer,
  type OfferInput,
  type TokenInfo,
  type VerifiedPayment,
  DEFAULT_VALIDITY_MARGIN_SECONDS,
  checkReceipt,
  classifyCallError,
  collectionMethods,
  createExactScheme,
  eip3009Abi,
  exactPaymentKey,
  isCanonicalEcdsaSignature,
  revertCode,
  transferWithAuthorizationArgs,
  transferWithAuthorizationTypes,
  usesLegacyTransactions,
} from "../../gateway/schemes/index.js";
import { USDC_DOMAIN_NAME, USDC_DOMAIN_VERSION, deployEscrowSystem } from "../contracts/helpers/escrow.js";

const { viem, networkHelpers } = await network.create();

const PRICE = 10_000n; // 0.01 USDC
const MAX_TIMEOUT_SECONDS = 300;
const FUNDS = 1_000_000n;
const RESOURCE = { url: "https://gateway.example.com/v1/weather", description: "Weather", mimeType: "application/json" };

/** secp256k1 group order, for building the high-s twin of a signature. */
const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

const payerKey = generatePrivateKey();
const strangerKey = generatePrivateKey();
const poorKey = generatePrivateKey();

async function deploy() {
  const s = await deployEscrowSystem(viem);
  const payer = privateKeyToAccount(payerKey);
  await s.usdc.write.mint([payer.address, FUNDS]);
  const usdcToken: TokenInfo = {
    address: s.usdc.address,
    symbol: "USDC",
    decimals: 6,
    collectionMethods: collectionMethods.eip3009 | collectionMethods.permit | collectionMethods.erc20,
    eip712: { name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION },
  };
  const usdtToken: TokenInfo = {
    address: s.usdt.address,
    symbol: "USDT",
    decimals: 6,
    collectionMethods: collectionMethods.erc20,
    eip712: { name: "", version: "" },
  };
  // The operator is the gateway's settlement account; the payee is the API's payTo.
  const scheme = createExactScheme({ chainId: s.chainId, publicClient: s.publicClient, walletClient: s.operator });
  // Hardhat's accounts come lower-case; the scheme hands out checksummed addresses.
  const payTo = getAddress(s.payee.account.address);
  const offer = scheme.offer(offerInput(usdcToken, payTo));
  if (offer === undefined) throw new Error("USDC must be offered");
  return { ...s, payer, usdcToken, usdtToken, scheme, payTo, offer };
}

type Ctx = Awaited<ReturnType<typeof deploy>>;

function offerInput(token: TokenInfo, payTo: Address, amount = PRICE): OfferInput {
  return { token, amount, payTo, maxTimeoutSeconds: MAX_TIMEOUT_SECONDS, resource: RESOURCE };
}

async function chainNow(c: Ctx): Promise<bigint> {
  return (await c.publicClient.getBlock()).timestamp;
}

interface AuthorizationFields {
  from: Address;
  to: Address;
  value: bigint;
  validAfter: bigint;
  validBefore: bigint;
  nonce: Hex;
}

interface DomainOverrides {
  name?: string;
  version?: string;
  chainId?: number;
  verifyingContract?: Address;
}

/** The wire payload: what `payload` holds in X-PAYMENT / PAYMENT-SIGNATURE. */
interface WirePayload {
  signature: Hex;
  authorization: { from: string; to: string; value: string; validAfter: string; validBefore: string; nonce: string };
}

function wire(signature: Hex, a: AuthorizationFields): WirePayload {
  return {
    signature,
    authorization: {
      from: a.from,
      to: a.to,
      value: a.value.toString(),
      validAfter: a.validAfter.toString(),
      validBefore: a.validBefore.toString(),
      nonce: a.nonce,
    },
  };
}

/**
 * Signs like the official clients: `style` "v1" → validAfter = now − 600, "v2" → 0; validBefore =
 * now + maxTimeoutSeconds; a random nonce. `fields` and `domain` override for the negative cases.
 */
async function pay(
  c: Ctx,
  options: {
    signer?: PrivateKeyAccount;
    style?: "v1" | "v2";
    fields?: Partial<AuthorizationFields>;
    domain?: DomainOverrides;
    sign?: (message: AuthorizationFields, domain: Required<DomainOverrides>) => Promise<Hex>;
  } = {},
): Promise<WirePayload> {
  const signer = options.signer ?? c.payer;
  const now = await chainNow(c);
  const message: AuthorizationFields = {
    from: signer.address,
    to: c.payTo,
    value: PRICE,
    validAfter: options.style === "v2" ? 0n : now - 600n,
    validBefore: now + BigInt(MAX_TIMEOUT_SECONDS),
    nonce: toHex(crypto.getRandomValues(new Uint8Array(32))),
    ...options.fields,
  };
  const domain: Required<DomainOverrides> = {
    name: USDC_DOMAIN_NAME,
    version: USDC_DOMAIN_VERSION,
    chainId: c.chainId,
    verifyingContract: c.usdc.address,
    ...options.domain,
  };
  const signature = options.sign
    ? await options.sign(message, domain)
    : await signer.signTypedData({
        domain,
        types: transferWithAuthorizationTypes,
        primaryType: "TransferWithAuthorization",
        message,
      });
  return wire(signature, message);
}

async function rejection(run: () => Promise<unknown>): Promise<PaymentError> {
  try {
    await run();
  } catch (error) {
    if (isPaymentError(error)) return error;
    throw error;
  }
  expect.fail("expected a PaymentError");
}

async function expectCode(run: () => Promise<unknown>, code: ErrorCode): Promise<PaymentError> {
  const error = await rejection(run);
  expect(error.code, error.message).to.equal(code);
  return error;
}

async function verify(c: Ctx, payload: unknown, offer: Offer = c.offer, now?: bigint): Promise<VerifiedPayment> {
  return c.scheme.verify(payload, offer, now ?? (await chainNow(c)));
}

/** The s-flipped twin of a signature: recovers to the same key, but the token refuses it. */
function highSTwin(signature: Hex): Hex {
  const r = slice(signature, 0, 32);
  const s = BigInt(slice(signature, 32, 64));
  const v = Number(BigInt(slice(signature, 64, 65)));
  return concat([r, numberToHex(CURVE_ORDER - s, { size: 32 }), numberToHex(v === 27 ? 28 : 27, { size: 1 })]);
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

describe("exact scheme (EIP-3009)", () => {
  describe("offer", () => {
    it("offers EIP-3009 tokens with the token's EIP-712 name and version in extra", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      expect(c.offer).to.deep.equal({
        scheme: "exact",
        chainId: 324705682,
        token: c.usdcToken,
        amount: PRICE,
        payTo: c.payTo,
        maxTimeoutSeconds: MAX_TIMEOUT_SECONDS,
        extra: { name: "Bridged USDC (SKALE Bridge)", version: "2" },
        resource: RESOURCE,
      });
      expect(c.scheme.name).to.equal("exact");
      expect(c.scheme.chainId).to.equal(c.chainId);
    });

    it("makes no offer for tokens without EIP-3009 or without an EIP-712 domain", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      expect(c.scheme.offer(offerInput(c.usdtToken, c.payTo))).to.equal(undefined);
      const noDomain = { ...c.usdcToken, eip712: { name: "", version: "2" } };
      expect(c.scheme.offer(offerInput(noDomain, c.payTo))).to.equal(undefined);
      const noMethod = { ...c.usdcToken, collectionMethods: collectionMethods.permit | collectionMethods.erc20 };
      expect(c.scheme.offer(offerInput(noMethod, c.payTo))).to.equal(undefined);
    });

    it("refuses a zero price and a timeout no payment could meet", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      expect(() => c.scheme.offer(offerInput(c.usdcToken, c.payTo, 0n))).to.throw(RangeError);
      const tooShort = { ...offerInput(c.usdcToken, c.payTo), maxTimeoutSeconds: Number(DEFAULT_VALIDITY_MARGIN_SECONDS) };
      expect(() => c.scheme.offer(tooShort)).to.throw(RangeError, /validity margin/);
    });
  });

  describe("selectOffer (v1 payments do not name the token)", () => {
    it("picks the offer whose token domain the signature was made over", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const other = await viem.deployContract("MockUSDC", ["USD Coin", "USDC", "2"]);
      await other.write.mint([c.payer.address, FUNDS]);
      const otherToken: TokenInfo = { ...c.usdcToken, address: getAddress(other.address), eip712: { name: "USD Coin", version: "2" } };
      const otherOffer = c.scheme.offer(offerInput(otherToken, c.payTo));
      if (otherOffer === undefined) throw new Error("expected an offer");
      const candidates = [c.offer, otherOffer];

      const forOther = await pay(c, { domain: { name: "USD Coin", verifyingContract: otherToken.address } });
      expect(await c.scheme.selectOffer(forOther, candidates)).to.equal(otherOffer);
      expect((await verify(c, forOther, otherOffer)).token).to.equal(otherToken.address);
      const forUsdc = await pay(c);
      expect(await c.scheme.selectOffer(forUsdc, [otherOffer, c.offer])).to.equal(c.offer);

      // Nothing recovers: the first offer with matching terms, and verify says why.
      const cheaper = c.scheme.offer(offerInput(c.usdcToken, c.payTo, PRICE - 1n));
      if (cheaper === undefined) throw new Error("expected an offer");
      const foreign = await pay(c, { domain: { version: "1" } });
      const chosen = await c.scheme.selectOffer(foreign, [cheaper, otherOffer, c.offer]);
      expect(chosen).to.equal(otherOffer);
      await expectCode(() => verify(c, foreign, chosen), "invalid_signature");
      // Junk: the first of ours. Only others': none.
      expect(await c.scheme.selectOffer({ nope: 1 }, [otherOffer, c.offer])).to.equal(otherOffer);
      expect(await c.scheme.selectOffer(forUsdc, [{ ...c.offer, scheme: "escrow" }, { ...c.offer, chainId: 1 }])).to.equal(undefined);
    });
  });

  describe("verify and settle", () => {
    it("verifies a v1-style payment, settles it after a JSON round trip, and moves the funds", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const payload = await pay(c, { style: "v1" });
      const payment = await verify(c, payload);

      const a = payload.authorization;
      expect(payment).to.deep.equal({
        scheme: "exact",
        chainId: c.chainId,
        payer: c.payer.address,
        payee: c.payTo,
        token: c.usdc.address,
        amount: PRICE,
        paymentKey: `exact:${c.chainId}:${c.usdc.address}:${c.payer.address}:${a.nonce}`.toLowerCase(),
        nonce: a.nonce,
        validBefore: BigInt(a.validBefore),
        settlementData: payload,
      });

      // What the ledger stores and a restarted engine reads back.
      const stored: VerifiedPayment = { ...payment, settlementData: JSON.parse(JSON.stringify(payment.settlementData)) };
      const payerBefore = await c.usdc.read.balanceOf([c.payer.address]);
      const payeeBefore = await c.usdc.read.balanceOf([c.payTo]);
      const settlement = await c.scheme.settle(stored);

      const receipt = await c.publicClient.getTransactionReceipt({ hash: settlement.transaction });
      expect(receipt.status).to.equal("success");
      expect(receipt.type).to.equal("legacy"); // SKALE Base Sepolia's chain id: no EIP-1559
      expect(receipt.blockNumber).to.equal(settlement.blockNumber);
      expect(receipt.from).to.equal(c.operator.account.address.toLowerCase());
      expect(await c.usdc.read.balanceOf([c.payer.address])).to.equal(payerBefore - PRICE);
      expect(await c.usdc.read.balanceOf([c.payTo])).to.equal(payeeBefore + PRICE);
      expect(await c.usdc.read.authorizationState([c.payer.address, a.nonce as Hex])).to.equal(true);
    });

    it("verifies and settles a v2-style payment (validAfter 0)", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const payment = await verify(c, await pay(c, { style: "v2" }));
      await c.scheme.settle(payment);
      expect(await c.usdc.read.balanceOf([c.payTo])).to.equal(PRICE);
    });

    it("accepts any casing of addresses and hex, and keys every spelling the same", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const payload = await pay(c);
      const lowered = {
        signature: payload.signature.toUpperCase().replace(/^0X/, "0x"),
        authorization: {
          ...payload.authorization,
          from: payload.authorization.from.toLowerCase(),
          to: payload.authorization.to.toLowerCase(),
          nonce: payload.authorization.nonce.toUpperCase().replace(/^0X/, "0x"),
        },
      };
      const a = await verify(c, payload);
      const b = await verify(c, lowered);
      expect(b.paymentKey).to.equal(a.paymentKey);
      expect(b.settlementData).to.deep.equal(a.settlementData);
    });

    it("ignores unknown payload keys", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const payload = await pay(c);
      const payment = await verify(c, { ...payload, extra: 1, authorization: { ...payload.authorization, memo: "x" } });
      expect(payment.settlementData).to.deep.equal(payload);
    });

    it("honours the engine's nonce and gas price overrides", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const payment = await verify(c, await pay(c));
      const nonce = await c.publicClient.getTransactionCount({ address: c.operator.account.address });
      const gasPrice = (await c.publicClient.getGasPrice()) * 2n;
      const { transaction } = await c.scheme.settle(payment, { nonce, gasPrice });
      const tx = await c.publicClient.getTransaction({ hash: transaction });
      expect(tx.nonce).to.equal(nonce);
      expect(tx.gasPrice).to.equal(gasPrice);
      expect(tx.type).to.equal("legacy");
    });

    it("settles through an ERC-1271 wallet payer", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const owner = privateKeyToAccount(strangerKey);
      const wallet = await viem.deployContract("MockERC1271Wallet", [owner.address]);
      await c.usdc.write.mint([wallet.address, FUNDS]);
      // The owner signs the very typed data an EOA would, with the wallet as `from`.
      const payload = await pay(c, {
        fields: { from: wallet.address },
        sign: (message, domain) =>
          owner.signTypedData({ domain, types: transferWithAuthorizationTypes, primaryType: "TransferWithAuthorization", message }),
      });
      const payment = await verify(c, payload);
      expect(payment.payer).to.equal(getAddress(wallet.address));
      await c.scheme.settle(payment);
      expect(await c.usdc.read.balanceOf([wallet.address])).to.equal(FUNDS - PRICE);
      expect(await c.usdc.read.balanceOf([c.payTo])).to.equal(PRICE);
    });

    it("prints the median verification latency", async function () {
      const c = await networkHelpers.loadFixture(deploy);
      const payloads = await Promise.all(Array.from({ length: 50 }, () => pay(c)));
      const now = await chainNow(c);
      await verify(c, payloads[0], c.offer, now); // warm-up: first calls compile and cache
      const times: number[] = [];
      for (const payload of payloads) {
        const start = performance.now();
        await verify(c, payload, c.offer, now);
        times.push(performance.now() - start);
      }
      times.sort((x, y) => x - y);
      const median = ((times[24] ?? 0) + (times[25] ?? 0)) / 2;
      console.log(`      exact verify: median ${median.toFixed(2)} ms over ${times.length} (min ${times[0]?.toFixed(2)}, max ${times.at(-1)?.toFixed(2)})`);
    });
  });

  describe("rejections", () => {
    it("malformed payloads are malformed_payment", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const good = await pay(c);
      const auth = good.authorization;
      const variants: [string, unknown][] = [
        ["null", null],
        ["a string", "0xdeadbeef"],
        ["an array", [good]],
        ["no signature", { authorization: auth }],
        ["no authorization", { signature: good.signature }],
        ["authorization not an object", { ...good, authorization: "x" }],
        ["value as a number", { ...good, authorization: { ...auth, value: Number(auth.value) } }],
        ["value with a leading zero", { ...good, authorization: { ...auth, value: `0${auth.value}` } }],
        ["value in hex", { ...good, authorization: { ...auth, value: "0x2710" } }],
        ["negative value", { ...good, authorization: { ...auth, value: "-10000" } }],
        ["decimal value", { ...good, authorization: { ...auth, value: "10000.0" } }],
        ["value above 2^256-1", { ...good, authorization: { ...auth, value: (2n ** 256n).toString() } }],
        ["validBefore missing", { ...good, authorization: { ...auth, validBefore: undefined } }],
        ["validAfter as a number", { ...good, authorization: { ...auth, validAfter: 0 } }],
        ["short nonce", { ...good, authorization: { ...auth, nonce: slice(auth.nonce as Hex, 0, 31) } }],
        ["nonce without 0x", { ...good, authorization: { ...auth, nonce: auth.nonce.slice(2) } }],
        ["from not an address", { ...good, authorization: { ...auth, from: "0x1234" } }],
        ["from with a bad checksum", { ...good, authorization: { ...auth, from: flipChecksum(auth.from) } }],
        ["to missing", { ...good, authorization: { ...auth, to: undefined } }],
        ["signature not hex", { ...good, signature: `0x${"zz".repeat(65)}` }],
        ["signature too short", { ...good, signature: slice(good.signature, 0, 63) }],
        ["signature of odd length", { ...good, signature: `${good.signature}0` }],
      ];
      for (const [what, payload] of variants) {
        const error = await rejection(() => verify(c, payload));
        expect(error.code, what).to.equal("malformed_payment");
      }
      // The field that failed is named, for the response body.
      const error = await rejection(() => verify(c, { ...good, authorization: { ...auth, value: "01" } }));
      expect(error.details?.["fields"]).to.have.property("authorization.value");
    });

    it("a different recipient is wrong_recipient", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const elsewhere = getAddress(c.stranger.account.address);
      const error = await expectCode(async () => verify(c, await pay(c, { fields: { to: elsewhere } })), "wrong_recipient");
      expect(error.details).to.include({ payer: c.payer.address, expected: c.payTo, actual: elsewhere });
    });

    it("too little and too much are both amount_mismatch", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      await expectCode(async () => verify(c, await pay(c, { fields: { value: PRICE - 1n } })), "amount_mismatch");
      await expectCode(async () => verify(c, await pay(c, { fields: { value: PRICE + 1n } })), "amount_mismatch");
    });

    it("an authorization that ends before settlement could land is expired", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const now = await chainNow(c);
      await expectCode(async () => verify(c, await pay(c, { fields: { validBefore: now - 1n } })), "expired");
      await expectCode(async () => verify(c, await pay(c, { fields: { validBefore: now } })), "expired");
      // Still valid on chain, but not for long enough to settle.
      const margin = DEFAULT_VALIDITY_MARGIN_SECONDS;
      await expectCode(async () => verify(c, await pay(c, { fields: { validBefore: now + margin } }), c.offer, now), "expired");
      await verify(c, await pay(c, { fields: { validBefore: now + margin + 1n } }), c.offer, now);
    });

    it("a validAfter in the future is not_yet_valid", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const now = await chainNow(c);
      await expectCode(async () => verify(c, await pay(c, { fields: { validAfter: now + 60n } }), c.offer, now), "not_yet_valid");
    });

    it("a signature by another key is invalid_signature", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const stranger = privateKeyToAccount(strangerKey);
      await expectCode(
        async () =>
          verify(c, await pay(c, {
            sign: (message, domain) =>
              stranger.signTypedData({ domain, types: transferWithAuthorizationTypes, primaryType: "TransferWithAuthorization", message }),
          })),
        "invalid_signature",
      );
    });

    it("the high-s twin of a valid signature is invalid_signature", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const payload = await pay(c);
      const twin = highSTwin(payload.signature);
      // viem recovers the twin to the payer: only the explicit low-s rule stops it.
      const recovered = await recoverTypedDataAddress({
        domain: { name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION, chainId: c.chainId, verifyingContract: c.usdc.address },
        types: transferWithAuthorizationTypes,
        primaryType: "TransferWithAuthorization",
        message: decoded(payload),
        signature: twin,
      });
      expect(recovered).to.equal(c.payer.address);
      expect(isCanonicalEcdsaSignature(payload.signature)).to.equal(true);
      expect(isCanonicalEcdsaSignature(twin)).to.equal(false);
      await expectCode(() => verify(c, { ...payload, signature: twin }), "invalid_signature");
    });

    it("a v of 0/1 or a 64-byte compact signature from an EOA is invalid_signature, as on chain", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const payload = await pay(c);
      const v = Number(BigInt(slice(payload.signature, 64, 65)));
      const yParity = concat([slice(payload.signature, 0, 64), numberToHex(v - 27, { size: 1 })]);
      await expectCode(() => verify(c, { ...payload, signature: yParity }), "invalid_signature");
      await expectCode(() => verify(c, { ...payload, signature: slice(payload.signature, 0, 64) }), "invalid_signature");
    });

    it("a signature over another domain name, version, chain or contract is invalid_signature", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const domains: DomainOverrides[] = [
        { name: "USD Coin" },
        { version: "1" },
        { chainId: 1187947933 },
        { verifyingContract: c.usdt.address },
      ];
      for (const domain of domains) {
        const error = await rejection(async () => verify(c, await pay(c, { domain })));
        expect(error.code, JSON.stringify(domain)).to.equal("invalid_signature");
      }
    });

    it("an authorization already used on chain is nonce_used, for verify and settle", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const payload = await pay(c);
      const payment = await verify(c, payload);
      await c.scheme.settle(payment);
      await expectCode(() => verify(c, payload), "nonce_used");
      const error = await expectCode(() => c.scheme.settle(payment), "nonce_used");
      expect(error.details).to.include({ paymentKey: payment.paymentKey });
    });

    it("a payer without the funds is insufficient_funds", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const poor = privateKeyToAccount(poorKey);
      await c.usdc.write.mint([poor.address, PRICE - 1n]);
      await expectCode(async () => verify(c, await pay(c, { signer: poor })), "insufficient_funds");
    });

    it("an ERC-1271 wallet that refuses the signature is invalid_signature", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const owner = privateKeyToAccount(strangerKey);
      const wallet = await viem.deployContract("MockERC1271Wallet", [owner.address]);
      await c.usdc.write.mint([wallet.address, FUNDS]);
      // Signed by the payer's key, not the wallet owner's.
      const payload = await pay(c, {
        fields: { from: wallet.address },
        sign: (message, domain) =>
          c.payer.signTypedData({ domain, types: transferWithAuthorizationTypes, primaryType: "TransferWithAuthorization", message }),
      });
      await expectCode(() => verify(c, payload), "invalid_signature");
      // And a signature only a contract could accept (too long for ECDSA).
      await expectCode(() => verify(c, { ...payload, signature: concat([payload.signature, "0x00"]) }), "invalid_signature");
    });

    it("a token without the EIP-3009 views is unsupported_token, whatever the registry says", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      // USDT registered as if it had EIP-3009, and a payment signed over its address.
      const fake: TokenInfo = { ...c.usdtToken, collectionMethods: collectionMethods.eip3009, eip712: { name: "USDT", version: "1" } };
      const offer = c.scheme.offer(offerInput(fake, c.payTo));
      if (offer === undefined) throw new Error("expected an offer");
      const payload = await pay(c, { domain: { name: "USDT", version: "1", verifyingContract: c.usdt.address } });
      await expectCode(() => verify(c, payload, offer), "unsupported_token");
    });

    it("checks run in the documented order", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const now = await chainNow(c);
      const stranger = privateKeyToAccount(strangerKey);
      const badSigner = {
        sign: (message: AuthorizationFields, domain: Required<DomainOverrides>) =>
          stranger.signTypedData({ domain, types: transferWithAuthorizationTypes, primaryType: "TransferWithAuthorization", message }),
      };
      const all = { to: c.stranger.account.address, value: 1n, validAfter: now + 100n, validBefore: now };
      await expectCode(async () => verify(c, await pay(c, { ...badSigner, fields: all })), "wrong_recipient");
      const { to: _to, ...noRecipient } = all;
      await expectCode(async () => verify(c, await pay(c, { ...badSigner, fields: noRecipient })), "amount_mismatch");
      const { value: _value, ...noAmount } = noRecipient;
      await expectCode(async () => verify(c, await pay(c, { ...badSigner, fields: noAmount })), "not_yet_valid");
      await expectCode(async () => verify(c, await pay(c, { ...badSigner, fields: { validBefore: now } })), "expired");
      // A bad signature comes before any chain state: an unfunded payer's junk never costs an RPC.
      await expectCode(async () => verify(c, await pay(c, { signer: privateKeyToAccount(poorKey), ...badSigner })), "invalid_signature");
      // A used nonce comes before the balance.
      const poor = privateKeyToAccount(poorKey);
      await c.usdc.write.mint([poor.address, PRICE]);
      const spent = await verify(c, await pay(c, { signer: poor }));
      await c.scheme.settle(spent);
      await expectCode(
        async () => verify(c, await pay(c, { signer: poor, fields: { nonce: spent.nonce as Hex } })),
        "nonce_used",
      );
    });

    it("the simulation catches what the gateway's clock cannot: the chain's own time", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const chainTime = await chainNow(c);
      // A gateway clock running behind the chain: the signed window looks fine here but not on chain.
      const payload = await pay(c, { fields: { validBefore: chainTime } });
      await expectCode(() => verify(c, payload, c.offer, chainTime - 120n), "expired");
      // And running ahead: validAfter has passed for the gateway but not for the chain.
      const early = await pay(c, { fields: { validAfter: chainTime + 30n } });
      await expectCode(() => verify(c, early, c.offer, chainTime + 60n), "not_yet_valid");
    });

    it("an unreachable node is chain_unavailable, never a rejection of the payment", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const url = `http://127.0.0.1:${await closedPort()}`;
      const down = createPublicClient({ transport: http(url, { retryCount: 0 }) });
      const downWallet = createWalletClient({ account: privateKeyToAccount(strangerKey), transport: http(url, { retryCount: 0 }) });
      const scheme = createExactScheme({ chainId: c.chainId, publicClient: down, walletClient: downWallet });
      const now = await chainNow(c);

      const payload = await pay(c);
      const error = await expectCode(() => scheme.verify(payload, c.offer, now), "chain_unavailable");
      expect(error.status).to.equal(503);
      expect(error.cause).to.be.instanceOf(BaseError);

      // The ERC-1271 path needs the node even to look at the signature.
      const stranger = privateKeyToAccount(strangerKey);
      const foreign = await pay(c, {
        sign: (message, domain) =>
          stranger.signTypedData({ domain, types: transferWithAuthorizationTypes, primaryType: "TransferWithAuthorization", message }),
      });
      await expectCode(() => scheme.verify(foreign, c.offer, now), "chain_unavailable");

      // Checks that need no node still answer with their own codes.
      await expectCode(async () => scheme.verify(await pay(c, { fields: { value: 1n } }), c.offer, now), "amount_mismatch");

      const payment = await verify(c, payload);
      await expectCode(() => scheme.settle(payment), "chain_unavailable");
    });
  });

  describe("settlement guards", () => {
    it("refuses stored settlement data that does not match the payment", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const payment = await verify(c, await pay(c));
      const tampered: VerifiedPayment = { ...payment, amount: payment.amount + 1n };
      await expectCode(() => c.scheme.settle(tampered), "settlement_failed");
      await expectCode(() => c.scheme.settle({ ...payment, settlementData: { signature: "0x" } }), "settlement_failed");
      expect(await c.usdc.read.balanceOf([c.payTo])).to.equal(0n);
    });

    it("turns a settlement the token refuses into settlement_failed with the reason", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const payment = await verify(c, await pay(c));
      // Between verification and settlement the payer spends almost everything elsewhere, with a
      // second authorization someone else submits.
      const other = await pay(c, { fields: { value: FUNDS - PRICE + 1n, to: privateKeyToAccount(poorKey).address } });
      const args = transferWithAuthorizationArgs({ signature: other.signature, authorization: decoded(other) });
      if (args.length !== 9) throw new Error("expected (v, r, s)");
      await c.usdc.write.transferWithAuthorization(args);
      const error = await expectCode(() => c.scheme.settle(payment), "settlement_failed");
      expect(error.details).to.include({ reason: "insufficient_funds" });
    });

    it("only counts a receipt with the token's Transfer for exactly this payment", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const payment = await verify(c, await pay(c));
      // A successful transaction from the token that is not this payment: a mint to the payee.
      const hash = await c.usdc.write.mint([c.payTo, PRICE]);
      const receipt = await c.publicClient.waitForTransactionReceipt({ hash });
      expect(() => checkReceipt(receipt, payment)).to.throw(PaymentError, /no matching Transfer/);
      expect(() => checkReceipt({ ...receipt, status: "reverted" }, payment)).to.throw(PaymentError, /reverted/);
    });
  });

  describe("building blocks", () => {
    it("uses (v, r, s) for 65-byte signatures and the bytes overload otherwise", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const payload = await pay(c);
      const authorization = decoded(payload);
      const vrs = transferWithAuthorizationArgs({ signature: payload.signature, authorization });
      expect(vrs).to.have.length(9);
      expect(vrs.slice(6)).to.deep.equal([
        Number(BigInt(slice(payload.signature, 64, 65))),
        slice(payload.signature, 0, 32),
        slice(payload.signature, 32, 64),
      ]);
      const long = concat([payload.signature, "0x0102"]);
      const bytes = transferWithAuthorizationArgs({ signature: long, authorization });
      expect(bytes).to.have.length(7);
      expect(bytes[6]).to.equal(long);
      expect(size(long)).to.equal(67);

      // The bytes overload encodes correctly: the token accepts a 65-byte EOA signature through it.
      const data = encodeFunctionData({
        abi: eip3009Abi,
        functionName: "transferWithAuthorization",
        args: [...vrs.slice(0, 6), payload.signature] as unknown as readonly [Address, Address, bigint, bigint, bigint, Hex, Hex],
      });
      await c.publicClient.call({ to: c.usdc.address, data });
    });

    it("maps FiatToken's revert strings and unknown reverts", () => {
      const cases: [string, ErrorCode][] = [
        ["FiatTokenV2: invalid signature", "invalid_signature"],
        ["ECRecover: invalid signature 's' value", "invalid_signature"],
        ["FiatTokenV2: authorization is used or canceled", "nonce_used"],
        ["FiatTokenV2: authorization is not yet valid", "not_yet_valid"],
        ["FiatTokenV2: authorization is expired", "expired"],
        ["ERC20: transfer amount exceeds balance", "insufficient_funds"],
        ["Blacklistable: account is blacklisted", "settlement_failed"],
        ["Pausable: paused", "settlement_failed"],
      ];
      for (const [reason, code] of cases) {
        expect(revertCode({ kind: "revert", error: undefined, reason }), reason).to.equal(code);
      }
      expect(revertCode({ kind: "revert", error: undefined, reason: undefined })).to.equal("settlement_failed");
    });

    it("tells a contract's refusal from a node that cannot answer", () => {
      expect(classifyCallError(new Error("socket hang up"))).to.deep.equal({ kind: "unavailable" });
      expect(classifyCallError("nope")).to.deep.equal({ kind: "unavailable" });
      const wrap = (cause: BaseError) => new BaseError("call failed", { cause });
      const fn = { abi: eip3009Abi, functionName: "transferWithAuthorization" } as const;
      // A bare -32603 "internal error" is the node's failure, not a revert.
      expect(classifyCallError(wrap(new ContractFunctionRevertedError({ ...fn, message: "internal error" })))).to.deep.equal({
        kind: "unavailable",
      });
      expect(classifyCallError(wrap(new HttpRequestError({ url: "http://127.0.0.1:1" })))).to.deep.equal({ kind: "unavailable" });
      // Revert data decodes against the ABI.
      const data = encodeErrorResult({ abi: eip3009Abi, errorName: "AuthorizationExpired", args: [5n] });
      const decoded = classifyCallError(wrap(new ContractFunctionRevertedError({ ...fn, data })));
      expect(decoded.kind === "revert" && decoded.error?.errorName).to.equal("AuthorizationExpired");
      // geth's data-less -32000 "execution reverted", with and without a reason.
      const bare = classifyCallError(wrap(new ExecutionRevertedError({ message: "execution reverted: FiatTokenV2: authorization is expired" })));
      expect(bare.kind === "revert" && revertCode(bare)).to.equal("expired");
      expect(classifyCallError(wrap(new ExecutionRevertedError()))).to.include({ kind: "revert" });
    });

    it("knows which chains take legacy transactions", () => {
      expect(usesLegacyTransactions(324705682)).to.equal(true);
      expect(usesLegacyTransactions(1187947933)).to.equal(true);
      expect(usesLegacyTransactions(8453)).to.equal(false);
    });

    it("keys payments by chain, token, payer and nonce in lower case", () => {
      const token = getAddress("0x2e08028e3c4c2356572e096d8ef835cd5c6030bd");
      const from = getAddress("0x70997970c51812dc3a010c7d01b50e0d17dc79c8");
      const nonce = `0x${"AB".repeat(32)}` as Hex;
      const key = exactPaymentKey(324705682, token, { from, to: from, value: 1n, validAfter: 0n, validBefore: 1n, nonce });
      expect(key).to.equal(`exact:324705682:${token.toLowerCase()}:${from.toLowerCase()}:0x${"ab".repeat(32)}`);
    });

    it("refuses offers and payments meant for another scheme or chain", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const payload = await pay(c);
      let error: unknown;
      try {
        await c.scheme.verify(payload, { ...c.offer, chainId: 1 }, 0n);
      } catch (e) {
        error = e;
      }
      expect(error).to.be.instanceOf(TypeError);
      const payment = await verify(c, payload);
      error = undefined;
      try {
        await c.scheme.settle({ ...payment, scheme: "escrow" });
      } catch (e) {
        error = e;
      }
      expect(error).to.be.instanceOf(TypeError);
    });
  });
});

/** The same address with one letter's case flipped: a wrong EIP-55 checksum. */
function flipChecksum(address: string): string {
  const i = address.slice(2).search(/[a-fA-F]/) + 2;
  const ch = address[i] ?? "";
  const flipped = ch === ch.toUpperCase() ? ch.toLowerCase() : ch.toUpperCase();
  return address.slice(0, i) + flipped + address.slice(i + 1);
}

/** The authorization as the scheme decodes it. */
function decoded(payload: WirePayload) {
  const a = payload.authorization;
  return {
    from: getAddress(a.from),
    to: getAddress(a.to),
    value: BigInt(a.value),
    validAfter: BigInt(a.validAfter),
    validBefore: BigInt(a.validBefore),
    nonce: a.nonce as Hex,
  };
}
