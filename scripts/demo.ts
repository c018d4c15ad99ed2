/**
 * `npm run demo`: the demo agent pays the running local stack (`npm start`) for several APIs,
 * once with each scheme (exact USDC, escrow in each of the four tokens, an on-chain transfer
 * proof), and prints a receipt table. Every balance in it is read from the chain before and after
 * the call, and the run fails unless each one moved by exactly the price paid.
 */
import { readFileSync } from "node:fs";
import { type Address, type Hash, type Hex, createPublicClient, createWalletClient, erc20Abi, getAddress, http, parseEventLogs } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { type PayFetchResult, createEscrowAccount, createPayFetch, formatAmount } from "../agent/sdk/index.js";
import { settlementEscrowAbi } from "../gateway/schemes/escrow/abi.js";
import { readDeploymentRecord } from "./lib/deployment-record.js";
import { readStackInfo, stackPaths } from "./lib/local-stack.js";

type SchemeName = "exact" | "escrow" | "transfer";

interface DemoCall {
  readonly path: string;
  readonly scheme: SchemeName;
  readonly token: string;
}

/** One call per scheme and token: what issue 5's demo shows. */
const CALLS: readonly DemoCall[] = [
  { path: "/api/weather?city=London", scheme: "exact", token: "USDC" },
  { path: "/api/crypto/price?ids=bitcoin,ethereum", scheme: "escrow", token: "USDC" },
  { path: "/api/news?q=SKALE", scheme: "escrow", token: "USDT" },
  { path: "/api/wikipedia/search?q=x402", scheme: "escrow", token: "SKL" },
  { path: "/api/ruby/quote?pair=SKL-USDC.E&tokenIn=SKL&amountIn=1000", scheme: "escrow", token: "WETH" },
  { path: "/api/chirper/trending", scheme: "transfer", token: "USDT" },
];

/** What the demo commits to the gateway's payee per token, so escrow payments can be served on credit. */
const COMMITMENT_WHOLE_TOKENS: Readonly<Record<string, bigint>> = { USDC: 5n, USDT: 5n, SKL: 50n, WETH: 1n };
const SETTLEMENT_WAIT_MS = 60_000;

interface Row {
  readonly route: string;
  readonly scheme: string;
  readonly token: string;
  readonly amount: string;
  readonly tx: string;
  readonly before: string;
  readonly after: string;
  readonly ok: boolean;
  readonly note: string;
}

