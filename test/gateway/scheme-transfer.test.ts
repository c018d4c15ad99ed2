/**
 * The transfer scheme ("on-chain transfer proof") against Hardhat's in-process chain: the agent
 * pays with a plain ERC-20 transfer to payTo, then signs TransferProof(transaction, challengeHash)
 * and sends the hash. Every rejection is checked for its stable code.
 */
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { network } from "hardhat";
import { expect } from "chai";
import {
  type Abi,
  type Address,
  type Hash,
  type Hex,
  BaseError,
  concat,
  createPublicClient,
  custom,
  encodeAbiParameters,
  encodeFunctionData,
  getAddress,
  http,
  keccak256,
  numberToHex,
  parseAbi,
  parseAbiParameters,
  slice,
  toHex,
} from "viem";
import type { WalletClient } from "@nomicfoundation/hardhat-viem/types";
import { type ErrorCode, PaymentError, isPaymentError } from "../../gateway/x402/index.js";
import {
  type ChainReader,
  type Offer,
  type OfferInput,
  type TokenInfo,
  type VerifiedPayment,
  collectionMethods,
  createExactScheme,
  transferWithAuthorizationTypes,
} from "../../gateway/schemes/index.js";
import {
  DEFAULT_MAX_AGE_SECONDS,
  DEFAULT_MIN_CONFIRMATIONS,
  TRANSFER_CHALLENGE_TAG,
  checkInclusion,
  createTransferScheme,
  offerChallengeHash,
  transferChallengeHash,
  transferPaymentKey,
  transferProofTypes,
} from "../../gateway/schemes/transfer/index.js";
import { USDC_DOMAIN_NAME, USDC_DOMAIN_VERSION, deployEscrowSystem } from "../contracts/helpers/escrow.js";

const { viem, networkHelpers, provider } = await network.create();

const PRICE = 10_000n;
const MAX_TIMEOUT_SECONDS = 300;
const RESOURCE = { url: "https://gateway.example.com/v1/weather", description: "Weather", mimeType: "application/json" };
const PROOF_DOMAIN_NAME = "PayPerAgent Transfer Proof";
const SKALE_BASE = 1187947933;

/** secp256k1 group order, for building the high-s twin of a signature. */
const CURVE_ORDER = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** `transfer` without a declared return, so the same call works for USDT (which returns nothing). */
const erc20Abi = parseAbi([
  "function transfer(address to, uint256 value)",
  "function approve(address spender, uint256 value)",
]);

type TokenKey = "usdc" | "usdt" | "skl" | "weth";
const TOKEN_KEYS: readonly TokenKey[] = ["usdc", "usdt", "skl", "weth"];

async function deploy() {
  const s = await deployEscrowSystem(viem);
  const info = (address: Address, symbol: string, decimals: number, methods: number, eip712 = { name: "", version: "" }): TokenInfo => ({
    address: getAddress(address),
    symbol,
    decimals,
    collectionMethods: methods,
    eip712,
  });
  const tokens: Record<TokenKey, TokenInfo> = {
    usdc: info(s.usdc.address, "USDC", 6, collectionMethods.eip3009 | collectionMethods.permit | collectionMethods.erc20, {
      name: USDC_DOMAIN_NAME,
      version: USDC_DOMAIN_VERSION,
    }),
    usdt: info(s.usdt.address, "USDT", 6, collectionMethods.erc20),
    skl: info(s.skl.address, "SKL", 18, collectionMethods.erc20),
    weth: info(s.weth.address, "WETH", 18, collectionMethods.erc20),
  };
  const scheme = createTransferScheme({ chainId: s.chainId, publicClient: s.publicClient });
  // Hardhat's accounts come lower-case; the scheme hands out checksummed addresses.
  const payTo = getAddress(s.payee.account.address);
  const payer = getAddress(s.agent.account.address);
  const offer = (key: TokenKey, input: Partial<OfferInput> = {}): Offer => {
    const made = scheme.offer({ ...offerInput(tokens[key], payTo), ...input });
    if (made === undefined) throw new Error(`${key} must be offered`);
    return made;
  };
  return { ...s, tokens, scheme, payTo, payer, offer };
}

type Ctx = Awaited<ReturnType<typeof deploy>>;

function offerInput(token: TokenInfo, payTo: Address, amount = PRICE): OfferInput {
  return { token, amount, payTo, maxTimeoutSeconds: MAX_TIMEOUT_SECONDS, resource: RESOURCE };
}

async function chainNow(c: Ctx): Promise<bigint> {
  return (await c.publicClient.getBlock()).timestamp;
}

/** A plain ERC-20 transfer, mined (automine). */
async function transfer(c: Ctx, token: TokenKey, to: Address, value = PRICE, from: WalletClient = c.agent): Promise<Hash> {
  const hash = await from.writeContract({ address: c.tokens[token].address, abi: erc20Abi, functionName: "transfer", args: [to, value] });
  const receipt = await c.publicClient.waitForTransactionReceipt({ hash });
  expect(receipt.status).to.equal("success");
  return hash;
}

