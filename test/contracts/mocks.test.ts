import { network } from "hardhat";
import { expect } from "chai";
import { randomBytes } from "node:crypto";
import {
  type Address,
  type Hex,
  concat,
  decodeErrorResult,
  decodeFunctionResult,
  domainSeparator,
  encodeFunctionData,
  erc20Abi,
  getAddress,
  hashTypedData,
  keccak256,
  maxUint256,
  numberToHex,
  parseEther,
  parseSignature,
  toHex,
  zeroAddress,
} from "viem";

const { viem, networkHelpers } = await network.create();

/** Defaults our deploy scripts use for the bridged USDC on SKALE. */
const USDC_NAME = "Bridged USDC (SKALE Bridge)";
const USDC_SYMBOL = "USDC.e";
const USDC_VERSION = "2";
const CHAIN_ID = 324705682;

/** secp256k1 group order, to build the malleable (high-s) twin of a signature. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const ERC1271_MAGIC = "0x1626ba7e";
const ERC1271_INVALID = "0xffffffff";

/** EIP-3009 and EIP-2612 typed-data definitions, exactly as the x402 clients sign them. */
const authorizationFields = [
  { name: "from", type: "address" },
  { name: "to", type: "address" },
  { name: "value", type: "uint256" },
  { name: "validAfter", type: "uint256" },
  { name: "validBefore", type: "uint256" },
  { name: "nonce", type: "bytes32" },
] as const;
const TYPES = {
  TransferWithAuthorization: { TransferWithAuthorization: authorizationFields },
  ReceiveWithAuthorization: { ReceiveWithAuthorization: authorizationFields },
  CancelAuthorization: {
    CancelAuthorization: [
      { name: "authorizer", type: "address" },
      { name: "nonce", type: "bytes32" },
    ],
  },
  Permit: {
    Permit: [
      { name: "owner", type: "address" },
      { name: "spender", type: "address" },
      { name: "value", type: "uint256" },
      { name: "nonce", type: "uint256" },
      { name: "deadline", type: "uint256" },
    ],
  },
} as const;

interface Domain {
  name: string;
  version: string;
  chainId: number;
  verifyingContract: Address;
}

interface Authorization {
  from: Address;
  to: Address;
  value: bigint;
  validAfter: bigint;
  validBefore: bigint;
  nonce: Hex;
}

type Signer = Awaited<ReturnType<typeof viem.getWalletClients>>[number];

const randomNonce = (): Hex => toHex(randomBytes(32));

/** Splits a 65-byte signature into the `(v, r, s)` arguments of the legacy overloads. */
function vrs(signature: Hex): [number, Hex, Hex] {
  const { r, s, yParity } = parseSignature(signature);
  return [27 + yParity, r, s];
}

/** The malleable twin of `signature` (s -> n - s, v flipped): recovers the same signer, must be rejected. */
function highS(signature: Hex): Hex {
  const { r, s, yParity } = parseSignature(signature);
  const flippedS = numberToHex(SECP256K1_N - BigInt(s), { size: 32 });
  return concat([r, flippedS, numberToHex(28 - yParity, { size: 1 })]);
}

async function signAuthorization(
  signer: Signer,
  domain: Domain,
  primaryType: "TransferWithAuthorization" | "ReceiveWithAuthorization",
  message: Authorization,
): Promise<Hex> {
  const account = signer.account;
  return primaryType === "TransferWithAuthorization"
    ? signer.signTypedData({ account, domain, types: TYPES.TransferWithAuthorization, primaryType, message })
    : signer.signTypedData({ account, domain, types: TYPES.ReceiveWithAuthorization, primaryType, message });
}

function authArgs(a: Authorization) {
  return [a.from, a.to, a.value, a.validAfter, a.validBefore, a.nonce] as const;
}

async function accounts() {
  const wallets = await viem.getWalletClients();
  const [deployer, alice, bob, carol] = wallets;
  if (deployer === undefined || alice === undefined || bob === undefined || carol === undefined) {
    throw new Error("mock tests need four funded accounts");
  }
  return { deployer, alice, bob, carol, publicClient: await viem.getPublicClient() };
}

async function usdcFixture() {
  const base = await accounts();
  const usdc = await viem.deployContract("MockUSDC", [USDC_NAME, USDC_SYMBOL, USDC_VERSION]);
  const domain: Domain = { name: USDC_NAME, version: USDC_VERSION, chainId: CHAIN_ID, verifyingContract: usdc.address };
  await usdc.write.mint([base.alice.account.address, 1_000_000_000n]);
  return { ...base, usdc, domain };
}

