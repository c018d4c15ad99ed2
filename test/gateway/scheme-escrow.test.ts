/**
 * The escrow scheme (docs/escrow-scheme.md) against Hardhat's in-process chain, which uses SKALE
 * Base Sepolia's chain id: offers for all four tokens, verification with every rejection code and
 * the async/sync funds rule, single and batch settlement, and the unsettled ledger on both
 * database backends.
 *
 * Payers sign the way the spec tells clients to: validAfter 0, validBefore = now +
 * maxTimeoutSeconds, a random 248-bit nonce word with an 8-bit counter, challengeHash copied from
 * the offer, every number a decimal string.
 */
import { createServer } from "node:net";
import hre, { network } from "hardhat";
import { expect } from "chai";
import {
  type Abi,
  type AbiEvent,
  type AbiFunction,
  type Address,
  type Hex,
  BaseError,
  concat,
  createPublicClient,
  createWalletClient,
  custom,
  encodeAbiParameters,
  encodeFunctionData,
  getAddress,
  hashTypedData,
  http,
  keccak256,
  numberToHex,
  parseEventLogs,
  recoverTypedDataAddress,
  slice,
  stringToBytes,
  toEventSelector,
  toFunctionSelector,
  zeroAddress,
} from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import type { WalletClient } from "@nomicfoundation/hardhat-viem/types";
import { type ErrorCode, PaymentError, isPaymentError } from "../../gateway/x402/index.js";
import {
  type ChainReader,
  type Offer,
  type OfferInput,
  type PaymentScheme,
  type TokenInfo,
  type VerifiedPayment,
  collectionMethods,
} from "../../gateway/schemes/index.js";
import {
  CHALLENGE_TAG,
  DEFAULT_ESCROW_VALIDITY_MARGIN_SECONDS,
  MIN_WITHDRAWAL_DELAY_SECONDS,
  SETTLEMENT_FAILURES,
  type EscrowBatchOutcome,
  type EscrowSchemeConfig,
  type FundsInput,
  awaitEscrowBatch,
  batchOutcomes,
  broadcastEscrowBatch,
  buildEscrowBatchTransaction,
  challengeHash,
  checkEscrowDeployment,
  checkSettleReceipt,
  checkSettlementHorizon,
  classifyEscrowRevert,
  createEscrowScheme,
  decideSettlement,
  escrowNonce,
  escrowPaymentKey,
  escrowSettlementMode,
  failureCode,
  paymentAuthorizationTypes,
  prepareEscrowBatch,
  randomNonceWord,
  settleEscrowBatch,
  settlementEscrowAbi,
  settlementFailureName,
  signEscrowBatchTransaction,
  tokenLimits,
} from "../../gateway/schemes/escrow/index.js";
import {
  RECENT_SLACK_MS,
  type UnsettledLedger,
  type UnsettledQuery,
  applyFundsCondition,
  createUnsettledLedger,
} from "../../gateway/ledger/index.js";
import { closeTestBackends, testBackends } from "../../gateway/db/testing.js";
import {
  LIMITS,
  ONE_DAY,
  USDC_DOMAIN_NAME,
  USDC_DOMAIN_VERSION,
  deployEscrowSystem,
} from "../contracts/helpers/escrow.js";

const { viem, networkHelpers, provider } = await network.create();

after(closeTestBackends);

const TOKEN_NAMES = ["usdc", "usdt", "skl", "weth"] as const;
type TokenName = (typeof TOKEN_NAMES)[number];

/** One request's price in each token (0.01 USDC / USDT / SKL, 0.000001 WETH). */
const PRICE: Record<TokenName, bigint> = { usdc: 10_000n, usdt: 10_000n, skl: 10n ** 16n, weth: 10n ** 12n };
/** Each agent deposits 10,000 requests' worth; `agent` commits 100 of them to the payee. */
const DEPOSIT_REQUESTS = 10_000n;
const COMMIT_REQUESTS = 100n;

const HORIZON = 300n;
const MARGIN = DEFAULT_ESCROW_VALIDITY_MARGIN_SECONDS;
const MAX_TIMEOUT_SECONDS = 600;
const RESOURCE = { url: "https://gateway.example.com/v1/weather", description: "Weather", mimeType: "application/json" };

/** secp256k1 group order, for building the high-s twin of a signature. */
const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

const settlerKey = generatePrivateKey();
const strangerKey = generatePrivateKey();

function tokenInfo(address: Address, symbol: string, decimals: number, methods: number, eip712 = { name: "", version: "" }): TokenInfo {
  return { address: getAddress(address), symbol, decimals, collectionMethods: methods, eip712 };
}

async function deploy() {
  const s = await deployEscrowSystem(viem);
  const payTo = getAddress(s.payee.account.address);
  const tokens: Record<TokenName, TokenInfo> = {
    usdc: tokenInfo(s.usdc.address, "USDC", 6, collectionMethods.eip3009 | collectionMethods.permit | collectionMethods.erc20, {
      name: USDC_DOMAIN_NAME,
      version: USDC_DOMAIN_VERSION,
    }),
    usdt: tokenInfo(s.usdt.address, "USDT", 6, collectionMethods.erc20),
    skl: tokenInfo(s.skl.address, "SKL", 18, collectionMethods.erc20),
    weth: tokenInfo(s.weth.address, "WETH", 18, collectionMethods.erc20),
  };
  for (const name of TOKEN_NAMES) {
    const token = tokens[name].address;
    for (const who of [s.agent, s.agent2]) {
      await s.escrow.write.deposit([token, PRICE[name] * DEPOSIT_REQUESTS], { account: who.account });
    }
    await s.escrow.write.commit([token, payTo, PRICE[name] * COMMIT_REQUESTS], { account: s.agent.account });
  }
  const settler = privateKeyToAccount(settlerKey);
  await networkHelpers.setBalance(settler.address, 10n ** 21n);
  return { ...s, escrowAddress: getAddress(s.escrow.address), payTo, tokens, settler };
}

/**
 * The scheme with the funds rule applied against `ledger`, as the payment flow applies it when it
 * records a payment (atomically, in SQL; here with a read, which is what these tests need). The
 * head is re-read on every verification: tests change the chain between two payments at once.
 */
function escrowScheme(config: EscrowSchemeConfig & { readonly ledger: UnsettledLedger }): PaymentScheme {
  const { ledger, ...rest } = config;
  const scheme = createEscrowScheme({ headMaxAgeMs: 0, ...rest });
  return { ...scheme, verify: async (payload, offer, now) => applyFundsCondition(ledger, await scheme.verify(payload, offer, now)) };
}

/** Records every query and sums what tests add, as the payments table would. */
class MemoryLedger implements UnsettledLedger {
  readonly queries: UnsettledQuery[] = [];
  readonly payments = new Map<string, VerifiedPayment>();
  failure: Error | undefined;

  add(payment: VerifiedPayment): void {
    this.payments.set(payment.paymentKey, payment);
  }

  async unsettledAmount(query: UnsettledQuery): Promise<bigint> {
    this.queries.push(query);
    if (this.failure !== undefined) throw this.failure;
    let sum = 0n;
    for (const p of this.payments.values()) {
      const same =
        p.chainId === query.chainId &&
        p.token.toLowerCase() === query.token.toLowerCase() &&
        p.payer.toLowerCase() === query.payer.toLowerCase() &&
        p.payee.toLowerCase() === query.payee.toLowerCase() &&
        (query.scheme === undefined || p.scheme === query.scheme) &&
        p.paymentKey !== query.excludePaymentKey;
      if (same) sum += p.amount;
    }
    return sum;
  }
}

function offerInput(token: TokenInfo, payTo: Address, amount: bigint, overrides: Partial<OfferInput> = {}): OfferInput {
  return { token, amount, payTo, maxTimeoutSeconds: MAX_TIMEOUT_SECONDS, resource: RESOURCE, ...overrides };
}

async function setup(options: { ledger?: UnsettledLedger } = {}) {
  const f = await networkHelpers.loadFixture(deploy);
  const wallet = createWalletClient({ account: f.settler, chain: f.publicClient.chain, transport: custom(provider) });
  const memory = new MemoryLedger();
  const scheme = escrowScheme({
    chainId: f.chainId,
    escrow: f.escrowAddress,
    publicClient: f.publicClient,
    walletClient: wallet,
    ledger: options.ledger ?? memory,
    settlementHorizonSeconds: HORIZON,
  });
  const offer = (name: TokenName, amount = PRICE[name], overrides: Partial<OfferInput> = {}): Offer => {
    const made = scheme.offer(offerInput(f.tokens[name], f.payTo, amount, overrides));
    if (made === undefined) throw new Error(`expected an escrow offer for ${name}`);
    return made;
  };
  return { ...f, wallet, ledger: memory, scheme, offer };
}

type Ctx = Awaited<ReturnType<typeof setup>>;

async function chainNow(c: Ctx): Promise<bigint> {
  return (await c.publicClient.getBlock()).timestamp;
}

interface Authorization {
  payer: Address;
  payee: Address;
  token: Address;
  amount: bigint;
  nonce: bigint;
  validAfter: bigint;
  validBefore: bigint;
  challengeHash: Hex;
}

interface Domain {
  name: string;
  version: string;
  chainId: number;
  verifyingContract: Address;
}

/** The wire payload: what `payload` holds in X-PAYMENT / PAYMENT-SIGNATURE. */
interface WirePayload {
  signature: Hex;
  authorization: Record<keyof Authorization, string>;
}

function wire(signature: Hex, a: Authorization): WirePayload {
  return {
    signature,
    authorization: {
      payer: a.payer,
      payee: a.payee,
      token: a.token,
      amount: a.amount.toString(),
      nonce: a.nonce.toString(),
      validAfter: a.validAfter.toString(),
      validBefore: a.validBefore.toString(),
      challengeHash: a.challengeHash,
    },
  };
}

