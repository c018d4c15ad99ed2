import { parseAbi } from "viem";

/**
 * The slice of `SettlementEscrow` (contracts/interfaces/ISettlementEscrow.sol and the modules in
 * contracts/escrow/) the escrow scheme touches: settling, the views verification reads, the two
 * settlement events, and every custom error `settle` / `settleBatch` can revert with, so a
 * simulated revert decodes into something we can name. Human-readable, so viem types every call;
 * a test checks each entry against the compiled artifact.
 */
export const settlementEscrowAbi = parseAbi([
  "struct PaymentAuthorization { address payer; address payee; address token; uint256 amount; uint256 nonce; uint256 validAfter; uint256 validBefore; bytes32 challengeHash; }",
  "struct SignedPayment { PaymentAuthorization authorization; bytes signature; }",
  "struct CompactPayment { address payer; uint256 amount; uint256 nonce; uint256 validAfter; uint256 validBefore; bytes32 challengeHash; bytes32 r; bytes32 vs; }",
  "struct Commitment { uint256 amount; uint64 releaseAt; }",
  "function settle(PaymentAuthorization authorization, bytes signature)",
  "function settleBatch(SignedPayment[] payments) returns (uint8[] results)",
  "function settleBatchFor(address token, address payee, CompactPayment[] payments) returns (uint8[] results)",
  "function checkPayment(PaymentAuthorization authorization, bytes signature) view returns (uint8)",
  "function commitmentOf(address token, address payer, address payee) view returns (Commitment)",
  "function spendableFor(address token, address payer, address payee) view returns (uint256)",
  "function isNonceUsed(address payer, uint256 nonce) view returns (bool)",
  "function nonceBitmap(address payer, uint256 wordPosition) view returns (uint256)",
  "function registry() view returns (address)",
  "function paused() view returns (bool)",
  "function withdrawalDelay() view returns (uint64)",
  "function MIN_WITHDRAWAL_DELAY() view returns (uint64)",
  "function DOMAIN_NAME() view returns (string)",
  "function DOMAIN_VERSION() view returns (string)",
  "function hashPaymentAuthorization(PaymentAuthorization authorization) view returns (bytes32)",
  "event PaymentSettled(address indexed payer, address indexed payee, address indexed token, uint256 nonce, uint256 amount, uint256 fee, bytes32 challengeHash)",
  "event PaymentFailed(address indexed payer, uint256 indexed nonce, uint8 reason)",
  // What `settle` reverts with (PaymentAuthorizations._revertFor), plus the guards around it.
  "error InvalidPayee()",
  "error AuthorizationNotYetValid(uint256 validAfter)",
  "error AuthorizationExpired(uint256 validBefore)",
  "error TokenNotAccepted(address token, uint8 status)",
  "error AmountOutOfRange(uint256 amount, uint128 minAmount, uint128 maxAmount)",
  "error NonceAlreadyUsed(address payer, uint256 nonce)",
  "error InsufficientFunds(uint256 spendable, uint256 required)",
  "error InvalidSignature()",
  "error EmptyBatch()",
  // OpenZeppelin Pausable / ReentrancyGuard.
  "error EnforcedPause()",
  "error ReentrancyGuardReentrantCall()",
]);

/** The escrow's EIP-712 domain name and version (`SettlementEscrow.DOMAIN_NAME` / `DOMAIN_VERSION`). */
export const ESCROW_DOMAIN_NAME = "PayPerAgent Settlement Escrow";
export const ESCROW_DOMAIN_VERSION = "1";

/** The typed-data struct payers sign; field order and types are the contract's typehash. */
export const paymentAuthorizationTypes = {
  PaymentAuthorization: [
    { name: "payer", type: "address" },
    { name: "payee", type: "address" },
    { name: "token", type: "address" },
    { name: "amount", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "validAfter", type: "uint256" },
    { name: "validBefore", type: "uint256" },
    { name: "challengeHash", type: "bytes32" },
  ],
} as const;

/**
 * `ISettlementEscrow.SettlementFailure`, indexed by its uint8 value: what `checkPayment` answers
 * and `settleBatch` reports per entry.
 */
export const SETTLEMENT_FAILURES = [
  "None",
  "InvalidPayee",
  "NotYetValid",
  "Expired",
  "TokenNotAccepted",
  "AmountOutOfRange",
  "NonceUsed",
  "InsufficientFunds",
  "InvalidSignature",
] as const;

export type SettlementFailureName = (typeof SETTLEMENT_FAILURES)[number];

/** Name of an on-chain failure value; throws RangeError for a value the enum cannot hold. */
export function settlementFailureName(value: number): SettlementFailureName {
  const name = SETTLEMENT_FAILURES[value];
  if (name === undefined) throw new RangeError(`unknown SettlementFailure ${value}`);
  return name;
}