describe("mocks", function () {
  describe("MockUSDC", function () {
    /** A 10 USDC authorization from alice to bob, valid for an hour from now. */
    async function authorization(
      from: Address,
      to: Address,
      overrides: Partial<Authorization> = {},
    ): Promise<Authorization> {
      const now = BigInt(await networkHelpers.time.latest());
      return {
        from,
        to,
        value: 10_000_000n,
        validAfter: 0n,
        validBefore: now + 3600n,
        nonce: randomNonce(),
        ...overrides,
      };
    }

    describe("metadata and domain", function () {
      it("has USDC's decimals, the configured name/symbol/version and a single EIP-712 domain", async function () {
        const { usdc, domain, publicClient } = await networkHelpers.loadFixture(usdcFixture);
        expect(await publicClient.getChainId()).to.equal(CHAIN_ID);
        expect(await usdc.read.decimals()).to.equal(6);
        expect(await usdc.read.name()).to.equal(USDC_NAME);
        expect(await usdc.read.symbol()).to.equal(USDC_SYMBOL);
        expect(await usdc.read.version()).to.equal(USDC_VERSION);

        const [fields, name, version, chainId, verifyingContract, salt, extensions] = await usdc.read.eip712Domain();
        expect(fields).to.equal("0x0f");
        expect(name).to.equal(USDC_NAME);
        expect(version).to.equal(USDC_VERSION);
        expect(chainId).to.equal(BigInt(CHAIN_ID));
        expect(verifyingContract).to.equal(getAddress(usdc.address));
        expect(salt).to.equal(`0x${"00".repeat(32)}`);
        expect(extensions).to.deep.equal([]);
        expect(await usdc.read.DOMAIN_SEPARATOR()).to.equal(domainSeparator({ domain }));
      });

      it("uses the EIP-3009 / EIP-2612 type hashes", async function () {
        const { usdc } = await networkHelpers.loadFixture(usdcFixture);
        const typeHash = (s: string) => keccak256(toHex(s));
        const fields = "(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)";
        expect(await usdc.read.TRANSFER_WITH_AUTHORIZATION_TYPEHASH()).to.equal(
          typeHash(`TransferWithAuthorization${fields}`),
        );
        expect(await usdc.read.RECEIVE_WITH_AUTHORIZATION_TYPEHASH()).to.equal(
          typeHash(`ReceiveWithAuthorization${fields}`),
        );
        expect(await usdc.read.CANCEL_AUTHORIZATION_TYPEHASH()).to.equal(
          typeHash("CancelAuthorization(address authorizer,bytes32 nonce)"),
        );
        expect(await usdc.read.PERMIT_TYPEHASH()).to.equal(
          typeHash("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)"),
        );
      });

      it("lets only the owner mint", async function () {
        const { usdc, alice, bob } = await networkHelpers.loadFixture(usdcFixture);
        await viem.assertions.revertWithCustomErrorWithArgs(
          usdc.write.mint([bob.account.address, 1n], { account: alice.account }),
          usdc,
          "OwnableUnauthorizedAccount",
          [getAddress(alice.account.address)],
        );
      });
    });

    describe("transferWithAuthorization", function () {
      it("moves funds with a signTypedData signature, (v, r, s) overload, submitted by anyone", async function () {
        const { usdc, domain, alice, bob, carol } = await networkHelpers.loadFixture(usdcFixture);
        const auth = await authorization(alice.account.address, bob.account.address);
        const signature = await signAuthorization(alice, domain, "TransferWithAuthorization", auth);

        const tx = usdc.write.transferWithAuthorization([...authArgs(auth), ...vrs(signature)], {
          account: carol.account,
        });
        await viem.assertions.emitWithArgs(tx, usdc, "AuthorizationUsed", [getAddress(auth.from), auth.nonce]);

        expect(await usdc.read.balanceOf([bob.account.address])).to.equal(auth.value);
        expect(await usdc.read.balanceOf([alice.account.address])).to.equal(1_000_000_000n - auth.value);
        expect(await usdc.read.authorizationState([auth.from, auth.nonce])).to.equal(true);
      });

      it("moves funds with the bytes-signature overload and emits Transfer", async function () {
        const { usdc, domain, alice, bob } = await networkHelpers.loadFixture(usdcFixture);
        const auth = await authorization(alice.account.address, bob.account.address);
        const signature = await signAuthorization(alice, domain, "TransferWithAuthorization", auth);
        expect(await usdc.read.authorizationState([auth.from, auth.nonce])).to.equal(false);

        const tx = usdc.write.transferWithAuthorization([...authArgs(auth), signature]);
        await viem.assertions.emitWithArgs(tx, usdc, "Transfer", [
          getAddress(auth.from),
          getAddress(auth.to),
          auth.value,
        ]);
        expect(await usdc.read.balanceOf([bob.account.address])).to.equal(auth.value);
      });

      it("rejects a reused nonce, in either overload", async function () {
        const { usdc, domain, alice, bob } = await networkHelpers.loadFixture(usdcFixture);
        const auth = await authorization(alice.account.address, bob.account.address);
        const signature = await signAuthorization(alice, domain, "TransferWithAuthorization", auth);
        await usdc.write.transferWithAuthorization([...authArgs(auth), signature]);

        await viem.assertions.revertWithCustomErrorWithArgs(
          usdc.write.transferWithAuthorization([...authArgs(auth), signature]),
          usdc,
          "AuthorizationUsedOrCanceled",
          [getAddress(auth.from), auth.nonce],
        );
        await viem.assertions.revertWithCustomError(
          usdc.write.transferWithAuthorization([...authArgs(auth), ...vrs(signature)]),
          usdc,
          "AuthorizationUsedOrCanceled",
        );
      });

      it("is valid only strictly after validAfter", async function () {
        const { usdc, domain, alice, bob } = await networkHelpers.loadFixture(usdcFixture);
        const validAfter = BigInt(await networkHelpers.time.latest()) + 100n;
        const auth = await authorization(alice.account.address, bob.account.address, { validAfter });
        const signature = await signAuthorization(alice, domain, "TransferWithAuthorization", auth);

        await viem.assertions.revertWithCustomErrorWithArgs(
          usdc.write.transferWithAuthorization([...authArgs(auth), signature]),
          usdc,
          "AuthorizationNotYetValid",
          [validAfter],
        );
        await networkHelpers.time.setNextBlockTimestamp(Number(validAfter));
        await viem.assertions.revertWithCustomError(
          usdc.write.transferWithAuthorization([...authArgs(auth), signature]),
          usdc,
          "AuthorizationNotYetValid",
        );
        await networkHelpers.time.setNextBlockTimestamp(Number(validAfter + 1n));
        await usdc.write.transferWithAuthorization([...authArgs(auth), signature]);
        expect(await usdc.read.balanceOf([bob.account.address])).to.equal(auth.value);
      });

      it("is valid only strictly before validBefore", async function () {
        const { usdc, domain, alice, bob } = await networkHelpers.loadFixture(usdcFixture);
        const validBefore = BigInt(await networkHelpers.time.latest()) + 100n;
        const auth = await authorization(alice.account.address, bob.account.address, { validBefore });
        const signature = await signAuthorization(alice, domain, "TransferWithAuthorization", auth);

        await networkHelpers.time.setNextBlockTimestamp(Number(validBefore));
        await viem.assertions.revertWithCustomErrorWithArgs(
          usdc.write.transferWithAuthorization([...authArgs(auth), signature]),
          usdc,
          "AuthorizationExpired",
          [validBefore],
        );
        await networkHelpers.time.setNextBlockTimestamp(Number(validBefore - 1n));
        await usdc.write.transferWithAuthorization([...authArgs(auth), signature]);
        expect(await usdc.read.balanceOf([bob.account.address])).to.equal(auth.value);

        const late = await authorization(alice.account.address, bob.account.address, { validBefore });
        const lateSignature = await signAuthorization(alice, domain, "TransferWithAuthorization", late);
        await networkHelpers.time.increaseTo(Number(validBefore + 10n));
        await viem.assertions.revertWithCustomError(
          usdc.write.transferWithAuthorization([...authArgs(late), ...vrs(lateSignature)]),
          usdc,
          "AuthorizationExpired",
        );
      });

      it("rejects wrong signers, tampered fields, other domains, other type hashes and high-s signatures", async function () {
        const { usdc, domain, alice, bob, carol } = await networkHelpers.loadFixture(usdcFixture);
        const auth = await authorization(alice.account.address, bob.account.address);
        const signature = await signAuthorization(alice, domain, "TransferWithAuthorization", auth);

        const rejected = async (args: Authorization, sig: Hex) => {
          await viem.assertions.revertWithCustomError(
            usdc.write.transferWithAuthorization([...authArgs(args), sig]),
            usdc,
            "InvalidSignature",
          );
          await viem.assertions.revertWithCustomError(
            usdc.write.transferWithAuthorization([...authArgs(args), ...vrs(sig)]),
            usdc,
            "InvalidSignature",
          );
        };

        await rejected(auth, await signAuthorization(carol, domain, "TransferWithAuthorization", auth));
        await rejected({ ...auth, value: auth.value + 1n }, signature);
        await rejected({ ...auth, to: carol.account.address }, signature);
        await rejected(
          auth,
          await signAuthorization(alice, { ...domain, version: "1" }, "TransferWithAuthorization", auth),
        );
        await rejected(
          auth,
          await signAuthorization(alice, { ...domain, chainId: 1 }, "TransferWithAuthorization", auth),
        );
        await rejected(auth, await signAuthorization(alice, domain, "ReceiveWithAuthorization", auth));
        await rejected(auth, highS(signature));

        // The genuine signature still works afterwards: nothing above consumed the nonce.
        await usdc.write.transferWithAuthorization([...authArgs(auth), signature]);
        expect(await usdc.read.balanceOf([bob.account.address])).to.equal(auth.value);
      });

      it("reverts with OZ's ERC20InsufficientBalance when the payer is short", async function () {
        const { usdc, domain, alice, bob } = await networkHelpers.loadFixture(usdcFixture);
        const auth = await authorization(alice.account.address, bob.account.address, { value: 1_000_000_001n });
        const signature = await signAuthorization(alice, domain, "TransferWithAuthorization", auth);
        await viem.assertions.revertWithCustomError(
          usdc.write.transferWithAuthorization([...authArgs(auth), signature]),
          usdc,
          "ERC20InsufficientBalance",
        );
        expect(await usdc.read.authorizationState([auth.from, auth.nonce])).to.equal(false);
      });
    });

    describe("receiveWithAuthorization", function () {
      it("lets only the payee submit it, in both overloads", async function () {
        const { usdc, domain, alice, bob, carol } = await networkHelpers.loadFixture(usdcFixture);
        const auth = await authorization(alice.account.address, bob.account.address);
        const signature = await signAuthorization(alice, domain, "ReceiveWithAuthorization", auth);

        await viem.assertions.revertWithCustomErrorWithArgs(
          usdc.write.receiveWithAuthorization([...authArgs(auth), signature], { account: carol.account }),
          usdc,
          "CallerMustBePayee",
          [getAddress(carol.account.address), getAddress(bob.account.address)],
        );
        await viem.assertions.revertWithCustomError(
          usdc.write.receiveWithAuthorization([...authArgs(auth), ...vrs(signature)], { account: alice.account }),
          usdc,
          "CallerMustBePayee",
        );

        await viem.assertions.emitWithArgs(
          usdc.write.receiveWithAuthorization([...authArgs(auth), ...vrs(signature)], { account: bob.account }),
          usdc,
          "AuthorizationUsed",
          [getAddress(auth.from), auth.nonce],
        );
        expect(await usdc.read.balanceOf([bob.account.address])).to.equal(auth.value);

        const second = await authorization(alice.account.address, bob.account.address);
        const secondSignature = await signAuthorization(alice, domain, "ReceiveWithAuthorization", second);
        await usdc.write.receiveWithAuthorization([...authArgs(second), secondSignature], { account: bob.account });
        expect(await usdc.read.balanceOf([bob.account.address])).to.equal(auth.value + second.value);
      });

      it("does not accept a TransferWithAuthorization signature", async function () {
        const { usdc, domain, alice, bob } = await networkHelpers.loadFixture(usdcFixture);
        const auth = await authorization(alice.account.address, bob.account.address);
        const signature = await signAuthorization(alice, domain, "TransferWithAuthorization", auth);
        await viem.assertions.revertWithCustomError(
          usdc.write.receiveWithAuthorization([...authArgs(auth), signature], { account: bob.account }),
          usdc,
          "InvalidSignature",
        );
      });
    });

    describe("cancelAuthorization", function () {
      async function signCancel(signer: Signer, domain: Domain, nonce: Hex) {
        return signer.signTypedData({
          account: signer.account,
          domain,
          types: TYPES.CancelAuthorization,
          primaryType: "CancelAuthorization",
          message: { authorizer: signer.account.address, nonce },
        });
      }

      it("burns an unused nonce so the authorization can no longer run ((v, r, s) overload)", async function () {
        const { usdc, domain, alice, bob, carol } = await networkHelpers.loadFixture(usdcFixture);
        const auth = await authorization(alice.account.address, bob.account.address);
        const signature = await signAuthorization(alice, domain, "TransferWithAuthorization", auth);
        const cancel = await signCancel(alice, domain, auth.nonce);

        await viem.assertions.emitWithArgs(
          usdc.write.cancelAuthorization([auth.from, auth.nonce, ...vrs(cancel)], { account: carol.account }),
          usdc,
          "AuthorizationCanceled",
          [getAddress(auth.from), auth.nonce],
        );
        expect(await usdc.read.authorizationState([auth.from, auth.nonce])).to.equal(true);
        await viem.assertions.revertWithCustomError(
          usdc.write.transferWithAuthorization([...authArgs(auth), signature]),
          usdc,
          "AuthorizationUsedOrCanceled",
        );
        await viem.assertions.revertWithCustomError(
          usdc.write.cancelAuthorization([auth.from, auth.nonce, cancel]),
          usdc,
          "AuthorizationUsedOrCanceled",
        );
      });

      it("works with the bytes overload, needs the authorizer's signature and cannot cancel a used nonce", async function () {
        const { usdc, domain, alice, bob, carol } = await networkHelpers.loadFixture(usdcFixture);
        const nonce = randomNonce();
        const byCarol = await carol.signTypedData({
          account: carol.account,
          domain,
          types: TYPES.CancelAuthorization,
          primaryType: "CancelAuthorization",
          message: { authorizer: alice.account.address, nonce },
        });
        await viem.assertions.revertWithCustomError(
          usdc.write.cancelAuthorization([alice.account.address, nonce, byCarol]),
          usdc,
          "InvalidSignature",
        );
        await usdc.write.cancelAuthorization([alice.account.address, nonce, await signCancel(alice, domain, nonce)]);
        expect(await usdc.read.authorizationState([alice.account.address, nonce])).to.equal(true);

        const auth = await authorization(alice.account.address, bob.account.address);
        await usdc.write.transferWithAuthorization([
          ...authArgs(auth),
          await signAuthorization(alice, domain, "TransferWithAuthorization", auth),
        ]);
        await viem.assertions.revertWithCustomError(
          usdc.write.cancelAuthorization([auth.from, auth.nonce, await signCancel(alice, domain, auth.nonce)]),
          usdc,
          "AuthorizationUsedOrCanceled",
        );
      });
    });

    describe("permit", function () {
      async function signPermit(
        signer: Signer,
        domain: Domain,
        spender: Address,
        value: bigint,
        nonce: bigint,
        deadline: bigint,
      ) {
        return signer.signTypedData({
          account: signer.account,
          domain,
          types: TYPES.Permit,
          primaryType: "Permit",
          message: { owner: signer.account.address, spender, value, nonce, deadline },
        });
      }

      it("sets the allowance from a signature in the shared domain, in both overloads, and bumps the nonce", async function () {
        const { usdc, domain, alice, bob, carol } = await networkHelpers.loadFixture(usdcFixture);
        const deadline = BigInt(await networkHelpers.time.latest()) + 3600n;
        const owner = alice.account.address;
        const spender = bob.account.address;

        const first = await signPermit(alice, domain, spender, 5n, 0n, deadline);
        await viem.assertions.emitWithArgs(
          usdc.write.permit([owner, spender, 5n, deadline, ...vrs(first)], { account: carol.account }),
          usdc,
          "Approval",
          [getAddress(owner), getAddress(spender), 5n],
        );
        expect(await usdc.read.allowance([owner, spender])).to.equal(5n);
        expect(await usdc.read.nonces([owner])).to.equal(1n);

        // Replaying the same signature now hashes nonce 1, so it no longer matches.
        await viem.assertions.revertWithCustomError(
          usdc.write.permit([owner, spender, 5n, deadline, ...vrs(first)]),
          usdc,
          "InvalidSignature",
        );

        const second = await signPermit(alice, domain, spender, maxUint256, 1n, maxUint256);
        await usdc.write.permit([owner, spender, maxUint256, maxUint256, second]);
        expect(await usdc.read.allowance([owner, spender])).to.equal(maxUint256);
        expect(await usdc.read.nonces([owner])).to.equal(2n);
      });

      it("rejects expired permits, other signers, other domain versions and high-s signatures", async function () {
        const { usdc, domain, alice, bob, carol } = await networkHelpers.loadFixture(usdcFixture);
        const now = BigInt(await networkHelpers.time.latest());
        const owner = alice.account.address;
        const spender = bob.account.address;

        const expired = await signPermit(alice, domain, spender, 5n, 0n, now);
        await viem.assertions.revertWithCustomErrorWithArgs(
          usdc.write.permit([owner, spender, 5n, now, expired]),
          usdc,
          "PermitExpired",
          [now],
        );

        const deadline = now + 3600n;
        for (const signature of [
          await signPermit(carol, domain, spender, 5n, 0n, deadline),
          await signPermit(alice, { ...domain, version: "1" }, spender, 5n, 0n, deadline),
          highS(await signPermit(alice, domain, spender, 5n, 0n, deadline)),
        ]) {
          await viem.assertions.revertWithCustomError(
            usdc.write.permit([owner, spender, 5n, deadline, signature]),
            usdc,
            "InvalidSignature",
          );
        }
        expect(await usdc.read.nonces([owner])).to.equal(0n);
      });
    });

    describe("with an ERC-1271 wallet as the payer", function () {
      async function walletFixture() {
        const base = await usdcFixture();
        const wallet = await viem.deployContract("MockERC1271Wallet", [base.alice.account.address]);
        await base.usdc.write.mint([wallet.address, 100_000_000n]);
        return { ...base, wallet };
      }

      it("accepts the wallet owner's typed-data signature through both overloads", async function () {
        const { usdc, domain, wallet, alice, bob } = await networkHelpers.loadFixture(walletFixture);
        const auth = await authorization(wallet.address, bob.account.address);
        const signature = await signAuthorization(alice, domain, "TransferWithAuthorization", auth);
        await usdc.write.transferWithAuthorization([...authArgs(auth), signature]);

        const second = await authorization(wallet.address, bob.account.address);
        const secondSignature = await signAuthorization(alice, domain, "ReceiveWithAuthorization", second);
        await usdc.write.receiveWithAuthorization([...authArgs(second), ...vrs(secondSignature)], {
          account: bob.account,
        });
        expect(await usdc.read.balanceOf([bob.account.address])).to.equal(auth.value + second.value);
        expect(await usdc.read.balanceOf([wallet.address])).to.equal(100_000_000n - auth.value - second.value);
      });

      it("rejects a signature by anyone but the wallet owner", async function () {
        const { usdc, domain, wallet, bob, carol } = await networkHelpers.loadFixture(walletFixture);
        const auth = await authorization(wallet.address, bob.account.address);
        const signature = await signAuthorization(carol, domain, "TransferWithAuthorization", auth);
        await viem.assertions.revertWithCustomError(
          usdc.write.transferWithAuthorization([...authArgs(auth), signature]),
          usdc,
          "InvalidSignature",
        );
      });

      it("permits through the wallet", async function () {
        const { usdc, domain, wallet, alice, bob } = await networkHelpers.loadFixture(walletFixture);
        const deadline = BigInt(await networkHelpers.time.latest()) + 3600n;
        const signature = await alice.signTypedData({
          account: alice.account,
          domain,
          types: TYPES.Permit,
          primaryType: "Permit",
          message: { owner: wallet.address, spender: bob.account.address, value: 7n, nonce: 0n, deadline },
        });
        await usdc.write.permit([wallet.address, bob.account.address, 7n, deadline, signature]);
        expect(await usdc.read.allowance([wallet.address, bob.account.address])).to.equal(7n);
      });
    });
  });

  describe("MockERC1271Wallet", function () {
    async function walletFixture() {
      const base = await accounts();
      const wallet = await viem.deployContract("MockERC1271Wallet", [base.alice.account.address]);
      const usdc = await viem.deployContract("MockUSDC", [USDC_NAME, USDC_SYMBOL, USDC_VERSION]);
      const weth = await viem.deployContract("WETH9");
      return { ...base, wallet, usdc, weth };
    }

    const typedData = (verifyingContract: Address) =>
      ({
        domain: { name: "Test", version: "1", chainId: CHAIN_ID, verifyingContract },
        types: TYPES.CancelAuthorization,
        primaryType: "CancelAuthorization",
        message: { authorizer: verifyingContract, nonce: `0x${"11".repeat(32)}` },
      }) as const;

    it("returns the magic value only for the owner's ECDSA signature of the hash", async function () {
      const { wallet, alice, bob } = await networkHelpers.loadFixture(walletFixture);
      const data = typedData(wallet.address);
      const hash = hashTypedData(data);
      const byOwner = await alice.signTypedData({ account: alice.account, ...data });
      const byOther = await bob.signTypedData({ account: bob.account, ...data });

      expect(await wallet.read.owner()).to.equal(getAddress(alice.account.address));
      expect(await wallet.read.isValidSignature([hash, byOwner])).to.equal(ERC1271_MAGIC);
      expect(await wallet.read.isValidSignature([hash, byOther])).to.equal(ERC1271_INVALID);
      expect(await wallet.read.isValidSignature([keccak256(hash), byOwner])).to.equal(ERC1271_INVALID);
      expect(await wallet.read.isValidSignature([hash, highS(byOwner)])).to.equal(ERC1271_INVALID);
      expect(await wallet.read.isValidSignature([hash, "0x1234"])).to.equal(ERC1271_INVALID);
    });

    it("invalidates old signatures when ownership moves", async function () {
      const { wallet, alice, bob } = await networkHelpers.loadFixture(walletFixture);
      const data = typedData(wallet.address);
      const byOwner = await alice.signTypedData({ account: alice.account, ...data });
      await wallet.write.transferOwnership([bob.account.address], { account: alice.account });
      expect(await wallet.read.isValidSignature([hashTypedData(data), byOwner])).to.equal(ERC1271_INVALID);
    });

    it("executes calls for the owner only, forwarding value and bubbling reverts", async function () {
      const { wallet, usdc, weth, alice, bob } = await networkHelpers.loadFixture(walletFixture);
      const approve = encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [bob.account.address, 42n] });

      await viem.assertions.revertWithCustomErrorWithArgs(
        wallet.write.execute([usdc.address, approve], { account: bob.account }),
        wallet,
        "OwnableUnauthorizedAccount",
        [getAddress(bob.account.address)],
      );

      await viem.assertions.emitWithArgs(
        wallet.write.execute([usdc.address, approve], { account: alice.account }),
        wallet,
        "Executed",
        [getAddress(usdc.address), 0n, approve],
      );
      expect(await usdc.read.allowance([wallet.address, bob.account.address])).to.equal(42n);

      const deposit = encodeFunctionData({ abi: weth.abi, functionName: "deposit" });
      await wallet.write.execute([weth.address, deposit], { account: alice.account, value: parseEther("1") });
      expect(await weth.read.balanceOf([wallet.address])).to.equal(parseEther("1"));

      // The wallet can unwrap too: it accepts the native currency WETH sends back.
      const withdraw = encodeFunctionData({ abi: weth.abi, functionName: "withdraw", args: [parseEther("1")] });
      await viem.assertions.balancesHaveChanged(
        wallet.write.execute([weth.address, withdraw], { account: alice.account }),
        [{ address: wallet.address, amount: parseEther("1") }],
      );

      const overdraw = encodeFunctionData({ abi: weth.abi, functionName: "withdraw", args: [1n] });
      await viem.assertions.revertWithCustomError(
        wallet.write.execute([weth.address, overdraw], { account: alice.account }),
        weth,
        "InsufficientBalance",
      );
    });
  });

  describe("MockUSDT", function () {
    async function usdtFixture() {
      const base = await accounts();
      const usdt = await viem.deployContract("MockUSDT");
      await usdt.write.mint([base.alice.account.address, 1_000_000n]);
      return { ...base, usdt };
    }

    it("has USDT's metadata and owner-only mint", async function () {
      const { usdt, alice, deployer } = await networkHelpers.loadFixture(usdtFixture);
      expect(await usdt.read.name()).to.equal("Tether USD");
      expect(await usdt.read.symbol()).to.equal("USDT");
      expect(await usdt.read.decimals()).to.equal(6);
      expect(await usdt.read.totalSupply()).to.equal(1_000_000n);
      expect(await usdt.read.owner()).to.equal(getAddress(deployer.account.address));
      await viem.assertions.revertWithCustomError(
        usdt.write.mint([alice.account.address, 1n], { account: alice.account }),
        usdt,
        "OwnableUnauthorizedAccount",
      );
    });

    it("returns no data from transfer, transferFrom and approve (so a bool-decoding caller fails)", async function () {
      const { usdt, publicClient, alice, bob } = await networkHelpers.loadFixture(usdtFixture);
      for (const name of ["transfer", "transferFrom", "approve"] as const) {
        const item = usdt.abi.find((x) => x.type === "function" && x.name === name);
        expect(item && "outputs" in item ? item.outputs : undefined, name).to.deep.equal([]);
      }

      const calls: Hex[] = [
        encodeFunctionData({ abi: erc20Abi, functionName: "approve", args: [bob.account.address, 100n] }),
        encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [bob.account.address, 1n] }),
      ];
      for (const data of calls) {
        const result = await publicClient.call({ account: alice.account.address, to: usdt.address, data });
        expect(result.data ?? "0x").to.equal("0x");
      }

      // A caller expecting IERC20's `returns (bool)` cannot decode the empty return data.
      expect(() => decodeFunctionResult({ abi: erc20Abi, functionName: "transfer", data: "0x" })).to.throw();
      let decodeFailed = false;
      try {
        await publicClient.simulateContract({
          account: alice.account.address,
          address: usdt.address,
          abi: erc20Abi,
          functionName: "transfer",
          args: [bob.account.address, 1n],
        });
      } catch {
        decodeFailed = true;
      }
      expect(decodeFailed).to.equal(true);

      await usdt.write.transfer([bob.account.address, 250n], { account: alice.account });
      expect(await usdt.read.balanceOf([bob.account.address])).to.equal(250n);
    });

    it("refuses to change a non-zero allowance to another non-zero value", async function () {
      const { usdt, alice, bob } = await networkHelpers.loadFixture(usdtFixture);
      const spender = bob.account.address;
      await viem.assertions.emitWithArgs(
        usdt.write.approve([spender, 100n], { account: alice.account }),
        usdt,
        "Approval",
        [getAddress(alice.account.address), getAddress(spender), 100n],
      );
      await viem.assertions.revertWithCustomErrorWithArgs(
        usdt.write.approve([spender, 200n], { account: alice.account }),
        usdt,
        "NonZeroAllowance",
        [getAddress(spender), 100n],
      );
      await usdt.write.approve([spender, 0n], { account: alice.account });
      await usdt.write.approve([spender, 200n], { account: alice.account });
      expect(await usdt.read.allowance([alice.account.address, spender])).to.equal(200n);
    });

    it("spends allowances (except an unlimited one) and reverts on shortfalls", async function () {
      const { usdt, alice, bob, carol } = await networkHelpers.loadFixture(usdtFixture);
      const from = alice.account.address;
      await usdt.write.approve([bob.account.address, 300n], { account: alice.account });

      await viem.assertions.revertWithCustomErrorWithArgs(
        usdt.write.transferFrom([from, carol.account.address, 301n], { account: bob.account }),
        usdt,
        "InsufficientAllowance",
        [getAddress(bob.account.address), 300n, 301n],
      );
      await viem.assertions.emitWithArgs(
        usdt.write.transferFrom([from, carol.account.address, 100n], { account: bob.account }),
        usdt,
        "Transfer",
        [getAddress(from), getAddress(carol.account.address), 100n],
      );
      expect(await usdt.read.allowance([from, bob.account.address])).to.equal(200n);

      await usdt.write.approve([carol.account.address, maxUint256], { account: alice.account });
      await usdt.write.transferFrom([from, carol.account.address, 1_000n], { account: carol.account });
      expect(await usdt.read.allowance([from, carol.account.address])).to.equal(maxUint256);

      await viem.assertions.revertWithCustomErrorWithArgs(
        usdt.write.transferFrom([from, carol.account.address, 1_000_000n], { account: carol.account }),
        usdt,
        "InsufficientBalance",
        [getAddress(from), 1_000_000n - 1_100n, 1_000_000n],
      );
      await viem.assertions.revertWithCustomError(
        usdt.write.transfer([alice.account.address, 1n], { account: bob.account }),
        usdt,
        "InsufficientBalance",
      );
    });
  });

  describe("MockSKL", function () {
    it("is an 18-decimal ERC-20 with owner-only mint", async function () {
      const { alice, bob } = await accounts();
      const skl = await viem.deployContract("MockSKL");
      expect(await skl.read.symbol()).to.equal("SKL");
      expect(await skl.read.name()).to.equal("SKALE");
      expect(await skl.read.decimals()).to.equal(18);
      await skl.write.mint([alice.account.address, parseEther("5")]);
      await skl.write.transfer([bob.account.address, parseEther("2")], { account: alice.account });
      expect(await skl.read.balanceOf([bob.account.address])).to.equal(parseEther("2"));
      await viem.assertions.revertWithCustomError(
        skl.write.mint([alice.account.address, 1n], { account: alice.account }),
        skl,
        "OwnableUnauthorizedAccount",
      );
    });
  });

  describe("WETH9", function () {
    async function wethFixture() {
      const base = await accounts();
      const weth = await viem.deployContract("WETH9");
      return { ...base, weth };
    }

    it("has WETH9's metadata", async function () {
      const { weth } = await networkHelpers.loadFixture(wethFixture);
      expect(await weth.read.name()).to.equal("Wrapped Ether");
      expect(await weth.read.symbol()).to.equal("WETH");
      expect(await weth.read.decimals()).to.equal(18);
      expect(await weth.read.totalSupply()).to.equal(0n);
    });

    it("wraps through deposit() and plain transfers, and unwraps through withdraw()", async function () {
      const { weth, alice } = await networkHelpers.loadFixture(wethFixture);
      const me = alice.account.address;

      await viem.assertions.emitWithArgs(
        weth.write.deposit({ account: alice.account, value: parseEther("1") }),
        weth,
        "Deposit",
        [getAddress(me), parseEther("1")],
      );
      await viem.assertions.emitWithArgs(
        alice.sendTransaction({ to: weth.address, value: parseEther("2") }),
        weth,
        "Deposit",
        [getAddress(me), parseEther("2")],
      );
      expect(await weth.read.balanceOf([me])).to.equal(parseEther("3"));
      expect(await weth.read.totalSupply()).to.equal(parseEther("3"));

      await viem.assertions.balancesHaveChanged(weth.write.withdraw([parseEther("1.5")], { account: alice.account }), [
        { address: me, amount: parseEther("1.5") },
        { address: weth.address, amount: -parseEther("1.5") },
      ]);
      await viem.assertions.emitWithArgs(
        weth.write.withdraw([parseEther("0.5")], { account: alice.account }),
        weth,
        "Withdrawal",
        [getAddress(me), parseEther("0.5")],
      );
      expect(await weth.read.balanceOf([me])).to.equal(parseEther("1"));
      expect(await weth.read.totalSupply()).to.equal(parseEther("1"));

      await viem.assertions.revertWithCustomErrorWithArgs(
        weth.write.withdraw([parseEther("1") + 1n], { account: alice.account }),
        weth,
        "InsufficientBalance",
        [getAddress(me), parseEther("1"), parseEther("1") + 1n],
      );
    });

    it("spends finite allowances, never an unlimited one, and needs none for the owner itself", async function () {
      const { weth, alice, bob, carol } = await networkHelpers.loadFixture(wethFixture);
      const me = alice.account.address;
      await weth.write.deposit({ account: alice.account, value: 1_000n });

      await weth.write.approve([bob.account.address, 100n], { account: alice.account });
      await weth.write.transferFrom([me, carol.account.address, 60n], { account: bob.account });
      expect(await weth.read.allowance([me, bob.account.address])).to.equal(40n);
      await viem.assertions.revertWithCustomErrorWithArgs(
        weth.write.transferFrom([me, carol.account.address, 41n], { account: bob.account }),
        weth,
        "InsufficientAllowance",
        [getAddress(bob.account.address), 40n, 41n],
      );

      await weth.write.approve([carol.account.address, maxUint256], { account: alice.account });
      await weth.write.transferFrom([me, carol.account.address, 100n], { account: carol.account });
      expect(await weth.read.allowance([me, carol.account.address])).to.equal(maxUint256);

      await weth.write.transferFrom([me, bob.account.address, 10n], { account: alice.account });
      await weth.write.transfer([bob.account.address, 30n], { account: alice.account });
      expect(await weth.read.balanceOf([me])).to.equal(800n);
      expect(await weth.read.balanceOf([carol.account.address])).to.equal(160n);
      expect(await weth.read.balanceOf([bob.account.address])).to.equal(40n);
    });
  });

  describe("FeeOnTransferToken", function () {
    it("burns 1% of every transfer and transferFrom, but not of mints", async function () {
      const { alice, bob, carol } = await accounts();
      const fot = await viem.deployContract("FeeOnTransferToken");
      expect(await fot.read.decimals()).to.equal(6);
      expect(await fot.read.FEE_BPS()).to.equal(100n);
      await fot.write.mint([alice.account.address, 1_000_000n], { account: bob.account });
      expect(await fot.read.balanceOf([alice.account.address])).to.equal(1_000_000n);

      await viem.assertions.emitWithArgs(
        fot.write.transfer([bob.account.address, 100_000n], { account: alice.account }),
        fot,
        "Transfer",
        [getAddress(alice.account.address), zeroAddress, 1_000n],
      );
      expect(await fot.read.balanceOf([bob.account.address])).to.equal(99_000n);
      expect(await fot.read.balanceOf([alice.account.address])).to.equal(900_000n);
      expect(await fot.read.totalSupply()).to.equal(999_000n);

      await fot.write.approve([carol.account.address, 200_000n], { account: alice.account });
      await fot.write.transferFrom([alice.account.address, carol.account.address, 200_000n], {
        account: carol.account,
      });
      expect(await fot.read.balanceOf([carol.account.address])).to.equal(198_000n);
      expect(await fot.read.allowance([alice.account.address, carol.account.address])).to.equal(0n);
      expect(await fot.read.totalSupply()).to.equal(997_000n);
    });
  });

  describe("RebasingToken", function () {
    async function rebasingFixture() {
      const base = await accounts();
      const token = await viem.deployContract("RebasingToken");
      await token.write.mint([base.alice.account.address, 1_000_000n]);
      await token.write.mint([base.bob.account.address, 3_000_000n]);
      return { ...base, token };
    }

    it("scales every balance and the supply down, without Transfer events", async function () {
      const { token, alice, bob, publicClient } = await networkHelpers.loadFixture(rebasingFixture);
      expect(await token.read.decimals()).to.equal(6);
      const hash = await token.write.rebaseDown([1_000n]);
      const receipt = await publicClient.getTransactionReceipt({ hash });
      expect(receipt.logs).to.have.length(1);

      expect(await token.read.balanceOf([alice.account.address])).to.equal(900_000n);
      expect(await token.read.balanceOf([bob.account.address])).to.equal(2_700_000n);
      expect(await token.read.totalSupply()).to.equal(3_600_000n);
      expect(await token.read.sharesOf([alice.account.address])).to.equal(1_000_000n);

      await viem.assertions.emitWithArgs(token.write.rebaseDown([5_000n]), token, "Rebased", [
        9n * 10n ** 17n,
        45n * 10n ** 16n,
      ]);
      expect(await token.read.balanceOf([alice.account.address])).to.equal(450_000n);
    });

    it("moves amounts (not shares) after a rebase, and lets a holder send its whole balance", async function () {
      const { token, alice, bob, carol } = await networkHelpers.loadFixture(rebasingFixture);
      await token.write.rebaseDown([3_333n]);
      const balance = await token.read.balanceOf([alice.account.address]);
      await token.write.transfer([carol.account.address, 1_000n], { account: alice.account });
      const received = await token.read.balanceOf([carol.account.address]);
      expect(received >= 1_000n, `carol received ${received}`).to.equal(true);

      const rest = await token.read.balanceOf([alice.account.address]);
      expect(rest <= balance - 1_000n, `alice kept ${rest} of ${balance}`).to.equal(true);
      await token.write.transfer([bob.account.address, rest], { account: alice.account });
      expect(await token.read.balanceOf([alice.account.address])).to.equal(0n);

      await viem.assertions.revertWithCustomError(
        token.write.transfer([bob.account.address, 1n], { account: alice.account }),
        token,
        "ERC20InsufficientBalance",
      );
    });

    it("lets only the owner rebase, and never to zero", async function () {
      const { token, alice } = await networkHelpers.loadFixture(rebasingFixture);
      await viem.assertions.revertWithCustomError(
        token.write.rebaseDown([100n], { account: alice.account }),
        token,
        "OwnableUnauthorizedAccount",
      );
      await viem.assertions.revertWithCustomErrorWithArgs(token.write.rebaseDown([10_000n]), token, "InvalidRebase", [
        10_000n,
      ]);
    });
  });

  describe("ReentrantToken", function () {
    async function reentrantFixture() {
      const base = await accounts();
      const token = await viem.deployContract("ReentrantToken");
      const usdt = await viem.deployContract("MockUSDT");
      await token.write.mint([base.alice.account.address, 1_000n]);
      return { ...base, token, usdt };
    }

    it("calls the armed target before moving balances, once, and records the result", async function () {
      const { token, alice, bob } = await networkHelpers.loadFixture(reentrantFixture);
      // Reentering the token itself to read alice's balance shows the hook runs before the debit.
      const probe = encodeFunctionData({ abi: erc20Abi, functionName: "balanceOf", args: [alice.account.address] });
      await viem.assertions.emitWithArgs(token.write.arm([token.address, probe]), token, "Armed", [
        getAddress(token.address),
        probe,
      ]);

      await viem.assertions.emitWithArgs(
        token.write.transfer([bob.account.address, 400n], { account: alice.account }),
        token,
        "ReentryAttempted",
        [getAddress(token.address), true, numberToHex(1_000n, { size: 32 })],
      );
      expect(await token.read.lastCallSucceeded()).to.equal(true);
      expect(await token.read.lastReturnData()).to.equal(numberToHex(1_000n, { size: 32 }));
      expect(await token.read.reentryCount()).to.equal(1n);
      expect(await token.read.reentryTarget()).to.equal(zeroAddress);
      expect(await token.read.balanceOf([bob.account.address])).to.equal(400n);

      // Disarmed after one shot.
      await token.write.transfer([bob.account.address, 100n], { account: alice.account });
      expect(await token.read.reentryCount()).to.equal(1n);
    });

    it("swallows a reverting callback and keeps its revert data (transferFrom)", async function () {
      const { token, usdt, alice, bob, carol } = await networkHelpers.loadFixture(reentrantFixture);
      const steal = encodeFunctionData({ abi: erc20Abi, functionName: "transfer", args: [carol.account.address, 1n] });
      await token.write.arm([usdt.address, steal]);
      await token.write.approve([bob.account.address, 500n], { account: alice.account });
      await token.write.transferFrom([alice.account.address, carol.account.address, 500n], { account: bob.account });

      expect(await token.read.balanceOf([carol.account.address])).to.equal(500n);
      expect(await token.read.lastCallSucceeded()).to.equal(false);
      const revertData = await token.read.lastReturnData();
      const decoded = decodeErrorResult({ abi: usdt.abi, data: revertData });
      expect(decoded.errorName).to.equal("InsufficientBalance");
      expect(decoded.args).to.deep.equal([getAddress(token.address), 0n, 1n]);
    });

    it("does not fire on mint, and can be disarmed", async function () {
      const { token, alice, bob } = await networkHelpers.loadFixture(reentrantFixture);
      await token.write.arm([token.address, "0x"]);
      await token.write.mint([bob.account.address, 1n]);
      expect(await token.read.reentryCount()).to.equal(0n);
      await viem.assertions.emit(token.write.disarm(), token, "Disarmed");
      await token.write.transfer([bob.account.address, 1n], { account: alice.account });
      expect(await token.read.reentryCount()).to.equal(0n);
      expect(await token.read.reentryCalldata()).to.equal("0x");
    });
  });

  describe("ReturnsFalseToken", function () {
    async function returnsFalseFixture() {
      const base = await accounts();
      const token = await viem.deployContract("ReturnsFalseToken");
      await token.write.mint([base.alice.account.address, 1_000n]);
      return { ...base, token };
    }

    it("returns false instead of reverting on a short balance or allowance, moving nothing", async function () {
      const { token, publicClient, alice, bob } = await networkHelpers.loadFixture(returnsFalseFixture);
      const a = alice.account.address;
      const b = bob.account.address;
      const simulate = async (
        functionName: "transfer" | "transferFrom",
        args: readonly unknown[],
        account: Address,
      ) => {
        const { result } = await publicClient.simulateContract({
          address: token.address,
          abi: token.abi,
          functionName,
          args: args as never,
          account,
        });
        return result;
      };

      expect(await simulate("transfer", [b, 1_001n], a)).to.equal(false);
      expect(await simulate("transfer", [b, 1_000n], a)).to.equal(true);
      expect(await simulate("transferFrom", [a, b, 1n], b)).to.equal(false);

      await token.write.transfer([b, 1_001n], { account: alice.account });
      await token.write.transferFrom([a, b, 1n], { account: bob.account });
      expect(await token.read.balanceOf([b])).to.equal(0n);
      expect(await token.read.balanceOf([a])).to.equal(1_000n);

      await token.write.approve([b, 10n], { account: alice.account });
      expect(await simulate("transferFrom", [a, b, 11n], b)).to.equal(false);
      await token.write.transferFrom([a, b, 10n], { account: bob.account });
      expect(await token.read.balanceOf([b])).to.equal(10n);
    });

    it("always returns false when the owner flips the switch", async function () {
      const { token, publicClient, alice, bob } = await networkHelpers.loadFixture(returnsFalseFixture);
      await viem.assertions.revertWithCustomError(
        token.write.setAlwaysReturnFalse([true], { account: alice.account }),
        token,
        "OwnableUnauthorizedAccount",
      );
      await viem.assertions.emitWithArgs(token.write.setAlwaysReturnFalse([true]), token, "AlwaysReturnFalseSet", [
        true,
      ]);

      const { result } = await publicClient.simulateContract({
        address: token.address,
        abi: token.abi,
        functionName: "transfer",
        args: [bob.account.address, 1n],
        account: alice.account.address,
      });
      expect(result).to.equal(false);
      await token.write.transfer([bob.account.address, 1n], { account: alice.account });
      expect(await token.read.balanceOf([bob.account.address])).to.equal(0n);

      await token.write.setAlwaysReturnFalse([false]);
      await token.write.transfer([bob.account.address, 1n], { account: alice.account });
      expect(await token.read.balanceOf([bob.account.address])).to.equal(1n);
    });
  });

  describe("BlocklistToken", function () {
    async function blocklistFixture() {
      const base = await accounts();
      const token = await viem.deployContract("BlocklistToken");
      await token.write.mint([base.alice.account.address, 1_000_000n]);
      const [, name, version, , verifyingContract] = await token.read.eip712Domain();
      const domain: Domain = { name, version, chainId: CHAIN_ID, verifyingContract };
      return { ...base, token, domain };
    }

    it("blocks sending, receiving, approving and spending for blocklisted accounts, like USDC", async function () {
      const { token, alice, bob, carol } = await networkHelpers.loadFixture(blocklistFixture);
      const a = alice.account.address;
      const b = bob.account.address;
      await token.write.approve([b, maxUint256], { account: alice.account });

      await viem.assertions.revertWithCustomError(
        token.write.blocklist([b], { account: alice.account }),
        token,
        "OwnableUnauthorizedAccount",
      );
      await viem.assertions.emitWithArgs(token.write.blocklist([b]), token, "Blocklisted", [getAddress(b)]);
      expect(await token.read.isBlocklisted([b])).to.equal(true);

      const blocked = async (promise: Promise<Hex>) =>
        viem.assertions.revertWithCustomErrorWithArgs(promise, token, "AccountBlocklisted", [getAddress(b)]);
      await blocked(token.write.transfer([b, 1n], { account: alice.account }));
      await blocked(token.write.transferFrom([a, carol.account.address, 1n], { account: bob.account }));
      await blocked(token.write.approve([b, 0n], { account: alice.account }));
      await blocked(token.write.approve([a, 1n], { account: bob.account }));
      await blocked(token.write.mint([b, 1n]));

      await token.write.unBlocklist([b]);
      await token.write.transfer([b, 5n], { account: alice.account });
      await token.write.blocklist([b]);
      await blocked(token.write.transfer([a, 1n], { account: bob.account }));
      await viem.assertions.emitWithArgs(token.write.unBlocklist([b]), token, "UnBlocklisted", [getAddress(b)]);
      await token.write.transfer([a, 1n], { account: bob.account });
    });

    it("applies the blocklist to EIP-3009 authorizations", async function () {
      const { token, domain, alice, bob } = await networkHelpers.loadFixture(blocklistFixture);
      const auth: Authorization = {
        from: alice.account.address,
        to: bob.account.address,
        value: 10n,
        validAfter: 0n,
        validBefore: BigInt(await networkHelpers.time.latest()) + 3600n,
        nonce: randomNonce(),
      };
      const signature = await signAuthorization(alice, domain, "TransferWithAuthorization", auth);
      await token.write.blocklist([bob.account.address]);
      await viem.assertions.revertWithCustomError(
        token.write.transferWithAuthorization([...authArgs(auth), signature]),
        token,
        "AccountBlocklisted",
      );
      await token.write.unBlocklist([bob.account.address]);
      await token.write.transferWithAuthorization([...authArgs(auth), signature]);
      expect(await token.read.balanceOf([bob.account.address])).to.equal(10n);
    });
  });
});
