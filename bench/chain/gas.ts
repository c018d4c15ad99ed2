/**
 * Section 3's measurements on an in-process EDR chain (the project's hardhat config: SKALE's
 * Shanghai rules, chain id 324705682). Both batch calls are measured on the same batch shape:
 * `settleBatch` (any mix of payers, payees and tokens; full signatures) and `settleBatchFor` (one
 * payee and one token, EIP-2098 signatures: what the gateway sends). Runs only inside Hardhat:
 *
 *   BENCH_GAS_OUT=/tmp/gas.json npx hardhat run bench/chain/gas.ts
 *
 * (bench/sections/gas.ts does this) and writes the measured rows as JSON to BENCH_GAS_OUT.
 * Every figure is a mined transaction's gasUsed, the 21,000 base and calldata included, divided
 * by the payments it carries.
 */
import { writeFileSync } from "node:fs";
import { network } from "hardhat";
import { type Address, type Hex, type TransactionReceipt, encodeFunctionData, parseEventLogs, parseSignature, toHex } from "viem";
import { escrowBatchCall } from "../../gateway/schemes/escrow/batch.js";
import { settlementEscrowAbi } from "../../gateway/schemes/escrow/abi.js";
import { escrowNonce, randomNonceWord } from "../../gateway/schemes/escrow/payload.js";
import { eip3009Abi, transferWithAuthorizationTypes } from "../../gateway/schemes/exact/abi.js";
import { USDC_DOMAIN_NAME, USDC_DOMAIN_VERSION, type PaymentAuthorization, deployEscrowSystem, signPayment } from "../../test/contracts/helpers/escrow.js";
import type { MeasuredRow } from "../lib/types.js";

const SECTION = "3 gas";
const BATCH_TARGET = 20_000;
const PRICE = 1_000n;

const out = process.env["BENCH_GAS_OUT"];
if (out === undefined) throw new Error("set BENCH_GAS_OUT to the file the rows go to");

const { viem } = await network.create();
const s = await deployEscrowSystem(viem);
const payer = s.agent;
const relayer = s.stranger;
await s.escrow.write.deposit([s.usdc.address, 500_000_000n], { account: payer.account });
const { timestamp } = await s.publicClient.getBlock();
const validBefore = timestamp + 86_400n;

async function receipt(hash: Hex): Promise<TransactionReceipt> {
  const r = await s.publicClient.waitForTransactionReceipt({ hash });
  if (r.status !== "success") throw new Error(`transaction ${hash} reverted`);
  return r;
}

interface Signed {
  readonly authorization: PaymentAuthorization;
  readonly signature: Hex;
}

async function signed(nonce: bigint): Promise<Signed> {
  const authorization: PaymentAuthorization = {
    payer: payer.account.address,
    payee: s.payee.account.address,
    token: s.usdc.address,
    amount: PRICE,
    nonce,
    validAfter: 0n,
    validBefore,
    challengeHash: toHex(crypto.getRandomValues(new Uint8Array(32))),
  };
  return { authorization, signature: await signPayment(payer, s.domain, authorization) };
}

/** `count` payments in one fresh bitmap word, counters from 1, as the SDK numbers them. */
async function sessionBatch(word: bigint, count: number): Promise<Signed[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => signed(escrowNonce(word, i + 1))));
}

/** Intrinsic calldata gas before EIP-7623 (Shanghai, SKALE): 4 per zero byte, 16 per other. */
function calldataGas(data: Hex): number {
  let gas = 0;
  for (let i = 2; i < data.length; i += 2) gas += data.slice(i, i + 2) === "00" ? 4 : 16;
  return gas;
}

/** What the receipt's events cost: LOG's 375 + 375 per topic + 8 per data byte, each. */
function logGas(r: TransactionReceipt): number {
  return r.logs.reduce((sum, log) => sum + 375 + 375 * log.topics.length + 8 * ((log.data.length - 2) / 2), 0);
}

type BatchCall = "settleBatch" | "settleBatchFor";

/**
 * One batch through `call`, encoded as the gateway encodes it (`escrowBatchCall`, which picks
 * `settleBatchFor` for this one-payee, one-token shape), or as a plain `settleBatch`.
 */
async function settle(call: BatchCall, payments: readonly Signed[]) {
  const entries = payments.map(({ authorization, signature }) => ({
    data: { mode: "async", escrow: s.escrow.address, authorization, signature } as const,
  }));
  const encoded = call === "settleBatchFor" ? escrowBatchCall(entries) : ({ functionName: "settleBatch", args: [payments] } as const);
  if (encoded.functionName !== call) throw new Error(`the gateway would not send this batch through ${call}`);
  const data = encodeFunctionData({ abi: settlementEscrowAbi, ...encoded });
  const r = await receipt(await relayer.sendTransaction({ to: s.escrow.address, data, account: relayer.account, chain: undefined }));
  const settled = parseEventLogs({ abi: settlementEscrowAbi, eventName: "PaymentSettled", logs: r.logs });
  if (settled.length !== payments.length) throw new Error(`${call} settled ${settled.length} of ${payments.length}`);
  return { gasUsed: Number(r.gasUsed), calldata: calldataGas(data), logs: logGas(r) };
}

const rows: MeasuredRow[] = [];
const perPayment = (gas: number, n: number) => Math.round(gas / n);

