import { parseAbi } from "viem";

/**
 * The contract slices an agent touches: its own escrow account (deposits, commitments,
 * withdrawals), the registry entry that says how a token can be collected, and plain ERC-20 /
 * EIP-2612. Human-readable so viem types every call; a test checks each entry against the
 * compiled artifacts. The escrow's custom errors are listed so a refused transaction names its
 * reason instead of a selector.
 */
export const escrowAccountAbi = parseAbi([
  "struct Commitment { uint256 amount; uint64 releaseAt; }",
  "struct PendingWithdrawal { uint256 amount; uint64 unlockAt; }",
  "function registry() view returns (address)",
  "function deposit(address token, uint256 amount)",
  "function depositWithPermit(address token, address owner, uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)",
  "function commit(address token, address payee, uint256 amount)",
  "function requestRelease(address token, address payee)",
  "function release(address token, address payee)",
  "function requestWithdrawal(address token, uint256 amount)",
  "function cancelWithdrawal(address token)",
  "function withdraw(address token)",
  "function balanceOf(address token, address account) view returns (uint256)",
  "function spendableFor(address token, address payer, address payee) view returns (uint256)",
  "function commitmentOf(address token, address payer, address payee) view returns (Commitment)",
  "function pendingWithdrawal(address token, address account) view returns (PendingWithdrawal)",
  "function withdrawalDelay() view returns (uint64)",
  "function paused() view returns (bool)",
  "error ZeroAmount()",
  "error ZeroAddress()",
  "error TokenNotAccepted(address token, uint8 status)",
  "error UnsupportedTokenBehavior(address token, uint256 expected, uint256 received)",
  "error InsufficientBalance(uint256 available, uint256 required)",
  "error NoPendingWithdrawal()",
  "error WithdrawalLocked(uint64 unlockAt)",
  "error InvalidPayee()",
  "error PermitFailed(address token, address owner)",
  "error NothingCommitted()",
  "error ReleaseNotRequested()",
  "error ReleaseLocked(uint64 releaseAt)",
  "error EnforcedPause()",
]);

export const tokenRegistryAbi = parseAbi([
  "struct TokenInfo { address token; string symbol; uint8 decimals; uint8 collectionMethods; uint8 status; string eip712Name; string eip712Version; uint128 minAmount; uint128 maxAmount; }",
  "function getToken(address token) view returns (TokenInfo)",
]);

/**
 * ERC-20 as an agent uses it. `approve` and `transfer` are declared without a return value:
 * USDT-style tokens return nothing, and viem would fail to decode a declared `bool`.
 */
export const erc20Abi = parseAbi([
  "function balanceOf(address account) view returns (uint256)",
  "function allowance(address owner, address spender) view returns (uint256)",
  "function approve(address spender, uint256 value)",
  "function transfer(address to, uint256 value)",
  "function decimals() view returns (uint8)",
  "function symbol() view returns (string)",
  "function nonces(address owner) view returns (uint256)",
  "event Transfer(address indexed from, address indexed to, uint256 value)",
]);

export const permitTypes = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
} as const;
