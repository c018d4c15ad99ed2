import { parseAbi } from "viem";

/**
 * The slice of an EIP-3009 token (Circle FiatToken v2.2 and its bridged copies; MockUSDC locally)
 * the exact scheme touches, plus every error those tokens revert with, so a simulated revert
 * decodes into something we can name.
 */
export const eip3009Abi = parseAbi([
  "function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, uint8 v, bytes32 r, bytes32 s)",
  "function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, bytes signature)",
  "function authorizationState(address authorizer, bytes32 nonce) view returns (bool)",
  "function balanceOf(address account) view returns (uint256)",
  "event Transfer(address indexed from, address indexed to, uint256 value)",
  // MockUSDC's custom errors; FiatToken itself reverts with strings (see revertCode).
  "error InvalidSignature()",
  "error AuthorizationNotYetValid(uint256 validAfter)",
  "error AuthorizationExpired(uint256 validBefore)",
  "error AuthorizationUsedOrCanceled(address authorizer, bytes32 nonce)",
  // OpenZeppelin 5 ERC-20.
  "error ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed)",
]);

export const erc1271Abi = parseAbi([
  "function isValidSignature(bytes32 hash, bytes signature) view returns (bytes4 magicValue)",
]);

/** `bytes4(keccak256("isValidSignature(bytes32,bytes)"))`, what a wallet returns for "valid". */
export const ERC1271_MAGIC_VALUE = "0x1626ba7e";

/** EIP-3009's typed-data struct; clients sign exactly this. */
export const transferWithAuthorizationTypes = {
  TransferWithAuthorization: [
    { name: "from", type: "address" },
    { name: "to", type: "address" },
    { name: "value", type: "uint256" },
    { name: "validAfter", type: "uint256" },
    { name: "validBefore", type: "uint256" },
    { name: "nonce", type: "bytes32" },
  ],
} as const;