// settle: the first payment in a bitmap word pays for a fresh storage slot; later ones do not.
const word = randomNonceWord();
const first = await signed(escrowNonce(word, 1));
const single = await receipt(await s.escrow.write.settle([first.authorization, first.signature], { account: relayer.account }));
rows.push({ section: SECTION, name: "settle, first nonce of a bitmap word", value: Number(single.gasUsed), unit: "gas/payment" });
const second = await signed(escrowNonce(word, 2));
const warm = await receipt(await s.escrow.write.settle([second.authorization, second.signature], { account: relayer.account }));
rows.push({ section: SECTION, name: "settle, bitmap word already in use", value: Number(warm.gasUsed), unit: "gas/payment" });

const SHAPES: Record<BatchCall, string> = {
  settleBatch: "full entries (payer, payee, token, 65-byte signature each)",
  settleBatchFor: "payee and token once per batch, EIP-2098 64-byte signatures: the gateway's call",
};

for (const call of ["settleBatch", "settleBatchFor"] as const) {
  const batches = new Map<number, number>();
  for (const count of [10, 100]) {
    const batch = await settle(call, await sessionBatch(randomNonceWord(), count));
    batches.set(count, batch.gasUsed);
    rows.push({
      section: SECTION,
      name: `${call}(${count})`,
      value: perPayment(batch.gasUsed, count),
      unit: "gas/payment",
      ...(count === 100 ? { target: { atMost: BATCH_TARGET } } : {}),
      note: `one payer, token and payee; SDK nonces (random 248-bit word + counter); ${SHAPES[call]}; total ${batch.gasUsed} gas`,
    });
    if (count === 100) {
      rows.push(
        { section: SECTION, name: `${call}(100): calldata share`, value: perPayment(batch.calldata, count), unit: "gas/payment" },
        { section: SECTION, name: `${call}(100): execution share`, value: perPayment(batch.gasUsed - 21_000 - batch.calldata, count), unit: "gas/payment" },
        { section: SECTION, name: `${call}(100): of which events (LOG)`, value: perPayment(batch.logs, count), unit: "gas/payment" },
      );
    }
  }
  // What one more payment in a batch costs: the floor any batch size approaches.
  rows.push({
    section: SECTION,
    name: `${call} marginal payment`,
    value: Math.round((batches.get(100)! - batches.get(10)!) / 90),
    unit: "gas/payment",
    note: "(gas of batch(100) − gas of batch(10)) / 90: no batch size gets below this",
  });
}

// The contract test's batch (nonces 1..100 in word 0): small nonces are mostly zero bytes of calldata.
const small = await settle("settleBatch", await sessionBatch(0n, 100));
rows.push({
  section: SECTION,
  name: "settleBatch(100), nonces 1..100",
  value: perPayment(small.gasUsed, 100),
  unit: "gas/payment",
  note: "the shape test/contracts/escrow-settlement.test.ts measures; cheaper calldata than SDK nonces",
});

// With an operator fee each payment also accrues a fee: settleBatch writes it per entry,
// settleBatchFor once per batch.
await s.escrow.write.setFee([100], { account: s.admin.account });
for (const call of ["settleBatch", "settleBatchFor"] as const) {
  const batch = await settle(call, await sessionBatch(randomNonceWord(), 100));
  rows.push({
    section: SECTION,
    name: `${call}(100), 1% operator fee`,
    value: perPayment(batch.gasUsed, 100),
    unit: "gas/payment",
    target: { atMost: BATCH_TARGET },
    note: `as ${call}(100), with fees accruing; total ${batch.gasUsed} gas`,
  });
}
await s.escrow.write.setFee([0], { account: s.admin.account });

// Plain ERC-20 transfers of the same token, payer to payee.
const toNew = await receipt(await s.usdc.write.transfer([s.payee.account.address, PRICE], { account: payer.account }));
const toHolder = await receipt(await s.usdc.write.transfer([s.payee.account.address, PRICE], { account: payer.account }));
rows.push(
  { section: SECTION, name: "ERC-20 transfer, new recipient", value: Number(toNew.gasUsed), unit: "gas/payment" },
  { section: SECTION, name: "ERC-20 transfer, recipient holds tokens", value: Number(toHolder.gasUsed), unit: "gas/payment" },
);

// EIP-3009, as the exact scheme settles it: (v, r, s) overload, sent by the gateway's wallet.
const usdc = await viem.getContractAt("MockUSDC", s.usdc.address);
const authorization = {
  from: payer.account.address,
  to: s.payee.account.address as Address,
  value: PRICE,
  validAfter: 0n,
  validBefore,
  nonce: toHex(crypto.getRandomValues(new Uint8Array(32))),
};
const signature = await payer.signTypedData({
  account: payer.account,
  domain: { name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION, chainId: s.chainId, verifyingContract: s.usdc.address },
  types: transferWithAuthorizationTypes,
  primaryType: "TransferWithAuthorization",
  message: authorization,
});
const { v, r, s: sigS } = parseSignature(signature);
const eip3009 = await receipt(
  await relayer.writeContract({
    address: usdc.address,
    abi: eip3009Abi,
    functionName: "transferWithAuthorization",
    args: [authorization.from, authorization.to, authorization.value, authorization.validAfter, authorization.validBefore, authorization.nonce, Number(v), r, sigS],
    account: relayer.account,
    chain: undefined,
  }),
);
rows.push({
  section: SECTION,
  name: "EIP-3009 transferWithAuthorization",
  value: Number(eip3009.gasUsed),
  unit: "gas/payment",
  note: "MockUSDC (OpenZeppelin ERC-20 + EIP-3009), recipient holds tokens; FiatToken's own figure differs slightly",
});

writeFileSync(out, JSON.stringify(rows));