/** The wire payload: what `payload` holds in X-PAYMENT / PAYMENT-SIGNATURE. */
interface WirePayload {
  transaction: string;
  payer: string;
  signature: Hex;
  logIndex?: number;
}

interface ProofOptions {
  signer?: WalletClient;
  /** Claimed payer; default the signer. */
  payer?: Address;
  /** What the signature is over, when it should not be the payload's transaction / the offer's challenge. */
  signedTransaction?: Hash;
  challengeHash?: Hash;
  chainId?: number;
  logIndex?: number;
}

/** Signs the proof the way a client does: over `extra.challengeHash` as the offer states it. */
async function prove(c: Ctx, transaction: Hash, offer: Offer, options: ProofOptions = {}): Promise<WirePayload> {
  const signer = options.signer ?? c.agent;
  const challengeHash = options.challengeHash ?? (offer.extra["challengeHash"] as Hash);
  const signature = await signer.signTypedData({
    account: signer.account,
    domain: { name: offer.extra["name"] as string, version: offer.extra["version"] as string, chainId: options.chainId ?? c.chainId },
    types: transferProofTypes,
    primaryType: "TransferProof",
    message: { transaction: options.signedTransaction ?? transaction, challengeHash },
  });
  const payload: WirePayload = { transaction, payer: options.payer ?? getAddress(signer.account.address), signature };
  if (options.logIndex !== undefined) payload.logIndex = options.logIndex;
  return payload;
}

/** Transfer PRICE of `token` to payTo and prove it for that token's offer. */
async function pay(c: Ctx, token: TokenKey = "usdc"): Promise<{ hash: Hash; offer: Offer; payload: WirePayload }> {
  const offer = c.offer(token);
  const hash = await transfer(c, token, c.payTo);
  return { hash, offer, payload: await prove(c, hash, offer) };
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

async function verify(c: Ctx, payload: unknown, offer: Offer, now?: bigint): Promise<VerifiedPayment> {
  return c.scheme.verify(payload, offer, now ?? (await chainNow(c)));
}

/** The s-flipped twin of a signature: recovers to the same key, but is not the canonical form. */
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

/**
 * A reader on the test chain that records the JSON-RPC methods it is asked and fails the ones in
 * `failing` the way a broken node would.
 */
function instrumentedReader(failing: readonly string[] = []): { reader: ChainReader; calls: string[] } {
  const calls: string[] = [];
  const reader = createPublicClient({
    transport: custom(
      {
        async request({ method, params }: { method: string; params?: unknown }) {
          calls.push(method);
          if (failing.includes(method)) throw new Error(`${method}: upstream connect error`);
          return provider.request({ method, params: params as unknown[] });
        },
      },
      { retryCount: 0 },
    ),
  });
  return { reader, calls };
}

/** Runs `body` with automine off, so transactions wait in the mempool until `networkHelpers.mine()`. */
async function withoutAutomine<T>(body: () => Promise<T>): Promise<T> {
  await provider.request({ method: "evm_setAutomine", params: [false] });
  try {
    return await body();
  } finally {
    await provider.request({ method: "evm_setAutomine", params: [true] });
  }
}

/**
 * Test-only contract paying several recipients from the caller in one transaction, which is what a
 * transaction with several matching Transfer logs looks like. Compiled here with the project's
 * pinned solc: it exists only for this suite.
 */
const BATCHER_SOURCE = `// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;
interface IERC20 { function transferFrom(address from, address to, uint256 value) external returns (bool); }
contract TransferBatcher {
    function pay(address token, address[] calldata to, uint256[] calldata value) external {
        for (uint256 i = 0; i < to.length; ++i) IERC20(token).transferFrom(msg.sender, to[i], value[i]);
    }
}`;

let batcherArtifact: { abi: Abi; bytecode: Hex } | undefined;

function compileBatcher(): { abi: Abi; bytecode: Hex } {
  if (batcherArtifact !== undefined) return batcherArtifact;
  const solc = createRequire(import.meta.url)("solc") as { compile(input: string): string };
  const input = {
    language: "Solidity",
    sources: { "TransferBatcher.sol": { content: BATCHER_SOURCE } },
    settings: { evmVersion: "shanghai", outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } } },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input))) as {
    contracts?: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string } } }>>;
    errors?: { severity: string; formattedMessage: string }[];
  };
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  const compiled = output.contracts?.["TransferBatcher.sol"]?.["TransferBatcher"];
  if (errors.length > 0 || compiled === undefined) throw new Error(errors.map((e) => e.formattedMessage).join("\n"));
  batcherArtifact = { abi: compiled.abi, bytecode: `0x${compiled.evm.bytecode.object}` };
  return batcherArtifact;
}

