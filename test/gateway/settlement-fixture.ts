/**
 * Shared set-up for the settlement engine tests: the escrow system on Hardhat's in-process chain
 * (SKALE Base Sepolia's chain id, so legacy transactions), an agent with deposits and commitments
 * to two payees in USDC and USDT, payments signed and verified by the real escrow scheme and
 * inserted as the payment flow leaves them, and chain clients that can be broken on purpose.
 */
import { failPayment, markVerified, reservePayment } from "../../gateway/payments/store.js";
import type { network } from "hardhat";
import {
  type Address,
  type EIP1193RequestFn,
  type Hex,
  type PublicClient,
  createPublicClient,
  createWalletClient,
  custom,
  getAddress,
} from "viem";
import { type LocalAccount, generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import type { WalletClient } from "@nomicfoundation/hardhat-viem/types";
import type { Database } from "../../gateway/db/index.js";
import { silentLogger } from "../../gateway/log.js";
import {
  type ChainReader,
  type Offer,
  type PaymentScheme,
  type SettlementWallet,
  type TokenInfo,
  type VerifiedPayment,
  collectionMethods,
  createEscrowScheme,
  encodeEscrowSettlementData,
  escrowNonce,
  escrowPaymentKey,
  paymentAuthorizationTypes,
  randomNonceWord,
} from "../../gateway/schemes/index.js";
import { createSettlementEngine, type SettlementEngine, type SettlementEngineOptions } from "../../gateway/settlement/index.js";
import { deployEscrowSystem } from "../contracts/helpers/escrow.js";

type Connection = Awaited<ReturnType<typeof network.create>>;

export const PRICE = 10_000n; // 0.01 USDC / USDT
const DEPOSIT = PRICE * 50_000n; // half the agent's wallet: the other half pays exact (EIP-3009) payments
const COMMIT = PRICE * 5_000n;
export const HORIZON = 300n;
const RESOURCE = { url: "https://gateway.example.com/v1/weather", description: "Weather", mimeType: "application/json" };

export type TokenName = "usdc" | "usdt";

/** Switches for breaking the engine's view of the chain. */
export interface ChainFaults {
  /** Every RPC call fails as if the node were down. */
  down: boolean;
  /** Only these JSON-RPC methods fail. */
  failing: Set<string>;
  /** These JSON-RPC methods never answer: the process "dies" in that call. */
  hanging: Set<string>;
  /** These JSON-RPC methods reach the node, then never answer: the process dies right after. */
  hangingAfter: Set<string>;
  /** Runs before a raw transaction is passed to the node. */
  beforeSend?: () => Promise<void>;
  /** When set, every JSON-RPC method asked for is appended here, failed or not. */
  calls?: string[];
  /** When set, the function selector of every `eth_call` is appended here. */
  callSelectors?: string[];
}

export async function deploySettlementFixture(connection: Connection) {
  const { viem, networkHelpers, provider } = connection;
  const s = await deployEscrowSystem(viem);
  const payees = [getAddress(s.payee.account.address), getAddress(s.stranger.account.address)] as const;
  const tokens: Record<TokenName, TokenInfo> = {
    usdc: { address: getAddress(s.usdc.address), symbol: "USDC", decimals: 6, collectionMethods: collectionMethods.erc20, eip712: { name: "", version: "" } },
    usdt: { address: getAddress(s.usdt.address), symbol: "USDT", decimals: 6, collectionMethods: collectionMethods.erc20, eip712: { name: "", version: "" } },
  };
  for (const name of ["usdc", "usdt"] as const) {
    await s.escrow.write.deposit([tokens[name].address, DEPOSIT], { account: s.agent.account });
    for (const payee of payees) await s.escrow.write.commit([tokens[name].address, payee, COMMIT], { account: s.agent.account });
  }
  const settler = privateKeyToAccount(generatePrivateKey());
  await networkHelpers.setBalance(settler.address, 10n ** 21n);
  const escrow = getAddress(s.escrow.address);

  /** A public client over Hardhat's provider that obeys `faults`. */
  function faultyClient(faults: ChainFaults): ChainReader {
    const request: EIP1193RequestFn = (async (args: { method: string; params?: unknown }) => {
      faults.calls?.push(args.method);
      if (args.method === "eth_call") faults.callSelectors?.push(String((args.params as [{ data?: string; input?: string }])[0]?.data ?? (args.params as [{ input?: string }])[0]?.input).slice(0, 10));
      if (faults.hanging.has(args.method)) return new Promise(() => undefined);
      if (faults.down || faults.failing.has(args.method)) throw new Error(`connect ECONNREFUSED (${args.method})`);
      if (args.method === "eth_sendRawTransaction" && faults.beforeSend !== undefined) await faults.beforeSend();
      const result = await provider.request(args as never);
      if (faults.hangingAfter.has(args.method)) return new Promise(() => undefined);
      return result;
    }) as EIP1193RequestFn;
    return createPublicClient({
      chain: s.publicClient.chain,
      transport: custom({ request }, { retryCount: 0 }),
      pollingInterval: 20,
      cacheTime: 0,
    }) as unknown as ChainReader;
  }

  const wallet = createWalletClient({ account: settler, chain: s.publicClient.chain, transport: custom(provider) }) as unknown as SettlementWallet;

  return { ...s, connection, escrowAddress: escrow, payees, tokens, settler, wallet, faultyClient };
}

export type SettlementFixture = Awaited<ReturnType<typeof deploySettlementFixture>>;

export function noFaults(): ChainFaults {
  return { down: false, failing: new Set(), hanging: new Set(), hangingAfter: new Set() };
}

export function escrowScheme(f: SettlementFixture): PaymentScheme {
  return createEscrowScheme({
    chainId: f.chainId,
    escrow: f.escrowAddress,
    publicClient: f.publicClient as unknown as ChainReader,
    walletClient: f.wallet,
    settlementHorizonSeconds: HORIZON,
  });
}

let word = randomNonceWord();
let counter = 0;
function nextNonce(): bigint {
  if (counter > 0xff) {
    word = randomNonceWord();
    counter = 0;
  }
  return escrowNonce(word, counter++);
}

export interface PayOptions {
  readonly token?: TokenName;
  readonly payee?: Address;
  /** Seconds the authorization stays valid (default 600: async-eligible). */
  readonly validFor?: bigint;
  readonly payer?: WalletClient;
}

/** Signs a payment as a client would and has the escrow scheme verify it. */
export async function verifiedPayment(f: SettlementFixture, scheme: PaymentScheme, options: PayOptions = {}): Promise<VerifiedPayment> {
  const token = f.tokens[options.token ?? "usdc"];
  const payTo = options.payee ?? f.payees[0];
  const offer: Offer | undefined = scheme.offer({ token, amount: PRICE, payTo, maxTimeoutSeconds: 600, resource: RESOURCE });
  if (offer === undefined) throw new Error("no escrow offer");
  const now = (await f.publicClient.getBlock()).timestamp;
  const payer = options.payer ?? f.agent;
  const message = {
    payer: getAddress(payer.account.address),
    payee: payTo,
    token: token.address,
    amount: PRICE,
    nonce: nextNonce(),
    validAfter: 0n,
    validBefore: now + (options.validFor ?? 600n),
    challengeHash: offer.extra["challengeHash"] as Hex,
  };
  const signature = await payer.signTypedData({
    account: payer.account,
    domain: { name: "PayPerAgent Settlement Escrow", version: "1", chainId: f.chainId, verifyingContract: f.escrowAddress },
    types: paymentAuthorizationTypes,
    primaryType: "PaymentAuthorization",
    message,
  });
  const wire = {
    signature,
    authorization: Object.fromEntries(Object.entries(message).map(([k, v]) => [k, typeof v === "bigint" ? v.toString() : v])),
  };
  return scheme.verify(wire, offer, now);
}

/**
 * A payment from any payer address (a contract wallet, an account that gained code after it was
 * verified) with any signature, shaped as the escrow scheme's `verify` shapes an async one. The
 * scheme itself would not serve a payer with code on credit: this is what the engine meets when
 * the code comes later (EIP-7702), or what a row looks like whatever put it there.
 */
export async function rawPayment(
  f: SettlementFixture,
  payer: Address,
  sign: (message: PaymentMessage) => Promise<Hex>,
  options: { readonly token?: TokenName; readonly payee?: Address; readonly validFor?: bigint; readonly amount?: bigint } = {},
): Promise<VerifiedPayment> {
  const token = f.tokens[options.token ?? "usdc"].address;
  const amount = options.amount ?? PRICE;
  const payee = options.payee ?? f.payees[0];
  const now = (await f.publicClient.getBlock()).timestamp;
  const message: PaymentMessage = {
    payer: getAddress(payer),
    payee,
    token,
    amount,
    nonce: nextNonce(),
    validAfter: 0n,
    validBefore: now + (options.validFor ?? 3_600n),
    challengeHash: `0x${"ab".repeat(32)}`,
  };
  const signature = await sign(message);
  return {
    scheme: "escrow",
    chainId: f.chainId,
    payer: message.payer,
    payee,
    token,
    amount,
    paymentKey: escrowPaymentKey(f.chainId, f.escrowAddress, message.payer, message.nonce),
    nonce: message.nonce.toString(10),
    validBefore: message.validBefore,
    settlementData: encodeEscrowSettlementData({ authorization: message, signature, mode: "async", escrow: f.escrowAddress }),
  };
}

export interface PaymentMessage {
  readonly payer: Address;
  readonly payee: Address;
  readonly token: Address;
  readonly amount: bigint;
  readonly nonce: bigint;
  readonly validAfter: bigint;
  readonly validBefore: bigint;
  readonly challengeHash: Hex;
}

/** The payer's EIP-712 signature of `message` under the fixture's escrow domain. */
export function signedBy(f: SettlementFixture, account: { signTypedData: LocalAccount["signTypedData"] }) {
  return (message: PaymentMessage): Promise<Hex> =>
    account.signTypedData({
      domain: { name: "PayPerAgent Settlement Escrow", version: "1", chainId: f.chainId, verifyingContract: f.escrowAddress },
      types: paymentAuthorizationTypes,
      primaryType: "PaymentAuthorization",
      message,
    });
}

/**
 * The row as the payment flow leaves it: `verified` with the response stored (async escrow), or
 * `reserved` (a request still in progress, or one whose process died). Returns the row id.
 */
export async function insertPayment(
  db: Database,
  payment: VerifiedPayment,
  state: "verified" | "reserved" | "failed" = "verified",
  payload: VerifiedPayment["settlementData"] = payment.settlementData,
): Promise<string> {
  // Written by the payment flow's own statements, so the engine is tested against real rows.
  const id = await reservePayment(db, { ...payment, settlementData: payload }, "GET /v1/weather");
  if (id === undefined) throw new Error(`payment ${payment.paymentKey} is already in the ledger`);
  if (state === "verified") {
    const response = { status: 200, headers: { "content-type": "application/json" }, body: Buffer.from('{"temp":21}') };
    if (!(await markVerified(db, id, response))) throw new Error("the reserved row could not be marked verified");
  } else if (state === "failed") {
    await failPayment(db, id, "chain_unavailable: no receipt for the settlement transaction", undefined);
  }
  return id;
}

/** `count` fresh payments, each recorded `verified`, in order: their row ids and the payments. */
export async function queuePayments(
  f: SettlementFixture,
  scheme: PaymentScheme,
  db: Database,
  count: number,
): Promise<{ ids: string[]; payments: VerifiedPayment[] }> {
  const ids: string[] = [];
  const payments: VerifiedPayment[] = [];
  for (let i = 0; i < count; i++) {
    const payment = await verifiedPayment(f, scheme);
    payments.push(payment);
    ids.push(await insertPayment(db, payment));
  }
  return { ids, payments };
}

export interface Row {
  id: string;
  state: string;
  tx_hash: string | null;
  batch_id: string | null;
  attempts: number;
  failure_reason: string | null;
  next_attempt_at: Date;
  locked_by: string | null;
}

export async function rowsOf(db: Database, ids: readonly string[]): Promise<Row[]> {
  const { rows } = await db.query<Row>(
    `SELECT id, state, tx_hash, batch_id, attempts, failure_reason, next_attempt_at, locked_by
       FROM payments WHERE id = ANY($1::bigint[]) ORDER BY id`,
    [ids],
  );
  return rows;
}

export interface BatchRecord {
  id: string;
  token: string;
  payee: string;
  tx_nonce: string;
  tx_hash: string;
  state: string;
  error: string | null;
  block_number: string | null;
}

export async function batchesOf(db: Database): Promise<BatchRecord[]> {
  const { rows } = await db.query<BatchRecord>(
    "SELECT id, token, payee, tx_nonce, tx_hash, state, error, block_number FROM settlement_batches ORDER BY id",
  );
  return rows;
}

export function engineFor(
  f: SettlementFixture,
  db: Database,
  options: Partial<Omit<SettlementEngineOptions, "db" | "chains">> & { publicClient?: ChainReader } = {},
): SettlementEngine {
  const { publicClient, ...rest } = options;
  return createSettlementEngine({
    db,
    chains: [{ chainId: f.chainId, publicClient: publicClient ?? f.faultyClient(noFaults()), walletClient: f.wallet, escrow: f.escrowAddress }],
    workerId: "engine-a",
    log: silentLogger(),
    receiptTimeoutMs: 5_000,
    leaseMs: 60_000,
    ...rest,
  });
}

/** A clock `ms` ahead of the real one: leases and backoffs pass without waiting. */
export function ahead(ms: number): () => Date {
  return () => new Date(Date.now() + ms);
}

/** Polls until `check` holds (a dying engine reaching the point where it hangs). */
export async function until(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What the payee has earned in the escrow and the agent's committed funds, for balance deltas. */
export async function balances(f: SettlementFixture, token: TokenName, payee: Address = f.payees[0]) {
  const address = f.tokens[token].address;
  const earnings = await f.escrow.read.earningsOf([address, payee]);
  const commitment = await f.escrow.read.commitmentOf([address, f.agent.account.address, payee]);
  const balance = await f.escrow.read.balanceOf([address, f.agent.account.address]);
  return { earnings, committed: commitment.amount, balance };
}

export type { PublicClient };

/** A stored authorization (decimal strings, as the ledger keeps it) as the escrow's ABI takes it. */
export function storedAuthorization(a: Record<string, string>) {
  return {
    payer: getAddress(a["payer"] as string),
    payee: getAddress(a["payee"] as string),
    token: getAddress(a["token"] as string),
    amount: BigInt(a["amount"] as string),
    nonce: BigInt(a["nonce"] as string),
    validAfter: BigInt(a["validAfter"] as string),
    validBefore: BigInt(a["validBefore"] as string),
    challengeHash: a["challengeHash"] as Hex,
  };
}
