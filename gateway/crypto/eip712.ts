import { LRUCache } from "lru-cache";
import { type Address, maxUint256 } from "viem";
import { keccak256 as keccak } from "./keccak.js";

/**
 * EIP-712 hashing for the flat structs the gateway verifies, without viem's general typed-data
 * walk (~250 µs a message): the type hash is computed once per struct, each message is
 * ABI-encoded into one buffer and hashed once, and a domain's separator is hashed once per domain.
 * Only what the payment structs use is supported (address, uint256, bytes32 fields; the
 * four-field domain), so nothing here has to interpret a type at verification time.
 */

const ADDRESS_PATTERN = /^0x[0-9a-fA-F]{40}$/;
const BYTES32_PATTERN = /^0x[0-9a-fA-F]{64}$/;

type WordType = "address" | "uint256" | "bytes32";
type WordWriter = (buffer: Buffer, offset: number, value: unknown, field: string) => void;

const writeWord: Record<WordType, WordWriter> = {
  address(buffer, offset, value, field) {
    if (typeof value !== "string" || !ADDRESS_PATTERN.test(value)) throw new TypeError(`${field} is not an address`);
    buffer.write(value.slice(2), offset + 12, 20, "hex");
  },
  uint256(buffer, offset, value, field) {
    if (typeof value !== "bigint" || value < 0n || value > maxUint256) throw new RangeError(`${field} is not a uint256`);
    buffer.write(value.toString(16).padStart(64, "0"), offset, 32, "hex");
  },
  bytes32(buffer, offset, value, field) {
    if (typeof value !== "string" || !BYTES32_PATTERN.test(value)) throw new TypeError(`${field} is not a bytes32`);
    buffer.write(value.slice(2), offset, 32, "hex");
  },
};

function isWordType(type: string): type is WordType {
  return Object.hasOwn(writeWord, type);
}

export interface StructField {
  readonly name: string;
  readonly type: string;
}

/** `hashStruct(message)` of one flat struct: keccak256(typeHash ‖ enc(field₁) ‖ … ‖ enc(fieldₙ)). */
export type StructHasher = (message: { readonly [field: string]: unknown }) => Uint8Array;

/**
 * A hasher for `primaryType`, built from the same field list clients sign with, so the type hash
 * cannot drift from what viem (and the contract) compute. Throws at construction for a field type
 * that would need more than one static word (strings, arrays, nested structs).
 */
export function structHasher(primaryType: string, fields: readonly StructField[]): StructHasher {
  const writers = fields.map(({ name, type }) => {
    if (!isWordType(type)) throw new TypeError(`${primaryType}.${name}: ${type} is not a single-word type`);
    return { name, write: writeWord[type] };
  });
  const typeHash = keccak(Buffer.from(`${primaryType}(${fields.map((f) => `${f.type} ${f.name}`).join(",")})`, "utf8"));
  const size = 32 * (writers.length + 1);
  return (message) => {
    const buffer = Buffer.alloc(size);
    buffer.set(typeHash, 0);
    for (let i = 0; i < writers.length; i++) {
      const { name, write } = writers[i]!;
      write(buffer, 32 * (i + 1), message[name], name);
    }
    return keccak(buffer);
  };
}

/** The four-field domain every payment struct is signed under (token or escrow). */
export interface Eip712Domain {
  readonly name: string;
  readonly version: string;
  readonly chainId: number;
  readonly verifyingContract: Address;
}

const DOMAIN_TYPE_HASH = keccak(
  Buffer.from("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)", "utf8"),
);

function hashDomain(domain: Eip712Domain): Uint8Array {
  if (!Number.isSafeInteger(domain.chainId) || domain.chainId < 0) throw new RangeError("chainId is not a uint256");
  const buffer = Buffer.alloc(32 * 5);
  buffer.set(DOMAIN_TYPE_HASH, 0);
  buffer.set(keccak(Buffer.from(domain.name, "utf8")), 32);
  buffer.set(keccak(Buffer.from(domain.version, "utf8")), 64);
  writeWord.uint256(buffer, 96, BigInt(domain.chainId), "chainId");
  writeWord.address(buffer, 128, domain.verifyingContract, "verifyingContract");
  return keccak(buffer);
}

/**
 * Separators by domain. A gateway sees a handful of domains (one per accepted token, one per
 * escrow); the bound only keeps a stream of odd domains from growing memory.
 */
const separators = new LRUCache<string, Uint8Array>({ max: 1024 });

/** The domain separator, hashed once per distinct domain. */
export function domainSeparator(domain: Eip712Domain): Uint8Array {
  // JSON keeps the key unambiguous whatever the name and version contain.
  const key = JSON.stringify([domain.name, domain.version, domain.chainId, domain.verifyingContract.toLowerCase()]);
  let separator = separators.get(key);
  if (separator === undefined) {
    separator = hashDomain(domain);
    separators.set(key, separator);
  }
  return separator;
}

/** The digest a signer signs: keccak256(0x1901 ‖ domainSeparator ‖ structHash). */
export function typedDataDigest(domain: Eip712Domain, structHash: Uint8Array): Uint8Array {
  const buffer = Buffer.allocUnsafe(66);
  buffer[0] = 0x19;
  buffer[1] = 0x01;
  buffer.set(domainSeparator(domain), 2);
  buffer.set(structHash, 34);
  return keccak(buffer);
}
