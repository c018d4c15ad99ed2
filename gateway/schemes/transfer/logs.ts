import { type Address, type Hash, type Log, getAddress, isAddressEqual, parseEventLogs } from "viem";
import { PaymentError } from "../../x402/errors.js";
import { transferEventsAbi } from "./abi.js";

/** One ERC-20 `Transfer` of a receipt. */
export interface TransferLog {
  readonly logIndex: number;
  readonly token: Address;
  readonly from: Address;
  readonly to: Address;
  readonly value: bigint;
  /** Made by an EIP-3009 authorization (`AuthorizationUsed` of the same token and payer right before it). */
  readonly byAuthorization: boolean;
}

/** What a Transfer log must show to pay the offer. */
export interface TransferTerms {
  readonly transaction: Hash;
  readonly token: Address;
  readonly payTo: Address;
  readonly payer: Address;
  readonly amount: bigint;
}

/**
 * The ERC-20 Transfers among a receipt's logs, in log order. Logs that do not decode as the
 * standard event (ERC-721 transfers, other events) are skipped.
 */
export function transferLogs(logs: readonly Log[]): TransferLog[] {
  const events = parseEventLogs({ abi: transferEventsAbi, logs: [...logs] });
  // FiatToken and MockUSDC emit AuthorizationUsed(from, nonce) immediately before the Transfer an
  // authorization makes; a log index is unique within a block, so "the log right before" is exact.
  const authorized = new Set<string>();
  for (const event of events) {
    if (event.eventName === "AuthorizationUsed") {
      authorized.add(`${event.logIndex + 1}:${event.address}:${event.args.authorizer}`.toLowerCase());
    }
  }
  const transfers: TransferLog[] = [];
  for (const event of events) {
    if (event.eventName !== "Transfer") continue;
    const { from, to, value } = event.args;
    transfers.push({
      logIndex: event.logIndex,
      token: getAddress(event.address),
      from,
      to,
      value,
      byAuthorization: authorized.has(`${event.logIndex}:${event.address}:${from}`.toLowerCase()),
    });
  }
  return transfers.sort((a, b) => a.logIndex - b.logIndex);
}

/**
 * The Transfer that pays the offer: the one at `logIndex` when the payer named one, else the first
 * that matches. Candidates are narrowed one property at a time, and the property that leaves none
 * decides the code, so a client learns the first thing that is wrong with its transfer:
 *
 *  1. an ERC-20 Transfer (at `logIndex`)   transfer_not_found
 *  2. emitted by the offer's token          wrong_token when another token went to payTo, else
 *                                           transfer_not_found
 *  3. to payTo                              wrong_recipient
 *  4. from the payer                        transfer_not_found (the payer has no transfer here)
 *  5. not made by an EIP-3009 authorization transfer_already_used (that is the exact scheme's
 *                                           payment, which must not pay a second time)
 *  6. value >= price                        amount_mismatch
 */
export function matchTransfer(logs: readonly Log[], terms: TransferTerms, logIndex: number | undefined): TransferLog {
  const base = { payer: terms.payer, transaction: terms.transaction };
  const all = transferLogs(logs);
  const named = logIndex === undefined ? all : all.filter((log) => log.logIndex === logIndex);
  if (named.length === 0) {
    const message =
      logIndex === undefined ? "the transaction moved no ERC-20 token" : `log ${logIndex} is not an ERC-20 Transfer of this transaction`;
    throw new PaymentError("transfer_not_found", message, logIndex === undefined ? base : { ...base, logIndex });
  }

  const ofToken = named.filter((log) => isAddressEqual(log.token, terms.token));
  if (ofToken.length === 0) {
    const elsewhere = named.find((log) => isAddressEqual(log.to, terms.payTo));
    if (elsewhere !== undefined) {
      throw new PaymentError("wrong_token", `the transfer to ${terms.payTo} moved ${elsewhere.token}, not ${terms.token}`, {
        ...base,
        expected: terms.token,
        actual: elsewhere.token,
      });
    }
    throw new PaymentError("transfer_not_found", `the transaction has no transfer of ${terms.token}`, base);
  }

  const toPayee = ofToken.filter((log) => isAddressEqual(log.to, terms.payTo));
  if (toPayee.length === 0) {
    const actual = ofToken[0]?.to;
    throw new PaymentError("wrong_recipient", `the transfer pays ${actual}, not ${terms.payTo}`, {
      ...base,
      expected: terms.payTo,
      actual,
    });
  }

  const fromPayer = toPayee.filter((log) => isAddressEqual(log.from, terms.payer));
  if (fromPayer.length === 0) {
    // Somebody else's transfer: a payer whose proof names a transfer it did not make.
    throw new PaymentError("transfer_not_found", `the transaction has no transfer from ${terms.payer} to ${terms.payTo}`, base);
  }

  const plain = fromPayer.filter((log) => !log.byAuthorization);
  if (plain.length === 0) {
    throw new PaymentError(
      "transfer_already_used",
      "the transfer was made with an EIP-3009 authorization, which pays under the exact scheme and cannot pay twice",
      base,
    );
  }

  const enough = plain.find((log) => log.value >= terms.amount);
  if (enough === undefined) {
    const largest = plain.reduce((a, b) => (b.value > a.value ? b : a));
    throw new PaymentError("amount_mismatch", `the transfer is for ${largest.value}, the price is ${terms.amount}`, {
      ...base,
      expected: terms.amount.toString(),
      actual: largest.value.toString(),
    });
  }
  return enough;
}
