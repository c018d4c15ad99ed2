import { network } from "hardhat";
import { expect } from "chai";
import {
  type Address,
  type Hash,
  encodeAbiParameters,
  encodeFunctionData,
  getAddress,
  keccak256,
  pad,
  toHex,
  zeroAddress,
} from "viem";

import {
  MAX_UINT128,
  METHOD_ALL,
  METHOD_EIP3009,
  METHOD_ERC20,
  METHOD_PERMIT,
  type TokenInfo,
  TokenStatus,
  usdcInfo,
} from "./helpers/registry.js";

const { viem, networkHelpers, provider } = await network.create();

/** Every status a registered token can have. */
const LIVE_STATUSES = [TokenStatus.Active, TokenStatus.Deprecated, TokenStatus.Removed] as const;
const STATUS_NAME: Record<number, string> = { 0: "None", 1: "Active", 2: "Deprecated", 3: "Removed" };

/** Storage slot of `TokenRegistry._records` (after Ownable._owner at 0 and Ownable2Step._pendingOwner at 1). */
const RECORDS_SLOT = 2n;

async function deployRegistryFixture() {
  const [owner, stranger, newOwner] = await viem.getWalletClients();
  if (owner === undefined || stranger === undefined || newOwner === undefined) {
    throw new Error("TokenRegistry tests need three funded accounts");
  }
  const publicClient = await viem.getPublicClient();
  const registry = await viem.deployContract("TokenRegistry", [owner.account.address]);
  const usdc = await viem.deployContract("RegistryTestERC20", ["USD Coin", "USDC", 6]);
  const dai = await viem.deployContract("RegistryTestERC20", ["Dai Stablecoin", "DAI", 18]);
  const wbtc = await viem.deployContract("RegistryTestERC20", ["Wrapped BTC", "WBTC", 8]);
  return { registry, usdc, dai, wbtc, owner, stranger, newOwner, publicClient };
}

/** The fixture plus USDC registered with `usdcInfo` defaults. */
async function usdcRegisteredFixture() {
  const fixture = await deployRegistryFixture();
  await fixture.registry.write.registerToken([usdcInfo(fixture.usdc.address)]);
  return fixture;
}

const daiInfo = (token: Address): TokenInfo =>
  usdcInfo(token, {
    symbol: "DAI",
    decimals: 18,
    collectionMethods: METHOD_PERMIT | METHOD_ERC20,
    eip712Name: "Dai Stablecoin",
    eip712Version: "1",
    minAmount: 10n ** 15n,
    maxAmount: 10n ** 21n,
  });

/** `info` as the registry returns it: checksummed address and the given status. */
function stored(info: TokenInfo, status: number = TokenStatus.Active): TokenInfo {
  return { ...info, token: getAddress(info.token), status };
}

