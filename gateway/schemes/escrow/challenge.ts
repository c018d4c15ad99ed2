import { type Address, type Hash, encodeAbiParameters, keccak256, stringToBytes } from "viem";

/**
 * The challenge hash: what ties a signed escrow payment to the thing it pays for. It is
 * recomputed from the offer alone (no state, no randomness), so every gateway instance, before
 * and after a restart, derives the same value for the same priced resource, and verification
 * needs no lookup. Replay is prevented by the nonce, not by this hash; its job is to make an
 * authorization signed for one resource, price or escrow useless for any other, and to make the
 * on-chain `PaymentSettled` event say what was bought.
 *
 *   challengeHash = keccak256(abi.encode(
 *     keccak256("x402-escrow-v1"), chainId, escrow, keccak256(bytes(resourceUrl)), token, amount, payTo))
 *
 * Every member is one 32-byte word (the two strings are hashed first, as EIP-712 does with
 * dynamic members), so the 224-byte preimage can be reproduced with nothing but keccak and
 * left-padding. The tag separates it from every other hash the escrow's payers sign (holds use
 * the same `challengeHash` field) and versions the definition.
 */
export const CHALLENGE_TAG = "x402-escrow-v1";

const CHALLENGE_TAG_HASH = keccak256(stringToBytes(CHALLENGE_TAG));

const challengeParameters = [
  { type: "bytes32" }, // keccak256(tag)
  { type: "uint256" }, // chainId
  { type: "address" }, // escrow
  { type: "bytes32" }, // keccak256(resource URL)
  { type: "address" }, // token
  { type: "uint256" }, // amount
  { type: "address" }, // payTo
] as const;

export interface ChallengeInput {
  readonly chainId: number;
  readonly escrow: Address;
  /** The offer's `resource.url`, byte for byte: the server's own string, never re-normalized. */
  readonly resourceUrl: string;
  readonly token: Address;
  readonly amount: bigint;
  readonly payTo: Address;
}

export function challengeHash(input: ChallengeInput): Hash {
  return keccak256(
    encodeAbiParameters(challengeParameters, [
      CHALLENGE_TAG_HASH,
      BigInt(input.chainId),
      input.escrow,
      keccak256(stringToBytes(input.resourceUrl)),
      input.token,
      input.amount,
      input.payTo,
    ]),
  );
}