let nonceWord = randomNonceWord();
let nonceCounter = 0;
/** As the spec recommends: one random word, counting up the low byte, a new word after 256. */
function nextNonce(): bigint {
  if (nonceCounter > 0xff) {
    nonceWord = randomNonceWord();
    nonceCounter = 0;
  }
  return escrowNonce(nonceWord, nonceCounter++);
}

type Signer = (message: Authorization, domain: Domain) => Promise<Hex>;

function walletSigner(wallet: WalletClient): Signer {
  return (message, domain) =>
    wallet.signTypedData({ account: wallet.account, domain, types: paymentAuthorizationTypes, primaryType: "PaymentAuthorization", message });
}

function keySigner(key: Hex): Signer {
  const account = privateKeyToAccount(key);
  return (message, domain) => account.signTypedData({ domain, types: paymentAuthorizationTypes, primaryType: "PaymentAuthorization", message });
}

/** A client's payment for `offer` (default: USDC at the base price), signed by `agent` unless told otherwise. */
async function pay(
  c: Ctx,
  options: { offer?: Offer; payer?: WalletClient; fields?: Partial<Authorization>; domain?: Partial<Domain>; sign?: Signer } = {},
): Promise<WirePayload> {
  const offer = options.offer ?? c.offer("usdc");
  const payer = options.payer ?? c.agent;
  const now = await chainNow(c);
  const message: Authorization = {
    payer: getAddress(payer.account.address),
    payee: offer.payTo,
    token: offer.token.address,
    amount: offer.amount,
    nonce: nextNonce(),
    validAfter: 0n,
    validBefore: now + BigInt(offer.maxTimeoutSeconds),
    challengeHash: offer.extra["challengeHash"] as Hex,
    ...options.fields,
  };
  const domain: Domain = {
    name: "PayPerAgent Settlement Escrow",
    version: "1",
    chainId: c.chainId,
    verifyingContract: c.escrowAddress,
    ...options.domain,
  };
  const sign = options.sign ?? walletSigner(payer);
  return wire(await sign(message, domain), message);
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

async function thrown(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return error;
  }
  expect.fail("expected an error");
}

async function verify(c: Ctx, payload: unknown, offer: Offer = c.offer("usdc"), now?: bigint): Promise<VerifiedPayment> {
  return c.scheme.verify(payload, offer, now ?? (await chainNow(c)));
}

function modeOf(payment: VerifiedPayment): string {
  return escrowSettlementMode(payment);
}

/** What the ledger stores and a restarted engine reads back. */
function roundTrip(payment: VerifiedPayment): VerifiedPayment {
  return { ...payment, settlementData: JSON.parse(JSON.stringify(payment.settlementData)) };
}

/** The s-flipped twin of a signature: recovers to the same key, but the escrow refuses it. */
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

/** A contract wallet owned by `stranger`, funded in the escrow by `agent` and committed to the payee. */
async function contractWallet(c: Ctx, options: { commit: boolean }) {
  const wallet = await viem.deployContract("MockERC1271Wallet", [c.stranger.account.address]);
  const address = getAddress(wallet.address);
  const usdc = c.tokens.usdc.address;
  await c.escrow.write.depositFor([usdc, address, PRICE.usdc * 1_000n], { account: c.agent.account });
  if (options.commit) {
    const data = encodeFunctionData({ abi: commitAbi, functionName: "commit", args: [usdc, c.payTo, PRICE.usdc * 100n] });
    await wallet.write.execute([c.escrowAddress, data], { account: c.stranger.account });
  }
  // The owner signs the very typed data an EOA would, with the wallet as payer.
  const payload = (fields: Partial<Authorization> = {}, signer: Signer = walletSigner(c.stranger)) =>
    pay(c, { fields: { payer: address, ...fields }, sign: signer });
  return { wallet, address, payload };
}

const commitAbi = [
  {
    type: "function",
    name: "commit",
    stateMutability: "nonpayable",
    inputs: [
      { name: "token", type: "address" },
      { name: "payee", type: "address" },
      { name: "amount", type: "uint256" },
    ],
    outputs: [],
  },
] as const;

/** The authorization as the scheme decodes it, for calling the escrow directly. */
function decoded(payload: WirePayload): Authorization {
  const a = payload.authorization;
  return {
    payer: getAddress(a.payer),
    payee: getAddress(a.payee),
    token: getAddress(a.token),
    amount: BigInt(a.amount),
    nonce: BigInt(a.nonce),
    validAfter: BigInt(a.validAfter),
    validBefore: BigInt(a.validBefore),
    challengeHash: a.challengeHash as Hex,
  };
}

