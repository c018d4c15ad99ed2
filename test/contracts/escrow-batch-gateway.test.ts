/**
 * The gateway's side of `settleBatchFor` (gateway/schemes/escrow/batch.ts): which escrow call a
 * batch goes through, the EIP-2098 encoding it sends, and a full prepare → build → sign →
 * broadcast → await round against the real escrow for both calls.
 *
 * The rule under test: a batch whose entries share one token and one payee, and whose signatures
 * all have a compact form the escrow expands back to the very same 65 bytes, goes through
 * `settleBatchFor`; anything else through `settleBatch`. Either way each entry's outcome is read
 * from the same events.
 */
import { network } from "hardhat";
import { expect } from "chai";
import type { Address, Hex } from "viem";
import { concat, createWalletClient, custom, decodeFunctionData, getAddress, hexToBigInt, numberToHex, parseSignature, slice, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import {
  awaitEscrowBatch,
  broadcastEscrowBatch,
  buildEscrowBatchTransaction,
  compactSignature,
  escrowBatchCall,
  prepareEscrowBatch,
  signEscrowBatchTransaction,
  type EscrowBatchEntry,
} from "../../gateway/schemes/escrow/batch.js";
import { settlementEscrowAbi } from "../../gateway/schemes/escrow/abi.js";
import { encodeEscrowSettlementData, escrowPaymentKey, type EscrowSettlementData } from "../../gateway/schemes/escrow/payload.js";
import type { VerifiedPayment } from "../../gateway/schemes/types.js";
import { deployEscrowSystem, paymentFor, signPayment, type PaymentAuthorization } from "./helpers/escrow.js";

const { viem, networkHelpers, provider } = await network.create();

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const PRICE = 1_000n;

async function fixture() {
  const s = await deployEscrowSystem(viem);
  for (const agent of [s.agent, s.agent2]) await s.escrow.write.deposit([s.usdc.address, 100_000_000n], { account: agent.account });
  await s.escrow.write.deposit([s.usdt.address, 100_000_000n], { account: s.agent.account });
  await s.escrow.write.setFee([100]);
  // The engine signs with a key in the process (no eth_signTransaction), so the test does too.
  const settler = privateKeyToAccount(generatePrivateKey());
  await networkHelpers.setBalance(settler.address, 10n ** 21n);
  const settlerWallet = createWalletClient({ account: settler, chain: s.publicClient.chain, transport: custom(provider) });
  return { ...s, settler, settlerWallet };
}
type System = Awaited<ReturnType<typeof fixture>>;

/** A verified payment as the engine hands it over: the signed authorization in its settlement data. */
async function verified(
  s: System,
  overrides: Partial<PaymentAuthorization> = {},
  signer = s.agent,
  mutate: (signature: Hex) => Hex = (sig) => sig,
): Promise<VerifiedPayment> {
  const authorization = await paymentFor(
    s.publicClient,
    { payer: getAddress(s.agent.account.address), payee: getAddress(s.payee.account.address), token: getAddress(s.usdc.address), amount: PRICE },
    { challengeHash: toHex(crypto.getRandomValues(new Uint8Array(32))), ...overrides },
  );
  const signature = mutate(await signPayment(signer, s.domain, authorization));
  const escrow = getAddress(s.escrow.address);
  const data: EscrowSettlementData = { mode: "async", escrow, signature, authorization };
  return {
    scheme: "escrow",
    chainId: s.chainId,
    payer: authorization.payer,
    payee: authorization.payee,
    token: authorization.token,
    amount: authorization.amount,
    paymentKey: escrowPaymentKey(s.chainId, escrow, authorization.payer, authorization.nonce),
    nonce: authorization.nonce.toString(),
    validBefore: authorization.validBefore,
    settlementData: encodeEscrowSettlementData(data),
  };
}

function entry(payment: VerifiedPayment): EscrowBatchEntry {
  const data = payment.settlementData as unknown as { signature: Hex; authorization: Record<string, string> };
  const a = data.authorization;
  return {
    payment,
    data: {
      mode: "async",
      escrow: payment.payee,
      signature: data.signature,
      authorization: {
        payer: getAddress(a["payer"]!),
        payee: getAddress(a["payee"]!),
        token: getAddress(a["token"]!),
        amount: BigInt(a["amount"]!),
        nonce: BigInt(a["nonce"]!),
        validAfter: BigInt(a["validAfter"]!),
        validBefore: BigInt(a["validBefore"]!),
        challengeHash: a["challengeHash"] as Hex,
      },
    },
  };
}

/** The high-s twin of a signature: the same signer to raw ecrecover, refused by the escrow's ECDSA. */
function highSTwin(signature: Hex): Hex {
  const { r, s, v } = parseSignature(signature);
  return concat([r, numberToHex(SECP256K1_N - hexToBigInt(s), { size: 32 }), numberToHex(v === 27n ? 28 : 27, { size: 1 })]);
}

/** Prepare, build, sign, broadcast and await; returns the call the transaction made and the outcomes. */
async function settleThroughGateway(s: System, payments: VerifiedPayment[]) {
  const sender = s.settler.address;
  const escrow = getAddress(s.escrow.address);
  const batch = await prepareEscrowBatch({ publicClient: s.publicClient, escrow, sender, payments });
  const transaction = await buildEscrowBatchTransaction({ publicClient: s.publicClient, batch, sender });
  const signed = await signEscrowBatchTransaction(s.settlerWallet, transaction);
  await broadcastEscrowBatch(s.publicClient, signed);
  const mined = await awaitEscrowBatch({ publicClient: s.publicClient, batch, transaction: signed.hash });
  const tx = await s.publicClient.getTransaction({ hash: signed.hash });
  return { call: decodeFunctionData({ abi: settlementEscrowAbi, data: tx.input }), batch, mined };
}

describe("gateway escrow batches: settleBatchFor or settleBatch", () => {
  describe("compactSignature", () => {
    it("folds a canonical 65-byte signature into (r, vs), and the escrow's expansion gives back the same bytes", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      for (let i = 0; i < 8; i++) {
        const signature = await signPayment(s.agent, s.domain, await paymentFor(s.publicClient, { payer: s.agent.account.address, payee: s.payee.account.address, token: s.usdc.address, amount: BigInt(i + 1) }));
        const compact = compactSignature(signature);
        if (compact === undefined) throw new Error("expected a compact form");
        const parity = hexToBigInt(compact.vs) >> 255n;
        const expanded = concat([compact.r, numberToHex(hexToBigInt(compact.vs) & ((1n << 255n) - 1n), { size: 32 }), numberToHex(parity + 27n, { size: 1 })]);
        expect(expanded).to.equal(signature);
        expect(compact.r).to.equal(slice(signature, 0, 32));
      }
    });

    it("has no compact form for a high s, a 0/1 v, or any length but 65 bytes", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      const signature = await signPayment(s.agent, s.domain, await paymentFor(s.publicClient, { payer: s.agent.account.address, payee: s.payee.account.address, token: s.usdc.address, amount: 1n }));
      const v = Number(hexToBigInt(slice(signature, 64, 65)));
      expect(compactSignature(highSTwin(signature))).to.equal(undefined);
      expect(compactSignature(concat([slice(signature, 0, 64), numberToHex(v - 27, { size: 1 })]))).to.equal(undefined);
      expect(compactSignature(slice(signature, 0, 64))).to.equal(undefined);
      expect(compactSignature(concat([signature, "0x00"]))).to.equal(undefined);
      expect(compactSignature(`0x${"zz".repeat(65)}` as Hex)).to.equal(undefined);
    });
  });

  describe("escrowBatchCall", () => {
    it("uses settleBatchFor for one token and one payee (any address spelling), settleBatch otherwise", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      const a = await verified(s);
      const b = await verified(s, { payer: getAddress(s.agent2.account.address) }, s.agent2);
      const toPayee2 = await verified(s, { payee: getAddress(s.operator.account.address) });
      const inUsdt = await verified(s, { token: getAddress(s.usdt.address) });
      const highS = await verified(s, {}, s.agent, highSTwin);

      const shared = escrowBatchCall([entry(a), entry(b)]);
      expect(shared.functionName).to.equal("settleBatchFor");
      expect(shared.args.slice(0, 2)).to.deep.equal([getAddress(s.usdc.address), getAddress(s.payee.account.address)]);
      const lower = entry(b);
      const lowerCase = { ...lower, data: { ...lower.data, authorization: { ...lower.data.authorization, payee: lower.data.authorization.payee.toLowerCase() as Address } } };
      expect(escrowBatchCall([entry(a), lowerCase]).functionName).to.equal("settleBatchFor");
      expect(escrowBatchCall([entry(a), entry(toPayee2)]).functionName).to.equal("settleBatch");
      expect(escrowBatchCall([entry(a), entry(inUsdt)]).functionName).to.equal("settleBatch");
      expect(escrowBatchCall([entry(a), entry(highS)]).functionName).to.equal("settleBatch");
    });
  });

  describe("a full round against the escrow", () => {
    it("settles a one-payee batch through settleBatchFor and reads every outcome with its fee", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      const payments = [await verified(s), await verified(s, { payer: getAddress(s.agent2.account.address), amount: 2_500n }, s.agent2), await verified(s)];
      const { call, mined } = await settleThroughGateway(s, payments);
      expect(call.functionName).to.equal("settleBatchFor");
      expect(mined.outcomes).to.deep.equal([
        { paymentKey: payments[0]!.paymentKey, status: "settled", fee: 10n },
        { paymentKey: payments[1]!.paymentKey, status: "settled", fee: 25n },
        { paymentKey: payments[2]!.paymentKey, status: "settled", fee: 10n },
      ]);
      expect(await s.escrow.read.earningsOf([s.usdc.address, s.payee.account.address])).to.equal(4_500n - 45n);
    });

    it("leaves out what the simulation refuses, and reports an entry spent after the simulation as failed", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      const forged = await verified(s, {}, s.agent2); // not the payer's signature
      const good = await verified(s);
      const raced = await verified(s);
      const sender = s.settler.address;
      const batch = await prepareEscrowBatch({ publicClient: s.publicClient, escrow: getAddress(s.escrow.address), sender, payments: [forged, good, raced] });
      expect(batch.rejected).to.deep.equal([{ paymentKey: forged.paymentKey, status: "rejected", code: "invalid_signature", failure: "InvalidSignature" }]);
      const transaction = await buildEscrowBatchTransaction({ publicClient: s.publicClient, batch, sender });
      expect(decodeFunctionData({ abi: settlementEscrowAbi, data: transaction.data! }).functionName).to.equal("settleBatchFor");
      // Someone settles `raced` before our transaction is mined.
      const racedData = entry(raced).data;
      await s.escrow.write.settle([racedData.authorization, racedData.signature], { account: s.agent.account });
      const signed = await signEscrowBatchTransaction(s.settlerWallet, transaction);
      await broadcastEscrowBatch(s.publicClient, signed);
      const mined = await awaitEscrowBatch({ publicClient: s.publicClient, batch, transaction: signed.hash });
      expect(mined.outcomes).to.deep.equal([
        { paymentKey: good.paymentKey, status: "settled", fee: 10n },
        { paymentKey: raced.paymentKey, status: "failed", code: "nonce_used", failure: "NonceUsed" },
      ]);
    });

    it("keeps a mixed batch (two payees) on settleBatch, with the same outcomes", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      const payments = [await verified(s), await verified(s, { payee: getAddress(s.operator.account.address) })];
      const { call, mined } = await settleThroughGateway(s, payments);
      expect(call.functionName).to.equal("settleBatch");
      expect(mined.outcomes.map((o) => o.status)).to.deep.equal(["settled", "settled"]);
    });

    it("settles a contract-wallet payer whose signature is 65-byte ECDSA through settleBatchFor too", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      const wallet = await viem.deployContract("MockERC1271Wallet", [s.agent2.account.address]);
      const payer = getAddress(wallet.address);
      await s.escrow.write.depositFor([s.usdc.address, payer, 10_000n], { account: s.agent.account });
      const payments = [await verified(s, { payer }, s.agent2), await verified(s)];
      const { call, mined } = await settleThroughGateway(s, payments);
      expect(call.functionName).to.equal("settleBatchFor");
      expect(mined.outcomes.map((o) => o.status)).to.deep.equal(["settled", "settled"]);
      expect(await s.escrow.read.balanceOf([s.usdc.address, payer])).to.equal(10_000n - PRICE);
    });
  });
});
