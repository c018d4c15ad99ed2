/**
 * What the HTTP sections (load, scale-out, memory) share: a local chain with committed payers, a
 * fresh database, one or more gateway processes on it, and the escrow offer of the paid route,
 * read from a real 402 the way a client reads it. Payments are signed against that offer.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Address, Hex } from "viem";
import { type BenchChain, fundPayers, startBenchChain } from "./chain.js";
import { type BenchDatabase, benchDatabase } from "./database.js";
import { type GatewayProcess, startGatewayProcess, writePayments } from "./processes.js";
import { type EscrowAccept, type SignedPayments, payerSessions, signEscrowPayments } from "./sign.js";

export const FREE_PATH = "/bench/free";
export const PAID_PATH = "/bench/paid";

/**
 * Per payer, in USDC atomic units (6 decimals): far more than any run spends at the route's
 * $0.001, so no payment is ever refused for funds. Nothing settles during the HTTP runs, so the
 * commitment must cover every payment a payer makes in them.
 */
const PAYER_FUNDS = 10n ** 12n;

/** Seconds the pre-signed authorizations stay valid: the whole run stays inside the async window. */
const VALIDITY_SECONDS = 3_600n;

export interface PaidStack {
  readonly chain: BenchChain;
  readonly db: BenchDatabase;
  readonly gateways: readonly GatewayProcess[];
  readonly accept: EscrowAccept;
  readonly payerKeys: readonly Hex[];
  /** Scratch directory for payment files; removed by close(). */
  readonly dir: string;
  /** `count` new payments against the paid route, spread over all payers. */
  sign(count: number): SignedPayments;
  /** Signs `count` payments and writes them where the load generator reads them. */
  paymentsFile(name: string, count: number): { file: string; signed: SignedPayments };
  /** Every nonce word signed with so far, by payer: where to look on chain for spent nonces. */
  nonceWords(): ReadonlyMap<Address, readonly bigint[]>;
  close(): Promise<void>;
}

export interface PaidStackOptions {
  readonly payers: number;
  readonly gateways: number;
  readonly log: (message: string) => void;
  /** Refuse to run on PGlite (several processes need one shared PostgreSQL). */
  readonly requirePostgres?: boolean;
}

interface PaymentRequired {
  readonly resource: { readonly url: string; readonly description?: string; readonly mimeType?: string };
  readonly accepts: readonly EscrowAccept[];
}

/** Reads the paid route's 402 (its v2 PAYMENT-REQUIRED header) and returns the escrow offer in USDC. */
async function escrowOffer(gateway: GatewayProcess, chain: BenchChain): Promise<{ accept: EscrowAccept; resource: PaymentRequired["resource"] }> {
  const response = await fetch(`${gateway.url}${PAID_PATH}`);
  await response.arrayBuffer();
  const header = response.headers.get("payment-required");
  if (response.status !== 402 || header === null) throw new Error(`the paid route answered ${response.status} without a payment, not 402 with PAYMENT-REQUIRED`);
  const required = JSON.parse(Buffer.from(header, "base64").toString("utf8")) as PaymentRequired;
  const accept = required.accepts.find((a) => a.scheme === "escrow" && a.asset.toLowerCase() === chain.usdc.toLowerCase());
  if (accept === undefined) throw new Error(`the 402 offers no escrow payment in USDC: ${JSON.stringify(required).slice(0, 800)}`);
  if (accept.extra.settlement !== "async") {
    throw new Error("the escrow offer is not async: payments would be settled before answering, which is not what these sections measure");
  }
  return { accept, resource: required.resource };
}

export async function startPaidStack(options: PaidStackOptions): Promise<PaidStack> {
  const { log } = options;
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch((error: unknown) => log(`cleanup: ${(error as Error).message}`));
  };
  try {
    const dir = mkdtempSync(path.join(tmpdir(), "bench-paid-"));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const chain = await startBenchChain(log);
    closers.push(() => chain.stop());
    const payers = await fundPayers(chain, options.payers, { deposit: PAYER_FUNDS, commit: PAYER_FUNDS }, log);
    const db = await benchDatabase();
    closers.push(() => db.drop());
    if (options.requirePostgres === true && db.kind !== "PostgreSQL") {
      throw new Error("this section needs PostgreSQL (several gateway processes share it); set TEST_DATABASE_URL or start one");
    }
    log(`database: ${db.kind}`);
    const gateways: GatewayProcess[] = [];
    for (let i = 0; i < options.gateways; i++) {
      const gateway = await startGatewayProcess({ chain, db });
      gateways.push(gateway);
      closers.push(() => gateway.stop());
    }
    log(`gateway processes: ${gateways.map((g) => `${g.url} (pid ${g.pid})`).join(", ")}`);
    const { accept, resource } = await escrowOffer(gateways[0]!, chain);
    const words = new Map<Address, bigint[]>();
    // The payers pay on across runs, each continuing its nonce word, as agents do: a payer starts a
    // word the gateway has not read every 256 payments, not at the start of every run.
    const sessions = payerSessions(payers.keys);
    const sign = (count: number) => {
      const validBefore = BigInt(Math.floor(Date.now() / 1000)) + VALIDITY_SECONDS;
      const signed = signEscrowPayments(accept, resource, chain.chainId, payers.keys, count, validBefore, sessions);
      for (const [payer, used] of signed.words) words.set(payer, [...new Set([...(words.get(payer) ?? []), ...used])]);
      return signed;
    };
    return {
      chain,
      db,
      gateways,
      accept,
      payerKeys: payers.keys,
      dir,
      sign,
      paymentsFile(name, count) {
        const signed = sign(count);
        return { file: writePayments(dir, name, signed.headers), signed };
      },
      nonceWords: () => words,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