describe("TokenRegistry", function () {
  /** Asserts that transaction `hash` emitted exactly `count` logs (so no unexpected events). */
  async function expectLogCount(hash: Hash, count: number) {
    const publicClient = await viem.getPublicClient();
    const receipt = await publicClient.getTransactionReceipt({ hash });
    expect(receipt.logs).to.have.length(count);
  }

  describe("deployment", function () {
    it("sets the initial owner, no pending owner and an empty list", async function () {
      const { registry, owner } = await networkHelpers.loadFixture(deployRegistryFixture);
      expect(await registry.read.owner()).to.equal(getAddress(owner.account.address));
      expect(await registry.read.pendingOwner()).to.equal(zeroAddress);
      expect(await registry.read.tokenCount()).to.equal(0n);
      expect(await registry.read.allTokens()).to.deep.equal([]);
    });

    it("rejects the zero address as initial owner with OwnableInvalidOwner", async function () {
      const { registry } = await networkHelpers.loadFixture(deployRegistryFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        viem.deployContract("TokenRegistry", [zeroAddress]),
        registry,
        "OwnableInvalidOwner",
        [zeroAddress],
      );
    });
  });

  describe("registerToken", function () {
    it("registers a token as Active with every field stored and emits TokenRegistered", async function () {
      const { registry, usdc } = await networkHelpers.loadFixture(deployRegistryFixture);
      const info = usdcInfo(usdc.address);

      const hash = await registry.write.registerToken([info]);
      await viem.assertions.emitWithArgs(hash, registry, "TokenRegistered", [
        usdc.address,
        "USDC",
        6,
        METHOD_ALL,
        "USD Coin",
        "2",
        1_000n,
        1_000_000_000n,
      ]);
      await expectLogCount(hash, 1);

      expect(await registry.read.getToken([usdc.address])).to.deep.equal(stored(info));
      expect(await registry.read.statusOf([usdc.address])).to.equal(TokenStatus.Active);
      expect(await registry.read.paymentPolicy([usdc.address])).to.deep.equal([
        TokenStatus.Active,
        1_000n,
        1_000_000_000n,
      ]);
      expect(await registry.read.tokenCount()).to.equal(1n);
      expect(await registry.read.tokenAt([0n])).to.equal(getAddress(usdc.address));
      expect(await registry.read.allTokens()).to.deep.equal([stored(info)]);
    });

    for (const ignored of [TokenStatus.None, TokenStatus.Deprecated, TokenStatus.Removed]) {
      it(`ignores info.status = ${STATUS_NAME[ignored]} and registers as Active`, async function () {
        const { registry, usdc } = await networkHelpers.loadFixture(deployRegistryFixture);
        await registry.write.registerToken([usdcInfo(usdc.address, { status: ignored })]);
        expect(await registry.read.statusOf([usdc.address])).to.equal(TokenStatus.Active);
        expect((await registry.read.getToken([usdc.address])).status).to.equal(TokenStatus.Active);
      });
    }

    it("appends tokens in registration order", async function () {
      const { registry, usdc, dai, wbtc } = await networkHelpers.loadFixture(deployRegistryFixture);
      const wbtcInfo = usdcInfo(wbtc.address, { symbol: "WBTC", decimals: 8, collectionMethods: METHOD_ERC20 });
      await registry.write.registerToken([daiInfo(dai.address)]);
      await registry.write.registerToken([usdcInfo(usdc.address)]);
      await registry.write.registerToken([wbtcInfo]);

      expect(await registry.read.tokenCount()).to.equal(3n);
      expect(await registry.read.tokenAt([0n])).to.equal(getAddress(dai.address));
      expect(await registry.read.tokenAt([1n])).to.equal(getAddress(usdc.address));
      expect(await registry.read.tokenAt([2n])).to.equal(getAddress(wbtc.address));
      expect(await registry.read.allTokens()).to.deep.equal([
        stored(daiInfo(dai.address)),
        stored(usdcInfo(usdc.address)),
        stored(wbtcInfo),
      ]);
    });

    it("accepts an empty EIP-712 domain (token without one)", async function () {
      const { registry, usdc } = await networkHelpers.loadFixture(deployRegistryFixture);
      const info = usdcInfo(usdc.address, { eip712Name: "", eip712Version: "", collectionMethods: METHOD_ERC20 });
      await viem.assertions.emitWithArgs(registry.write.registerToken([info]), registry, "TokenRegistered", [
        usdc.address,
        "USDC",
        6,
        METHOD_ERC20,
        "",
        "",
        1_000n,
        1_000_000_000n,
      ]);
      expect(await registry.read.getToken([usdc.address])).to.deep.equal(stored(info));
    });

    it("accepts the limit boundaries: min = 1, min = max, max = 2^128 - 1", async function () {
      const { registry, usdc, dai } = await networkHelpers.loadFixture(deployRegistryFixture);
      await registry.write.registerToken([usdcInfo(usdc.address, { minAmount: 1n, maxAmount: 1n })]);
      await registry.write.registerToken([{ ...daiInfo(dai.address), maxAmount: MAX_UINT128 }]);
      expect(await registry.read.paymentPolicy([usdc.address])).to.deep.equal([TokenStatus.Active, 1n, 1n]);
      expect(await registry.read.paymentPolicy([dai.address])).to.deep.equal([
        TokenStatus.Active,
        10n ** 15n,
        MAX_UINT128,
      ]);
    });

    it("accepts every non-empty combination of defined method flags", async function () {
      const { registry } = await networkHelpers.loadFixture(deployRegistryFixture);
      for (let methods = 1; methods <= METHOD_ALL; methods++) {
        const token = await viem.deployContract("RegistryTestERC20", ["T", "T", 6]);
        await registry.write.registerToken([usdcInfo(token.address, { collectionMethods: methods })]);
        expect((await registry.read.getToken([token.address])).collectionMethods).to.equal(methods);
      }
      expect(await registry.read.tokenCount()).to.equal(BigInt(METHOD_ALL));
    });

    it("reverts with ZeroAddress for the zero address", async function () {
      const { registry } = await networkHelpers.loadFixture(deployRegistryFixture);
      await viem.assertions.revertWithCustomError(
        registry.write.registerToken([usdcInfo(zeroAddress)]),
        registry,
        "ZeroAddress",
      );
    });

    it("reverts with NotAContract for an address without code", async function () {
      const { registry, stranger } = await networkHelpers.loadFixture(deployRegistryFixture);
      const eoa = stranger.account.address;
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.registerToken([usdcInfo(eoa)]),
        registry,
        "NotAContract",
        [eoa],
      );
    });

    it("reverts with AlreadyRegistered for a duplicate", async function () {
      const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.registerToken([usdcInfo(usdc.address)]),
        registry,
        "AlreadyRegistered",
        [usdc.address],
      );
    });

    for (const status of [TokenStatus.Deprecated, TokenStatus.Removed]) {
      it(`reverts with AlreadyRegistered for a ${STATUS_NAME[status]} token (re-activate with setStatus)`, async function () {
        const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
        await registry.write.setStatus([usdc.address, status]);
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.registerToken([usdcInfo(usdc.address, { symbol: "USDC2" })]),
          registry,
          "AlreadyRegistered",
          [usdc.address],
        );
        expect(await registry.read.tokenCount()).to.equal(1n);
      });
    }

    it("reverts with EmptySymbol for an empty symbol", async function () {
      const { registry, usdc } = await networkHelpers.loadFixture(deployRegistryFixture);
      await viem.assertions.revertWithCustomError(
        registry.write.registerToken([usdcInfo(usdc.address, { symbol: "" })]),
        registry,
        "EmptySymbol",
      );
    });

    for (const methods of [0, 8, METHOD_ALL | 8, 0x80, 0xff]) {
      it(`reverts with InvalidCollectionMethods for method set ${methods}`, async function () {
        const { registry, usdc } = await networkHelpers.loadFixture(deployRegistryFixture);
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.registerToken([usdcInfo(usdc.address, { collectionMethods: methods })]),
          registry,
          "InvalidCollectionMethods",
          [methods],
        );
      });
    }

    for (const [label, minAmount, maxAmount] of [
      ["min = 0", 0n, 100n],
      ["min = 0 and max = 0", 0n, 0n],
      ["min > max", 101n, 100n],
    ] as const) {
      it(`reverts with InvalidAmountLimits when ${label}`, async function () {
        const { registry, usdc } = await networkHelpers.loadFixture(deployRegistryFixture);
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.registerToken([usdcInfo(usdc.address, { minAmount, maxAmount })]),
          registry,
          "InvalidAmountLimits",
          [minAmount, maxAmount],
        );
      });
    }

    for (const declared of [18, 0, 5, 7]) {
      it(`reverts with DecimalsMismatch when declaring ${declared} for a 6-decimal token`, async function () {
        const { registry, usdc } = await networkHelpers.loadFixture(deployRegistryFixture);
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.registerToken([usdcInfo(usdc.address, { decimals: declared })]),
          registry,
          "DecimalsMismatch",
          [usdc.address, declared, 6],
        );
      });
    }

    it("accepts a 0-decimal token declared with 0", async function () {
      const { registry } = await networkHelpers.loadFixture(deployRegistryFixture);
      const token = await viem.deployContract("RegistryTestERC20", ["Zero", "ZERO", 0]);
      await registry.write.registerToken([usdcInfo(token.address, { symbol: "ZERO", decimals: 0 })]);
      expect((await registry.read.getToken([token.address])).decimals).to.equal(0);
    });

    it("reverts with DecimalsUnavailable for a contract without decimals()", async function () {
      const { registry } = await networkHelpers.loadFixture(deployRegistryFixture);
      const token = await viem.deployContract("RegistryNoDecimalsToken");
      expect(await token.read.symbol()).to.equal("NODEC"); // a live contract, just without decimals()
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.registerToken([usdcInfo(token.address)]),
        registry,
        "DecimalsUnavailable",
        [token.address],
      );
    });

    it("reverts with DecimalsUnavailable when decimals() reverts", async function () {
      const { registry } = await networkHelpers.loadFixture(deployRegistryFixture);
      const token = await viem.deployContract("RegistryRevertingDecimalsToken");
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.registerToken([usdcInfo(token.address)]),
        registry,
        "DecimalsUnavailable",
        [token.address],
      );
    });

    for (const [label, response] of [
      ["returns no data", "0x"],
      ["returns 1 byte", "0x06"],
      ["returns 31 bytes", pad("0x06", { size: 31 })],
      ["returns 256", encodeAbiParameters([{ type: "uint256" }], [256n])],
      ["returns 2^256 - 1", encodeAbiParameters([{ type: "uint256" }], [2n ** 256n - 1n])],
    ] as const) {
      it(`reverts with DecimalsUnavailable when decimals() ${label}`, async function () {
        const { registry } = await networkHelpers.loadFixture(deployRegistryFixture);
        const token = await viem.deployContract("RegistryRawDecimalsToken", [response]);
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.registerToken([usdcInfo(token.address)]),
          registry,
          "DecimalsUnavailable",
          [token.address],
        );
      });
    }

    it("accepts decimals() = 255, the largest uint8", async function () {
      const { registry } = await networkHelpers.loadFixture(deployRegistryFixture);
      const token = await viem.deployContract("RegistryRawDecimalsToken", [
        encodeAbiParameters([{ type: "uint256" }], [255n]),
      ]);
      await registry.write.registerToken([usdcInfo(token.address, { decimals: 255 })]);
      expect((await registry.read.getToken([token.address])).decimals).to.equal(255);
    });

    it("accepts a decimals() answer longer than 32 bytes, reading its first word", async function () {
      const { registry } = await networkHelpers.loadFixture(deployRegistryFixture);
      const token = await viem.deployContract("RegistryRawDecimalsToken", [
        encodeAbiParameters([{ type: "uint256" }, { type: "uint256" }], [6n, 99n]),
      ]);
      await registry.write.registerToken([usdcInfo(token.address)]);
      expect((await registry.read.getToken([token.address])).decimals).to.equal(6);
    });

    it("reverts with OwnableUnauthorizedAccount for a non-owner", async function () {
      const { registry, usdc, stranger } = await networkHelpers.loadFixture(deployRegistryFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.registerToken([usdcInfo(usdc.address)], { account: stranger.account }),
        registry,
        "OwnableUnauthorizedAccount",
        [stranger.account.address],
      );
    });

    it("leaves no trace when it reverts", async function () {
      const { registry, usdc } = await networkHelpers.loadFixture(deployRegistryFixture);
      await viem.assertions.revertWithCustomError(
        registry.write.registerToken([usdcInfo(usdc.address, { decimals: 18 })]),
        registry,
        "DecimalsMismatch",
      );
      expect(await registry.read.tokenCount()).to.equal(0n);
      expect(await registry.read.statusOf([usdc.address])).to.equal(TokenStatus.None);
      // ...and the token can still be registered correctly afterwards.
      await registry.write.registerToken([usdcInfo(usdc.address)]);
      expect(await registry.read.tokenCount()).to.equal(1n);
    });
  });

  describe("setStatus", function () {
    for (const from of LIVE_STATUSES) {
      for (const to of LIVE_STATUSES) {
        if (from === to) continue;
        it(`moves ${STATUS_NAME[from]} -> ${STATUS_NAME[to]} and emits TokenStatusChanged`, async function () {
          const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
          if (from !== TokenStatus.Active) await registry.write.setStatus([usdc.address, from]);

          const hash = await registry.write.setStatus([usdc.address, to]);
          await viem.assertions.emitWithArgs(hash, registry, "TokenStatusChanged", [usdc.address, from, to]);
          await expectLogCount(hash, 1);

          expect(await registry.read.statusOf([usdc.address])).to.equal(to);
          expect(await registry.read.paymentPolicy([usdc.address])).to.deep.equal([to, 1_000n, 1_000_000_000n]);
          // Nothing but the status changes.
          expect(await registry.read.getToken([usdc.address])).to.deep.equal(stored(usdcInfo(usdc.address), to));
        });
      }
    }

    for (const current of LIVE_STATUSES) {
      it(`reverts with InvalidStatusChange for ${STATUS_NAME[current]} -> ${STATUS_NAME[current]}`, async function () {
        const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
        if (current !== TokenStatus.Active) await registry.write.setStatus([usdc.address, current]);
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.setStatus([usdc.address, current]),
          registry,
          "InvalidStatusChange",
          [current, current],
        );
      });

      it(`reverts with InvalidStatusChange for ${STATUS_NAME[current]} -> None`, async function () {
        const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
        if (current !== TokenStatus.Active) await registry.write.setStatus([usdc.address, current]);
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.setStatus([usdc.address, TokenStatus.None]),
          registry,
          "InvalidStatusChange",
          [current, TokenStatus.None],
        );
        expect(await registry.read.statusOf([usdc.address])).to.equal(current);
      });
    }

    it("reverts without data for a status value outside the enum (ABI decoder check)", async function () {
      const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      await viem.assertions.revert(registry.write.setStatus([usdc.address, 4]));
      expect(await registry.read.statusOf([usdc.address])).to.equal(TokenStatus.Active);
    });

    it("reverts with NotRegistered for an unknown token", async function () {
      const { registry, usdc } = await networkHelpers.loadFixture(deployRegistryFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.setStatus([usdc.address, TokenStatus.Deprecated]),
        registry,
        "NotRegistered",
        [usdc.address],
      );
    });

    it("reverts with OwnableUnauthorizedAccount for a non-owner", async function () {
      const { registry, usdc, stranger } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.setStatus([usdc.address, TokenStatus.Removed], { account: stranger.account }),
        registry,
        "OwnableUnauthorizedAccount",
        [stranger.account.address],
      );
    });
  });

  describe("setAmountLimits", function () {
    it("updates the limits and emits AmountLimitsChanged", async function () {
      const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      const hash = await registry.write.setAmountLimits([usdc.address, 5n, 50n]);
      await viem.assertions.emitWithArgs(hash, registry, "AmountLimitsChanged", [usdc.address, 5n, 50n]);
      await expectLogCount(hash, 1);

      expect(await registry.read.paymentPolicy([usdc.address])).to.deep.equal([TokenStatus.Active, 5n, 50n]);
      expect(await registry.read.getToken([usdc.address])).to.deep.equal(
        stored(usdcInfo(usdc.address, { minAmount: 5n, maxAmount: 50n })),
      );
    });

    it("accepts min = max and the full uint128 range", async function () {
      const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      await registry.write.setAmountLimits([usdc.address, 7n, 7n]);
      expect(await registry.read.paymentPolicy([usdc.address])).to.deep.equal([TokenStatus.Active, 7n, 7n]);
      await registry.write.setAmountLimits([usdc.address, 1n, MAX_UINT128]);
      expect(await registry.read.paymentPolicy([usdc.address])).to.deep.equal([TokenStatus.Active, 1n, MAX_UINT128]);
      await registry.write.setAmountLimits([usdc.address, MAX_UINT128, MAX_UINT128]);
      expect(await registry.read.paymentPolicy([usdc.address])).to.deep.equal([
        TokenStatus.Active,
        MAX_UINT128,
        MAX_UINT128,
      ]);
    });

    it("works on a Removed token (data stays editable whatever the status)", async function () {
      const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      await registry.write.setStatus([usdc.address, TokenStatus.Removed]);
      await viem.assertions.emitWithArgs(
        registry.write.setAmountLimits([usdc.address, 2n, 3n]),
        registry,
        "AmountLimitsChanged",
        [usdc.address, 2n, 3n],
      );
      expect(await registry.read.paymentPolicy([usdc.address])).to.deep.equal([TokenStatus.Removed, 2n, 3n]);
    });

    for (const [label, minAmount, maxAmount] of [
      ["min = 0", 0n, 100n],
      ["min > max", 101n, 100n],
      ["min = max + 1 at the top of the range", MAX_UINT128, MAX_UINT128 - 1n],
    ] as const) {
      it(`reverts with InvalidAmountLimits when ${label}`, async function () {
        const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.setAmountLimits([usdc.address, minAmount, maxAmount]),
          registry,
          "InvalidAmountLimits",
          [minAmount, maxAmount],
        );
        expect(await registry.read.paymentPolicy([usdc.address])).to.deep.equal([
          TokenStatus.Active,
          1_000n,
          1_000_000_000n,
        ]);
      });
    }

    it("reverts with NotRegistered for an unknown token", async function () {
      const { registry, dai } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.setAmountLimits([dai.address, 1n, 2n]),
        registry,
        "NotRegistered",
        [dai.address],
      );
    });

    it("reverts with OwnableUnauthorizedAccount for a non-owner", async function () {
      const { registry, usdc, stranger } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.setAmountLimits([usdc.address, 1n, 2n], { account: stranger.account }),
        registry,
        "OwnableUnauthorizedAccount",
        [stranger.account.address],
      );
    });
  });

  describe("setCollectionMethods", function () {
    for (const methods of [METHOD_EIP3009, METHOD_PERMIT, METHOD_ERC20, METHOD_PERMIT | METHOD_ERC20]) {
      it(`sets method set ${methods} and emits CollectionMethodsChanged`, async function () {
        const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
        const hash = await registry.write.setCollectionMethods([usdc.address, methods]);
        await viem.assertions.emitWithArgs(hash, registry, "CollectionMethodsChanged", [usdc.address, methods]);
        await expectLogCount(hash, 1);
        expect(await registry.read.getToken([usdc.address])).to.deep.equal(
          stored(usdcInfo(usdc.address, { collectionMethods: methods })),
        );
      });
    }

    for (const methods of [0, 8, METHOD_ALL | 0x10, 0xff]) {
      it(`reverts with InvalidCollectionMethods for method set ${methods}`, async function () {
        const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.setCollectionMethods([usdc.address, methods]),
          registry,
          "InvalidCollectionMethods",
          [methods],
        );
        expect((await registry.read.getToken([usdc.address])).collectionMethods).to.equal(METHOD_ALL);
      });
    }

    it("reverts with NotRegistered for an unknown token", async function () {
      const { registry, dai } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.setCollectionMethods([dai.address, METHOD_ERC20]),
        registry,
        "NotRegistered",
        [dai.address],
      );
    });

    it("reverts with OwnableUnauthorizedAccount for a non-owner", async function () {
      const { registry, usdc, stranger } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.setCollectionMethods([usdc.address, METHOD_ERC20], { account: stranger.account }),
        registry,
        "OwnableUnauthorizedAccount",
        [stranger.account.address],
      );
    });
  });

  describe("setEip712Domain", function () {
    it("updates name and version and emits Eip712DomainChanged", async function () {
      const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      const hash = await registry.write.setEip712Domain([usdc.address, "USDC", "3"]);
      await viem.assertions.emitWithArgs(hash, registry, "Eip712DomainChanged", [usdc.address, "USDC", "3"]);
      await expectLogCount(hash, 1);
      expect(await registry.read.getToken([usdc.address])).to.deep.equal(
        stored(usdcInfo(usdc.address, { eip712Name: "USDC", eip712Version: "3" })),
      );
    });

    it("accepts long strings (more than 31 bytes, stored out of line)", async function () {
      const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      const name = "A token name that is much longer than thirty-one bytes";
      const version = "version-".repeat(8);
      await registry.write.setEip712Domain([usdc.address, name, version]);
      const info = await registry.read.getToken([usdc.address]);
      expect([info.eip712Name, info.eip712Version]).to.deep.equal([name, version]);
    });

    it("can clear the domain to empty strings", async function () {
      const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      await viem.assertions.emitWithArgs(
        registry.write.setEip712Domain([usdc.address, "", ""]),
        registry,
        "Eip712DomainChanged",
        [usdc.address, "", ""],
      );
      const info = await registry.read.getToken([usdc.address]);
      expect([info.eip712Name, info.eip712Version]).to.deep.equal(["", ""]);
    });

    it("reverts with NotRegistered for an unknown token", async function () {
      const { registry, dai } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.setEip712Domain([dai.address, "Dai Stablecoin", "1"]),
        registry,
        "NotRegistered",
        [dai.address],
      );
    });

    it("reverts with OwnableUnauthorizedAccount for a non-owner", async function () {
      const { registry, usdc, stranger } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.setEip712Domain([usdc.address, "Evil", "1"], { account: stranger.account }),
        registry,
        "OwnableUnauthorizedAccount",
        [stranger.account.address],
      );
    });
  });

  describe("getToken", function () {
    it("returns the full, current data of a registered token", async function () {
      const { registry, usdc, dai } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      await registry.write.registerToken([daiInfo(dai.address)]);
      await registry.write.setStatus([dai.address, TokenStatus.Deprecated]);
      expect(await registry.read.getToken([usdc.address])).to.deep.equal(stored(usdcInfo(usdc.address)));
      expect(await registry.read.getToken([dai.address])).to.deep.equal(
        stored(daiInfo(dai.address), TokenStatus.Deprecated),
      );
    });

    for (const [label, pick] of [
      ["an unregistered contract", (f: { dai: { address: Address } }) => f.dai.address],
      ["the zero address", () => zeroAddress],
    ] as const) {
      it(`reverts with NotRegistered for ${label}`, async function () {
        const fixture = await networkHelpers.loadFixture(usdcRegisteredFixture);
        const token = pick(fixture);
        await viem.assertions.revertWithCustomErrorWithArgs(
          fixture.registry.read.getToken([token]),
          fixture.registry,
          "NotRegistered",
          [token],
        );
      });
    }
  });

  describe("statusOf and paymentPolicy", function () {
    it("return None / 0 / 0 without reverting for addresses never registered", async function () {
      const { registry, dai, stranger } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      for (const token of [dai.address, zeroAddress, stranger.account.address, registry.address]) {
        expect(await registry.read.statusOf([token])).to.equal(TokenStatus.None);
        expect(await registry.read.paymentPolicy([token])).to.deep.equal([TokenStatus.None, 0n, 0n]);
      }
    });

    it("follow status and limit changes", async function () {
      const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      expect(await registry.read.paymentPolicy([usdc.address])).to.deep.equal([
        TokenStatus.Active,
        1_000n,
        1_000_000_000n,
      ]);
      await registry.write.setStatus([usdc.address, TokenStatus.Deprecated]);
      await registry.write.setAmountLimits([usdc.address, 10n, 20n]);
      expect(await registry.read.statusOf([usdc.address])).to.equal(TokenStatus.Deprecated);
      expect(await registry.read.paymentPolicy([usdc.address])).to.deep.equal([TokenStatus.Deprecated, 10n, 20n]);
    });

    it("packs both limits in one slot and status, decimals and methods in the next", async function () {
      const { registry, usdc, publicClient } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      const base = BigInt(
        keccak256(encodeAbiParameters([{ type: "address" }, { type: "uint256" }], [usdc.address, RECORDS_SLOT])),
      );
      const read = async (offset: bigint) =>
        BigInt((await publicClient.getStorageAt({ address: registry.address, slot: toHex(base + offset) })) ?? "0x0");
      // minAmount (low 128 bits) | maxAmount (high 128 bits)
      expect(await read(0n)).to.equal(1_000n | (1_000_000_000n << 128n));
      // status (byte 0) | decimals (byte 1) | collectionMethods (byte 2), nothing else
      expect(await read(1n)).to.equal(BigInt(TokenStatus.Active) | (6n << 8n) | (BigInt(METHOD_ALL) << 16n));
    });

    it("paymentPolicy reads two storage slots and statusOf one", async function () {
      const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      const countSloads = async (data: `0x${string}`) => {
        const trace = (await provider.request({
          method: "debug_traceCall",
          params: [{ to: registry.address, data }, "latest", {}],
        })) as { structLogs: { op: string }[] };
        return trace.structLogs.filter((log) => log.op === "SLOAD").length;
      };
      const abi = registry.abi;
      expect(
        await countSloads(encodeFunctionData({ abi, functionName: "paymentPolicy", args: [usdc.address] })),
      ).to.equal(2);
      expect(await countSloads(encodeFunctionData({ abi, functionName: "statusOf", args: [usdc.address] }))).to.equal(
        1,
      );
    });
  });

  describe("tokenCount, tokenAt and allTokens", function () {
    it("start empty; tokenAt(0) reverts with an out-of-bounds panic", async function () {
      const { registry } = await networkHelpers.loadFixture(deployRegistryFixture);
      expect(await registry.read.tokenCount()).to.equal(0n);
      expect(await registry.read.allTokens()).to.deep.equal([]);
      await viem.assertions.revertWith(registry.read.tokenAt([0n]), "0x32");
    });

    it("tokenAt(tokenCount()) reverts with an out-of-bounds panic", async function () {
      const { registry, usdc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      expect(await registry.read.tokenAt([0n])).to.equal(getAddress(usdc.address));
      await viem.assertions.revertWith(registry.read.tokenAt([1n]), "0x32");
    });

    it("allTokens lists every token in registration order with current data, Deprecated and Removed included", async function () {
      const { registry, usdc, dai, wbtc } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      const wbtcInfo = usdcInfo(wbtc.address, {
        symbol: "WBTC",
        decimals: 8,
        collectionMethods: METHOD_ERC20,
        eip712Name: "",
        eip712Version: "",
      });
      await registry.write.registerToken([daiInfo(dai.address)]);
      await registry.write.registerToken([wbtcInfo]);
      await registry.write.setStatus([usdc.address, TokenStatus.Removed]);
      await registry.write.setStatus([dai.address, TokenStatus.Deprecated]);
      await registry.write.setAmountLimits([wbtc.address, 100n, 200n]);

      expect(await registry.read.tokenCount()).to.equal(3n);
      expect(await registry.read.allTokens()).to.deep.equal([
        stored(usdcInfo(usdc.address), TokenStatus.Removed),
        stored(daiInfo(dai.address), TokenStatus.Deprecated),
        stored({ ...wbtcInfo, minAmount: 100n, maxAmount: 200n }),
      ]);
      const listed: Address[] = [];
      for (let i = 0n; i < 3n; i++) listed.push(await registry.read.tokenAt([i]));
      expect(listed).to.deep.equal([usdc.address, dai.address, wbtc.address].map((a) => getAddress(a)));
    });
  });

  describe("ownership (Ownable2Step)", function () {
    it("transferOwnership only nominates: the owner keeps control until acceptance", async function () {
      const { registry, owner, newOwner, dai } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      await viem.assertions.emitWithArgs(
        registry.write.transferOwnership([newOwner.account.address]),
        registry,
        "OwnershipTransferStarted",
        [owner.account.address, newOwner.account.address],
      );
      expect(await registry.read.owner()).to.equal(getAddress(owner.account.address));
      expect(await registry.read.pendingOwner()).to.equal(getAddress(newOwner.account.address));

      // The nominee has no rights yet; the owner still has them.
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.registerToken([daiInfo(dai.address)], { account: newOwner.account }),
        registry,
        "OwnableUnauthorizedAccount",
        [newOwner.account.address],
      );
      await registry.write.registerToken([daiInfo(dai.address)]);
    });

    it("acceptOwnership by the nominee transfers every admin right", async function () {
      const { registry, owner, newOwner, usdc, dai } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      await registry.write.transferOwnership([newOwner.account.address]);
      const hash = await registry.write.acceptOwnership({ account: newOwner.account });
      await viem.assertions.emitWithArgs(hash, registry, "OwnershipTransferred", [
        owner.account.address,
        newOwner.account.address,
      ]);
      expect(await registry.read.owner()).to.equal(getAddress(newOwner.account.address));
      expect(await registry.read.pendingOwner()).to.equal(zeroAddress);

      // The former owner is locked out...
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.setStatus([usdc.address, TokenStatus.Removed]),
        registry,
        "OwnableUnauthorizedAccount",
        [owner.account.address],
      );
      // ...and the new owner can use every setter.
      const as = { account: newOwner.account };
      await registry.write.registerToken([daiInfo(dai.address)], as);
      await registry.write.setStatus([usdc.address, TokenStatus.Removed], as);
      await registry.write.setAmountLimits([usdc.address, 1n, 2n], as);
      await registry.write.setCollectionMethods([usdc.address, METHOD_ERC20], as);
      await registry.write.setEip712Domain([usdc.address, "x", "y"], as);
      expect(await registry.read.getToken([usdc.address])).to.deep.equal(
        stored(
          usdcInfo(usdc.address, {
            minAmount: 1n,
            maxAmount: 2n,
            collectionMethods: METHOD_ERC20,
            eip712Name: "x",
            eip712Version: "y",
          }),
          TokenStatus.Removed,
        ),
      );
    });

    it("acceptOwnership by anyone but the nominee reverts with OwnableUnauthorizedAccount", async function () {
      const { registry, owner, stranger, newOwner } = await networkHelpers.loadFixture(deployRegistryFixture);
      // No nomination yet.
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.acceptOwnership({ account: newOwner.account }),
        registry,
        "OwnableUnauthorizedAccount",
        [newOwner.account.address],
      );
      await registry.write.transferOwnership([newOwner.account.address]);
      for (const account of [stranger.account, owner.account]) {
        await viem.assertions.revertWithCustomErrorWithArgs(
          registry.write.acceptOwnership({ account }),
          registry,
          "OwnableUnauthorizedAccount",
          [account.address],
        );
      }
      expect(await registry.read.owner()).to.equal(getAddress(owner.account.address));
    });

    it("transferOwnership by a non-owner reverts with OwnableUnauthorizedAccount", async function () {
      const { registry, stranger } = await networkHelpers.loadFixture(deployRegistryFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.transferOwnership([stranger.account.address], { account: stranger.account }),
        registry,
        "OwnableUnauthorizedAccount",
        [stranger.account.address],
      );
    });

    it("the owner can cancel a nomination by nominating the zero address", async function () {
      const { registry, newOwner } = await networkHelpers.loadFixture(deployRegistryFixture);
      await registry.write.transferOwnership([newOwner.account.address]);
      await registry.write.transferOwnership([zeroAddress]);
      expect(await registry.read.pendingOwner()).to.equal(zeroAddress);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.write.acceptOwnership({ account: newOwner.account }),
        registry,
        "OwnableUnauthorizedAccount",
        [newOwner.account.address],
      );
    });

    it("renounceOwnership is disabled, so the registry can never be left without an owner", async function () {
      const { registry, owner, stranger } = await networkHelpers.loadFixture(usdcRegisteredFixture);
      await viem.assertions.revertWithCustomErrorWithArgs(
        registry.read.renounceOwnership({ account: stranger.account.address }),
        registry,
        "OwnableUnauthorizedAccount",
        [stranger.account.address],
      );
      await viem.assertions.revertWithCustomError(registry.read.renounceOwnership({ account: owner.account.address }), registry, "RenounceOwnershipDisabled");
      expect(await registry.read.owner()).to.equal(getAddress(owner.account.address));
    });
  });
});
