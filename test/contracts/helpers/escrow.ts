/**
 * Shared fixture for the settlement-escrow tests: a registry with the four production tokens
 * (as faithful mocks), an escrow, funded agents, and EIP-712 signing helpers.
 */
import type { Address, Hex } from "viem";
import type { HardhatViemHelpers, WalletClient } from "@nomicfoundation/hardhat-viem/types";
import { parseSignature } from "viem";
import { METHOD_EIP3009, METHOD_ERC20, METHOD_PERMIT } from "./registry.js";
import { paymentAuthorizationTypes } from "../../../gateway/schemes/escrow/abi.js";

export const ONE_HOUR = 3_600n;
export const ONE_DAY = 86_400n;
export const WITHDRAWAL_DELAY = ONE_DAY;
export const ADMIN_TRANSFER_DELAY = 2n * ONE_DAY;

export const ESCROW_DOMAIN_NAME = "PayPerAgent Settlement Escrow";
export const ESCROW_DOMAIN_VERSION = "1";
export const USDC_DOMAIN_NAME = "Bridged USDC (SKALE Bridge)";
export const USDC_DOMAIN_VERSION = "2";

/** `ISettlementEscrow.SettlementFailure`, as the uint8 values viem uses for Solidity enums. */
export const SettlementFailure = {
  None: 0,
  InvalidPayee: 1,
  NotYetValid: 2,
  Expired: 3,
  TokenNotAccepted: 4,
  AmountOutOfRange: 5,
  NonceUsed: 6,
  InsufficientFunds: 7,
  InvalidSignature: 8,
} as const;

/** `ISettlementEscrow.HoldStatus`. */
export const HoldStatus = { None: 0, Open: 1, Closed: 2 } as const;

export interface PaymentAuthorization {
  payer: Address;
  payee: Address;
  token: Address;
  amount: bigint;
  nonce: bigint;
  validAfter: bigint;
  validBefore: bigint;
  challengeHash: Hex;
}

export interface HoldAuthorization {
  payer: Address;
  payee: Address;
  token: Address;
  amount: bigint;
  nonce: bigint;
  validBefore: bigint;
  captureDeadline: bigint;
  refundDeadline: bigint;
  challengeHash: Hex;
}

/** The payer's typed-data struct, from the gateway module that verifies it: one definition for both. */
export const PAYMENT_AUTHORIZATION_TYPES = paymentAuthorizationTypes;

export const HOLD_AUTHORIZATION_TYPES = {
  HoldAuthorization: [
    { name: "payer", type: "address" },
    { name: "payee", type: "address" },
    { name: "token", type: "address" },
    { name: "amount", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "validBefore", type: "uint256" },
    { name: "captureDeadline", type: "uint256" },
    { name: "refundDeadline", type: "uint256" },
    { name: "challengeHash", type: "bytes32" },
  ],
} as const;

const EIP3009_RECEIVE_TYPES = {
  ReceiveWithAuthorization: [
    { name: "from", type: "address" },
    { name: "to", type: "address" },
    { name: "value", type: "uint256" },
    { name: "validAfter", type: "uint256" },
    { name: "validBefore", type: "uint256" },
    { name: "nonce", type: "bytes32" },
  ],
} as const;

const PERMIT_TYPES = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
} as const;

export interface EscrowDomain {
  chainId: number;
  verifyingContract: Address;
}

export function escrowDomain({ chainId, verifyingContract }: EscrowDomain) {
  return { name: ESCROW_DOMAIN_NAME, version: ESCROW_DOMAIN_VERSION, chainId, verifyingContract } as const;
}

/** Signs a payment authorization with the payer's wallet against the escrow's domain. */
export async function signPayment(
  wallet: WalletClient,
  domain: EscrowDomain,
  message: PaymentAuthorization,
): Promise<Hex> {
  return wallet.signTypedData({
    account: wallet.account,
    domain: escrowDomain(domain),
    types: PAYMENT_AUTHORIZATION_TYPES,
    primaryType: "PaymentAuthorization",
    message,
  });
}

