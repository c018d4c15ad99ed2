/**
 * Attack tests for the settlement escrow: what an auditor would try against the contract, each
 * test named for the attack and asserting the precise custom error or the precise unchanged state.
 *
 * Every test starts from the shared fixture (`deployEscrowSystem`); tests that need an adversarial
 * token register it in the fixture's registry in a local fixture defined below.
 */
import { network } from "hardhat";
import { expect } from "chai";
import {
  type Address,
  type Hex,
  concat,
  decodeErrorResult,
  decodeFunctionResult,
  encodeFunctionData,
  getAddress,
  hexToBigInt,
  keccak256,
  maxUint256,
  numberToHex,
  pad,
  parseEventLogs,
  parseSignature,
  slice,
  toHex,
  zeroAddress,
} from "viem";
import type { WalletClient } from "@nomicfoundation/hardhat-viem/types";

import {
  HoldStatus,
  type HoldAuthorization,
  type PaymentAuthorization,
  ONE_DAY,
  ONE_HOUR,
  SettlementFailure,
  WITHDRAWAL_DELAY,
  deployEscrowSystem,
  paymentFor,
  signHold,
  signPayment,
  signPermit,
  signReceiveWithAuthorization,
} from "./helpers/escrow.js";
import { METHOD_ERC20, TokenStatus } from "./helpers/registry.js";

const { viem, networkHelpers } = await network.create();
const fixture = () => deployEscrowSystem(viem);

const SKALE_BASE_SEPOLIA_CHAIN_ID = 324705682;
const SKALE_BASE_CHAIN_ID = 1187947933;
/** Order of the secp256k1 group: `s` and `n - s` are both valid for ecrecover (EIP-2 malleability). */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const ECRECOVER_PRECOMPILE: Address = "0x0000000000000000000000000000000000000001";

const USDC = 1_000_000n; // one USDC in atomic units

const addr = (wallet: WalletClient): Address => wallet.account.address;

type System = Awaited<ReturnType<typeof deployEscrowSystem>>;

/** Registers a 6-decimal test token as Active, ERC-20 collection, limits 1 .. 1e15. */
async function registerTestToken(s: System, token: Address, symbol: string): Promise<void> {
  await s.registry.write.registerToken([
    {
      token,
      symbol,
      decimals: 6,
      collectionMethods: METHOD_ERC20,
      status: TokenStatus.Active,
      eip712Name: "",
      eip712Version: "",
      minAmount: 1n,
      maxAmount: 10n ** 15n,
    },
  ]);
}

/** The high-s twin (r, n - s, v ^ 1) of a 65-byte signature: recovers the same signer through ecrecover. */
function highSTwin(signature: Hex): Hex {
  const { r, s, yParity } = parseSignature(signature);
  const twinS = SECP256K1_N - hexToBigInt(s);
  return concat([pad(r, { size: 32 }), numberToHex(twinS, { size: 32 }), numberToHex(yParity === 0 ? 28 : 27, { size: 1 })]);
}

/** The EIP-2098 compact (64-byte) form: r || (yParity << 255 | s). */
function compactSignature(signature: Hex): Hex {
  const { r, s, yParity } = parseSignature(signature);
  const yParityAndS = (BigInt(yParity) << 255n) | hexToBigInt(s);
  return concat([pad(r, { size: 32 }), numberToHex(yParityAndS, { size: 32 })]);
}

/** What the raw ecrecover precompile returns for (digest, v, r, s) – zero address if it fails. */
async function ecrecoverRaw(s: System, digest: Hex, signature: Hex): Promise<Address> {
  const r = slice(signature, 0, 32);
  const sv = slice(signature, 32, 64);
  const v = hexToBigInt(slice(signature, 64, 65));
  const { data } = await s.publicClient.call({
    to: ECRECOVER_PRECOMPILE,
    data: concat([digest, numberToHex(v, { size: 32 }), r, sv]),
  });
  if (data === undefined || data === "0x") return zeroAddress;
  return getAddress(slice(data, 12, 32));
}

/** Signs a payment from `payer` (an EOA wallet) to `payee` in `token`. */
async function signedPayment(
  s: System,
  payer: WalletClient,
  payee: Address,
  token: Address,
  amount: bigint,
  overrides: Partial<PaymentAuthorization> = {},
): Promise<{ auth: PaymentAuthorization; sig: Hex }> {
  const auth = await paymentFor(s.publicClient, { payer: addr(payer), payee, token, amount }, overrides);
  return { auth, sig: await signPayment(payer, s.domain, auth) };
}

/** Sum of every ledger bucket the tests touch, to compare with `totalOwed`. */
async function ledgerSum(s: System, token: Address, accounts: Address[]): Promise<bigint> {
  let sum: bigint = await s.escrow.read.accruedFees([token]);
  for (const account of accounts) {
    sum += await s.escrow.read.balanceOf([token, account]);
    sum += (await s.escrow.read.pendingWithdrawal([token, account])).amount;
    sum += await s.escrow.read.earningsOf([token, account]);
  }
  return sum;
}

// ---------------------------------------------------------------------------------- local fixtures

async function reentrantFixture() {
  const s = await deployEscrowSystem(viem);
  const reent = await viem.deployContract("ReentrantToken", []);
  await registerTestToken(s, reent.address, "REENT");
  for (const agent of [s.agent, s.agent2]) {
    await reent.write.mint([addr(agent), 1_000n * USDC]);
    await reent.write.approve([s.escrow.address, maxUint256], { account: agent.account });
  }
  return { ...s, reent };
}

async function adversarialTokensFixture() {
  const s = await deployEscrowSystem(viem);
  const fot = await viem.deployContract("FeeOnTransferToken", []);
  const rebasing = await viem.deployContract("RebasingToken", []);
  const returnsFalse = await viem.deployContract("ReturnsFalseToken", []);
  await registerTestToken(s, fot.address, "FOT");
  await registerTestToken(s, rebasing.address, "REBASE");
  await registerTestToken(s, returnsFalse.address, "RFALSE");
  // Both agents hold 1,000 of each; only `agent` approves ReturnsFalseToken (agent2's pull returns false).
  for (const agent of [s.agent, s.agent2]) {
    await fot.write.mint([addr(agent), 1_000n * USDC]);
    await rebasing.write.mint([addr(agent), 1_000n * USDC]);
    await returnsFalse.write.mint([addr(agent), 1_000n * USDC]);
    await fot.write.approve([s.escrow.address, maxUint256], { account: agent.account });
    await rebasing.write.approve([s.escrow.address, maxUint256], { account: agent.account });
  }
  await returnsFalse.write.approve([s.escrow.address, maxUint256], { account: s.agent.account });
  return { ...s, fot, rebasing, returnsFalse };
}

async function blocklistFixture() {
  const s = await deployEscrowSystem(viem);
  const blk = await viem.deployContract("BlocklistToken", []);
  await registerTestToken(s, blk.address, "BLUSDC");
  await blk.write.mint([addr(s.agent), 1_000n * USDC]);
  await blk.write.approve([s.escrow.address, maxUint256], { account: s.agent.account });
  return { ...s, blk };
}

async function contractWalletFixture() {
  const s = await deployEscrowSystem(viem);
  // The wallet is owned (and signed for) by `agent`'s EOA; it holds its own USDC and its own escrow deposit.
  const wallet = await viem.deployContract("MockERC1271Wallet", [addr(s.agent)]);
  await s.usdc.write.mint([wallet.address, 100n * USDC]);
  await wallet.write.execute(
    [s.usdc.address, encodeFunctionData({ abi: s.usdc.abi, functionName: "approve", args: [s.escrow.address, 100n * USDC] })],
    { account: s.agent.account },
  );
  await wallet.write.execute(
    [s.escrow.address, encodeFunctionData({ abi: s.escrow.abi, functionName: "deposit", args: [s.usdc.address, 100n * USDC] })],
    { account: s.agent.account },
  );
  return { ...s, wallet };
}

// ---------------------------------------------------------------------------------------- tests

