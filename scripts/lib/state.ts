/**
 * Reading the deployed contracts' state back into the record's shapes, so the record always
 * says what the chain says (the deploy script and every admin task end with a refresh).
 */
import { getAddress, isAddressEqual, zeroAddress, type Address, type PublicClient } from "viem";
import { settlementEscrowAbi, tokenRegistryAbi } from "./abis.js";
import {
  flagsToMethods,
  TOKEN_STATUS_NAMES,
  type DeploymentRecord,
  type EscrowStateRecord,
  type RegistryStateRecord,
  type TokenRecord,
  type TokenStatusName,
} from "./deployment-record.js";
import type { TokenPlan } from "./token-probe.js";

export function statusName(value: number | bigint): TokenStatusName {
  const name = TOKEN_STATUS_NAMES[Number(value)];
  if (name === undefined) throw new Error(`unknown token status ${value}`);
  return name;
}

export function statusValue(name: TokenStatusName): number {
  return TOKEN_STATUS_NAMES.indexOf(name);
}

export async function readRegistryState(client: PublicClient, registry: Address): Promise<RegistryStateRecord> {
  const [owner, pendingOwner] = await Promise.all([
    client.readContract({ address: registry, abi: tokenRegistryAbi, functionName: "owner" }),
    client.readContract({ address: registry, abi: tokenRegistryAbi, functionName: "pendingOwner" }),
  ]);
  return { owner: getAddress(owner), pendingOwner: isAddressEqual(pendingOwner, zeroAddress) ? null : getAddress(pendingOwner) };
}

function unique(addresses: readonly string[]): Address[] {
  const seen = new Map<string, Address>();
  for (const a of addresses) seen.set(a.toLowerCase(), getAddress(a));
  return [...seen.values()];
}

/**
 * The escrow's settings. Roles cannot be enumerated (no AccessControlEnumerable), so the
 * pauser and operator lists are the candidates given that still hold the role.
 */
export async function readEscrowState(
  client: PublicClient,
  escrow: Address,
  candidates: { pausers: readonly string[]; operators: readonly string[] },
): Promise<EscrowStateRecord> {
  const read = <F extends "defaultAdmin" | "feeRecipient" | "withdrawalDelay" | "defaultAdminDelay" | "feeBps" | "paused" | "PAUSER_ROLE" | "OPERATOR_ROLE">(
    functionName: F,
  ) => client.readContract({ address: escrow, abi: settlementEscrowAbi, functionName } as never) as Promise<unknown>;
  const [admin, feeRecipient, withdrawalDelay, adminDelay, feeBps, paused, pauserRole, operatorRole] = await Promise.all([
    read("defaultAdmin"),
    read("feeRecipient"),
    read("withdrawalDelay"),
    read("defaultAdminDelay"),
    read("feeBps"),
    read("paused"),
    read("PAUSER_ROLE"),
    read("OPERATOR_ROLE"),
  ]);
  const holders = async (role: unknown, accounts: readonly string[]) => {
    const result: Address[] = [];
    for (const account of unique(accounts)) {
      const has = await client.readContract({
        address: escrow,
        abi: settlementEscrowAbi,
        functionName: "hasRole",
        args: [role as `0x${string}`, account],
      });
      if (has) result.push(account);
    }
    return result;
  };
  return {
    admin: getAddress(admin as string),
    feeRecipient: getAddress(feeRecipient as string),
    withdrawalDelay: Number(withdrawalDelay),
    adminTransferDelay: Number(adminDelay),
    feeBps: Number(feeBps),
    paused: paused as boolean,
    pausers: await holders(pauserRole, candidates.pausers),
    operators: await holders(operatorRole, candidates.operators),
  };
}

export function tokenRecordFromPlan(plan: TokenPlan, status: TokenStatusName, registration: TokenRecord["registration"]): TokenRecord {
  return {
    key: plan.key,
    address: plan.address,
    symbol: plan.symbol,
    decimals: plan.decimals,
    eip712: { ...plan.eip712 },
    collectionMethods: plan.collectionMethods,
    methods: [...plan.methods],
    minAmount: plan.minAmount.toString(),
    maxAmount: plan.maxAmount.toString(),
    status,
    mock: plan.mock,
    registration,
  };
}

/**
 * The registry's token list as TokenRecords. Keys, EIP-712 provenance, mock flags and
 * registration transactions come from `hints` (plans of this run, the previous record) when
 * they still match the chain.
 */
export async function readTokenTable(
  client: PublicClient,
  registry: Address,
  hints: { plans?: readonly TokenPlan[]; previous?: readonly TokenRecord[]; registrations?: ReadonlyMap<string, TokenRecord["registration"]> },
): Promise<TokenRecord[]> {
  const infos = await client.readContract({ address: registry, abi: tokenRegistryAbi, functionName: "allTokens" });
  const usedKeys = new Set<string>();
  return infos.map((info) => {
    const address = getAddress(info.token);
    const plan = hints.plans?.find((p) => isAddressEqual(p.address, address));
    const previous = hints.previous?.find((t) => isAddressEqual(t.address, address));
    let key = plan?.key ?? previous?.key ?? info.symbol;
    if (usedKeys.has(key)) key = `${key}@${address}`;
    usedKeys.add(key);
    const sameDomain = (e: { name: string; version: string } | undefined) =>
      e !== undefined && e.name === info.eip712Name && e.version === info.eip712Version;
    const provenance = sameDomain(plan?.eip712) ? plan!.eip712 : sameDomain(previous?.eip712) ? previous!.eip712 : undefined;
    const methods = flagsToMethods(info.collectionMethods);
    return {
      key,
      address,
      symbol: info.symbol,
      decimals: info.decimals,
      eip712: {
        name: info.eip712Name,
        version: info.eip712Version,
        source: provenance?.source ?? "registry",
        verified: provenance?.verified ?? false,
      },
      collectionMethods: info.collectionMethods,
      methods,
      minAmount: info.minAmount.toString(),
      maxAmount: info.maxAmount.toString(),
      status: statusName(info.status),
      mock: plan?.mock ?? previous?.mock ?? false,
      registration: hints.registrations?.get(key) ?? previous?.registration ?? null,
    };
  });
}

/** Refreshes registry, escrow and token table of `record` from the chain. */
export async function refreshRecordFromChain(client: PublicClient, record: DeploymentRecord, plans: readonly TokenPlan[] = []): Promise<void> {
  const registry = record.contracts.TokenRegistry?.address;
  const escrow = record.contracts.SettlementEscrow?.address;
  if (registry) {
    record.registry = await readRegistryState(client, registry);
    record.tokens = await readTokenTable(client, registry, { plans, previous: record.tokens });
  }
  if (escrow) {
    const admin = await client.readContract({ address: escrow, abi: settlementEscrowAbi, functionName: "defaultAdmin" });
    record.escrow = await readEscrowState(client, escrow, {
      pausers: [...(record.escrow?.pausers ?? []), admin, record.deployer],
      operators: record.escrow?.operators ?? [],
    });
  }
}
