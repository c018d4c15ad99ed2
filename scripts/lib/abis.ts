/**
 * Human-readable ABIs of exactly the functions the scripts call, so viem can type-check every
 * read and write. Deployment itself uses the compiled artifacts; a test checks that each
 * signature here exists in the artifacts, so a contract change cannot silently break them.
 */
import { parseAbi } from "viem";

export const tokenRegistryAbi = parseAbi([
  "struct TokenInfo { address token; string symbol; uint8 decimals; uint8 collectionMethods; uint8 status; string eip712Name; string eip712Version; uint128 minAmount; uint128 maxAmount; }",
  "function registerToken(TokenInfo info)",
  "function setStatus(address token, uint8 newStatus)",
  "function setAmountLimits(address token, uint128 minAmount, uint128 maxAmount)",
  "function getToken(address token) view returns (TokenInfo)",
  "function statusOf(address token) view returns (uint8)",
  "function allTokens() view returns (TokenInfo[])",
  "function tokenCount() view returns (uint256)",
  "function owner() view returns (address)",
  "function pendingOwner() view returns (address)",
  "function transferOwnership(address newOwner)",
]);

export const settlementEscrowAbi = parseAbi([
  "struct PendingWithdrawal { uint256 amount; uint64 unlockAt; }",
  "struct Hold { address payer; uint48 captureDeadline; uint8 status; address payee; uint48 refundDeadline; address token; uint128 authorized; uint128 captured; uint128 refunded; }",
  "function registry() view returns (address)",
  "function feeBps() view returns (uint16)",
  "function feeRecipient() view returns (address)",
  "function withdrawalDelay() view returns (uint64)",
  "function paused() view returns (bool)",
  "function defaultAdmin() view returns (address)",
  "function defaultAdminDelay() view returns (uint48)",
  "function PAUSER_ROLE() view returns (bytes32)",
  "function OPERATOR_ROLE() view returns (bytes32)",
  "function DEFAULT_ADMIN_ROLE() view returns (bytes32)",
  "function MAX_FEE_BPS() view returns (uint16)",
  "function MIN_WITHDRAWAL_DELAY() view returns (uint64)",
  "function MAX_WITHDRAWAL_DELAY() view returns (uint64)",
  "function hasRole(bytes32 role, address account) view returns (bool)",
  "function grantRole(bytes32 role, address account)",
  "function setFee(uint16 newFeeBps)",
  "function setWithdrawalDelay(uint64 newDelay)",
  "function pause()",
  "function unpause()",
  "function deposit(address token, uint256 amount)",
  "function depositFor(address token, address account, uint256 amount)",
  "function balanceOf(address token, address account) view returns (uint256)",
  "function spendableBalance(address token, address account) view returns (uint256)",
  "function pendingWithdrawal(address token, address account) view returns (PendingWithdrawal)",
  "function earningsOf(address token, address payee) view returns (uint256)",
  "function accruedFees(address token) view returns (uint256)",
  "function totalOwed(address token) view returns (uint256)",
  "function getHold(bytes32 holdId) view returns (Hold)",
]);

/** Everything the token probe may call; each call is optional on a real token. */
export const tokenProbeAbi = parseAbi([
  "function decimals() view returns (uint8)",
  "function symbol() view returns (string)",
  "function name() view returns (string)",
  "function version() view returns (string)",
  "function EIP712_VERSION() view returns (string)",
  "function eip712Domain() view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)",
  "function DOMAIN_SEPARATOR() view returns (bytes32)",
  "function nonces(address owner) view returns (uint256)",
  "function authorizationState(address authorizer, bytes32 nonce) view returns (bool)",
]);

/** ERC-20 as the scripts use it. `approve` is declared without a return value so USDT-style tokens work. */
export const erc20Abi = parseAbi([
  "function balanceOf(address account) view returns (uint256)",
  "function allowance(address owner, address spender) view returns (uint256)",
  "function approve(address spender, uint256 value)",
  "function transfer(address to, uint256 value)",
]);

/** Owner-only faucets of MockUSDC, MockUSDT and MockSKL. */
export const mockMintAbi = parseAbi(["function mint(address to, uint256 amount)", "function owner() view returns (address)"]);

/** WETH9 wrapping. */
export const weth9Abi = parseAbi(["function deposit() payable"]);