describe("SettlementEscrow attacks", () => {
  // ------------------------------------------------------------------------------ 1. replay
  describe("replay and domain separation", () => {
    it("cross-chain replay: a signature for chain 324705682 is rejected (InvalidSignature) by the identical escrow on chain 1187947933", async () => {
      const a = await networkHelpers.loadFixture(fixture);
      const chainB = await network.create({ override: { chainId: SKALE_BASE_CHAIN_ID } });
      const b = await deployEscrowSystem(chainB.viem);

      expect(a.chainId).to.equal(SKALE_BASE_SEPOLIA_CHAIN_ID);
      expect(b.chainId).to.equal(SKALE_BASE_CHAIN_ID);
      // Same deployer, same nonces: the two escrows (and tokens) share their addresses, so only the
      // chain id in the EIP-712 domain tells them apart.
      expect(b.escrow.address).to.equal(a.escrow.address);
      expect(b.usdc.address).to.equal(a.usdc.address);
      expect(await b.escrow.read.DOMAIN_SEPARATOR()).to.not.equal(await a.escrow.read.DOMAIN_SEPARATOR());

      await a.escrow.write.deposit([a.usdc.address, 10n * USDC], { account: a.agent.account });
      await b.escrow.write.deposit([b.usdc.address, 10n * USDC], { account: b.agent.account });

      const { auth, sig } = await signedPayment(a, a.agent, addr(a.payee), a.usdc.address, USDC);
      // validBefore is relative to chain A's clock; make sure it also holds on chain B.
      expect(auth.validBefore > (await b.publicClient.getBlock()).timestamp).to.equal(true);

      expect(await b.escrow.read.checkPayment([auth, sig])).to.equal(SettlementFailure.InvalidSignature);
      await chainB.viem.assertions.revertWithCustomError(b.escrow.write.settle([auth, sig]), b.escrow, "InvalidSignature");
      expect(await b.escrow.read.isNonceUsed([addr(b.agent), auth.nonce])).to.equal(false);
      expect(await b.escrow.read.balanceOf([b.usdc.address, addr(b.agent)])).to.equal(10n * USDC);

      // The same authorization settles on the chain it was signed for ...
      await a.escrow.write.settle([auth, sig]);
      expect(await a.escrow.read.earningsOf([a.usdc.address, addr(a.payee)])).to.equal(USDC);
      // ... and chain B still rejects it afterwards; its ledger never moved.
      await chainB.viem.assertions.revertWithCustomError(b.escrow.write.settle([auth, sig]), b.escrow, "InvalidSignature");
      expect(await b.escrow.read.earningsOf([b.usdc.address, addr(b.payee)])).to.equal(0n);

      // Control: chain B accepts the same message signed against chain B's domain.
      const sigB = await signPayment(b.agent, b.domain, auth);
      await b.escrow.write.settle([auth, sigB]);
      expect(await b.escrow.read.earningsOf([b.usdc.address, addr(b.payee)])).to.equal(USDC);
    });

    it("cross-contract replay: a signature for escrow A is rejected (InvalidSignature) by escrow B on the same chain", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      const escrowB = await viem.deployContract("SettlementEscrow", [
        s.registry.address,
        addr(s.admin),
        Number(2n * ONE_DAY),
        WITHDRAWAL_DELAY,
        addr(s.feeRecipient),
      ]);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      // The payer is funded in B as well, so the signature is the only thing B can object to.
      await s.usdc.write.approve([escrowB.address, maxUint256], { account: s.agent.account });
      await escrowB.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });

      const { auth, sig } = await signedPayment(s, s.agent, addr(s.payee), s.usdc.address, USDC);
      expect(await escrowB.read.hashPaymentAuthorization([auth])).to.not.equal(await s.escrow.read.hashPaymentAuthorization([auth]));
      expect(await escrowB.read.checkPayment([auth, sig])).to.equal(SettlementFailure.InvalidSignature);
      await viem.assertions.revertWithCustomError(escrowB.write.settle([auth, sig]), escrowB, "InvalidSignature");

      await s.escrow.write.settle([auth, sig]);
      await viem.assertions.revertWithCustomError(escrowB.write.settle([auth, sig]), escrowB, "InvalidSignature");
      expect(await escrowB.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(10n * USDC);
      expect(await escrowB.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal(0n);
      expect(await escrowB.read.isNonceUsed([addr(s.agent), auth.nonce])).to.equal(false);
    });

    it("type confusion: a payment signature cannot open a hold, and a hold signature cannot settle a payment", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      expect(await s.escrow.read.PAYMENT_AUTHORIZATION_TYPEHASH()).to.not.equal(await s.escrow.read.HOLD_AUTHORIZATION_TYPEHASH());

      const { auth, sig: paymentSig } = await signedPayment(s, s.agent, addr(s.payee), s.usdc.address, USDC);
      const now = await networkHelpers.time.latest();
      // The hold shares every field it can with the payment.
      const hold: HoldAuthorization = {
        payer: auth.payer,
        payee: auth.payee,
        token: auth.token,
        amount: auth.amount,
        nonce: auth.nonce,
        validBefore: auth.validBefore,
        captureDeadline: BigInt(now) + ONE_HOUR,
        refundDeadline: BigInt(now) + ONE_DAY,
        challengeHash: auth.challengeHash,
      };
      await viem.assertions.revertWithCustomError(
        s.escrow.write.authorizeWithSignature([hold, paymentSig], { account: s.stranger.account }),
        s.escrow,
        "InvalidSignature",
      );

      const holdSig = await signHold(s.agent, s.domain, hold);
      expect(await s.escrow.read.checkPayment([auth, holdSig])).to.equal(SettlementFailure.InvalidSignature);
      await viem.assertions.revertWithCustomError(s.escrow.write.settle([auth, holdSig]), s.escrow, "InvalidSignature");

      expect(await s.escrow.read.isNonceUsed([addr(s.agent), auth.nonce])).to.equal(false);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(10n * USDC);
      const holdId = await s.escrow.read.holdIdFor([addr(s.agent), auth.nonce]);
      expect((await s.escrow.read.getHold([holdId])).status).to.equal(HoldStatus.None);

      // Both signatures are genuine: each works for its own type, and the shared nonce lets only one of them win.
      await s.escrow.write.settle([auth, paymentSig]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.authorizeWithSignature([hold, holdSig]),
        s.escrow,
        "NonceAlreadyUsed",
        [getAddress(addr(s.agent)), auth.nonce],
      );
    });
  });

  // ------------------------------------------------------------------------------ 2. malleability
  describe("signature malleability and malformed signatures", () => {
    it("high-s twin: ecrecover accepts it for the payer, the escrow rejects it (settle → InvalidSignature)", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      const { auth, sig } = await signedPayment(s, s.agent, addr(s.payee), s.usdc.address, USDC);
      const twin = highSTwin(sig);
      expect(twin).to.not.equal(sig);

      // The twin is a genuine signature by the payer as far as the precompile is concerned.
      const digest: Hex = await s.escrow.read.hashPaymentAuthorization([auth]);
      expect(await ecrecoverRaw(s, digest, sig)).to.equal(getAddress(addr(s.agent)));
      expect(await ecrecoverRaw(s, digest, twin)).to.equal(getAddress(addr(s.agent)));

      expect(await s.escrow.read.checkPayment([auth, twin])).to.equal(SettlementFailure.InvalidSignature);
      await viem.assertions.revertWithCustomError(s.escrow.write.settle([auth, twin]), s.escrow, "InvalidSignature");
      expect(await s.escrow.read.isNonceUsed([addr(s.agent), auth.nonce])).to.equal(false);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(10n * USDC);

      // The canonical low-s form still settles.
      await s.escrow.write.settle([auth, sig]);
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal(USDC);
    });

    it("high-s twin in a batch: settleBatch reports InvalidSignature and settles the other entries", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      const good = await signedPayment(s, s.agent, addr(s.payee), s.usdc.address, USDC);
      const bad = await signedPayment(s, s.agent, addr(s.payee), s.usdc.address, 2n * USDC);
      const batch = [
        { authorization: good.auth, signature: good.sig },
        { authorization: bad.auth, signature: highSTwin(bad.sig) },
      ];

      const { result } = await s.escrow.simulate.settleBatch([batch]);
      expect(result).to.deep.equal([SettlementFailure.None, SettlementFailure.InvalidSignature]);
      await viem.assertions.emitWithArgs(s.escrow.write.settleBatch([batch]), s.escrow, "PaymentFailed", [
        getAddress(addr(s.agent)),
        bad.auth.nonce,
        SettlementFailure.InvalidSignature,
      ]);
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal(USDC);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(9n * USDC);
      expect(await s.escrow.read.isNonceUsed([addr(s.agent), bad.auth.nonce])).to.equal(false);
    });

    it("malformed signatures (EIP-2098 compact, truncated, padded, empty, v ∉ {27,28}, r = 0) are all InvalidSignature", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      const { auth, sig } = await signedPayment(s, s.agent, addr(s.payee), s.usdc.address, USDC);
      const { r, s: sigS, yParity } = parseSignature(sig);
      const variants: Record<string, Hex> = {
        "EIP-2098 compact (64 bytes)": compactSignature(sig),
        "r || s without v (64 bytes)": slice(sig, 0, 64),
        "65 bytes + trailing byte (66 bytes)": concat([sig, "0x00"]),
        "empty": "0x",
        "v as yParity (0/1)": concat([slice(sig, 0, 64), numberToHex(yParity, { size: 1 })]),
        "v = 29": concat([slice(sig, 0, 64), "0x1d"]),
        "r = 0": concat([pad("0x00", { size: 32 }), pad(sigS, { size: 32 }), slice(sig, 64, 65)]),
        "s = 0": concat([pad(r, { size: 32 }), pad("0x00", { size: 32 }), slice(sig, 64, 65)]),
        "all zeros (65 bytes)": pad("0x00", { size: 65 }),
      };
      for (const [name, bad] of Object.entries(variants)) {
        expect(await s.escrow.read.checkPayment([auth, bad]), name).to.equal(SettlementFailure.InvalidSignature);
        await viem.assertions.revertWithCustomError(s.escrow.write.settle([auth, bad]), s.escrow, "InvalidSignature");
      }
      expect(await s.escrow.read.isNonceUsed([addr(s.agent), auth.nonce])).to.equal(false);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(10n * USDC);
      await s.escrow.write.settle([auth, sig]);
    });

    it("replay with the malleated signature after settlement is stopped by the nonce (NonceAlreadyUsed / NonceUsed)", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      const { auth, sig } = await signedPayment(s, s.agent, addr(s.payee), s.usdc.address, USDC);
      await s.escrow.write.settle([auth, sig]);

      for (const replay of [sig, highSTwin(sig)]) {
        await viem.assertions.revertWithCustomErrorWithArgs(s.escrow.write.settle([auth, replay]), s.escrow, "NonceAlreadyUsed", [
          getAddress(addr(s.agent)),
          auth.nonce,
        ]);
      }
      const { result } = await s.escrow.simulate.settleBatch([[{ authorization: auth, signature: highSTwin(sig) }]]);
      expect(result).to.deep.equal([SettlementFailure.NonceUsed]);
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal(USDC);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(9n * USDC);
    });
  });

  // ------------------------------------------------------------------------------ 3. front-running deposits
  describe("front-running of signed deposits", () => {
    it("EIP-3009: an observed ReceiveWithAuthorization cannot be executed on the token by anyone but the escrow", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      const value = 25n * USDC;
      const validBefore = BigInt(await networkHelpers.time.latest()) + ONE_HOUR;
      const nonce = keccak256(toHex("front-run-3009"));
      const { v, r, s: sigS } = await signReceiveWithAuthorization(
        s.agent,
        { chainId: s.chainId, address: s.usdc.address },
        { from: addr(s.agent), to: s.escrow.address, value, validAfter: 0n, validBefore, nonce },
      );
      const agentWallet: bigint = await s.usdc.read.balanceOf([addr(s.agent)]);

      // Straight to the token with the signed `to` (the escrow): only the escrow may submit it.
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.usdc.write.receiveWithAuthorization([addr(s.agent), s.escrow.address, value, 0n, validBefore, nonce, v, r, sigS], {
          account: s.stranger.account,
        }),
        s.usdc,
        "CallerMustBePayee",
        [getAddress(addr(s.stranger)), getAddress(s.escrow.address)],
      );
      // Rewriting `to` to the attacker passes the caller check but breaks the signature.
      await viem.assertions.revertWithCustomError(
        s.usdc.write.receiveWithAuthorization([addr(s.agent), addr(s.stranger), value, 0n, validBefore, nonce, v, r, sigS], {
          account: s.stranger.account,
        }),
        s.usdc,
        "InvalidSignature",
      );
      // Replaying it as a TransferWithAuthorization (which anyone may submit) fails on the type hash.
      await viem.assertions.revertWithCustomError(
        s.usdc.write.transferWithAuthorization([addr(s.agent), s.escrow.address, value, 0n, validBefore, nonce, v, r, sigS], {
          account: s.stranger.account,
        }),
        s.usdc,
        "InvalidSignature",
      );
      expect(await s.usdc.read.balanceOf([addr(s.agent)])).to.equal(agentWallet);
      expect(await s.usdc.read.authorizationState([addr(s.agent), nonce])).to.equal(false);
    });

    it("EIP-3009: a deposit relayed (or front-run) by a third party through the escrow credits the signer, never the relayer", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      const value = 25n * USDC;
      const validBefore = BigInt(await networkHelpers.time.latest()) + ONE_HOUR;
      const nonce = keccak256(toHex("relay-3009"));
      const { v, r, s: sigS } = await signReceiveWithAuthorization(
        s.agent,
        { chainId: s.chainId, address: s.usdc.address },
        { from: addr(s.agent), to: s.escrow.address, value, validAfter: 0n, validBefore, nonce },
      );
      const agentWallet: bigint = await s.usdc.read.balanceOf([addr(s.agent)]);

      // The attacker cannot claim to be `from`.
      await viem.assertions.revertWithCustomError(
        s.escrow.write.depositWithAuthorization([s.usdc.address, addr(s.stranger), value, 0n, validBefore, nonce, v, r, sigS], {
          account: s.stranger.account,
        }),
        s.usdc,
        "InvalidSignature",
      );

      await viem.assertions.emitWithArgs(
        s.escrow.write.depositWithAuthorization([s.usdc.address, addr(s.agent), value, 0n, validBefore, nonce, v, r, sigS], {
          account: s.stranger.account,
        }),
        s.escrow,
        "Deposited",
        [getAddress(s.usdc.address), getAddress(addr(s.agent)), getAddress(addr(s.agent)), value],
      );
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(value);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.stranger)])).to.equal(0n);
      expect(await s.usdc.read.balanceOf([addr(s.agent)])).to.equal(agentWallet - value);
      expect(await s.escrow.read.totalOwed([s.usdc.address])).to.equal(value);

      // The agent's own (now late) submission fails on the token's nonce; nothing is deposited twice.
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.depositWithAuthorization([s.usdc.address, addr(s.agent), value, 0n, validBefore, nonce, v, r, sigS], {
          account: s.agent.account,
        }),
        s.usdc,
        "AuthorizationUsedOrCanceled",
        [getAddress(addr(s.agent)), nonce],
      );
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(value);
    });

    it("EIP-2612: a permit front-run on the token does not block depositWithPermit, which still credits the owner", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      const owner = s.wallets[7]!; // a fresh account with no allowance to the escrow
      const value = 40n * USDC;
      await s.usdc.write.mint([addr(owner), value]);
      expect(await s.usdc.read.allowance([addr(owner), s.escrow.address])).to.equal(0n);

      const deadline = BigInt(await networkHelpers.time.latest()) + ONE_HOUR;
      const { v, r, s: sigS } = await signPermit(
        owner,
        { chainId: s.chainId, address: s.usdc.address },
        { owner: addr(owner), spender: s.escrow.address, value, nonce: await s.usdc.read.nonces([addr(owner)]), deadline },
      );

      // The attacker submits the observed permit to the token first.
      await s.usdc.write.permit([addr(owner), s.escrow.address, value, deadline, v, r, sigS], { account: s.stranger.account });
      expect(await s.usdc.read.allowance([addr(owner), s.escrow.address])).to.equal(value);

      await viem.assertions.emitWithArgs(
        s.escrow.write.depositWithPermit([s.usdc.address, addr(owner), value, deadline, v, r, sigS], { account: owner.account }),
        s.escrow,
        "Deposited",
        [getAddress(s.usdc.address), getAddress(addr(owner)), getAddress(addr(owner)), value],
      );
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(owner)])).to.equal(value);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.stranger)])).to.equal(0n);
      expect(await s.usdc.read.balanceOf([addr(owner)])).to.equal(0n);
      expect(await s.usdc.read.allowance([addr(owner), s.escrow.address])).to.equal(0n);
    });

    // A failed permit must not let a stranger use an allowance the owner gave for something else:
    // that would push the owner's wallet funds into the escrow, behind the withdrawal delay.
    it("forced deposit: a stranger cannot pull an owner's approved wallet funds into the escrow with a bogus permit", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      const walletBefore: bigint = await s.usdc.read.balanceOf([addr(s.agent)]);
      const deadline = BigInt(await networkHelpers.time.latest()) + ONE_HOUR;
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.depositWithPermit([s.usdc.address, addr(s.agent), walletBefore, deadline, 27, pad("0x01"), pad("0x01")], {
          account: s.stranger.account,
        }),
        s.escrow,
        "PermitFailed",
        [getAddress(s.usdc.address), getAddress(addr(s.agent))],
      );
      expect(await s.usdc.read.balanceOf([addr(s.agent)])).to.equal(walletBefore);
    });
  });

  // ------------------------------------------------------------------------------ 4. reentrancy
  describe("reentrancy through a malicious token", () => {
    const decodeInner = (s: Awaited<ReturnType<typeof reentrantFixture>>, data: Hex) =>
      decodeErrorResult({ abi: s.escrow.abi, data }).errorName;

    it("withdraw → reentrant withdraw: inner call fails with ReentrancyGuardReentrantCall, paid once, ledger consistent", async () => {
      const s = await networkHelpers.loadFixture(reentrantFixture);
      const amount = 300n * USDC;
      await s.escrow.write.deposit([s.reent.address, amount], { account: s.agent.account });
      await s.escrow.write.deposit([s.reent.address, 100n * USDC], { account: s.agent2.account });
      await s.escrow.write.requestWithdrawal([s.reent.address, amount], { account: s.agent.account });
      await networkHelpers.time.increase(WITHDRAWAL_DELAY);

      await s.reent.write.arm([s.escrow.address, encodeFunctionData({ abi: s.escrow.abi, functionName: "withdraw", args: [s.reent.address] })]);
      const walletBefore = await s.reent.read.balanceOf([addr(s.agent)]);
      await s.escrow.write.withdraw([s.reent.address], { account: s.agent.account });

      expect(await s.reent.read.reentryCount()).to.equal(1n);
      expect(await s.reent.read.lastCallSucceeded()).to.equal(false);
      expect(decodeInner(s, await s.reent.read.lastReturnData())).to.equal("ReentrancyGuardReentrantCall");
      expect(await s.reent.read.balanceOf([addr(s.agent)])).to.equal(walletBefore + amount);
      expect((await s.escrow.read.pendingWithdrawal([s.reent.address, addr(s.agent)])).amount).to.equal(0n);
      expect(await s.escrow.read.totalOwed([s.reent.address])).to.equal(100n * USDC);
      expect(await s.reent.read.balanceOf([s.escrow.address])).to.equal(100n * USDC);
      expect(await ledgerSum(s, s.reent.address, [addr(s.agent), addr(s.agent2), addr(s.payee)])).to.equal(100n * USDC);
    });

    it("deposit → reentrant deposit: inner call fails with ReentrancyGuardReentrantCall, credited once", async () => {
      const s = await networkHelpers.loadFixture(reentrantFixture);
      const amount = 50n * USDC;
      await s.reent.write.arm([
        s.escrow.address,
        encodeFunctionData({ abi: s.escrow.abi, functionName: "deposit", args: [s.reent.address, amount] }),
      ]);
      await s.escrow.write.deposit([s.reent.address, amount], { account: s.agent.account });

      expect(await s.reent.read.lastCallSucceeded()).to.equal(false);
      expect(decodeInner(s, await s.reent.read.lastReturnData())).to.equal("ReentrancyGuardReentrantCall");
      expect(await s.escrow.read.balanceOf([s.reent.address, addr(s.agent)])).to.equal(amount);
      expect(await s.escrow.read.balanceOf([s.reent.address, s.reent.address])).to.equal(0n);
      expect(await s.escrow.read.totalOwed([s.reent.address])).to.equal(amount);
      expect(await s.reent.read.balanceOf([s.escrow.address])).to.equal(amount);
    });

    it("deposit → reentrant settle of a valid authorization: blocked by the guard, the authorization stays unused", async () => {
      const s = await networkHelpers.loadFixture(reentrantFixture);
      await s.escrow.write.deposit([s.reent.address, 100n * USDC], { account: s.agent2.account });
      // A payment that would settle if the inner call were not guarded.
      const { auth, sig } = await signedPayment(s, s.agent2, addr(s.payee), s.reent.address, 10n * USDC);
      expect(await s.escrow.read.checkPayment([auth, sig])).to.equal(SettlementFailure.None);

      await s.reent.write.arm([s.escrow.address, encodeFunctionData({ abi: s.escrow.abi, functionName: "settle", args: [auth, sig] })]);
      await s.escrow.write.deposit([s.reent.address, 20n * USDC], { account: s.agent.account });

      expect(await s.reent.read.lastCallSucceeded()).to.equal(false);
      expect(decodeInner(s, await s.reent.read.lastReturnData())).to.equal("ReentrancyGuardReentrantCall");
      expect(await s.escrow.read.isNonceUsed([addr(s.agent2), auth.nonce])).to.equal(false);
      expect(await s.escrow.read.earningsOf([s.reent.address, addr(s.payee)])).to.equal(0n);
      expect(await s.escrow.read.balanceOf([s.reent.address, addr(s.agent)])).to.equal(20n * USDC);

      // Outside the callback the same authorization settles normally, once.
      await s.escrow.write.settle([auth, sig]);
      expect(await s.escrow.read.earningsOf([s.reent.address, addr(s.payee)])).to.equal(10n * USDC);
      expect(await s.escrow.read.totalOwed([s.reent.address])).to.equal(120n * USDC);
      expect(await ledgerSum(s, s.reent.address, [addr(s.agent), addr(s.agent2), addr(s.payee)])).to.equal(120n * USDC);
    });

    it("claimEarnings → reentrant claimFees / claimEarnings: both blocked, each party paid exactly once", async () => {
      const s = await networkHelpers.loadFixture(reentrantFixture);
      await s.escrow.write.setFee([100]); // 1 %
      await s.escrow.write.deposit([s.reent.address, 100n * USDC], { account: s.agent.account });
      const { auth, sig } = await signedPayment(s, s.agent, addr(s.payee), s.reent.address, 50n * USDC);
      await s.escrow.write.settle([auth, sig]);
      const fee = (50n * USDC) / 100n;
      expect(await s.escrow.read.accruedFees([s.reent.address])).to.equal(fee);

      // claimFees is permissionless and would pay out if the guard did not stop it.
      await s.reent.write.arm([s.escrow.address, encodeFunctionData({ abi: s.escrow.abi, functionName: "claimFees", args: [s.reent.address] })]);
      await s.escrow.write.claimEarnings([s.reent.address, addr(s.payee)], { account: s.payee.account });
      expect(await s.reent.read.lastCallSucceeded()).to.equal(false);
      expect(decodeInner(s, await s.reent.read.lastReturnData())).to.equal("ReentrancyGuardReentrantCall");
      expect(await s.reent.read.balanceOf([addr(s.payee)])).to.equal(50n * USDC - fee);
      expect(await s.escrow.read.accruedFees([s.reent.address])).to.equal(fee);

      // And the other way round: claimFees → reentrant claimEarnings.
      await s.escrow.write.settle(Object.values(await signedPayment(s, s.agent, addr(s.payee), s.reent.address, 10n * USDC)) as [PaymentAuthorization, Hex]);
      await s.reent.write.arm([
        s.escrow.address,
        encodeFunctionData({ abi: s.escrow.abi, functionName: "claimEarnings", args: [s.reent.address, addr(s.payee)] }),
      ]);
      await s.escrow.write.claimFees([s.reent.address], { account: s.stranger.account });
      expect(await s.reent.read.lastCallSucceeded()).to.equal(false);
      expect(decodeInner(s, await s.reent.read.lastReturnData())).to.equal("ReentrancyGuardReentrantCall");
      const fee2 = (10n * USDC) / 100n;
      expect(await s.reent.read.balanceOf([addr(s.feeRecipient)])).to.equal(fee + fee2);
      expect(await s.escrow.read.earningsOf([s.reent.address, addr(s.payee)])).to.equal(10n * USDC - fee2);

      const owed: bigint = await s.escrow.read.totalOwed([s.reent.address]);
      expect(owed).to.equal(40n * USDC + 10n * USDC - fee2);
      expect(await s.reent.read.balanceOf([s.escrow.address])).to.equal(owed);
      expect(await ledgerSum(s, s.reent.address, [addr(s.agent), addr(s.agent2), addr(s.payee)])).to.equal(owed);
    });

    it("read-only reentrancy: during a withdrawal's transfer totalOwed is already reduced, so held >= owed throughout", async () => {
      const s = await networkHelpers.loadFixture(reentrantFixture);
      await s.escrow.write.deposit([s.reent.address, 100n * USDC], { account: s.agent.account });
      await s.escrow.write.deposit([s.reent.address, 60n * USDC], { account: s.agent2.account });
      await s.escrow.write.requestWithdrawal([s.reent.address, 100n * USDC], { account: s.agent.account });
      await networkHelpers.time.increase(WITHDRAWAL_DELAY);

      await s.reent.write.arm([s.escrow.address, encodeFunctionData({ abi: s.escrow.abi, functionName: "totalOwed", args: [s.reent.address] })]);
      await s.escrow.write.withdraw([s.reent.address], { account: s.agent.account });
      expect(await s.reent.read.lastCallSucceeded()).to.equal(true);
      const owedDuringCallback = decodeFunctionResult({
        abi: s.escrow.abi,
        functionName: "totalOwed",
        data: await s.reent.read.lastReturnData(),
      }) as bigint;
      // The token calls back before moving the balance: the escrow still held 160 and owed 60.
      expect(owedDuringCallback).to.equal(60n * USDC);
      expect(await s.reent.read.balanceOf([s.escrow.address])).to.equal(60n * USDC);
    });
  });

  // ------------------------------------------------------------------------------ 5/6. token behaviour
  describe("non-standard tokens", () => {
    it("fee-on-transfer: deposit reverts UnsupportedTokenBehavior(token, requested, received) and credits nothing", async () => {
      const s = await networkHelpers.loadFixture(adversarialTokensFixture);
      const amount = 10n * USDC;
      const received = amount - (amount * 100n) / 10_000n;
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.deposit([s.fot.address, amount], { account: s.agent.account }),
        s.escrow,
        "UnsupportedTokenBehavior",
        [getAddress(s.fot.address), amount, received],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.depositFor([s.fot.address, addr(s.stranger), amount], { account: s.agent.account }),
        s.escrow,
        "UnsupportedTokenBehavior",
        [getAddress(s.fot.address), amount, received],
      );
      expect(await s.fot.read.balanceOf([addr(s.agent)])).to.equal(1_000n * USDC);
      expect(await s.fot.read.balanceOf([s.escrow.address])).to.equal(0n);
      expect(await s.escrow.read.balanceOf([s.fot.address, addr(s.agent)])).to.equal(0n);
      expect(await s.escrow.read.balanceOf([s.fot.address, addr(s.stranger)])).to.equal(0n);
      expect(await s.escrow.read.totalOwed([s.fot.address])).to.equal(0n);
    });

    it("rebasing down: new deposits revert BalanceShortfall(token, held, owed)", async () => {
      const s = await networkHelpers.loadFixture(adversarialTokensFixture);
      await s.escrow.write.deposit([s.rebasing.address, 100n * USDC], { account: s.agent.account });
      await s.escrow.write.deposit([s.rebasing.address, 100n * USDC], { account: s.agent2.account });
      await s.rebasing.write.rebaseDown([1_000n]); // -10 %

      const held: bigint = await s.rebasing.read.balanceOf([s.escrow.address]);
      expect(held).to.equal(180n * USDC);
      expect(await s.escrow.read.totalOwed([s.rebasing.address])).to.equal(200n * USDC);
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.deposit([s.rebasing.address, 1n * USDC], { account: s.agent.account }),
        s.escrow,
        "BalanceShortfall",
        [getAddress(s.rebasing.address), held, 200n * USDC],
      );
      expect(await s.escrow.read.balanceOf([s.rebasing.address, addr(s.agent)])).to.equal(100n * USDC);
      expect(await s.escrow.read.totalOwed([s.rebasing.address])).to.equal(200n * USDC);
    });

    it("rebasing down: exits are first-come; the escrow pays out only what it holds and never credited more than it received", async () => {
      const s = await networkHelpers.loadFixture(adversarialTokensFixture);
      const token = s.rebasing.address;
      await s.escrow.write.deposit([token, 100n * USDC], { account: s.agent.account });
      await s.escrow.write.deposit([token, 100n * USDC], { account: s.agent2.account });
      // Credited exactly what arrived.
      expect(await s.rebasing.read.balanceOf([s.escrow.address])).to.equal(200n * USDC);
      expect(await s.escrow.read.totalOwed([token])).to.equal(200n * USDC);

      await s.rebasing.write.rebaseDown([1_000n]);
      for (const agent of [s.agent, s.agent2]) {
        await s.escrow.write.requestWithdrawal([token, 100n * USDC], { account: agent.account });
      }
      await networkHelpers.time.increase(WITHDRAWAL_DELAY);

      // The first to leave gets its full ledger balance ...
      const agentBefore: bigint = await s.rebasing.read.balanceOf([addr(s.agent)]);
      await s.escrow.write.withdraw([token], { account: s.agent.account });
      expect(await s.rebasing.read.balanceOf([addr(s.agent)])).to.equal(agentBefore + 100n * USDC);

      // ... the last one cannot: the token refuses, and its pending withdrawal is untouched.
      const left: bigint = await s.rebasing.read.balanceOf([s.escrow.address]);
      expect(left < 100n * USDC).to.equal(true);
      await viem.assertions.revertWithCustomError(s.escrow.write.withdraw([token], { account: s.agent2.account }), s.rebasing, "ERC20InsufficientBalance");
      expect((await s.escrow.read.pendingWithdrawal([token, addr(s.agent2)])).amount).to.equal(100n * USDC);

      // It can still take what is left by re-requesting less (and waiting again); the rest stays owed, unbacked.
      await s.escrow.write.cancelWithdrawal([token], { account: s.agent2.account });
      await s.escrow.write.requestWithdrawal([token, left], { account: s.agent2.account });
      await networkHelpers.time.increase(WITHDRAWAL_DELAY);
      const agent2Before: bigint = await s.rebasing.read.balanceOf([addr(s.agent2)]);
      await s.escrow.write.withdraw([token], { account: s.agent2.account });
      expect(await s.rebasing.read.balanceOf([addr(s.agent2)])).to.equal(agent2Before + left);
      expect(await s.rebasing.read.balanceOf([s.escrow.address])).to.equal(0n);
      expect(await s.escrow.read.totalOwed([token])).to.equal(200n * USDC - 100n * USDC - left);
      expect(await s.escrow.read.balanceOf([token, addr(s.agent2)])).to.equal(100n * USDC - left);
    });

    it("returns-false token: a deposit whose transferFrom returns false reverts SafeERC20FailedOperation and credits nothing", async () => {
      const s = await networkHelpers.loadFixture(adversarialTokensFixture);
      const token = s.returnsFalse.address;
      // No allowance: transferFrom returns false instead of reverting.
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.deposit([token, 10n * USDC], { account: s.agent2.account }),
        s.escrow,
        "SafeERC20FailedOperation",
        [getAddress(token)],
      );
      // Allowance present, but the token is switched to always return false.
      await s.returnsFalse.write.setAlwaysReturnFalse([true]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.deposit([token, 10n * USDC], { account: s.agent.account }),
        s.escrow,
        "SafeERC20FailedOperation",
        [getAddress(token)],
      );
      for (const agent of [s.agent, s.agent2]) {
        expect(await s.escrow.read.balanceOf([token, addr(agent)])).to.equal(0n);
        expect(await s.returnsFalse.read.balanceOf([addr(agent)])).to.equal(1_000n * USDC);
      }
      expect(await s.escrow.read.totalOwed([token])).to.equal(0n);
      expect(await s.returnsFalse.read.balanceOf([s.escrow.address])).to.equal(0n);
    });

    it("returns-false token: a withdrawal whose transfer returns false reverts and the pending withdrawal survives", async () => {
      const s = await networkHelpers.loadFixture(adversarialTokensFixture);
      const token = s.returnsFalse.address;
      await s.escrow.write.deposit([token, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.requestWithdrawal([token, 10n * USDC], { account: s.agent.account });
      await networkHelpers.time.increase(WITHDRAWAL_DELAY);
      await s.returnsFalse.write.setAlwaysReturnFalse([true]);

      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.withdraw([token], { account: s.agent.account }),
        s.escrow,
        "SafeERC20FailedOperation",
        [getAddress(token)],
      );
      expect((await s.escrow.read.pendingWithdrawal([token, addr(s.agent)])).amount).to.equal(10n * USDC);
      expect(await s.escrow.read.totalOwed([token])).to.equal(10n * USDC);

      await s.returnsFalse.write.setAlwaysReturnFalse([false]);
      await s.escrow.write.withdraw([token], { account: s.agent.account });
      expect(await s.returnsFalse.read.balanceOf([addr(s.agent)])).to.equal(1_000n * USDC);
      expect(await s.escrow.read.totalOwed([token])).to.equal(0n);
    });
  });

  // ------------------------------------------------------------------------------ 7. blocklist
  describe("blocklisting token (USDC-style)", () => {
    it("a blocklisted payee still gets settled earnings and exits with claimEarnings(token, to) to a clean address", async () => {
      const s = await networkHelpers.loadFixture(blocklistFixture);
      await s.escrow.write.deposit([s.blk.address, 100n * USDC], { account: s.agent.account });
      await s.blk.write.blocklist([addr(s.payee)]);

      const { auth, sig } = await signedPayment(s, s.agent, addr(s.payee), s.blk.address, 30n * USDC);
      await s.escrow.write.settle([auth, sig]);
      expect(await s.escrow.read.earningsOf([s.blk.address, addr(s.payee)])).to.equal(30n * USDC);

      // Claiming to itself is refused by the token, and nothing is lost.
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.claimEarnings([s.blk.address, addr(s.payee)], { account: s.payee.account }),
        s.blk,
        "AccountBlocklisted",
        [getAddress(addr(s.payee))],
      );
      expect(await s.escrow.read.earningsOf([s.blk.address, addr(s.payee)])).to.equal(30n * USDC);

      // Claiming to another address works: the escrow does not consult the token's blocklist.
      const exit = s.wallets[8]!;
      await s.escrow.write.claimEarnings([s.blk.address, addr(exit)], { account: s.payee.account });
      expect(await s.blk.read.balanceOf([addr(exit)])).to.equal(30n * USDC);
      expect(await s.escrow.read.earningsOf([s.blk.address, addr(s.payee)])).to.equal(0n);
      expect(await s.escrow.read.totalOwed([s.blk.address])).to.equal(70n * USDC);
      expect(await s.blk.read.balanceOf([s.escrow.address])).to.equal(70n * USDC);
    });

    it("a blocklisted depositor's withdrawal reverts from the token and the pending amount survives", async () => {
      const s = await networkHelpers.loadFixture(blocklistFixture);
      await s.escrow.write.deposit([s.blk.address, 100n * USDC], { account: s.agent.account });
      await s.escrow.write.requestWithdrawal([s.blk.address, 100n * USDC], { account: s.agent.account });
      await networkHelpers.time.increase(WITHDRAWAL_DELAY);
      await s.blk.write.blocklist([addr(s.agent)]);

      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.withdraw([s.blk.address], { account: s.agent.account }),
        s.blk,
        "AccountBlocklisted",
        [getAddress(addr(s.agent))],
      );
      const pending = await s.escrow.read.pendingWithdrawal([s.blk.address, addr(s.agent)]);
      expect(pending.amount).to.equal(100n * USDC);
      expect(await s.escrow.read.totalOwed([s.blk.address])).to.equal(100n * USDC);
      expect(await s.blk.read.balanceOf([s.escrow.address])).to.equal(100n * USDC);

      await s.blk.write.unBlocklist([addr(s.agent)]);
      await s.escrow.write.withdraw([s.blk.address], { account: s.agent.account });
      expect(await s.blk.read.balanceOf([addr(s.agent)])).to.equal(1_000n * USDC);
    });

    // Documents a compliance property rather than a bug: the escrow is an internal ledger, so a
    // depositor blocklisted by the token can still move its escrowed value to a clean payee.
    it("documents: a blocklisted payer's signed payments still settle to a clean payee, who can claim them", async () => {
      const s = await networkHelpers.loadFixture(blocklistFixture);
      await s.escrow.write.deposit([s.blk.address, 100n * USDC], { account: s.agent.account });
      await s.blk.write.blocklist([addr(s.agent)]);
      const { auth, sig } = await signedPayment(s, s.agent, addr(s.payee), s.blk.address, 100n * USDC);
      await s.escrow.write.settle([auth, sig]);
      await s.escrow.write.claimEarnings([s.blk.address, addr(s.payee)], { account: s.payee.account });
      expect(await s.blk.read.balanceOf([addr(s.payee)])).to.equal(100n * USDC);
      expect(await s.escrow.read.totalOwed([s.blk.address])).to.equal(0n);
    });
  });

  // ------------------------------------------------------------------------------ 8. ERC-1271
  describe("ERC-1271 contract wallet as payer", () => {
    it("settles with the owner's ECDSA signature over the escrow digest; another key → InvalidSignature", async () => {
      const s = await networkHelpers.loadFixture(contractWalletFixture);
      expect(await s.escrow.read.balanceOf([s.usdc.address, s.wallet.address])).to.equal(100n * USDC);

      const auth = await paymentFor(s.publicClient, { payer: s.wallet.address, payee: addr(s.payee), token: s.usdc.address, amount: 5n * USDC });
      const ownerSig = await signPayment(s.agent, s.domain, auth);
      const strangerSig = await signPayment(s.stranger, s.domain, auth);

      expect(await s.escrow.read.checkPayment([auth, strangerSig])).to.equal(SettlementFailure.InvalidSignature);
      await viem.assertions.revertWithCustomError(s.escrow.write.settle([auth, strangerSig]), s.escrow, "InvalidSignature");
      // The owner's high-s twin is refused by the wallet's own ECDSA check.
      await viem.assertions.revertWithCustomError(s.escrow.write.settle([auth, highSTwin(ownerSig)]), s.escrow, "InvalidSignature");

      await viem.assertions.emitWithArgs(s.escrow.write.settle([auth, ownerSig], { account: s.stranger.account }), s.escrow, "PaymentSettled", [
        getAddress(s.wallet.address),
        getAddress(addr(s.payee)),
        getAddress(s.usdc.address),
        auth.nonce,
        5n * USDC,
        0n,
        auth.challengeHash,
      ]);
      expect(await s.escrow.read.balanceOf([s.usdc.address, s.wallet.address])).to.equal(95n * USDC);
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal(5n * USDC);
    });

    it("settleBatch mixes a contract-wallet payer with EOAs; a wrong key is reported, and a new owner revokes old signatures", async () => {
      const s = await networkHelpers.loadFixture(contractWalletFixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent2.account });
      const walletGood = await paymentFor(s.publicClient, { payer: s.wallet.address, payee: addr(s.payee), token: s.usdc.address, amount: 3n * USDC });
      const walletBad = await paymentFor(s.publicClient, { payer: s.wallet.address, payee: addr(s.payee), token: s.usdc.address, amount: 4n * USDC });
      const walletLater = await paymentFor(s.publicClient, { payer: s.wallet.address, payee: addr(s.payee), token: s.usdc.address, amount: 1n * USDC });
      const eoa = await signedPayment(s, s.agent2, addr(s.payee), s.usdc.address, 2n * USDC);
      const batch = [
        { authorization: walletGood, signature: await signPayment(s.agent, s.domain, walletGood) },
        { authorization: walletBad, signature: await signPayment(s.agent2, s.domain, walletBad) },
        { authorization: eoa.auth, signature: eoa.sig },
      ];
      const { result } = await s.escrow.simulate.settleBatch([batch]);
      expect(result).to.deep.equal([SettlementFailure.None, SettlementFailure.InvalidSignature, SettlementFailure.None]);
      await viem.assertions.emitWithArgs(s.escrow.write.settleBatch([batch]), s.escrow, "PaymentFailed", [
        getAddress(s.wallet.address),
        walletBad.nonce,
        SettlementFailure.InvalidSignature,
      ]);
      expect(await s.escrow.read.balanceOf([s.usdc.address, s.wallet.address])).to.equal(97n * USDC);
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal(5n * USDC);

      // ERC-1271 signatures are revocable: after an ownership transfer the old owner's signature fails.
      const laterSig = await signPayment(s.agent, s.domain, walletLater);
      expect(await s.escrow.read.checkPayment([walletLater, laterSig])).to.equal(SettlementFailure.None);
      await s.wallet.write.transferOwnership([addr(s.agent2)], { account: s.agent.account });
      await viem.assertions.revertWithCustomError(s.escrow.write.settle([walletLater, laterSig]), s.escrow, "InvalidSignature");
    });
  });

  // ------------------------------------------------------------------------------ 9. batches
  describe("batch isolation", () => {
    it("one bad entry among 99 good ones: the 99 settle, the bad one is reported (PaymentFailed) and left untouched", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 500n * USDC], { account: s.agent.account });
      const amount = 1n * USDC;
      const badIndex = 42;
      const batch: { authorization: PaymentAuthorization; signature: Hex }[] = [];
      for (let i = 0; i < 100; i++) {
        const auth = await paymentFor(s.publicClient, { payer: addr(s.agent), payee: addr(s.payee), token: s.usdc.address, amount });
        // The bad entry is signed by the wrong key.
        const signer = i === badIndex ? s.agent2 : s.agent;
        batch.push({ authorization: auth, signature: await signPayment(signer, s.domain, auth) });
      }

      const { result } = await s.escrow.simulate.settleBatch([batch]);
      const expected = batch.map((_, i) => (i === badIndex ? SettlementFailure.InvalidSignature : SettlementFailure.None));
      expect(result).to.deep.equal(expected);

      const hash = await s.escrow.write.settleBatch([batch]);
      const receipt = await s.publicClient.waitForTransactionReceipt({ hash });
      const logs = parseEventLogs({ abi: s.escrow.abi, logs: receipt.logs });
      const settled = logs.filter((l: { eventName: string }) => l.eventName === "PaymentSettled");
      const failed = logs.filter((l: { eventName: string }) => l.eventName === "PaymentFailed") as unknown as {
        args: { payer: Address; nonce: bigint; reason: number };
      }[];
      expect(settled).to.have.length(99);
      expect(failed).to.have.length(1);
      expect(failed[0]!.args).to.deep.equal({
        payer: getAddress(addr(s.agent)),
        nonce: batch[badIndex]!.authorization.nonce,
        reason: SettlementFailure.InvalidSignature,
      });

      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal(99n * amount);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(500n * USDC - 99n * amount);
      expect(await s.escrow.read.isNonceUsed([addr(s.agent), batch[badIndex]!.authorization.nonce])).to.equal(false);
      expect(await s.escrow.read.totalOwed([s.usdc.address])).to.equal(500n * USDC);
    });

    it("one payer's insufficient funds (or a duplicate entry) does not block other payers in the same batch", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.deposit([s.usdc.address, 5n * USDC], { account: s.agent2.account });

      const a1 = await signedPayment(s, s.agent, addr(s.payee), s.usdc.address, 4n * USDC);
      const b1 = await signedPayment(s, s.agent2, addr(s.payee), s.usdc.address, 3n * USDC);
      const b2 = await signedPayment(s, s.agent2, addr(s.payee), s.usdc.address, 3n * USDC); // only 2 left
      const a2 = await signedPayment(s, s.agent, addr(s.payee), s.usdc.address, 6n * USDC);
      const batch = [a1, b1, b2, a1, a2].map(({ auth, sig }) => ({ authorization: auth, signature: sig }));

      const { result } = await s.escrow.simulate.settleBatch([batch]);
      expect(result).to.deep.equal([
        SettlementFailure.None,
        SettlementFailure.None,
        SettlementFailure.InsufficientFunds,
        SettlementFailure.NonceUsed,
        SettlementFailure.None,
      ]);
      await viem.assertions.emitWithArgs(s.escrow.write.settleBatch([batch]), s.escrow, "PaymentFailed", [
        getAddress(addr(s.agent2)),
        b2.auth.nonce,
        SettlementFailure.InsufficientFunds,
      ]);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(0n);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent2)])).to.equal(2n * USDC);
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal(13n * USDC);
      expect(await s.escrow.read.isNonceUsed([addr(s.agent2), b2.auth.nonce])).to.equal(false);
    });
    it("a stranger's junk batch entry naming a victim's nonce only emits PaymentFailed; the nonce stays usable", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      const { auth, sig } = await signedPayment(s, s.agent, addr(s.payee), s.usdc.address, USDC);
      // Same payer and nonce, payee switched to the attacker, signed by the attacker.
      const junk = { ...auth, payee: addr(s.stranger) };
      const junkSig = await signPayment(s.stranger, s.domain, junk);
      await viem.assertions.emitWithArgs(
        s.escrow.write.settleBatch([[{ authorization: junk, signature: junkSig }]], { account: s.stranger.account }),
        s.escrow,
        "PaymentFailed",
        [getAddress(addr(s.agent)), auth.nonce, SettlementFailure.InvalidSignature],
      );
      // PaymentFailed is unauthenticated (anyone can emit it for any payer/nonce): indexers must not treat it as final.
      expect(await s.escrow.read.isNonceUsed([addr(s.agent), auth.nonce])).to.equal(false);
      await s.escrow.write.settle([auth, sig]);
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal(USDC);
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.stranger)])).to.equal(0n);
    });
  });

  // ------------------------------------------------------------------------------ holds
  describe("hold abuse", () => {
    it("strangers cannot capture, void, reclaim or refund; the payee cannot over-capture, capture late, or replay the hold", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 100n * USDC], { account: s.agent.account });
      const now = BigInt(await networkHelpers.time.latest());
      const hold: HoldAuthorization = {
        payer: addr(s.agent),
        payee: addr(s.payee),
        token: s.usdc.address,
        amount: 40n * USDC,
        nonce: (1n << 128n) + 7n,
        validBefore: now + ONE_HOUR,
        captureDeadline: now + ONE_HOUR,
        refundDeadline: now + ONE_DAY,
        challengeHash: keccak256(toHex("hold")),
      };
      const holdSig = await signHold(s.agent, s.domain, hold);
      // The payee field of a signed hold cannot be swapped either.
      await viem.assertions.revertWithCustomError(
        s.escrow.write.authorizeWithSignature([{ ...hold, payee: addr(s.stranger) }, holdSig], { account: s.stranger.account }),
        s.escrow,
        "InvalidSignature",
      );
      await s.escrow.write.authorizeWithSignature([hold, holdSig], { account: s.stranger.account });
      const holdId = await s.escrow.read.holdIdFor([addr(s.agent), hold.nonce]);
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.authorizeWithSignature([hold, holdSig], { account: s.stranger.account }),
        s.escrow,
        "NonceAlreadyUsed",
        [getAddress(addr(s.agent)), hold.nonce],
      );

      const stranger = getAddress(addr(s.stranger));
      for (const call of [
        s.escrow.write.capture([holdId, 1n], { account: s.stranger.account }),
        s.escrow.write.voidHold([holdId], { account: s.stranger.account }),
        s.escrow.write.reclaim([holdId], { account: s.stranger.account }),
      ]) {
        await viem.assertions.revertWithCustomErrorWithArgs(call, s.escrow, "NotAuthorizedForHold", [holdId, stranger]);
      }
      // The payer cannot pull the funds back before the capture deadline.
      await viem.assertions.revertWithCustomError(s.escrow.write.reclaim([holdId], { account: s.agent.account }), s.escrow, "CaptureDeadlineNotReached");
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.capture([holdId, 41n * USDC], { account: s.payee.account }),
        s.escrow,
        "CaptureExceedsHold",
        [41n * USDC, 40n * USDC],
      );
      await s.escrow.write.capture([holdId, 25n * USDC], { account: s.payee.account });
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.refund([holdId, 1n], { account: s.stranger.account }),
        s.escrow,
        "NotAuthorizedForHold",
        [holdId, stranger],
      );
      await networkHelpers.time.increaseTo(hold.captureDeadline + 1n);
      await viem.assertions.revertWithCustomError(s.escrow.write.capture([holdId, 1n], { account: s.payee.account }), s.escrow, "CaptureDeadlinePassed");
      await s.escrow.write.reclaim([holdId], { account: s.agent.account });

      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(75n * USDC);
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal(25n * USDC);
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.stranger)])).to.equal(0n);
      expect(await s.escrow.read.totalOwed([s.usdc.address])).to.equal(100n * USDC);
    });
  });

  // ------------------------------------------------------------------------------ 10. payee substitution
  describe("tampering with a signed authorization", () => {
    it("changing the payee (or any other signed field) makes the authorization InvalidSignature", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      await s.escrow.write.deposit([s.usdt.address, 10n * USDC], { account: s.agent.account });
      const { auth, sig } = await signedPayment(s, s.agent, addr(s.payee), s.usdc.address, USDC);

      const tampered: Record<string, PaymentAuthorization> = {
        payee: { ...auth, payee: addr(s.stranger) },
        amount: { ...auth, amount: 2n * USDC },
        token: { ...auth, token: s.usdt.address },
        validBefore: { ...auth, validBefore: auth.validBefore + ONE_DAY },
        challengeHash: { ...auth, challengeHash: keccak256(toHex("another challenge")) },
      };
      for (const [field, forged] of Object.entries(tampered)) {
        expect(await s.escrow.read.checkPayment([forged, sig]), field).to.equal(SettlementFailure.InvalidSignature);
        await viem.assertions.revertWithCustomError(
          s.escrow.write.settle([forged, sig], { account: s.stranger.account }),
          s.escrow,
          "InvalidSignature",
        );
      }
      const { result } = await s.escrow.simulate.settleBatch([[{ authorization: tampered.payee!, signature: sig }]], {
        account: addr(s.stranger),
      });
      expect(result).to.deep.equal([SettlementFailure.InvalidSignature]);

      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.stranger)])).to.equal(0n);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(10n * USDC);
      expect(await s.escrow.read.isNonceUsed([addr(s.agent), auth.nonce])).to.equal(false);
    });

    it("a stranger settling a valid authorization pays the signed payee, never msg.sender", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      const { auth, sig } = await signedPayment(s, s.agent, addr(s.payee), s.usdc.address, 7n * USDC);
      const strangerWallet: bigint = await s.usdc.read.balanceOf([addr(s.stranger)]);

      await viem.assertions.emitWithArgs(s.escrow.write.settle([auth, sig], { account: s.stranger.account }), s.escrow, "PaymentSettled", [
        getAddress(addr(s.agent)),
        getAddress(addr(s.payee)),
        getAddress(s.usdc.address),
        auth.nonce,
        7n * USDC,
        0n,
        auth.challengeHash,
      ]);
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal(7n * USDC);
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.stranger)])).to.equal(0n);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.stranger)])).to.equal(0n);
      expect(await s.usdc.read.balanceOf([addr(s.stranger)])).to.equal(strangerWallet);
      await viem.assertions.revertWithCustomError(
        s.escrow.write.claimEarnings([s.usdc.address, addr(s.stranger)], { account: s.stranger.account }),
        s.escrow,
        "NothingToClaim",
      );
    });
  });

  // ------------------------------------------------------------------------------ 11. admin
  describe("admin powers", () => {
    it("sweep takes only the excess over totalOwed, never user funds", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 100n * USDC], { account: s.agent.account });
      await s.escrow.write.deposit([s.usdc.address, 50n * USDC], { account: s.agent2.account });
      const { auth, sig } = await signedPayment(s, s.agent, addr(s.payee), s.usdc.address, 20n * USDC);
      await s.escrow.write.settle([auth, sig]);
      await s.escrow.write.requestWithdrawal([s.usdc.address, 10n * USDC], { account: s.agent2.account });
      const accounts = [addr(s.agent), addr(s.agent2), addr(s.payee)];
      const ledgerBefore = await ledgerSum(s, s.usdc.address, accounts);
      expect(ledgerBefore).to.equal(150n * USDC);

      await viem.assertions.revertWithCustomError(s.escrow.write.sweep([s.usdc.address, addr(s.admin)]), s.escrow, "NothingToSweep");

      // Someone sends 7 USDC straight to the escrow, outside any deposit.
      await s.usdc.write.mint([addr(s.stranger), 7n * USDC]);
      await s.usdc.write.transfer([s.escrow.address, 7n * USDC], { account: s.stranger.account });

      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.sweep([s.usdc.address, addr(s.stranger)], { account: s.stranger.account }),
        s.escrow,
        "AccessControlUnauthorizedAccount",
        [getAddress(addr(s.stranger)), await s.escrow.read.DEFAULT_ADMIN_ROLE()],
      );
      const adminBefore: bigint = await s.usdc.read.balanceOf([addr(s.admin)]);
      await viem.assertions.emitWithArgs(s.escrow.write.sweep([s.usdc.address, addr(s.admin)]), s.escrow, "Swept", [
        getAddress(s.usdc.address),
        getAddress(addr(s.admin)),
        7n * USDC,
      ]);
      expect(await s.usdc.read.balanceOf([addr(s.admin)])).to.equal(adminBefore + 7n * USDC);
      await viem.assertions.revertWithCustomError(s.escrow.write.sweep([s.usdc.address, addr(s.admin)]), s.escrow, "NothingToSweep");

      expect(await ledgerSum(s, s.usdc.address, accounts)).to.equal(ledgerBefore);
      expect(await s.escrow.read.totalOwed([s.usdc.address])).to.equal(150n * USDC);
      expect(await s.usdc.read.balanceOf([s.escrow.address])).to.equal(150n * USDC);

      // The admin has no other way in: withdraw and claimEarnings act on msg.sender's own buckets only.
      await viem.assertions.revertWithCustomError(s.escrow.write.withdraw([s.usdc.address]), s.escrow, "NoPendingWithdrawal");
      await viem.assertions.revertWithCustomError(s.escrow.write.claimEarnings([s.usdc.address, addr(s.admin)]), s.escrow, "NothingToClaim");
    });

    it("the fee is capped at MAX_FEE_BPS and never charges the payer more than the signed amount", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      await viem.assertions.revertWithCustomErrorWithArgs(s.escrow.write.setFee([1_001]), s.escrow, "FeeTooHigh", [1_001, 1_000]);
      await s.escrow.write.deposit([s.usdc.address, 10n * USDC], { account: s.agent.account });
      const { auth, sig } = await signedPayment(s, s.agent, addr(s.payee), s.usdc.address, 5n * USDC);
      // Raised after signing (the fee is not part of the signed message): the payee bears it, the payer does not.
      await s.escrow.write.setFee([1_000]);
      await s.escrow.write.settle([auth, sig]);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(5n * USDC);
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal((5n * USDC * 9n) / 10n);
      expect(await s.escrow.read.accruedFees([s.usdc.address])).to.equal((5n * USDC) / 10n);
    });

    it("pausing blocks new business but not exits: requestWithdrawal, withdraw, reclaim, claimEarnings, claimFees", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.setFee([100]);
      await s.escrow.write.deposit([s.usdc.address, 100n * USDC], { account: s.agent.account });
      const { auth, sig } = await signedPayment(s, s.agent, addr(s.payee), s.usdc.address, 10n * USDC);
      await s.escrow.write.settle([auth, sig]);
      const now = BigInt(await networkHelpers.time.latest());
      const holdNonce = 1n << 200n;
      await s.escrow.write.authorize([s.usdc.address, addr(s.payee), 30n * USDC, holdNonce, now + ONE_HOUR, now + ONE_DAY, auth.challengeHash], {
        account: s.agent.account,
      });
      const holdId = await s.escrow.read.holdIdFor([addr(s.agent), holdNonce]);

      await s.escrow.write.pause();
      const pending = await signedPayment(s, s.agent, addr(s.payee), s.usdc.address, 1n * USDC);
      await viem.assertions.revertWithCustomError(s.escrow.write.settle([pending.auth, pending.sig]), s.escrow, "EnforcedPause");
      await viem.assertions.revertWithCustomError(s.escrow.write.deposit([s.usdc.address, USDC], { account: s.agent.account }), s.escrow, "EnforcedPause");

      // Exits while paused.
      await s.escrow.write.requestWithdrawal([s.usdc.address, 60n * USDC], { account: s.agent.account });
      await networkHelpers.time.increase(WITHDRAWAL_DELAY);
      const agentWallet: bigint = await s.usdc.read.balanceOf([addr(s.agent)]);
      await s.escrow.write.withdraw([s.usdc.address], { account: s.agent.account });
      await s.escrow.write.reclaim([holdId], { account: s.agent.account });
      expect((await s.escrow.read.getHold([holdId])).status).to.equal(HoldStatus.Closed);
      await s.escrow.write.claimEarnings([s.usdc.address, addr(s.payee)], { account: s.payee.account });
      await s.escrow.write.claimFees([s.usdc.address], { account: s.stranger.account });

      const fee = (10n * USDC) / 100n;
      expect(await s.usdc.read.balanceOf([addr(s.agent)])).to.equal(agentWallet + 60n * USDC);
      expect(await s.escrow.read.balanceOf([s.usdc.address, addr(s.agent)])).to.equal(30n * USDC);
      expect(await s.usdc.read.balanceOf([addr(s.payee)])).to.equal(10n * USDC - fee);
      expect(await s.usdc.read.balanceOf([addr(s.feeRecipient)])).to.equal(fee);
      expect(await s.escrow.read.totalOwed([s.usdc.address])).to.equal(30n * USDC);
      expect(await s.usdc.read.balanceOf([s.escrow.address])).to.equal(30n * USDC);
    });
  });

  // ------------------------------------------------------------------------------ 12. draining before settlement
  describe("draining funds a gateway relies on before it settles", () => {
    // Uncommitted balance can always be moved at once: a payer may sign a payment to a second
    // address it controls and claim the earnings without delay. That is why a gateway that serves
    // before settling counts only what the payer committed to it (see docs/escrow-contracts.md).
    it("a payer cannot pull funds committed to a gateway out early by paying itself and claiming", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 100n * USDC], { account: s.agent.account });
      await s.escrow.write.commit([s.usdc.address, addr(s.payee), 100n * USDC], { account: s.agent.account });
      const { auth, sig } = await signedPayment(s, s.agent, addr(s.agent), s.usdc.address, 100n * USDC);
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.settle([auth, sig], { account: s.agent.account }),
        s.escrow,
        "InsufficientFunds",
        [0n, 100n * USDC],
      );
      // The gateway's own payment still settles from the commitment.
      const { auth: paid, sig: paidSig } = await signedPayment(s, s.agent, addr(s.payee), s.usdc.address, 100n * USDC);
      await s.escrow.write.settle([paid, paidSig], { account: s.payee.account });
      expect(await s.escrow.read.earningsOf([s.usdc.address, addr(s.payee)])).to.equal(100n * USDC);
    });

    it("a hold for the payer's own second address cannot take committed funds either", async () => {
      const s = await networkHelpers.loadFixture(fixture);
      await s.escrow.write.deposit([s.usdc.address, 100n * USDC], { account: s.agent.account });
      await s.escrow.write.commit([s.usdc.address, addr(s.payee), 100n * USDC], { account: s.agent.account });
      const now = BigInt(await networkHelpers.time.latest());
      await viem.assertions.revertWithCustomErrorWithArgs(
        s.escrow.write.authorize([s.usdc.address, addr(s.agent2), 100n * USDC, 77n, now + ONE_HOUR, now + ONE_HOUR, pad("0x01")], {
          account: s.agent.account,
        }),
        s.escrow,
        "InsufficientBalance",
        [0n, 100n * USDC],
      );
    });
  });
});