describe("transfer scheme (on-chain transfer proof)", () => {
  describe("offer", () => {
    it("offers ERC-20 tokens with the challenge, the policy and the proof domain in extra", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const offer = c.offer("usdc");
      const challengeHash = keccak256(
        encodeAbiParameters(parseAbiParameters("string, uint256, string, address, uint256, address"), [
          "x402-transfer-v1",
          BigInt(c.chainId),
          RESOURCE.url,
          c.tokens.usdc.address,
          PRICE,
          c.payTo,
        ]),
      );
      expect(offer).to.deep.equal({
        scheme: "transfer",
        chainId: 324705682,
        token: c.tokens.usdc,
        amount: PRICE,
        payTo: c.payTo,
        maxTimeoutSeconds: MAX_TIMEOUT_SECONDS,
        extra: { challengeHash, minConfirmations: 1, maxAgeSeconds: 600, name: PROOF_DOMAIN_NAME, version: "1" },
        resource: RESOURCE,
      });
      expect(c.scheme.name).to.equal("transfer");
      expect(c.scheme.chainId).to.equal(c.chainId);
      expect([DEFAULT_MIN_CONFIRMATIONS, DEFAULT_MAX_AGE_SECONDS]).to.deep.equal([1, 600]);
      // USDT, SKL and WETH have nothing but ERC-20 transfers: this is the scheme that takes them.
      for (const key of TOKEN_KEYS) expect(c.offer(key).token).to.equal(c.tokens[key]);
    });

    it("makes no offer for tokens without the ERC-20 method, and refuses a zero price or a bad policy", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const noErc20 = { ...c.tokens.usdc, collectionMethods: collectionMethods.eip3009 | collectionMethods.permit };
      expect(c.scheme.offer(offerInput(noErc20, c.payTo))).to.equal(undefined);
      expect(() => c.scheme.offer(offerInput(c.tokens.usdt, c.payTo, 0n))).to.throw(RangeError);
      const reader = c.publicClient;
      expect(() => createTransferScheme({ chainId: c.chainId, publicClient: reader, minConfirmations: 0 })).to.throw(RangeError);
      expect(() => createTransferScheme({ chainId: c.chainId, publicClient: reader, minConfirmations: 1.5 })).to.throw(RangeError);
      expect(() => createTransferScheme({ chainId: c.chainId, publicClient: reader, maxAgeSeconds: 0 })).to.throw(RangeError);
      const custom = createTransferScheme({ chainId: c.chainId, publicClient: reader, minConfirmations: 3, maxAgeSeconds: 60 });
      expect(custom.offer(offerInput(c.tokens.skl, c.payTo))?.extra).to.include({ minConfirmations: 3, maxAgeSeconds: 60 });
    });

    it("binds the challenge to every term: chain, resource, token, amount and payee", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const terms = { chainId: c.chainId, resourceUrl: RESOURCE.url, token: c.tokens.usdc.address, amount: PRICE, payTo: c.payTo };
      const base = transferChallengeHash(terms);
      expect(base).to.equal(offerChallengeHash(c.offer("usdc")));
      expect(TRANSFER_CHALLENGE_TAG).to.equal("x402-transfer-v1");
      const variants = [
        { ...terms, chainId: SKALE_BASE },
        { ...terms, resourceUrl: `${RESOURCE.url}?city=Paris` },
        { ...terms, token: c.tokens.usdt.address },
        { ...terms, amount: PRICE + 1n },
        { ...terms, payTo: getAddress(c.stranger.account.address) },
      ];
      const hashes = new Set([base, ...variants.map(transferChallengeHash)]);
      expect(hashes.size).to.equal(variants.length + 1);
    });
  });

  describe("selectOffer (the payload names neither token nor price)", () => {
    it("picks the offer whose challenge the payer signed", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const usdc = c.offer("usdc");
      const skl = c.offer("skl");
      const hash = await transfer(c, "skl", c.payTo);
      const payload = await prove(c, hash, skl);
      expect(await c.scheme.selectOffer(payload, [usdc, skl])).to.equal(skl);
      expect(await c.scheme.selectOffer(await prove(c, hash, usdc), [skl, usdc])).to.equal(usdc);
      // Signed by someone else, or junk: the first of ours, and verify says why.
      const foreign = await prove(c, hash, skl, { signer: c.stranger, payer: c.payer });
      expect(await c.scheme.selectOffer(foreign, [usdc, skl])).to.equal(usdc);
      expect(await c.scheme.selectOffer({ nope: 1 }, [usdc, skl])).to.equal(usdc);
      // Only other schemes' or chains' candidates: none.
      expect(await c.scheme.selectOffer(payload, [{ ...skl, scheme: "exact" }, { ...skl, chainId: SKALE_BASE }])).to.equal(undefined);
    });
  });

  describe("verify and settle", () => {
    it("verifies a USDC transfer, and settles it after a JSON round trip without sending anything", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const { hash, offer, payload } = await pay(c, "usdc");
      const receipt = await c.publicClient.getTransactionReceipt({ hash });
      const logIndex = receipt.logs[0]?.logIndex ?? -1;
      const payment = await verify(c, payload, offer);

      expect(payment).to.deep.equal({
        scheme: "transfer",
        chainId: c.chainId,
        payer: c.payer,
        payee: c.payTo,
        token: c.tokens.usdc.address,
        amount: PRICE,
        paymentKey: `transfer:${c.chainId}:${hash}:${logIndex}`.toLowerCase(),
        nonce: null,
        validBefore: null,
        settlementData: {
          transaction: hash,
          logIndex,
          blockNumber: receipt.blockNumber.toString(),
          blockHash: receipt.blockHash,
          challengeHash: offer.extra["challengeHash"],
          signature: payload.signature,
        },
      });

      // What the ledger stores and a restarted engine reads back.
      const stored: VerifiedPayment = { ...payment, settlementData: JSON.parse(JSON.stringify(payment.settlementData)) };
      const blockBefore = await c.publicClient.getBlockNumber({ cacheTime: 0 });
      expect(await c.scheme.settle(stored)).to.deep.equal({ transaction: hash, blockNumber: receipt.blockNumber });
      expect(await c.publicClient.getBlockNumber({ cacheTime: 0 })).to.equal(blockBefore);
      expect(await c.usdc.read.balanceOf([c.payTo])).to.equal(PRICE);
    });

    for (const key of ["usdt", "skl", "weth"] as const) {
      it(`verifies and settles a ${key.toUpperCase()} transfer`, async () => {
        const c = await networkHelpers.loadFixture(deploy);
        const { hash, offer, payload } = await pay(c, key);
        const payment = await verify(c, payload, offer);
        expect(payment).to.include({ token: c.tokens[key].address, payer: c.payer, payee: c.payTo, amount: PRICE });
        expect((await c.scheme.settle(payment)).transaction).to.equal(hash);
      });
    }

    it("accepts an overpayment and records what actually moved", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const offer = c.offer("usdc");
      const hash = await transfer(c, "usdc", c.payTo, PRICE * 3n);
      const payment = await verify(c, await prove(c, hash, offer), offer);
      expect(payment.amount).to.equal(PRICE * 3n);
    });

    it("accepts any casing of hash, payer and signature, keys every spelling the same, and ignores unknown keys", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const { offer, payload } = await pay(c);
      const upper = (hex: string) => `0x${hex.slice(2).toUpperCase()}`;
      const respelled = {
        transaction: upper(payload.transaction),
        payer: payload.payer.toLowerCase(),
        signature: upper(payload.signature),
        memo: "ignored",
      };
      const a = await verify(c, payload, offer);
      const b = await verify(c, respelled, offer);
      expect(b.paymentKey).to.equal(a.paymentKey);
      expect(b.settlementData).to.deep.equal(a.settlementData);
    });

    it("accepts a contract wallet's transfer proven with ERC-1271", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const owner = c.agent2;
      const wallet = await viem.deployContract("MockERC1271Wallet", [owner.account.address]);
      await c.usdc.write.mint([wallet.address, PRICE]);
      const data = encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [c.payTo, PRICE] });
      // The owner sends the transaction; the money moves from the wallet, which is the payer.
      const hash = await wallet.write.execute([c.usdc.address, data], { account: owner.account });
      const offer = c.offer("usdc");
      const payload = await prove(c, hash, offer, { signer: owner, payer: getAddress(wallet.address) });
      const payment = await verify(c, payload, offer);
      expect(payment.payer).to.equal(getAddress(wallet.address));
      // The owner's EOA did not pay: as payer, its own proof names nobody's transfer.
      await expectCode(() => verify(c, { ...payload, payer: getAddress(owner.account.address) }, offer), "transfer_not_found");
      // The wallet refuses a signature by anyone but its owner.
      await expectCode(
        async () => verify(c, await prove(c, hash, offer, { signer: c.stranger, payer: getAddress(wallet.address) }), offer),
        "invalid_signature",
      );
    });

    it("picks among several matching logs with logIndex, the first one without it", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const { abi, bytecode } = compileBatcher();
      const deployment = await c.agent.deployContract({ abi, bytecode });
      const batcher = (await c.publicClient.waitForTransactionReceipt({ hash: deployment })).contractAddress;
      if (batcher === null || batcher === undefined) throw new Error("no batcher");
      await c.agent.writeContract({ address: c.usdc.address, abi: erc20Abi, functionName: "approve", args: [batcher, 10n ** 18n] });
      const stranger = getAddress(c.stranger.account.address);
      const hash = await c.agent.writeContract({
        address: batcher,
        abi: parseAbi(["function pay(address token, address[] to, uint256[] value)"]),
        functionName: "pay",
        args: [c.usdc.address, [c.payTo, stranger, c.payTo], [PRICE, 1n, PRICE]],
      });
      const receipt = await c.publicClient.waitForTransactionReceipt({ hash });
      const indices = receipt.logs.map((log) => log.logIndex);
      expect(indices).to.have.length(3);
      const [first, toStranger, third] = indices as [number, number, number];
      const offer = c.offer("usdc");

      const byDefault = await verify(c, await prove(c, hash, offer), offer);
      expect(byDefault.paymentKey).to.equal(transferPaymentKey(c.chainId, hash, first));
      expect(byDefault.settlementData["logIndex"]).to.equal(first);
      const named = await verify(c, await prove(c, hash, offer, { logIndex: third }), offer);
      expect(named.paymentKey).to.equal(transferPaymentKey(c.chainId, hash, third));
      expect(named.paymentKey).to.not.equal(byDefault.paymentKey);
      const explicitFirst = await verify(c, await prove(c, hash, offer, { logIndex: first }), offer);
      expect(explicitFirst.paymentKey).to.equal(byDefault.paymentKey);
      // A named log is judged on its own.
      await expectCode(async () => verify(c, await prove(c, hash, offer, { logIndex: toStranger }), offer), "wrong_recipient");
      const error = await expectCode(async () => verify(c, await prove(c, hash, offer, { logIndex: third + 1 }), offer), "transfer_not_found");
      expect(error.details).to.include({ logIndex: third + 1 });
    });

    it("answers insufficient_confirmations while the transaction waits in the mempool", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const offer = c.offer("usdc");
      const hash = await withoutAutomine(async () => {
        const pending = await c.agent.writeContract({ address: c.usdc.address, abi: erc20Abi, functionName: "transfer", args: [c.payTo, PRICE] });
        const error = await expectCode(async () => verify(c, await prove(c, pending, offer), offer), "insufficient_confirmations");
        expect(error.details).to.include({ confirmations: 0 });
        await networkHelpers.mine();
        return pending;
      });
      await verify(c, await prove(c, hash, offer), offer);
    });
  });

  describe("rejections", () => {
    it("malformed payloads are malformed_payment", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const { offer, payload: good } = await pay(c);
      const variants: [string, unknown][] = [
        ["null", null],
        ["a string", good.transaction],
        ["an array", [good]],
        ["no transaction", { payer: good.payer, signature: good.signature }],
        ["no payer", { transaction: good.transaction, signature: good.signature }],
        ["no signature", { transaction: good.transaction, payer: good.payer }],
        ["a short hash", { ...good, transaction: slice(good.transaction as Hex, 0, 31) }],
        ["a hash without 0x", { ...good, transaction: good.transaction.slice(2) }],
        ["a hash as a number", { ...good, transaction: 1 }],
        ["payer not an address", { ...good, payer: "0x1234" }],
        ["payer with a bad checksum", { ...good, payer: flipChecksum(good.payer) }],
        ["signature not hex", { ...good, signature: `0x${"zz".repeat(65)}` }],
        ["signature too short", { ...good, signature: slice(good.signature, 0, 63) }],
        ["negative logIndex", { ...good, logIndex: -1 }],
        ["fractional logIndex", { ...good, logIndex: 0.5 }],
        ["logIndex as a string", { ...good, logIndex: "0" }],
        ["logIndex null", { ...good, logIndex: null }],
        ["logIndex beyond 32 bits", { ...good, logIndex: 2 ** 32 }],
      ];
      for (const [what, payload] of variants) {
        const error = await rejection(() => verify(c, payload, offer));
        expect(error.code, what).to.equal("malformed_payment");
      }
      const error = await rejection(() => verify(c, { ...good, logIndex: -1 }, offer));
      expect(error.details?.["fields"]).to.have.property("logIndex");
    });

    it("a signature by another key, over another transaction, challenge or chain is invalid_signature", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const { hash, offer } = await pay(c);
      const otherHash = await transfer(c, "usdc", c.payTo);
      const otherResource = c.offer("usdc", { resource: { ...RESOURCE, url: `${RESOURCE.url}?city=Paris` } });
      const cheaper = c.offer("usdc", { amount: PRICE - 1n });
      const cases: [string, ProofOptions][] = [
        ["another key", { signer: c.stranger, payer: c.payer }],
        ["another transaction", { signedTransaction: otherHash }],
        ["another resource's challenge", { challengeHash: offerChallengeHash(otherResource) }],
        ["another price's challenge", { challengeHash: offerChallengeHash(cheaper) }],
        ["another token's challenge", { challengeHash: offerChallengeHash(c.offer("usdt")) }],
        ["another chain's domain", { chainId: SKALE_BASE }],
      ];
      for (const [what, options] of cases) {
        const error = await rejection(async () => verify(c, await prove(c, hash, offer, options), offer));
        expect(error.code, what).to.equal("invalid_signature");
      }
      // Non-canonical spellings of a valid signature: high s, v as 0/1, EIP-2098 compact.
      const { signature } = await prove(c, hash, offer);
      const v = Number(BigInt(slice(signature, 64, 65)));
      const spellings = [highSTwin(signature), concat([slice(signature, 0, 64), numberToHex(v - 27, { size: 1 })]), slice(signature, 0, 64)];
      for (const spelling of spellings) {
        await expectCode(() => verify(c, { transaction: hash, payer: c.payer, signature: spelling }, offer), "invalid_signature");
      }
    });

    it("a hash the chain does not know is transfer_not_found", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const offer = c.offer("usdc");
      const unknown = toHex(crypto.getRandomValues(new Uint8Array(32)));
      const error = await expectCode(async () => verify(c, await prove(c, unknown, offer), offer), "transfer_not_found");
      expect(error.details).to.include({ payer: c.payer, transaction: unknown });
    });

    it("a transfer made on another chain is transfer_not_found here", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const other = await network.create({ override: { chainId: SKALE_BASE } });
      try {
        const remote = await deployEscrowSystem(other.viem);
        // Same deployer, same nonces: the token sits at the same address on both chains.
        expect(getAddress(remote.usdc.address)).to.equal(c.tokens.usdc.address);
        const hash = await remote.usdc.write.transfer([c.payTo, PRICE], { account: remote.agent.account });
        expect((await remote.publicClient.getTransactionReceipt({ hash })).status).to.equal("success");
        const offer = c.offer("usdc");
        await expectCode(async () => verify(c, await prove(c, hash, offer), offer), "transfer_not_found");
        // On its own chain the same transfer verifies.
        const there = createTransferScheme({ chainId: SKALE_BASE, publicClient: remote.publicClient });
        const remoteOffer = there.offer(offerInput(c.tokens.usdc, c.payTo));
        if (remoteOffer === undefined) throw new Error("expected an offer");
        const now = (await remote.publicClient.getBlock()).timestamp;
        const payment = await there.verify(await prove(c, hash, remoteOffer, { chainId: SKALE_BASE }), remoteOffer, now);
        expect(payment.paymentKey).to.match(new RegExp(`^transfer:${SKALE_BASE}:`));
      } finally {
        await other.close();
      }
    });

    it("a reverted transaction is transfer_failed", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const offer = c.offer("usdc");
      // More than the agent holds, with a fixed gas limit so nothing estimates it away: mined, reverted.
      const hash = await withoutAutomine(async () => {
        const sent = await c.agent.writeContract({
          address: c.usdc.address,
          abi: erc20Abi,
          functionName: "transfer",
          args: [c.payTo, 10n ** 30n],
          gas: 100_000n,
        });
        await networkHelpers.mine();
        return sent;
      });
      expect((await c.publicClient.getTransactionReceipt({ hash })).status).to.equal("reverted");
      await expectCode(async () => verify(c, await prove(c, hash, offer), offer), "transfer_failed");
    });

    it("a transfer of another token is wrong_token; a transaction without a matching transfer is transfer_not_found", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const offer = c.offer("usdc");
      const skl = await transfer(c, "skl", c.payTo);
      const error = await expectCode(async () => verify(c, await prove(c, skl, offer), offer), "wrong_token");
      expect(error.details).to.include({ expected: c.tokens.usdc.address, actual: c.tokens.skl.address });
      // Another token to someone else: nothing here is even an attempt to pay.
      const elsewhere = await transfer(c, "skl", getAddress(c.stranger.account.address));
      await expectCode(async () => verify(c, await prove(c, elsewhere, offer), offer), "transfer_not_found");
      // No Transfer at all (an approval).
      const approval = await c.agent.writeContract({ address: c.usdc.address, abi: erc20Abi, functionName: "approve", args: [c.payTo, 1n] });
      await expectCode(async () => verify(c, await prove(c, approval, offer), offer), "transfer_not_found");
    });

    it("a transfer to someone else is wrong_recipient", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const offer = c.offer("usdc");
      const elsewhere = getAddress(c.stranger.account.address);
      const hash = await transfer(c, "usdc", elsewhere);
      const error = await expectCode(async () => verify(c, await prove(c, hash, offer), offer), "wrong_recipient");
      expect(error.details).to.include({ payer: c.payer, expected: c.payTo, actual: elsewhere });
    });

    it("someone else's transfer cannot be claimed: transfer_not_found, or invalid_signature in the victim's name", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const offer = c.offer("usdc");
      // agent2 pays; a watcher of the chain tries to use the hash first.
      const victim = getAddress(c.agent2.account.address);
      const hash = await transfer(c, "usdc", c.payTo, PRICE, c.agent2);
      const asSelf = await prove(c, hash, offer, { signer: c.stranger });
      const error = await expectCode(() => verify(c, asSelf, offer), "transfer_not_found");
      expect(error.message).to.match(/no transfer from/);
      await expectCode(async () => verify(c, await prove(c, hash, offer, { signer: c.stranger, payer: victim }), offer), "invalid_signature");
      // The real payer still can.
      expect((await verify(c, await prove(c, hash, offer, { signer: c.agent2 }), offer)).payer).to.equal(victim);
    });

    it("too little is amount_mismatch", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const offer = c.offer("usdt");
      const hash = await transfer(c, "usdt", c.payTo, PRICE - 1n);
      const error = await expectCode(async () => verify(c, await prove(c, hash, offer), offer), "amount_mismatch");
      expect(error.details).to.include({ expected: PRICE.toString(), actual: (PRICE - 1n).toString() });
    });

    it("a transfer made by an EIP-3009 authorization (the exact scheme's payment) is transfer_already_used", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      // The agent pays with exact; the gateway settles; the agent then claims that settlement again.
      const exact = createExactScheme({ chainId: c.chainId, publicClient: c.publicClient, walletClient: c.operator });
      const exactOffer = exact.offer(offerInput(c.tokens.usdc, c.payTo));
      if (exactOffer === undefined) throw new Error("expected an exact offer");
      const now = await chainNow(c);
      const authorization = {
        from: c.payer,
        to: c.payTo,
        value: PRICE,
        validAfter: 0n,
        validBefore: now + 300n,
        nonce: toHex(crypto.getRandomValues(new Uint8Array(32))),
      };
      const signature = await c.agent.signTypedData({
        account: c.agent.account,
        domain: { name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION, chainId: c.chainId, verifyingContract: c.tokens.usdc.address },
        types: transferWithAuthorizationTypes,
        primaryType: "TransferWithAuthorization",
        message: authorization,
      });
      const wire = {
        signature,
        authorization: {
          ...authorization,
          value: authorization.value.toString(),
          validAfter: "0",
          validBefore: authorization.validBefore.toString(),
        },
      };
      const { transaction } = await exact.settle(await exact.verify(wire, exactOffer, now));
      const offer = c.offer("usdc");
      await expectCode(async () => verify(c, await prove(c, transaction, offer), offer), "transfer_already_used");
    });

    it("fewer confirmations than required is insufficient_confirmations", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const strict = createTransferScheme({ chainId: c.chainId, publicClient: c.publicClient, minConfirmations: 3 });
      const offer = strict.offer(offerInput(c.tokens.usdc, c.payTo));
      if (offer === undefined) throw new Error("expected an offer");
      const hash = await transfer(c, "usdc", c.payTo);
      const payload = await prove(c, hash, offer);
      const error = await expectCode(async () => strict.verify(payload, offer, await chainNow(c)), "insufficient_confirmations");
      expect(error.details).to.include({ confirmations: 1, required: 3 });
      await networkHelpers.mine();
      await expectCode(async () => strict.verify(payload, offer, await chainNow(c)), "insufficient_confirmations");
      await networkHelpers.mine();
      const payment = await strict.verify(payload, offer, await chainNow(c));
      expect(payment.paymentKey).to.match(new RegExp(`^transfer:${c.chainId}:${hash}:`));
    });

    it("a transfer older than maxAgeSeconds is expired", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const { hash, offer, payload } = await pay(c);
      const { timestamp } = await c.publicClient.getBlock({ blockHash: (await c.publicClient.getTransactionReceipt({ hash })).blockHash });
      await networkHelpers.time.increase(DEFAULT_MAX_AGE_SECONDS);
      expect(await chainNow(c)).to.equal(timestamp + BigInt(DEFAULT_MAX_AGE_SECONDS));
      await verify(c, payload, offer); // exactly maxAgeSeconds old: still fine
      await networkHelpers.time.increase(1);
      const error = await expectCode(() => verify(c, payload, offer), "expired");
      expect(error.details).to.include({ timestamp: timestamp.toString(), maxAgeSeconds: DEFAULT_MAX_AGE_SECONDS });
    });

    it("an unreachable or failing node is chain_unavailable, never a rejection of the payment", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const { offer, payload } = await pay(c);
      const now = await chainNow(c);
      const down = createPublicClient({ transport: http(`http://127.0.0.1:${await closedPort()}`, { retryCount: 0 }) });
      const offline = createTransferScheme({ chainId: c.chainId, publicClient: down });
      const error = await expectCode(() => offline.verify(payload, offer, now), "chain_unavailable");
      expect(error.status).to.equal(503);
      expect(error.cause).to.be.instanceOf(BaseError);
      // Checks that need no node still answer with their own codes.
      await expectCode(() => offline.verify({ ...payload, logIndex: -1 }, offer, now), "malformed_payment");

      // A node failing one method at a time: the receipt, the pending lookup, the blocks.
      const unknown = await prove(c, toHex(crypto.getRandomValues(new Uint8Array(32))), offer);
      const cases: [string[], WirePayload][] = [
        [["eth_getTransactionReceipt"], payload],
        [["eth_getTransactionByHash"], unknown],
        [["eth_blockNumber"], payload],
        [["eth_getBlockByHash"], payload],
      ];
      for (const [failing, sent] of cases) {
        const { reader } = instrumentedReader(failing);
        const scheme = createTransferScheme({ chainId: c.chainId, publicClient: reader });
        const failure = await rejection(() => scheme.verify(sent, offer, now));
        expect(failure.code, failing.join()).to.equal("chain_unavailable");
      }
      // Without a node nobody can tell whether a payer that does not recover is a contract wallet.
      const foreign = await prove(c, payload.transaction as Hash, offer, { signer: c.stranger, payer: c.payer });
      await expectCode(() => offline.verify(foreign, offer, now), "chain_unavailable");
    });

    it("checks run in the documented order", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const offer = c.offer("usdc");
      const now = await chainNow(c);
      // A bad signature is refused before any receipt is fetched (an EOA costs one eth_getCode).
      const { reader, calls } = instrumentedReader();
      const scheme = createTransferScheme({ chainId: c.chainId, publicClient: reader });
      const unknown = toHex(crypto.getRandomValues(new Uint8Array(32)));
      await expectCode(async () => scheme.verify(await prove(c, unknown, offer, { signer: c.stranger, payer: c.payer }), offer, now), "invalid_signature");
      expect(calls).to.deep.equal(["eth_getCode"]);
      // A valid EOA proof asks for nothing before the receipt.
      calls.length = 0;
      await expectCode(async () => scheme.verify(await prove(c, unknown, offer), offer, now), "transfer_not_found");
      expect(calls).to.deep.equal(["eth_getTransactionReceipt", "eth_getTransactionByHash"]);

      // Within the logs: token, then recipient, then payer, then amount.
      const elsewhere = getAddress(c.stranger.account.address);
      const wrongEverything = await transfer(c, "skl", c.payTo, 1n, c.agent2);
      await expectCode(async () => verify(c, await prove(c, wrongEverything, offer), offer), "wrong_token");
      const notToUs = await transfer(c, "usdc", elsewhere, 1n, c.agent2);
      await expectCode(async () => verify(c, await prove(c, notToUs, offer), offer), "wrong_recipient");
      const notOurs = await transfer(c, "usdc", c.payTo, 1n, c.agent2);
      await expectCode(async () => verify(c, await prove(c, notOurs, offer), offer), "transfer_not_found");

      // Confirmations before age.
      const strict = createTransferScheme({ chainId: c.chainId, publicClient: c.publicClient, minConfirmations: 2 });
      const strictOffer = strict.offer(offerInput(c.tokens.usdc, c.payTo));
      if (strictOffer === undefined) throw new Error("expected an offer");
      const hash = await transfer(c, "usdc", c.payTo);
      const later = (await chainNow(c)) + 10_000n;
      await expectCode(async () => strict.verify(await prove(c, hash, strictOffer), strictOffer, later), "insufficient_confirmations");
      await networkHelpers.mine();
      await expectCode(async () => strict.verify(await prove(c, hash, strictOffer), strictOffer, later), "expired");
    });
  });

  describe("settlement guards and building blocks", () => {
    it("refuses stored settlement data that does not match the payment", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const { offer, payload } = await pay(c);
      const payment = await verify(c, payload, offer);
      const data = payment.settlementData;
      const tampered: VerifiedPayment[] = [
        { ...payment, settlementData: { ...data, logIndex: 7 } },
        { ...payment, settlementData: { ...data, transaction: `0x${"11".repeat(32)}` } },
        { ...payment, settlementData: { ...data, blockNumber: 5 } },
        { ...payment, settlementData: {} },
        { ...payment, paymentKey: `${payment.paymentKey}0` },
      ];
      for (const stored of tampered) await expectCode(() => c.scheme.settle(stored), "settlement_failed");
    });

    it("refuses offers and payments meant for another scheme or chain", async () => {
      const c = await networkHelpers.loadFixture(deploy);
      const { offer, payload } = await pay(c);
      const payment = await verify(c, payload, offer);
      const thrown = async (run: () => Promise<unknown>) => {
        try {
          await run();
        } catch (error) {
          return error;
        }
        return undefined;
      };
      expect(await thrown(() => c.scheme.verify(payload, { ...offer, chainId: SKALE_BASE }, 0n))).to.be.instanceOf(TypeError);
      expect(await thrown(() => c.scheme.verify(payload, { ...offer, scheme: "exact" }, 0n))).to.be.instanceOf(TypeError);
      expect(await thrown(() => c.scheme.settle({ ...payment, scheme: "exact" }))).to.be.instanceOf(TypeError);
      expect(await thrown(() => c.scheme.settle({ ...payment, chainId: SKALE_BASE }))).to.be.instanceOf(TypeError);
    });

    it("keys payments by chain, transaction and log in lower case", () => {
      const hash = `0x${"AB".repeat(32)}` as Hash;
      expect(transferPaymentKey(324705682, hash, 3)).to.equal(`transfer:324705682:0x${"ab".repeat(32)}:3`);
    });

    it("counts confirmations from the receipt's block even when the node's block number lags", () => {
      const details = { payer: "0x", transaction: "0x" };
      const policy = { minConfirmations: 1, maxAgeSeconds: 60 };
      // The receipt proves block 10 exists; a lagging eth_blockNumber of 9 still means one confirmation.
      expect(() => checkInclusion({ blockNumber: 10n, latest: 9n, timestamp: 100n }, 100n, policy, details)).to.not.throw();
      expect(() => checkInclusion({ blockNumber: 10n, latest: 9n, timestamp: 100n }, 100n, { ...policy, minConfirmations: 2 }, details))
        .to.throw(PaymentError, /1 confirmation/);
      // A block stamped ahead of the gateway's clock is not refused.
      expect(() => checkInclusion({ blockNumber: 10n, latest: 10n, timestamp: 200n }, 100n, policy, details)).to.not.throw();
      expect(() => checkInclusion({ blockNumber: 10n, latest: 10n, timestamp: 39n }, 100n, policy, details)).to.throw(PaymentError, /mined at 39/);
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
