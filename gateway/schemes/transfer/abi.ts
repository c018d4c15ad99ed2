import { parseAbi } from "viem";

/**
 * The events a transfer proof is judged by: the ERC-20 `Transfer` every token emits (WETH9's
 * `Transfer(src, dst, wad)` is the same event), and EIP-3009's `AuthorizationUsed`, which FiatToken
 * and MockUSDC emit right before the `Transfer` of a `transferWithAuthorization` /
 * `receiveWithAuthorization`. ERC-721 `Transfer` shares the topic but indexes its third argument;
 * strict decoding against this ABI drops it.
 */
export const transferEventsAbi = parseAbi([
  "event Transfer(address indexed from, address indexed to, uint256 value)",
  "event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce)",
]);

/** The proof's EIP-712 domain name and version; the chain id completes it (there is no contract). */
export const TRANSFER_PROOF_NAME = "PayPerAgent Transfer Proof";
export const TRANSFER_PROOF_VERSION = "1";

/** What the payer signs: this transaction pays for this challenge. */
export const transferProofTypes = {
  TransferProof: [
    { name: "transaction", type: "bytes32" },
    { name: "challengeHash", type: "bytes32" },
  ],
} as const;
