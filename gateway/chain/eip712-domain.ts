/**
 * Does a token's own EIP-712 domain match the name and version the registry records for it?
 *
 * The gateway advertises the registry's name/version in its 402 challenges, and x402 clients
 * sign EIP-3009 / permit messages over { name, version, chainId, verifyingContract: token }. If
 * the token checks signatures against any other domain, every such payment fails after the payer
 * has done the work, so a mismatch must keep the token out of the challenges.
 *
 * What the token says, strongest first:
 * 1. ERC-5267 `eip712Domain()`: must describe exactly those four fields (no salt, no
 *    extensions) with the registry's values, this chain and the token's own address;
 * 2. `DOMAIN_SEPARATOR()`: must equal the separator computed from the registry's values;
 * 3. only when neither exists, `name()` + `version()`: must equal the registry's values. Weaker,
 *    since an ERC-20 name need not be the domain name, hence last.
 * (1) and (2) are both checked when both exist. A token exposing none of them is "unverifiable"
 * and stays accepted: there is nothing to compare, and the deployment probe already tried.
 */
import { type Address, type Hex, type PublicClient, domainSeparator, getAddress, isAddressEqual, parseAbi } from "viem";
import { isContractAnswerError } from "./call-errors.js";

export const eip712DomainAbi = parseAbi([
  "function eip712Domain() view returns (bytes1 fields, string name, string version, uint256 chainId, address verifyingContract, bytes32 salt, uint256[] extensions)",
  "function DOMAIN_SEPARATOR() view returns (bytes32)",
  "function name() view returns (string)",
  "function version() view returns (string)",
]);

/** ERC-5267 field bits: name, version, chainId, verifyingContract (no salt). */
const STANDARD_FIELDS = 0x0f;

/** An ERC-5267 `eip712Domain()` answer. */
export interface Erc5267Domain {
  readonly fields: number;
  readonly name: string;
  readonly version: string;
  readonly chainId: bigint;
  readonly verifyingContract: Address;
  readonly salt: Hex;
  readonly extensions: readonly bigint[];
}

/** What a token answered; null where it does not implement the view. */
export interface TokenDomainReadings {
  readonly erc5267: Erc5267Domain | null;
  readonly domainSeparator: Hex | null;
  readonly name: string | null;
  readonly version: string | null;
}

export type DomainReadClient = Pick<PublicClient, "readContract">;

/**
 * Reads the domain views of `token`, in parallel, at `blockNumber` if given. A view the token
 * lacks (revert, no data, junk) becomes null; a transport failure is thrown, so that "the RPC
 * node is down" is never taken for "the token has no domain".
 */
export async function readTokenDomain(client: DomainReadClient, token: Address, blockNumber?: bigint): Promise<TokenDomainReadings> {
  const at = blockNumber === undefined ? {} : { blockNumber };
  const optional = async <T>(read: () => Promise<T>): Promise<T | null> => {
    try {
      return await read();
    } catch (error) {
      if (isContractAnswerError(error)) return null;
      throw error;
    }
  };
  const [domain, separator, name, version] = await Promise.all([
    optional(() => client.readContract({ address: token, abi: eip712DomainAbi, functionName: "eip712Domain", ...at })),
    optional(() => client.readContract({ address: token, abi: eip712DomainAbi, functionName: "DOMAIN_SEPARATOR", ...at })),
    optional(() => client.readContract({ address: token, abi: eip712DomainAbi, functionName: "name", ...at })),
    optional(() => client.readContract({ address: token, abi: eip712DomainAbi, functionName: "version", ...at })),
  ]);
  let erc5267: Erc5267Domain | null = null;
  if (domain !== null) {
    const [fields, dName, dVersion, chainId, verifyingContract, salt, extensions] = domain;
    erc5267 = { fields: Number.parseInt(fields, 16), name: dName, version: dVersion, chainId, verifyingContract, salt, extensions };
  }
  return { erc5267, domainSeparator: separator, name, version };
}

export type DomainCheckSource = "erc5267" | "domain-separator" | "name-version";

export type DomainCheck =
  /** Every view the token exposes agrees with the registry. */
  | { readonly result: "match"; readonly checkedBy: readonly DomainCheckSource[] }
  /** At least one view disagrees; `problems` says how, for the operator. */
  | { readonly result: "mismatch"; readonly checkedBy: readonly DomainCheckSource[]; readonly problems: readonly string[] }
  /** The registry records a domain but the token exposes nothing to compare it with. */
  | { readonly result: "unverifiable" }
  /** The registry records no domain (name and version empty): nothing is advertised, nothing to check. */
  | { readonly result: "not-applicable" };

export interface RecordedDomain {
  readonly name: string;
  readonly version: string;
}

/** Compares the registry's record with the token's readings. Pure. */
export function checkTokenDomain(
  recorded: RecordedDomain,
  readings: TokenDomainReadings,
  context: { readonly chainId: number; readonly token: Address },
): DomainCheck {
  if (recorded.name === "" && recorded.version === "") return { result: "not-applicable" };
  const token = getAddress(context.token);
  const checkedBy: DomainCheckSource[] = [];
  const problems: string[] = [];
  const expect = (what: string, actual: unknown, wanted: unknown) => {
    if (actual !== wanted) problems.push(`${what} is ${JSON.stringify(actual)}, the registry says ${JSON.stringify(wanted)}`);
  };

  const d = readings.erc5267;
  if (d !== null) {
    checkedBy.push("erc5267");
    if (d.fields !== STANDARD_FIELDS) {
      problems.push(`eip712Domain() fields are 0x${d.fields.toString(16).padStart(2, "0")}, not 0x0f (name, version, chainId, verifyingContract)`);
    }
    expect("eip712Domain() name", d.name, recorded.name);
    expect("eip712Domain() version", d.version, recorded.version);
    if (d.chainId !== BigInt(context.chainId)) problems.push(`eip712Domain() chainId is ${d.chainId}, this chain is ${context.chainId}`);
    if (!isAddressEqual(d.verifyingContract, token)) problems.push(`eip712Domain() verifyingContract is ${d.verifyingContract}, not the token`);
    if (d.extensions.length > 0) problems.push(`eip712Domain() lists extensions ${d.extensions.join(", ")}`);
  }
  if (readings.domainSeparator !== null) {
    checkedBy.push("domain-separator");
    const expected = domainSeparator({ domain: { name: recorded.name, version: recorded.version, chainId: context.chainId, verifyingContract: token } });
    if (readings.domainSeparator.toLowerCase() !== expected.toLowerCase()) {
      problems.push(`DOMAIN_SEPARATOR() is ${readings.domainSeparator}, the registry's name and version give ${expected}`);
    }
  }
  if (checkedBy.length === 0 && readings.name !== null && readings.version !== null) {
    checkedBy.push("name-version");
    expect("name()", readings.name, recorded.name);
    expect("version()", readings.version, recorded.version);
  }
  if (checkedBy.length === 0) return { result: "unverifiable" };
  return problems.length === 0 ? { result: "match", checkedBy } : { result: "mismatch", checkedBy, problems };
}