/** Signs a hold authorization with the payer's wallet against the escrow's domain. */
export async function signHold(wallet: WalletClient, domain: EscrowDomain, message: HoldAuthorization): Promise<Hex> {
  return wallet.signTypedData({
    account: wallet.account,
    domain: escrowDomain(domain),
    types: HOLD_AUTHORIZATION_TYPES,
    primaryType: "HoldAuthorization",
    message,
  });
}

/** Signs an EIP-3009 ReceiveWithAuthorization for a MockUSDC deposit into `to` (the escrow). */
export async function signReceiveWithAuthorization(
  wallet: WalletClient,
  token: { chainId: number; address: Address; name?: string; version?: string },
  message: { from: Address; to: Address; value: bigint; validAfter: bigint; validBefore: bigint; nonce: Hex },
) {
  const signature = await wallet.signTypedData({
    account: wallet.account,
    domain: {
      name: token.name ?? USDC_DOMAIN_NAME,
      version: token.version ?? USDC_DOMAIN_VERSION,
      chainId: token.chainId,
      verifyingContract: token.address,
    },
    types: EIP3009_RECEIVE_TYPES,
    primaryType: "ReceiveWithAuthorization",
    message,
  });
  return { signature, ...splitSignature(signature) };
}

/** Signs an EIP-2612 permit for a MockUSDC deposit. */
export async function signPermit(
  wallet: WalletClient,
  token: { chainId: number; address: Address; name?: string; version?: string },
  message: { owner: Address; spender: Address; value: bigint; nonce: bigint; deadline: bigint },
) {
  const signature = await wallet.signTypedData({
    account: wallet.account,
    domain: {
      name: token.name ?? USDC_DOMAIN_NAME,
      version: token.version ?? USDC_DOMAIN_VERSION,
      chainId: token.chainId,
      verifyingContract: token.address,
    },
    types: PERMIT_TYPES,
    primaryType: "Permit",
    message,
  });
  return { signature, ...splitSignature(signature) };
}

/** `ISettlementEscrow.CompactPayment`: one `settleBatchFor` entry. */
export interface CompactPayment {
  payer: Address;
  amount: bigint;
  nonce: bigint;
  validAfter: bigint;
  validBefore: bigint;
  challengeHash: Hex;
  r: Hex;
  vs: Hex;
}

/**
 * The `settleBatchFor` entry for a signed payment: payee and token dropped (the batch names them),
 * the 65-byte signature folded into EIP-2098 `(r, vs)` by hand (vs = s with v - 27 in the top bit),
 * independently of the gateway's own encoder.
 */
export function compactPayment(authorization: PaymentAuthorization, signature: Hex): CompactPayment {
  const { r, s, v } = splitSignature(signature);
  const vs = (BigInt(s) | (BigInt(v - 27) << 255n)).toString(16).padStart(64, "0");
  const { payer, amount, nonce, validAfter, validBefore, challengeHash } = authorization;
  return { payer, amount, nonce, validAfter, validBefore, challengeHash, r, vs: `0x${vs}` };
}

export function splitSignature(signature: Hex): { v: number; r: Hex; s: Hex } {
  const { r, s, v, yParity } = parseSignature(signature);
  return { r, s, v: Number(v ?? BigInt(yParity + 27)) };
}

/** Per-payment limits registered for each token in the fixture (atomic units). */
export const LIMITS = {
  usdc: { min: 1n, max: 1_000_000_000n }, // up to 1,000 USDC
  usdt: { min: 1n, max: 1_000_000_000n },
  skl: { min: 1n, max: 10n ** 24n },
  weth: { min: 1n, max: 10n ** 20n },
} as const;

export const TOKEN_METHODS = {
  usdc: METHOD_EIP3009 | METHOD_PERMIT | METHOD_ERC20,
  usdt: METHOD_ERC20,
  skl: METHOD_ERC20,
  weth: METHOD_ERC20,
} as const;

/**
 * Deploys registry + tokens + escrow on `viem`'s network and funds two agents.
 * Wallets: [0] admin (also pauser), [1] agent, [2] payee, [3] operator, [4] stranger,
 * [5] fee recipient, [6] second agent.
 */