describe("escrow scheme", () => {
  describe("offer", () => {
    it("offers every registered token, with the escrow domain, challenge hash and settlement mode in extra", async () => {
      const c = await setup();
      for (const name of TOKEN_NAMES) {
        const offer = c.offer(name);
        expect(offer).to.deep.equal({
          scheme: "escrow",
          chainId: 324705682,
          token: c.tokens[name],
          amount: PRICE[name],
          payTo: c.payTo,
          maxTimeoutSeconds: MAX_TIMEOUT_SECONDS,
          extra: {
            escrow: c.escrowAddress,
            name: "PayPerAgent Settlement Escrow",
            version: "1",
            challengeHash: challengeHash({
              chainId: c.chainId,
              escrow: c.escrowAddress,
              resourceUrl: RESOURCE.url,
              token: c.tokens[name].address,
              amount: PRICE[name],
              payTo: c.payTo,
            }),
            settlement: "async",
          },
          resource: RESOURCE,
        });
      }
      expect(c.scheme.name).to.equal("escrow");
      expect(c.scheme.chainId).to.equal(c.chainId);
    });

    it("says sync when maxTimeoutSeconds cannot cover the settlement horizon", async () => {
      const c = await setup();
      const edge = Number(HORIZON + MARGIN);
      expect(c.offer("usdc", PRICE.usdc, { maxTimeoutSeconds: edge }).extra["settlement"]).to.equal("sync");
      expect(c.offer("usdc", PRICE.usdc, { maxTimeoutSeconds: edge + 1 }).extra["settlement"]).to.equal("async");
    });

    it("refuses a zero price, a timeout no payment could meet, and a payee the escrow cannot pay", async () => {
      const c = await setup();
      const input = offerInput(c.tokens.usdc, c.payTo, PRICE.usdc);
      expect(() => c.scheme.offer({ ...input, amount: 0n })).to.throw(RangeError);
      expect(() => c.scheme.offer({ ...input, maxTimeoutSeconds: Number(MARGIN) })).to.throw(RangeError, /validity margin/);
      expect(() => c.scheme.offer({ ...input, payTo: zeroAddress })).to.throw(RangeError);
      expect(() => c.scheme.offer({ ...input, payTo: c.escrowAddress })).to.throw(RangeError);
    });

    it("makes no offer for the zero token or, when the token carries registry limits, a price outside them", async () => {
      const c = await setup();
      const zero = { ...c.tokens.usdc, address: zeroAddress };
      expect(c.scheme.offer(offerInput(zero, c.payTo, PRICE.usdc))).to.equal(undefined);
      // The token catalog's entries carry minAmount / maxAmount.
      const catalogEntry = { ...c.tokens.usdc, minAmount: LIMITS.usdc.min, maxAmount: LIMITS.usdc.max };
      expect(tokenLimits(catalogEntry)).to.deep.equal({ min: LIMITS.usdc.min, max: LIMITS.usdc.max });
      expect(tokenLimits(c.tokens.usdc)).to.equal(undefined);
      expect(c.scheme.offer(offerInput(catalogEntry, c.payTo, LIMITS.usdc.max))).to.not.equal(undefined);
      expect(c.scheme.offer(offerInput(catalogEntry, c.payTo, LIMITS.usdc.max + 1n))).to.equal(undefined);
    });
  });

  describe("challenge hash", () => {
    const input = {
      chainId: 324705682,
      escrow: getAddress("0x5FbDB2315678afecb367f032d93F642f64180aa3"),
      resourceUrl: "https://gateway.example.com/v1/weather",
      token: getAddress("0x2e08028e3c4c2356572e096d8ef835cd5c6030bd"),
      amount: 10_000n,
      payTo: getAddress("0x90f79bf6eb2c4f870365e785982e1f101e93b906"),
    };

    it("is keccak256 of seven 32-byte words, reproducible without an ABI library", () => {
      const word = (value: bigint | Hex) => numberToHex(typeof value === "bigint" ? value : BigInt(value), { size: 32 });
      const manual = keccak256(
        concat([
          keccak256(stringToBytes("x402-escrow-v1")),
          word(BigInt(input.chainId)),
          word(input.escrow),
          keccak256(stringToBytes(input.resourceUrl)),
          word(input.token),
          word(input.amount),
          word(input.payTo),
        ]),
      );
      expect(challengeHash(input)).to.equal(manual);
      // The test vector of docs/escrow-scheme.md.
      expect(manual).to.equal("0x1f7b631c2db0f7f4546e7d1e47991976e48c3e0949413826f15951473488eeab");
      expect(CHALLENGE_TAG).to.equal("x402-escrow-v1");
      const viaAbi = keccak256(
        encodeAbiParameters(
          [{ type: "bytes32" }, { type: "uint256" }, { type: "address" }, { type: "bytes32" }, { type: "address" }, { type: "uint256" }, { type: "address" }],
          [keccak256(stringToBytes(CHALLENGE_TAG)), 324705682n, input.escrow, keccak256(stringToBytes(input.resourceUrl)), input.token, 10_000n, input.payTo],
        ),
      );
      expect(challengeHash(input)).to.equal(viaAbi);
    });

    it("changes with every input, and not with address casing", () => {
      const reference = challengeHash(input);
      const other = getAddress("0x15d34aaf54267db7d7c367839aaf71a00a2c6a65");
      const variants = [
        { chainId: 1187947933 },
        { escrow: other },
        { resourceUrl: `${input.resourceUrl}/` },
        { resourceUrl: "https://gateway.example.com/v1/Weather" },
        { token: other },
        { amount: 10_001n },
        { payTo: other },
      ];
      for (const variant of variants) expect(challengeHash({ ...input, ...variant }), JSON.stringify(variant, (_, v) => (typeof v === "bigint" ? `${v}` : v))).to.not.equal(reference);
      expect(challengeHash({ ...input, token: input.token.toLowerCase() as Address })).to.equal(reference);
    });
  });

  describe("nonces and keys", () => {
    it("builds nonces from a 248-bit word and an 8-bit counter, so a session's nonces share a bitmap word", () => {
      const word = randomNonceWord();
      expect(word < 1n << 248n).to.equal(true);
      const nonces = [0, 1, 255].map((i) => escrowNonce(word, i));
      expect(nonces.map((n) => n >> 8n)).to.deep.equal([word, word, word]);
      expect(nonces.map((n) => Number(n & 0xffn))).to.deep.equal([0, 1, 255]);
      expect(escrowNonce((1n << 248n) - 1n, 255)).to.equal(2n ** 256n - 1n);
      expect(() => escrowNonce(1n << 248n, 0)).to.throw(RangeError);
      expect(() => escrowNonce(-1n, 0)).to.throw(RangeError);
      expect(() => escrowNonce(0n, 256)).to.throw(RangeError);
      expect(() => escrowNonce(0n, 1.5)).to.throw(RangeError);
      expect(randomNonceWord()).to.not.equal(word);
    });

    it("keys payments by chain, escrow, payer and decimal nonce, in lower case", () => {
      const escrow = getAddress("0x5fbdb2315678afecb367f032d93f642f64180aa3");
      const payer = getAddress("0x70997970c51812dc3a010c7d01b50e0d17dc79c8");
      expect(escrowPaymentKey(324705682, escrow, payer, 2n ** 255n)).to.equal(
        `escrow:324705682:${escrow.toLowerCase()}:${payer.toLowerCase()}:${(2n ** 255n).toString()}`,
      );
    });
  });

  describe("funds rule", () => {
    const base: FundsInput = {
      amount: 10n,
      commitment: { amount: 100n, releaseAt: 0n },
      spendable: 1_000n,
      unsettled: 0n,
      now: 1_000_000n,
      settlementHorizonSeconds: HORIZON,
      validityMarginSeconds: MARGIN,
      asyncBlocker: undefined,
    };
    const decide = (overrides: Partial<FundsInput>) => decideSettlement({ ...base, ...overrides });

    it("goes async while the commitment less the unsettled amount covers the payment", () => {
      expect(decide({})).to.deep.equal({ mode: "async" });
      expect(decide({ unsettled: 90n })).to.deep.equal({ mode: "async" });
      expect(decide({ unsettled: 91n })).to.deep.equal({ mode: undefined, reason: "commitment_backs_unsettled" });
    });

    it("goes async only when no release can happen before the settlement horizon", () => {
      const edge = base.now + HORIZON + MARGIN;
      expect(decide({ commitment: { amount: 100n, releaseAt: edge + 1n } })).to.deep.equal({ mode: "async" });
      expect(decide({ commitment: { amount: 100n, releaseAt: edge } })).to.deep.equal({ mode: "sync", reason: "release_pending" });
      expect(decide({ commitment: { amount: 100n, releaseAt: 1n } })).to.deep.equal({ mode: "sync", reason: "release_pending" });
    });

    it("falls back to sync on any other blocker, when the funds allow", () => {
      for (const asyncBlocker of ["short_validity", "contract_wallet", "sync_offer"] as const) {
        expect(decide({ asyncBlocker })).to.deep.equal({ mode: "sync", reason: asyncBlocker });
      }
      expect(decide({ commitment: { amount: 0n, releaseAt: 0n } })).to.deep.equal({ mode: "sync", reason: "commitment_short" });
      expect(decide({ commitment: { amount: 5n, releaseAt: 0n } })).to.deep.equal({ mode: "sync", reason: "commitment_short" });
    });

    it("never lets a sync settlement take the commitment that backs unsettled payments", () => {
      // Sync draws the commitment first: with 95 of 100 committed already owed, settling 10 now
      // would leave 90 committed for 95 served.
      expect(decide({ unsettled: 95n })).to.deep.equal({ mode: undefined, reason: "commitment_backs_unsettled" });
      // Nothing to take from, or nothing to protect: sync is fine.
      expect(decide({ commitment: { amount: 0n, releaseAt: 0n }, unsettled: 500n })).to.deep.equal({ mode: "sync", reason: "commitment_short" });
      expect(decide({ commitment: { amount: 5n, releaseAt: 0n }, unsettled: 0n })).to.deep.equal({ mode: "sync", reason: "commitment_short" });
      // Covered on top of what is owed, but blocked otherwise: sync leaves the cover whole.
      expect(decide({ unsettled: 90n, asyncBlocker: "contract_wallet" })).to.deep.equal({ mode: "sync", reason: "contract_wallet" });
    });

    it("refuses when commitment, balance and pending withdrawal less the unsettled amount fall short", () => {
      expect(decide({ commitment: { amount: 0n, releaseAt: 0n }, spendable: 9n })).to.deep.equal({ mode: undefined, reason: "insufficient" });
      expect(decide({ commitment: { amount: 0n, releaseAt: 0n }, spendable: 100n, unsettled: 91n })).to.deep.equal({
        mode: undefined,
        reason: "insufficient",
      });
      expect(decide({ commitment: { amount: 0n, releaseAt: 0n }, spendable: 100n, unsettled: 90n })).to.deep.equal({
        mode: "sync",
        reason: "commitment_short",
      });
    });
  });

  describe("configuration", () => {
    it("refuses a horizon the withdrawal delay does not outlast", async () => {
      const c = await setup();
      const make = (settlementHorizonSeconds: bigint, validityMarginSeconds?: bigint) =>
        escrowScheme({
          chainId: c.chainId,
          escrow: c.escrowAddress,
          publicClient: c.publicClient,
          walletClient: c.wallet,
          ledger: c.ledger,
          settlementHorizonSeconds,
          ...(validityMarginSeconds === undefined ? {} : { validityMarginSeconds }),
        });
      expect(() => make(0n)).to.throw(RangeError, /positive/);
      expect(() => make(MIN_WITHDRAWAL_DELAY_SECONDS - MARGIN)).to.throw(RangeError, /withdrawal delay/);
      expect(() => make(HORIZON, -1n)).to.throw(RangeError, /negative/);
      make(MIN_WITHDRAWAL_DELAY_SECONDS - MARGIN - 1n);
      expect(() => checkSettlementHorizon({ settlementHorizonSeconds: 100n, validityMarginSeconds: 0n }, 100n)).to.throw(RangeError);
      checkSettlementHorizon({ settlementHorizonSeconds: 99n, validityMarginSeconds: 0n }, 100n);
    });

    it("checks the deployment: chain, EIP-712 domain, and the horizon against the escrow's delays", async () => {
      const c = await setup();
      const config = { chainId: c.chainId, escrow: c.escrowAddress, settlementHorizonSeconds: HORIZON, validityMarginSeconds: MARGIN };
      expect(await checkEscrowDeployment(c.publicClient, config)).to.deep.equal({
        withdrawalDelay: ONE_DAY,
        minWithdrawalDelay: MIN_WITHDRAWAL_DELAY_SECONDS,
      });
      expect(await thrown(() => checkEscrowDeployment(c.publicClient, { ...config, chainId: 1187947933 }))).to.match(/serves chain/);
      expect(await thrown(() => checkEscrowDeployment(c.publicClient, { ...config, escrow: getAddress(c.registry.address) }))).to.match(
        /does not answer as a SettlementEscrow/,
      );
      const tooLong = { ...config, settlementHorizonSeconds: MIN_WITHDRAWAL_DELAY_SECONDS - MARGIN };
      expect(await thrown(() => checkEscrowDeployment(c.publicClient, tooLong))).to.be.instanceOf(RangeError);
    });
  });

  describe("selectOffer", () => {
    it("picks the offer whose token, payee, amount and challenge the payment names", async () => {
      const c = await setup();
      const usdc = c.offer("usdc");
      const usdt = c.offer("usdt");
      const elsewhere = c.offer("usdc", PRICE.usdc, { resource: { ...RESOURCE, url: "https://gateway.example.com/v1/news" } });
      const dearer = c.offer("usdc", PRICE.usdc * 2n);
      const candidates = [usdt, elsewhere, dearer, usdc];
      expect(await c.scheme.selectOffer(await pay(c, { offer: usdc }), candidates)).to.equal(usdc);
      expect(await c.scheme.selectOffer(await pay(c, { offer: elsewhere }), candidates)).to.equal(elsewhere);
      expect(await c.scheme.selectOffer(await pay(c, { offer: dearer }), candidates)).to.equal(dearer);
      expect(await c.scheme.selectOffer(await pay(c, { offer: usdt }), candidates)).to.equal(usdt);
      // Closest when nothing matches exactly, so verify can say why.
      const foreignChallenge = await pay(c, { offer: usdc, fields: { challengeHash: `0x${"11".repeat(32)}` } });
      expect(await c.scheme.selectOffer(foreignChallenge, [usdt, usdc, elsewhere])).to.equal(usdc);
      const odd = await pay(c, { offer: usdc, fields: { amount: 3n } });
      expect(await c.scheme.selectOffer(odd, [usdt, usdc])).to.equal(usdc);
      expect(await c.scheme.selectOffer({ nope: 1 }, [usdt, usdc])).to.equal(usdt);
      expect(await c.scheme.selectOffer(await pay(c), [{ ...usdc, scheme: "exact" }, { ...usdc, chainId: 1 }])).to.equal(undefined);
    });
  });

  describe("verify and settle, async against a commitment", () => {
    for (const name of TOKEN_NAMES) {
      it(`${name}: verifies async, settles after a JSON round trip, and the payee can claim it`, async () => {
        const c = await setup();
        const offer = c.offer(name);
        const token = offer.token.address;
        const payload = await pay(c, { offer });
        const payment = await verify(c, payload, offer);
        const a = payload.authorization;
        const payer = getAddress(c.agent.account.address);
        expect(payment).to.deep.equal({
          scheme: "escrow",
          chainId: c.chainId,
          payer,
          payee: c.payTo,
          token,
          amount: PRICE[name],
          paymentKey: `escrow:${c.chainId}:${c.escrowAddress}:${payer}:${a.nonce}`.toLowerCase(),
          nonce: a.nonce,
          validBefore: BigInt(a.validBefore),
          settlementData: { ...payload, mode: "async", escrow: c.escrowAddress },
        });

        const commitmentBefore = await c.escrow.read.commitmentOf([token, payer, c.payTo]);
        const owedBefore = await c.escrow.read.totalOwed([token]);
        const settlement = await c.scheme.settle(roundTrip(payment));

        const receipt = await c.publicClient.getTransactionReceipt({ hash: settlement.transaction });
        expect(receipt.status).to.equal("success");
        expect(receipt.type).to.equal("legacy"); // SKALE chain id: no EIP-1559
        expect(receipt.blockNumber).to.equal(settlement.blockNumber);
        expect(getAddress(receipt.from)).to.equal(c.settler.address);
        const [event] = parseEventLogs({ abi: settlementEscrowAbi, eventName: "PaymentSettled", logs: receipt.logs });
        expect(event?.args).to.deep.include({ nonce: BigInt(a.nonce), amount: PRICE[name], fee: 0n, challengeHash: a.challengeHash });

        // The commitment paid, the payee earned, nothing left the escrow.
        const commitmentAfter = await c.escrow.read.commitmentOf([token, payer, c.payTo]);
        expect(commitmentAfter.amount).to.equal(commitmentBefore.amount - PRICE[name]);
        expect(await c.escrow.read.earningsOf([token, c.payTo])).to.equal(PRICE[name]);
        expect(await c.escrow.read.isNonceUsed([payer, BigInt(a.nonce)])).to.equal(true);
        expect(await c.escrow.read.totalOwed([token])).to.equal(owedBefore);

        // And the payee gets real tokens out.
        const erc20 = await viem.getContractAt("MockSKL", token);
        const walletBefore = await erc20.read.balanceOf([c.payTo]);
        await c.escrow.write.claimEarnings([token, c.payTo], { account: c.payee.account });
        expect(await erc20.read.balanceOf([c.payTo])).to.equal(walletBefore + PRICE[name]);
      });
    }

    it("takes the operator fee out of the payee's share", async () => {
      const c = await setup();
      await c.escrow.write.setFee([250], { account: c.admin.account }); // 2.5%
      const offer = c.offer("usdc", 1_000_000n);
      const payment = await verify(c, await pay(c, { offer }), offer);
      const { transaction } = await c.scheme.settle(payment);
      const receipt = await c.publicClient.getTransactionReceipt({ hash: transaction });
      const [event] = parseEventLogs({ abi: settlementEscrowAbi, eventName: "PaymentSettled", logs: receipt.logs });
      expect(event?.args.fee).to.equal(25_000n);
      expect(await c.escrow.read.earningsOf([offer.token.address, c.payTo])).to.equal(975_000n);
      expect(await c.escrow.read.accruedFees([offer.token.address])).to.equal(25_000n);
    });

    it("accepts any casing of addresses and hex, and keys every spelling the same", async () => {
      const c = await setup();
      const payload = await pay(c);
      const a = payload.authorization;
      const lowered = {
        signature: payload.signature.toUpperCase().replace(/^0X/, "0x"),
        authorization: {
          ...a,
          payer: a.payer.toLowerCase(),
          payee: a.payee.toLowerCase(),
          token: a.token.toLowerCase(),
          challengeHash: a.challengeHash.toUpperCase().replace(/^0X/, "0x"),
        },
      };
      const first = await verify(c, payload);
      const second = await verify(c, lowered);
      expect(second.paymentKey).to.equal(first.paymentKey);
      expect(second.settlementData).to.deep.equal(first.settlementData);
    });

    it("ignores unknown payload keys", async () => {
      const c = await setup();
      const payload = await pay(c);
      const payment = await verify(c, { ...payload, memo: 1, authorization: { ...payload.authorization, extra: "x" } });
      expect(payment.settlementData).to.deep.equal({ ...payload, mode: "async", escrow: c.escrowAddress });
    });

    it("honours the engine's nonce and gas price overrides", async () => {
      const c = await setup();
      const payment = await verify(c, await pay(c));
      const nonce = await c.publicClient.getTransactionCount({ address: c.settler.address });
      const gasPrice = (await c.publicClient.getGasPrice()) * 2n;
      const { transaction } = await c.scheme.settle(payment, { nonce, gasPrice });
      const tx = await c.publicClient.getTransaction({ hash: transaction });
      expect(tx.nonce).to.equal(nonce);
      expect(tx.gasPrice).to.equal(gasPrice);
      expect(tx.type).to.equal("legacy");
    });

    it("reads the chain once per block for an EOA payer: one batch of reads, then nothing until the next block", async () => {
      const c = await setup();
      const calls: string[] = [];
      let inFlight = 0;
      let maxInFlight = 0;
      const counting = new Proxy(c.publicClient, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver);
          if (typeof value !== "function") return value;
          return async (...args: unknown[]) => {
            calls.push(property === "readContract" ? (args[0] as { functionName: string }).functionName : String(property));
            inFlight += 1;
            maxInFlight = Math.max(maxInFlight, inFlight);
            try {
              return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
            } finally {
              inFlight -= 1;
            }
          };
        },
      }) as ChainReader;
      const scheme = escrowScheme({
        chainId: c.chainId,
        escrow: c.escrowAddress,
        publicClient: counting,
        walletClient: c.wallet,
        ledger: c.ledger,
        settlementHorizonSeconds: HORIZON,
      });
      const offer = c.offer("usdc");
      const [first, second] = [await pay(c, { offer }), await pay(c, { offer })];
      const payment = await scheme.verify(first, offer, await chainNow(c));
      expect(modeOf(payment)).to.equal("async");
      // The head, then everything at once (the token policy after the escrow's registry address,
      // which is read once for good); no checkPayment: the escrow's checks are made on these values.
      expect([...calls].sort()).to.deep.equal(
        ["commitmentOf", "getBlock", "getCode", "nonceBitmap", "paused", "paymentPolicy", "registry", "spendableFor"].sort(),
      );
      expect(maxInFlight).to.be.at.least(5);
      expect(c.ledger.queries).to.deep.equal([
        {
          chainId: c.chainId,
          token: offer.token.address,
          payer: getAddress(c.agent.account.address),
          payee: c.payTo,
          scheme: "escrow",
          excludePaymentKey: payment.paymentKey,
          confirmedWithinMs: 0,
        },
      ]);
      // Same payer, same nonce word, same block: only the head is asked (this scheme trusts it 0 ms).
      calls.length = 0;
      await scheme.verify(second, offer, await chainNow(c));
      expect(calls).to.deep.equal(["getBlock"]);
      // A new block: read again (the registry address is immutable and stays known).
      await networkHelpers.mine();
      calls.length = 0;
      await scheme.verify(second, offer, await chainNow(c));
      expect([...calls].sort()).to.deep.equal(
        ["commitmentOf", "getBlock", "getCode", "nonceBitmap", "paused", "paymentPolicy", "spendableFor"].sort(),
      );
      // A signature by someone else costs one eth_getCode and nothing more.
      calls.length = 0;
      await expectCode(async () => scheme.verify(await pay(c, { sign: keySigner(strangerKey) }), offer, await chainNow(c)), "invalid_signature");
      expect(calls).to.deep.equal(["getCode"]);
    });

    it("prints the median verification latency", async function () {
      const c = await setup();
      const offer = c.offer("usdc");
      const payloads: WirePayload[] = [];
      for (let i = 0; i < 51; i++) payloads.push(await pay(c, { offer }));
      const now = await chainNow(c);
      await verify(c, payloads[50], offer, now); // warm-up: first calls compile and cache
      const times: number[] = [];
      for (const payload of payloads.slice(0, 50)) {
        const start = performance.now();
        await verify(c, payload, offer, now);
        times.push(performance.now() - start);
      }
      times.sort((x, y) => x - y);
      const median = ((times[24] ?? 0) + (times[25] ?? 0)) / 2;
      console.log(`      escrow verify: median ${median.toFixed(2)} ms over ${times.length} (min ${times[0]?.toFixed(2)}, max ${times.at(-1)?.toFixed(2)})`);
    });
  });

  describe("sync fallback", () => {
    it("an uncommitted balance is served only after settling", async () => {
      const c = await setup();
      const payment = await verify(c, await pay(c, { payer: c.agent2 }));
      expect(modeOf(payment)).to.equal("sync");
      const payer = getAddress(c.agent2.account.address);
      const usdc = c.tokens.usdc.address;
      const balanceBefore = await c.escrow.read.balanceOf([usdc, payer]);
      await c.scheme.settle(roundTrip(payment));
      expect(await c.escrow.read.balanceOf([usdc, payer])).to.equal(balanceBefore - PRICE.usdc);
      expect(await c.escrow.read.earningsOf([usdc, c.payTo])).to.equal(PRICE.usdc);
    });

    it("a commitment whose release could land before the settlement horizon is sync; a distant one is not", async () => {
      const c = await setup();
      const usdc = c.tokens.usdc.address;
      await c.escrow.write.requestRelease([usdc, c.payTo], { account: c.agent.account });
      // Released a day from now: far beyond the horizon, still async.
      expect(modeOf(await verify(c, await pay(c)))).to.equal("async");
      // Now the release is 200 s away, inside horizon + margin.
      await networkHelpers.time.increase(ONE_DAY - 200n);
      const payment = await verify(c, await pay(c));
      expect(modeOf(payment)).to.equal("sync");
      await c.scheme.settle(payment);
      // Committing again cancels the release: async again.
      await c.escrow.write.commit([usdc, c.payTo, PRICE.usdc], { account: c.agent.account });
      expect(modeOf(await verify(c, await pay(c)))).to.equal("async");
    });

    it("an authorization valid for less than horizon + margin is sync; within the margin it is expired", async () => {
      const c = await setup();
      const now = await chainNow(c);
      const offer = c.offer("usdc");
      const at = (validBefore: bigint) => pay(c, { offer, fields: { validBefore } });
      expect(modeOf(await verify(c, await at(now + HORIZON + MARGIN + 1n), offer, now))).to.equal("async");
      expect(modeOf(await verify(c, await at(now + HORIZON + MARGIN), offer, now))).to.equal("sync");
      expect(modeOf(await verify(c, await at(now + MARGIN + 1n), offer, now))).to.equal("sync");
      await expectCode(async () => verify(c, await at(now + MARGIN), offer, now), "expired");
    });

    it("an offer made for sync settlement stays sync however long the authorization", async () => {
      const c = await setup();
      const offer = c.offer("usdc", PRICE.usdc, { maxTimeoutSeconds: 120 });
      expect(offer.extra["settlement"]).to.equal("sync");
      const now = await chainNow(c);
      const payment = await verify(c, await pay(c, { offer, fields: { validBefore: now + 3_600n } }), offer, now);
      expect(modeOf(payment)).to.equal("sync");
    });

    it("a contract-wallet payer is always sync (its ERC-1271 answer can change), even when committed", async () => {
      const c = await setup();
      const w = await contractWallet(c, { commit: true });
      const committed = await c.escrow.read.commitmentOf([c.tokens.usdc.address, w.address, c.payTo]);
      expect(committed.amount).to.equal(PRICE.usdc * 100n);
      const payment = await verify(c, await w.payload());
      expect(payment.payer).to.equal(w.address);
      expect(modeOf(payment)).to.equal("sync");
      await c.scheme.settle(roundTrip(payment));
      expect(await c.escrow.read.earningsOf([c.tokens.usdc.address, c.payTo])).to.equal(PRICE.usdc);

      // Why: a new owner invalidates every signature the old one made, before settlement.
      const revoked = await verify(c, await w.payload());
      await w.wallet.write.transferOwnership([c.operator.account.address], { account: c.stranger.account });
      const error = await expectCode(() => c.scheme.settle(revoked), "settlement_failed");
      expect(error.details).to.include({ reason: "invalid_signature" });
    });
  });

  describe("the unsettled ledger", () => {
    it("reduces what the commitment covers: of two payments worth more than it, the second is refused", async () => {
      const c = await setup();
      // 60 of the 100 committed requests' worth, twice.
      const offer = c.offer("usdc", PRICE.usdc * 60n);
      const first = await verify(c, await pay(c, { offer }), offer);
      expect(modeOf(first)).to.equal("async");
      c.ledger.add(first);
      const second = await pay(c, { offer });
      // The payer has plenty of uncommitted balance, but settling now would draw the commitment
      // that covers the first payment (commitment first), leaving 40 for 60 served.
      const error = await expectCode(() => verify(c, second, offer), "insufficient_funds");
      expect(error.details).to.include({ reason: "commitment_backs_unsettled", committed: "1000000", unsettled: "600000" });

      // Once the first is settled, the second is served after settling (40 committed + balance).
      await c.scheme.settle(first);
      c.ledger.payments.delete(first.paymentKey);
      expect(modeOf(await verify(c, second, offer))).to.equal("sync");
    });

    it("a payer without a commitment may have several sync payments in flight, up to its funds", async () => {
      const c = await setup();
      const funds = PRICE.usdc * DEPOSIT_REQUESTS;
      const offer = c.offer("usdc", funds / 2n);
      const first = await verify(c, await pay(c, { offer, payer: c.agent2 }), offer);
      expect(modeOf(first)).to.equal("sync");
      c.ledger.add(first);
      const second = await verify(c, await pay(c, { offer, payer: c.agent2 }), offer);
      expect(modeOf(second)).to.equal("sync");
      c.ledger.add(second);
      const error = await expectCode(async () => verify(c, await pay(c, { offer, payer: c.agent2 }), offer), "insufficient_funds");
      expect(error.details).to.include({ reason: "insufficient", spendable: funds.toString(), unsettled: funds.toString() });
    });

    it("counts only this scheme, and never the payment being verified", async () => {
      const c = await setup();
      const offer = c.offer("usdc", PRICE.usdc * 60n);
      const payload = await pay(c, { offer });
      const payment = await verify(c, payload, offer);
      // The HTTP layer has already claimed this payment's key when it verifies: it must not count.
      c.ledger.add(payment);
      c.ledger.add({ ...payment, scheme: "exact", paymentKey: "exact:other" });
      expect(modeOf(await verify(c, payload, offer))).to.equal("async");
      expect(c.ledger.queries.at(-1)).to.include({ scheme: "escrow", excludePaymentKey: payment.paymentKey });
    });

    it("a ledger that cannot answer is database_unavailable", async () => {
      const c = await setup();
      c.ledger.failure = new Error("connection terminated");
      const error = await expectCode(async () => verify(c, await pay(c)), "database_unavailable");
      expect(error.status).to.equal(503);
      expect((error.cause as Error).message).to.equal("connection terminated");
    });

    for (const backend of testBackends()) {
      it(`works over the payments table [${backend.name}]`, async () => {
        const db = await backend.fresh();
        try {
          const c = await setup({ ledger: createUnsettledLedger(db) });
          const offer = c.offer("usdc", PRICE.usdc * 60n);
          const insert = async (payment: VerifiedPayment, state: string) => {
            await db.query(
              `INSERT INTO payments (payment_key, scheme, network, chain_id, token, payer, payee, amount, nonce,
                                     valid_before, request_fingerprint, state, payload)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, to_timestamp($10), $11, $12, $13)`,
              [
                payment.paymentKey,
                payment.scheme,
                `eip155:${payment.chainId}`,
                payment.chainId,
                payment.token.toLowerCase(),
                payment.payer.toLowerCase(),
                payment.payee.toLowerCase(),
                payment.amount,
                payment.nonce,
                Number(payment.validBefore),
                "GET /v1/weather",
                state,
                payment.settlementData,
              ],
            );
          };
          const firstPayload = await pay(c, { offer });
          const first = await verify(c, firstPayload, offer);
          // Claimed before verification, as the gateway does: its own row does not count.
          await insert(first, "reserved");
          expect(modeOf(await verify(c, firstPayload, offer))).to.equal("async");
          await db.query(`UPDATE payments SET state = 'verified' WHERE payment_key = $1`, [first.paymentKey]);
          await expectCode(async () => verify(c, await pay(c, { offer }), offer), "insufficient_funds");
          // Settled and confirmed: the chain has it now. Just confirmed, it still counts (the chain
          // state could predate it); once the state's age and the slack have passed, it no longer does.
          const { transaction } = await c.scheme.settle(first);
          await db.query(`UPDATE payments SET state = 'confirmed', tx_hash = $2 WHERE payment_key = $1`, [first.paymentKey, transaction]);
          await expectCode(async () => verify(c, await pay(c, { offer }), offer), "insufficient_funds");
          await new Promise((resolve) => setTimeout(resolve, RECENT_SLACK_MS + 100));
          expect(modeOf(await verify(c, await pay(c, { offer }), offer))).to.equal("sync");
        } finally {
          await db.close();
        }
      });
    }
  });

  describe("rejections", () => {
    it("malformed payloads are malformed_payment", async () => {
      const c = await setup();
      const good = await pay(c);
      const auth = good.authorization;
      const variants: [string, unknown][] = [
        ["null", null],
        ["a string", "0xdeadbeef"],
        ["an array", [good]],
        ["no signature", { authorization: auth }],
        ["no authorization", { signature: good.signature }],
        ["authorization not an object", { ...good, authorization: "x" }],
        ["amount as a number", { ...good, authorization: { ...auth, amount: Number(auth.amount) } }],
        ["amount with a leading zero", { ...good, authorization: { ...auth, amount: `0${auth.amount}` } }],
        ["amount in hex", { ...good, authorization: { ...auth, amount: "0x2710" } }],
        ["negative amount", { ...good, authorization: { ...auth, amount: "-10000" } }],
        ["nonce as bytes32 hex", { ...good, authorization: { ...auth, nonce: numberToHex(BigInt(auth.nonce), { size: 32 }) } }],
        ["nonce above 2^256-1", { ...good, authorization: { ...auth, nonce: (2n ** 256n).toString() } }],
        ["validBefore missing", { ...good, authorization: { ...auth, validBefore: undefined } }],
        ["validAfter as a number", { ...good, authorization: { ...auth, validAfter: 0 } }],
        ["short challengeHash", { ...good, authorization: { ...auth, challengeHash: slice(auth.challengeHash as Hex, 0, 31) } }],
        ["payer not an address", { ...good, authorization: { ...auth, payer: "0x1234" } }],
        ["payer with a bad checksum", { ...good, authorization: { ...auth, payer: flipChecksum(auth.payer) } }],
        ["token missing", { ...good, authorization: { ...auth, token: undefined } }],
        ["signature not hex", { ...good, signature: `0x${"zz".repeat(65)}` }],
        ["signature too short", { ...good, signature: slice(good.signature, 0, 63) }],
      ];
      for (const [what, payload] of variants) {
        const error = await rejection(() => verify(c, payload));
        expect(error.code, what).to.equal("malformed_payment");
      }
      const error = await rejection(() => verify(c, { ...good, authorization: { ...auth, amount: "01" } }));
      expect(error.details?.["fields"]).to.have.property("authorization.amount");
    });

    it("a different payee is wrong_recipient", async () => {
      const c = await setup();
      const elsewhere = getAddress(c.stranger.account.address);
      const error = await expectCode(async () => verify(c, await pay(c, { fields: { payee: elsewhere } })), "wrong_recipient");
      expect(error.details).to.include({ expected: c.payTo, actual: elsewhere });
    });

    it("a different token is wrong_token", async () => {
      const c = await setup();
      const error = await expectCode(async () => verify(c, await pay(c, { fields: { token: c.tokens.usdt.address } })), "wrong_token");
      expect(error.details).to.include({ expected: c.tokens.usdc.address, actual: c.tokens.usdt.address });
    });

    it("too little and too much are both amount_mismatch", async () => {
      const c = await setup();
      await expectCode(async () => verify(c, await pay(c, { fields: { amount: PRICE.usdc - 1n } })), "amount_mismatch");
      await expectCode(async () => verify(c, await pay(c, { fields: { amount: PRICE.usdc + 1n } })), "amount_mismatch");
    });

    it("a challenge hash for another resource, or none of ours, is requirements_mismatch", async () => {
      const c = await setup();
      const news = c.offer("usdc", PRICE.usdc, { resource: { ...RESOURCE, url: "https://gateway.example.com/v1/news" } });
      const forNews = await pay(c, { offer: news });
      expect((await verify(c, forNews, news)).payee).to.equal(c.payTo);
      const error = await expectCode(() => verify(c, forNews), "requirements_mismatch");
      expect(error.details).to.include({ expected: c.offer("usdc").extra["challengeHash"], actual: news.extra["challengeHash"] });
      await expectCode(async () => verify(c, await pay(c, { fields: { challengeHash: `0x${"00".repeat(32)}` } })), "requirements_mismatch");
    });

    it("validAfter not yet passed is not_yet_valid (the escrow wants it strictly past)", async () => {
      const c = await setup();
      const now = await chainNow(c);
      await expectCode(async () => verify(c, await pay(c, { fields: { validAfter: now + 60n } }), c.offer("usdc"), now), "not_yet_valid");
      await expectCode(async () => verify(c, await pay(c, { fields: { validAfter: now } }), c.offer("usdc"), now), "not_yet_valid");
      await verify(c, await pay(c, { fields: { validAfter: now - 1n } }), c.offer("usdc"), now);
    });

    it("an authorization that ends before any settlement could land is expired", async () => {
      const c = await setup();
      const now = await chainNow(c);
      for (const validBefore of [now - 1n, now, now + MARGIN]) {
        await expectCode(async () => verify(c, await pay(c, { fields: { validBefore } }), c.offer("usdc"), now), "expired");
      }
    });

    it("the escrow's own clock decides at the edges: gateway behind is expired, ahead is not_yet_valid", async () => {
      const c = await setup();
      const chainTime = await chainNow(c);
      const late = await pay(c, { fields: { validBefore: chainTime } });
      await expectCode(() => verify(c, late, c.offer("usdc"), chainTime - 120n), "expired");
      const early = await pay(c, { fields: { validAfter: chainTime + 30n } });
      await expectCode(() => verify(c, early, c.offer("usdc"), chainTime + 60n), "not_yet_valid");
    });

    it("a signature by another key is invalid_signature", async () => {
      const c = await setup();
      await expectCode(async () => verify(c, await pay(c, { sign: keySigner(strangerKey) })), "invalid_signature");
    });

    it("the high-s twin of a valid signature is invalid_signature", async () => {
      const c = await setup();
      const payload = await pay(c);
      const twin = highSTwin(payload.signature);
      const recovered = await recoverTypedDataAddress({
        domain: { name: "PayPerAgent Settlement Escrow", version: "1", chainId: c.chainId, verifyingContract: c.escrowAddress },
        types: paymentAuthorizationTypes,
        primaryType: "PaymentAuthorization",
        message: decoded(payload),
        signature: twin,
      });
      expect(recovered).to.equal(getAddress(c.agent.account.address)); // viem accepts it; the escrow would not
      await expectCode(() => verify(c, { ...payload, signature: twin }), "invalid_signature");
      const onChain = await c.escrow.read.checkPayment([decoded(payload), twin]);
      expect(settlementFailureName(onChain)).to.equal("InvalidSignature");
    });

    it("a v of 0/1 or a 64-byte compact signature from an EOA is invalid_signature, as on chain", async () => {
      const c = await setup();
      const payload = await pay(c);
      const v = Number(BigInt(slice(payload.signature, 64, 65)));
      const yParity = concat([slice(payload.signature, 0, 64), numberToHex(v - 27, { size: 1 })]);
      await expectCode(() => verify(c, { ...payload, signature: yParity }), "invalid_signature");
      await expectCode(() => verify(c, { ...payload, signature: slice(payload.signature, 0, 64) }), "invalid_signature");
    });

    it("a signature over another domain name, version, chain or contract is invalid_signature", async () => {
      const c = await setup();
      const domains: Partial<Domain>[] = [
        { name: "PayPerAgent Escrow" },
        { version: "2" },
        { chainId: 1187947933 },
        { verifyingContract: c.tokens.usdc.address },
      ];
      for (const domain of domains) {
        const error = await rejection(async () => verify(c, await pay(c, { domain })));
        expect(error.code, JSON.stringify(domain)).to.equal("invalid_signature");
      }
    });

    it("a contract wallet that refuses the signature is invalid_signature, by the escrow's own check", async () => {
      const c = await setup();
      const w = await contractWallet(c, { commit: true });
      await expectCode(async () => verify(c, await w.payload({}, keySigner(strangerKey))), "invalid_signature");
      await expectCode(async () => verify(c, await w.payload({}, walletSigner(c.agent))), "invalid_signature");
    });

    it("an authorization already settled is nonce_used, for verify and settle", async () => {
      const c = await setup();
      const payload = await pay(c);
      const payment = await verify(c, payload);
      await c.scheme.settle(payment);
      await expectCode(() => verify(c, payload), "nonce_used");
      const error = await expectCode(() => c.scheme.settle(payment), "nonce_used");
      expect(error.details).to.include({ paymentKey: payment.paymentKey, reason: "nonce_used" });
    });

    it("a payer with nothing in the escrow is insufficient_funds", async () => {
      const c = await setup();
      await expectCode(async () => verify(c, await pay(c, { payer: c.stranger })), "insufficient_funds");
    });

    it("a token the registry removed is unsupported_token", async () => {
      const c = await setup();
      await c.registry.write.setStatus([c.tokens.usdt.address, 3], { account: c.admin.account }); // Removed
      const offer = c.offer("usdt");
      const error = await expectCode(async () => verify(c, await pay(c, { offer }), offer), "unsupported_token");
      expect(error.details).to.include({ reason: "TokenNotAccepted" });
    });

    it("a price outside the token's registry limits is unsupported_token", async () => {
      const c = await setup();
      const offer = c.offer("usdc", LIMITS.usdc.max + 1n);
      const error = await expectCode(async () => verify(c, await pay(c, { offer }), offer), "unsupported_token");
      expect(error.details).to.include({ reason: "AmountOutOfRange" });
    });

    it("a paused escrow is chain_unavailable for verify and settle: retry, do not pay again", async () => {
      const c = await setup();
      const payment = await verify(c, await pay(c));
      await c.escrow.write.pause({ account: c.admin.account });
      const error = await expectCode(async () => verify(c, await pay(c)), "chain_unavailable");
      expect(error.details).to.include({ reason: "paused" });
      const settleError = await expectCode(() => c.scheme.settle(payment), "chain_unavailable");
      expect(settleError.details).to.include({ reason: "paused" });
      await c.escrow.write.unpause({ account: c.admin.account });
      await c.scheme.settle(payment);
    });

    it("checks run in the documented order", async () => {
      const c = await setup();
      const now = await chainNow(c);
      const offer = c.offer("usdc");
      const bad = { sign: keySigner(strangerKey), payer: c.stranger };
      const all: Partial<Authorization> = {
        payee: getAddress(c.stranger.account.address),
        token: c.tokens.usdt.address,
        amount: 1n,
        challengeHash: `0x${"00".repeat(32)}`,
        validAfter: now + 100n,
        validBefore: now,
      };
      const order: [keyof Authorization, ErrorCode][] = [
        ["payee", "wrong_recipient"],
        ["token", "wrong_token"],
        ["amount", "amount_mismatch"],
        ["challengeHash", "requirements_mismatch"],
        ["validAfter", "not_yet_valid"],
        ["validBefore", "expired"],
      ];
      const fields = { ...all };
      for (const [field, code] of order) {
        await expectCode(async () => verify(c, await pay(c, { ...bad, offer, fields }), offer, now), code);
        delete fields[field];
      }
      // A bad signature comes before any chain state: an unfunded payer's junk is invalid_signature.
      await expectCode(async () => verify(c, await pay(c, { ...bad, offer }), offer, now), "invalid_signature");
      // A used nonce comes before the funds (the escrow's order).
      const spent = await verify(c, await pay(c, { offer }));
      await c.scheme.settle(spent);
      const reuse = await pay(c, { offer, payer: c.agent, fields: { nonce: BigInt(spent.nonce ?? "0"), amount: offer.amount } });
      await expectCode(() => verify(c, reuse, offer), "nonce_used");
    });

    it("an unreachable node is chain_unavailable, never a rejection of the payment", async () => {
      const c = await setup();
      const url = `http://127.0.0.1:${await closedPort()}`;
      const down = createPublicClient({ transport: http(url, { retryCount: 0 }) });
      const downWallet = createWalletClient({ account: c.settler, transport: http(url, { retryCount: 0 }) });
      const scheme = escrowScheme({
        chainId: c.chainId,
        escrow: c.escrowAddress,
        publicClient: down,
        walletClient: downWallet,
        ledger: c.ledger,
        settlementHorizonSeconds: HORIZON,
      });
      const now = await chainNow(c);
      const offer = c.offer("usdc");
      const payload = await pay(c, { offer });
      const error = await expectCode(() => scheme.verify(payload, offer, now), "chain_unavailable");
      expect(error.status).to.equal(503);
      expect(error.cause).to.be.instanceOf(BaseError);
      // A signature that is not the payer's needs the node to rule out a contract wallet.
      await expectCode(async () => scheme.verify(await pay(c, { offer, sign: keySigner(strangerKey) }), offer, now), "chain_unavailable");
      // Checks that need no node keep their own codes.
      await expectCode(async () => scheme.verify(await pay(c, { offer, fields: { amount: 1n } }), offer, now), "amount_mismatch");

      const payment = await verify(c, payload, offer);
      await expectCode(() => scheme.settle(payment), "chain_unavailable");
      await expectCode(() => settleEscrowBatch({ walletClient: downWallet, publicClient: down, escrow: c.escrowAddress, payments: [payment] }), "chain_unavailable");
      const config = { chainId: c.chainId, escrow: c.escrowAddress, settlementHorizonSeconds: HORIZON, validityMarginSeconds: MARGIN };
      await expectCode(() => checkEscrowDeployment(down, config), "chain_unavailable");
    });
  });

  describe("settlement guards", () => {
    it("refuses stored settlement data that does not match the payment", async () => {
      const c = await setup();
      const payment = await verify(c, await pay(c));
      const data = payment.settlementData as { authorization: Record<string, string> };
      const tampered: VerifiedPayment[] = [
        { ...payment, amount: payment.amount + 1n },
        { ...payment, paymentKey: `${payment.paymentKey}0` },
        { ...payment, settlementData: { signature: "0x" } },
        { ...payment, settlementData: { ...payment.settlementData, mode: "later" } },
        { ...payment, settlementData: { ...payment.settlementData, authorization: { ...data.authorization, nonce: "1" } } },
      ];
      for (const bad of tampered) {
        const error = await expectCode(() => c.scheme.settle(bad), "settlement_failed");
        expect(error.details).to.include({ reason: "invalid_settlement_data" });
      }
      expect(await c.escrow.read.earningsOf([c.tokens.usdc.address, c.payTo])).to.equal(0n);
    });

    it("refuses payments of another scheme, chain or escrow as routing bugs", async () => {
      const c = await setup();
      const payment = await verify(c, await pay(c));
      expect(await thrown(() => c.scheme.settle({ ...payment, scheme: "exact" }))).to.be.instanceOf(TypeError);
      expect(await thrown(() => c.scheme.settle({ ...payment, chainId: 1 }))).to.be.instanceOf(TypeError);
      const other = escrowScheme({
        chainId: c.chainId,
        escrow: getAddress(c.registry.address),
        publicClient: c.publicClient,
        walletClient: c.wallet,
        ledger: c.ledger,
        settlementHorizonSeconds: HORIZON,
      });
      expect(await thrown(() => other.settle(payment))).to.be.instanceOf(TypeError);
      expect(await thrown(async () => other.verify(await pay(c), c.offer("usdc"), 0n))).to.be.instanceOf(TypeError);
      expect(await thrown(async () => c.scheme.verify(await pay(c), { ...c.offer("usdc"), chainId: 1 }, 0n))).to.be.instanceOf(TypeError);
    });

    it("turns funds gone by settlement time into settlement_failed with the reason", async () => {
      const c = await setup();
      const payment = await verify(c, await pay(c, { payer: c.agent2 }));
      expect(modeOf(payment)).to.equal("sync");
      // Before the settlement, the payer commits its whole balance to someone else.
      const usdc = c.tokens.usdc.address;
      const balance = await c.escrow.read.balanceOf([usdc, c.agent2.account.address]);
      await c.escrow.write.commit([usdc, c.stranger.account.address, balance], { account: c.agent2.account });
      const error = await expectCode(() => c.scheme.settle(payment), "settlement_failed");
      expect(error.details).to.include({ reason: "insufficient_funds" });
    });

    it("only counts a receipt with the escrow's PaymentSettled for exactly this authorization", async () => {
      const c = await setup();
      const payload = await pay(c);
      const other = await verify(c, await pay(c));
      const { transaction } = await c.scheme.settle(other);
      const receipt = await c.publicClient.getTransactionReceipt({ hash: transaction });
      const mine = decoded(payload);
      expect(() => checkSettleReceipt(receipt, c.escrowAddress, mine, "k")).to.throw(PaymentError, /no matching PaymentSettled/);
      const theirs = decoded(JSON.parse(JSON.stringify(other.settlementData)) as WirePayload);
      checkSettleReceipt(receipt, c.escrowAddress, theirs, "k");
      expect(() => checkSettleReceipt(receipt, c.tokens.usdc.address, theirs, "k")).to.throw(PaymentError, /no matching/);
      expect(() => checkSettleReceipt({ ...receipt, status: "reverted" }, c.escrowAddress, theirs, "k")).to.throw(PaymentError, /reverted/);
    });
  });

  describe("batch settlement", () => {
    it("simulates, leaves out the entries the escrow would refuse, and settles the rest in one transaction", async () => {
      const c = await setup();
      const good = [
        await verify(c, await pay(c)),
        await verify(c, await pay(c, { offer: c.offer("usdt") }), c.offer("usdt")),
        await verify(c, await pay(c, { payer: c.agent2 })),
        await verify(c, await pay(c, { offer: c.offer("weth") }), c.offer("weth")),
      ];
      const spent = await verify(c, await pay(c));
      await c.scheme.settle(spent); // now its nonce is used
      const corrupt = { ...(await verify(c, await pay(c))), amount: 1n };
      const payments = [good[0]!, spent, good[1]!, corrupt, good[2]!, good[3]!].map(roundTrip);

      const result = await settleEscrowBatch({ walletClient: c.wallet, publicClient: c.publicClient, escrow: c.escrowAddress, payments });
      expect(result.outcomes).to.deep.equal([
        { paymentKey: good[0]!.paymentKey, status: "settled", fee: 0n },
        { paymentKey: spent.paymentKey, status: "rejected", code: "nonce_used", failure: "NonceUsed" },
        { paymentKey: good[1]!.paymentKey, status: "settled", fee: 0n },
        { paymentKey: corrupt.paymentKey, status: "rejected", code: "settlement_failed", failure: "invalid_settlement_data" },
        { paymentKey: good[2]!.paymentKey, status: "settled", fee: 0n },
        { paymentKey: good[3]!.paymentKey, status: "settled", fee: 0n },
      ] satisfies EscrowBatchOutcome[]);
      if (result.transaction === undefined) throw new Error("expected a transaction");
      const receipt = await c.publicClient.getTransactionReceipt({ hash: result.transaction });
      expect(receipt.type).to.equal("legacy");
      expect(receipt.blockNumber).to.equal(result.blockNumber);
      // The refused entries never reached the chain.
      expect(parseEventLogs({ abi: settlementEscrowAbi, eventName: "PaymentFailed", logs: receipt.logs })).to.have.length(0);
      expect(parseEventLogs({ abi: settlementEscrowAbi, eventName: "PaymentSettled", logs: receipt.logs })).to.have.length(4);
      expect(await c.escrow.read.earningsOf([c.tokens.usdc.address, c.payTo])).to.equal(3n * PRICE.usdc); // incl. `spent`
      expect(await c.escrow.read.earningsOf([c.tokens.usdt.address, c.payTo])).to.equal(PRICE.usdt);
      expect(await c.escrow.read.earningsOf([c.tokens.weth.address, c.payTo])).to.equal(PRICE.weth);
    });

    it("sends nothing when every entry is refused", async () => {
      const c = await setup();
      const payment = await verify(c, await pay(c));
      await c.scheme.settle(payment);
      const nonceBefore = await c.publicClient.getTransactionCount({ address: c.settler.address });
      const result = await settleEscrowBatch({ walletClient: c.wallet, publicClient: c.publicClient, escrow: c.escrowAddress, payments: [payment] });
      expect(result).to.deep.equal({
        transaction: undefined,
        blockNumber: undefined,
        outcomes: [{ paymentKey: payment.paymentKey, status: "rejected", code: "nonce_used", failure: "NonceUsed" }],
      });
      expect(await c.publicClient.getTransactionCount({ address: c.settler.address })).to.equal(nonceBefore);
    });

    it("runs as separate steps: the signed bytes and hash exist before broadcast, and an entry spent meanwhile is reported failed", async () => {
      const c = await setup();
      const first = await verify(c, await pay(c));
      const secondPayload = await pay(c);
      const second = await verify(c, secondPayload);
      const sender = c.settler.address;
      const batch = await prepareEscrowBatch({ publicClient: c.publicClient, escrow: c.escrowAddress, sender, payments: [first, second] });
      expect(batch.entries.map((e) => e.payment.paymentKey)).to.deep.equal([first.paymentKey, second.paymentKey]);
      const nonce = await c.publicClient.getTransactionCount({ address: sender });
      const gasPrice = (await c.publicClient.getGasPrice()) + 7n;
      const transaction = await buildEscrowBatchTransaction({ publicClient: c.publicClient, batch, sender, nonce, gasPrice });
      expect(transaction).to.include({ type: "legacy", chainId: c.chainId, to: c.escrowAddress, nonce, gasPrice });
      const signed = await signEscrowBatchTransaction(c.wallet, transaction);
      expect(signed.hash).to.equal(keccak256(signed.serialized));

      // Someone else settles the second payment before ours is broadcast.
      await c.escrow.write.settle([decoded(secondPayload), secondPayload.signature], { account: c.stranger.account });

      expect(await broadcastEscrowBatch(c.publicClient, signed)).to.equal(signed.hash);
      const mined = await awaitEscrowBatch({ publicClient: c.publicClient, batch, transaction: signed.hash });
      expect(mined.outcomes).to.deep.equal([
        { paymentKey: first.paymentKey, status: "settled", fee: 0n },
        { paymentKey: second.paymentKey, status: "failed", code: "nonce_used", failure: "NonceUsed" },
      ]);
      const tx = await c.publicClient.getTransaction({ hash: signed.hash });
      expect(tx.nonce).to.equal(nonce);
      expect(tx.gasPrice).to.equal(gasPrice);

      // Rebroadcasting the stored bytes after a crash: harmless, and any failure names the hash to reconcile.
      try {
        expect(await broadcastEscrowBatch(c.publicClient, signed)).to.equal(signed.hash);
      } catch (error) {
        expect(isPaymentError(error) && error.code === "chain_unavailable" && error.details?.["transaction"]).to.equal(signed.hash);
      }
      expect(await c.escrow.read.earningsOf([c.tokens.usdc.address, c.payTo])).to.equal(2n * PRICE.usdc);
    });

    it("a reverted batch transaction settles nothing and names its hash", async () => {
      const c = await setup();
      const payment = await verify(c, await pay(c));
      const batch = await prepareEscrowBatch({ publicClient: c.publicClient, escrow: c.escrowAddress, sender: c.settler.address, payments: [payment] });
      const transaction = await buildEscrowBatchTransaction({ publicClient: c.publicClient, batch, sender: c.settler.address });
      const signed = await signEscrowBatchTransaction(c.wallet, transaction);
      // Paused between signing and broadcast: the transaction reverts with EnforcedPause.
      await c.escrow.write.pause({ account: c.admin.account });
      // Hardhat mines it and still answers the send with an error; a real node would accept it.
      // Either way the hash is what the engine goes on with.
      try {
        await broadcastEscrowBatch(c.publicClient, signed);
      } catch (error) {
        expect(isPaymentError(error) && error.code === "chain_unavailable" && error.details?.["transaction"]).to.equal(signed.hash);
      }
      const error = await expectCode(() => awaitEscrowBatch({ publicClient: c.publicClient, batch, transaction: signed.hash }), "settlement_failed");
      expect(error.details).to.include({ transaction: signed.hash });
      // And while paused, preparing another batch is chain_unavailable (retry later).
      const again = await expectCode(
        () => prepareEscrowBatch({ publicClient: c.publicClient, escrow: c.escrowAddress, sender: c.settler.address, payments: [payment] }),
        "chain_unavailable",
      );
      expect(again.details).to.include({ reason: "paused" });
    });

    it("refuses one payment twice, or payments of two chains, in one batch", async () => {
      const c = await setup();
      const payment = await verify(c, await pay(c));
      const run = (payments: VerifiedPayment[]) =>
        thrown(() => settleEscrowBatch({ walletClient: c.wallet, publicClient: c.publicClient, escrow: c.escrowAddress, payments }));
      expect(await run([payment, roundTrip(payment)])).to.be.instanceOf(TypeError);
      expect(await run([payment, { ...payment, paymentKey: "escrow:x", chainId: 1 }])).to.be.instanceOf(TypeError);
      expect(await run([])).to.be.instanceOf(RangeError);
    });

    it("builds EIP-1559 transactions off SKALE", async () => {
      const stub = {
        estimateContractGas: async () => 100_000n,
        getTransactionCount: async () => 7,
        estimateFeesPerGas: async () => ({ maxFeePerGas: 30n, maxPriorityFeePerGas: 2n }),
      } as unknown as ChainReader;
      const escrow = getAddress("0x5fbdb2315678afecb367f032d93f642f64180aa3");
      const sender = getAddress("0x70997970c51812dc3a010c7d01b50e0d17dc79c8");
      const realEntry = {
        payment: { chainId: 8453 } as VerifiedPayment,
        data: {
          mode: "async" as const,
          escrow,
          signature: "0x00" as Hex,
          authorization: { payer: sender, payee: sender, token: sender, amount: 1n, nonce: 1n, validAfter: 0n, validBefore: 2n, challengeHash: `0x${"00".repeat(32)}` as Hex },
        },
      };
      const batch = { chainId: 8453, escrow, entries: [realEntry], rejected: [] };
      const tx = await buildEscrowBatchTransaction({ publicClient: stub, batch, sender });
      expect(tx).to.include({ type: "eip1559", chainId: 8453, nonce: 7, gas: 120_000n, maxFeePerGas: 30n, maxPriorityFeePerGas: 2n });
      const fixed = await buildEscrowBatchTransaction({ publicClient: stub, batch, sender, gasPrice: 5n });
      expect(fixed).to.include({ maxFeePerGas: 5n, maxPriorityFeePerGas: 5n });
    });

    it("reads outcomes only from the escrow's own logs", async () => {
      const c = await setup();
      const payment = await verify(c, await pay(c));
      const batch = await prepareEscrowBatch({ publicClient: c.publicClient, escrow: c.escrowAddress, sender: c.settler.address, payments: [payment] });
      const { transaction } = await c.scheme.settle(payment);
      const receipt = await c.publicClient.getTransactionReceipt({ hash: transaction });
      expect(batchOutcomes(receipt, batch)[0]).to.include({ status: "settled" });
      const elsewhere = { ...batch, escrow: c.tokens.usdc.address };
      expect(batchOutcomes(receipt, elsewhere)[0]).to.deep.equal({
        paymentKey: payment.paymentKey,
        status: "failed",
        code: "settlement_failed",
        failure: "no_event",
      });
    });
  });

  describe("building blocks", () => {
    it("maps every SettlementFailure to a stable code", () => {
      const codes = SETTLEMENT_FAILURES.filter((f) => f !== "None").map((f) => [f, failureCode(f)]);
      expect(Object.fromEntries(codes)).to.deep.equal({
        InvalidPayee: "wrong_recipient",
        NotYetValid: "not_yet_valid",
        Expired: "expired",
        TokenNotAccepted: "unsupported_token",
        AmountOutOfRange: "unsupported_token",
        NonceUsed: "nonce_used",
        InsufficientFunds: "insufficient_funds",
        InvalidSignature: "invalid_signature",
      });
      expect(() => settlementFailureName(9)).to.throw(RangeError);
      expect(() => escrowSettlementMode({ settlementData: { signature: "0x" } })).to.throw(TypeError);
      expect(classifyEscrowRevert({ kind: "revert", error: undefined, reason: "boom" })).to.deep.equal({ kind: "unknown", reason: "boom" });
    });

    it("the ABI slice matches the compiled SettlementEscrow", async () => {
      const { abi } = (await hre.artifacts.readArtifact("SettlementEscrow")) as unknown as { abi: Abi };
      for (const item of settlementEscrowAbi) {
        const match = abi.find((a) => a.type === item.type && "name" in a && a.name === item.name);
        expect(match, `${item.type} ${item.name}`).to.not.equal(undefined);
        if (item.type === "function") {
          expect(toFunctionSelector(item), item.name).to.equal(toFunctionSelector(match as AbiFunction));
          const outputs = (match as AbiFunction).outputs.map((o) => o.type);
          expect(item.outputs.map((o) => o.type), `${item.name} outputs`).to.deep.equal(outputs);
        } else if (item.type === "event") {
          expect(toEventSelector(item), item.name).to.equal(toEventSelector(match as AbiEvent));
          const indexed = (match as AbiEvent).inputs.map((i) => i.indexed ?? false);
          expect(item.inputs.map((i) => (i as { indexed?: boolean }).indexed ?? false), `${item.name} indexed`).to.deep.equal(indexed);
        } else if (item.type === "error") {
          const types = (match as unknown as { inputs: { type: string }[] }).inputs.map((i) => i.type);
          expect(item.inputs.map((i) => i.type), `${item.name} inputs`).to.deep.equal(types);
        }
      }
    });

    it("the typed data matches the escrow's own digest", async () => {
      const c = await setup();
      const payload = await pay(c);
      const onChain = await c.escrow.read.hashPaymentAuthorization([decoded(payload)]);
      const local = hashTypedData({
        domain: { name: "PayPerAgent Settlement Escrow", version: "1", chainId: c.chainId, verifyingContract: c.escrowAddress },
        types: paymentAuthorizationTypes,
        primaryType: "PaymentAuthorization",
        message: decoded(payload),
      });
      expect(local).to.equal(onChain);
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