async function main(): Promise<void> {
  const info = readStackInfo(stackPaths().stackFile);
  const key = readFileSync(info.agentKeyFile, "utf8").trim() as Hex;
  const account = privateKeyToAccount(key);
  const publicClient = createPublicClient({ transport: http(info.rpcUrl) });
  const walletClient = createWalletClient({ account, transport: http(info.rpcUrl) });
  const chain = { chainId: info.chainId, account, publicClient, walletClient };
  const record = readDeploymentRecord(info.deploymentsFile);
  const escrowAddress = record.contracts.SettlementEscrow?.address as Address | undefined;
  if (escrowAddress === undefined) throw new Error("the local deployment has no SettlementEscrow");
  const payTo = getAddress(info.payTo);
  const tokens = new Map<string, { address: Address; decimals: number }>();
  for (const t of record.tokens) tokens.set(t.symbol.startsWith("USDC") ? "USDC" : t.symbol, { address: t.address as Address, decimals: t.decimals });
  const token = (symbol: string) => {
    const t = tokens.get(symbol);
    if (t === undefined) throw new Error(`the local deployment has no ${symbol}`);
    return t;
  };
  const escrow = createEscrowAccount({ ...chain, escrow: escrowAddress });

  console.log(`agent ${account.address} paying ${info.gatewayUrl} on chain ${info.chainId}\n`);
  for (const [symbol, whole] of Object.entries(COMMITMENT_WHOLE_TOKENS)) {
    const t = token(symbol);
    const want = whole * 10n ** BigInt(t.decimals);
    const balance = await escrow.balance(t.address, payTo);
    const committed = balance.commitment?.amount ?? 0n;
    if (committed < want) {
      await escrow.commit(t.address, payTo, want - committed);
      console.log(`committed ${formatAmount(want - committed, t.decimals)} ${symbol} to ${payTo} (escrow payments are then served at once and settled in batches)`);
    }
  }

  const rows: Row[] = [];
  for (const call of CALLS) {
    const t = token(call.token);
    const balanceOf = async (): Promise<bigint> =>
      call.scheme === "escrow"
        ? ((await escrow.balance(t.address, payTo)).spendable ?? 0n)
        : await publicClient.readContract({ address: t.address, abi: erc20Abi, functionName: "balanceOf", args: [account.address] });
    const before = await balanceOf();
    const fromBlock = await publicClient.getBlockNumber();
    const payFetch = createPayFetch({
      ...chain,
      policy: {
        tokens: [{ address: t.address, symbol: call.token, maxPrice: 10n ** BigInt(t.decimals) }],
        schemes: [call.scheme],
      },
    });
    let result: PayFetchResult;
    try {
      result = await payFetch(`${info.gatewayUrl}${call.path}`);
    } catch (error) {
      rows.push({ route: call.path, scheme: call.scheme, token: call.token, amount: "-", tx: "-", before: formatAmount(before, t.decimals), after: "-", ok: false, note: (error as Error).message });
      continue;
    }
    const body = (await result.response.json().catch(() => ({}))) as { data?: { demo?: boolean } };
    const receipt = result.receipt;
    if (receipt === undefined || !result.response.ok) {
      rows.push({ route: call.path, scheme: call.scheme, token: call.token, amount: "-", tx: "-", before: formatAmount(before, t.decimals), after: "-", ok: false, note: `HTTP ${result.response.status}` });
      continue;
    }
    let tx: Hash | undefined = receipt.settlement?.success === true && receipt.settlement.transaction !== "" ? (receipt.settlement.transaction as Hash) : receipt.transaction;
    let note = body.data?.demo === true ? "demo data" : "";
    if (call.scheme === "escrow" && (tx === undefined || tx === ("" as Hash))) {
      // Served on credit: the settlement engine puts it in the next batch. Wait for it on chain.
      tx = await waitForSettlement(publicClient, escrowAddress, account.address, t.address, receipt.amount, fromBlock);
      note = [note, "settled in a batch after the response"].filter((s) => s !== "").join("; ");
    }
    const after = await balanceOf();
    const ok = before - after === receipt.amount && tx !== undefined;
    rows.push({
      route: call.path.split("?")[0] ?? call.path,
      scheme: call.scheme,
      token: call.token,
      amount: formatAmount(receipt.amount, t.decimals),
      tx: tx ?? "not found",
      before: formatAmount(before, t.decimals),
      after: formatAmount(after, t.decimals),
      ok,
      note: ok ? note : `balance moved by ${formatAmount(before - after, t.decimals)}, paid ${formatAmount(receipt.amount, t.decimals)}`,
    });
  }

  printTable(rows);
  console.log("\nbalance: the agent's wallet for exact and transfer, its escrow funds for this payee for escrow; read from the chain.");
  const failed = rows.filter((r) => !r.ok);
  if (failed.length > 0) {
    console.error(`\n${failed.length} of ${rows.length} payments did not check out`);
    process.exit(1);
  }
  console.log(`\nall ${rows.length} payments check out against the chain`);
}

async function waitForSettlement(
  publicClient: ReturnType<typeof createPublicClient>,
  escrow: Address,
  payer: Address,
  token: Address,
  amount: bigint,
  fromBlock: bigint,
): Promise<Hash | undefined> {
  const deadline = Date.now() + SETTLEMENT_WAIT_MS;
  while (Date.now() < deadline) {
    const logs = await publicClient.getLogs({ address: escrow, fromBlock, toBlock: "latest" });
    const settled = parseEventLogs({ abi: settlementEscrowAbi, logs, eventName: "PaymentSettled" }).find(
      (log) => getAddress(log.args.payer) === getAddress(payer) && getAddress(log.args.token) === getAddress(token) && log.args.amount === amount,
    );
    if (settled !== undefined) return settled.transactionHash;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return undefined;
}

function printTable(rows: readonly Row[]): void {
  const header = ["route", "scheme", "token", "amount", "transaction", "balance before", "balance after", "check"];
  const lines = rows.map((r) => [r.route, r.scheme, r.token, r.amount, r.tx, r.before, r.after, r.ok ? `ok${r.note ? ` (${r.note})` : ""}` : `FAILED: ${r.note}`]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? "").length)));
  const format = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  console.log(format(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const line of lines) console.log(format(line));
}

main().catch((error: unknown) => {
  console.error(`npm run demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