export async function deployEscrowSystem(viem: HardhatViemHelpers) {
  const wallets = await viem.getWalletClients();
  const [admin, agent, payee, operator, stranger, feeRecipient, agent2] = wallets as [
    WalletClient, WalletClient, WalletClient, WalletClient, WalletClient, WalletClient, WalletClient,
  ];
  const publicClient = await viem.getPublicClient();
  const chainId = await publicClient.getChainId();

  const registry = await viem.deployContract("TokenRegistry", [admin.account.address]);
  const usdc = await viem.deployContract("MockUSDC", [USDC_DOMAIN_NAME, "USDC.e", USDC_DOMAIN_VERSION]);
  const usdt = await viem.deployContract("MockUSDT", []);
  const skl = await viem.deployContract("MockSKL", []);
  const weth = await viem.deployContract("WETH9", []);

  const register = async (token: Address, symbol: string, decimals: number, methods: number, name: string, version: string, min: bigint, max: bigint) =>
    registry.write.registerToken([
      { token, symbol, decimals, collectionMethods: methods, status: 1, eip712Name: name, eip712Version: version, minAmount: min, maxAmount: max },
    ]);
  await register(usdc.address, "USDC", 6, TOKEN_METHODS.usdc, USDC_DOMAIN_NAME, USDC_DOMAIN_VERSION, LIMITS.usdc.min, LIMITS.usdc.max);
  await register(usdt.address, "USDT", 6, TOKEN_METHODS.usdt, "", "", LIMITS.usdt.min, LIMITS.usdt.max);
  await register(skl.address, "SKL", 18, TOKEN_METHODS.skl, "", "", LIMITS.skl.min, LIMITS.skl.max);
  await register(weth.address, "WETH", 18, TOKEN_METHODS.weth, "", "", LIMITS.weth.min, LIMITS.weth.max);

  const escrow = await viem.deployContract("SettlementEscrow", [
    registry.address,
    admin.account.address,
    Number(ADMIN_TRANSFER_DELAY),
    WITHDRAWAL_DELAY,
    feeRecipient.account.address,
  ]);
  await escrow.write.grantRole([await escrow.read.PAUSER_ROLE(), admin.account.address]);
  await escrow.write.grantRole([await escrow.read.OPERATOR_ROLE(), operator.account.address]);

  // Each agent gets 1,000 USDC / USDT, 1,000 SKL and 10 WETH in its wallet, all approved to the escrow.
  for (const a of [agent, agent2]) {
    const addr = a.account.address;
    await usdc.write.mint([addr, 1_000_000_000n]);
    await usdt.write.mint([addr, 1_000_000_000n]);
    await skl.write.mint([addr, 1_000n * 10n ** 18n]);
    await weth.write.deposit({ account: a.account, value: 10n * 10n ** 18n });
    const unlimited = 2n ** 255n;
    await usdc.write.approve([escrow.address, unlimited], { account: a.account });
    await usdt.write.approve([escrow.address, unlimited], { account: a.account });
    await skl.write.approve([escrow.address, unlimited], { account: a.account });
    await weth.write.approve([escrow.address, unlimited], { account: a.account });
  }

  const domain: EscrowDomain = { chainId, verifyingContract: escrow.address };
  return { wallets, admin, agent, agent2, payee, operator, stranger, feeRecipient, publicClient, chainId, registry, usdc, usdt, skl, weth, escrow, domain };
}

let nonceCounter = 0n;
/** A fresh nonce in word 0..n of the payer's bitmap: sequential values share storage words, as the SDK does. */
export function nextNonce(): bigint {
  nonceCounter += 1n;
  return nonceCounter;
}

/** A payment authorization valid for the next hour, with `overrides` on top. */
export async function paymentFor(
  publicClient: { getBlock: () => Promise<{ timestamp: bigint }> },
  base: Pick<PaymentAuthorization, "payer" | "payee" | "token" | "amount">,
  overrides: Partial<PaymentAuthorization> = {},
): Promise<PaymentAuthorization> {
  const { timestamp } = await publicClient.getBlock();
  return {
    nonce: nextNonce(),
    validAfter: 0n,
    validBefore: timestamp + ONE_HOUR,
    challengeHash: `0x${"ab".repeat(32)}`,
    ...base,
    ...overrides,
  };
}
