/**
 * `verified` escrow rows, as the payment flow leaves a payment it served on credit, for the
 * settlement section: built from real signed payloads the way the escrow scheme builds them
 * (checked against the scheme's own `verify` on a sample), then inserted in bulk.
 */
import { type Address, getAddress } from "viem";
import type { Database, SqlValue } from "../../gateway/db/index.js";
import {
  type VerifiedPayment,
  encodeEscrowSettlementData,
  escrowPaymentKey,
  escrowPayloadSchema,
} from "../../gateway/schemes/index.js";
import { rowFields } from "../../gateway/payments/store.js";
import type { EscrowWirePayload } from "./sign.js";

/** What the escrow scheme's verify returns for this payload, decided async (a committed payer). */
export function verifiedEscrowPayment(chainId: number, escrow: Address, wire: EscrowWirePayload): VerifiedPayment {
  const payload = escrowPayloadSchema.parse(wire);
  const a = payload.authorization;
  return {
    scheme: "escrow",
    chainId,
    payer: getAddress(a.payer),
    payee: getAddress(a.payee),
    token: getAddress(a.token),
    amount: a.amount,
    paymentKey: escrowPaymentKey(chainId, escrow, a.payer, a.nonce),
    nonce: a.nonce.toString(10),
    validBefore: a.validBefore,
    settlementData: encodeEscrowSettlementData({ ...payload, mode: "async", escrow }),
  };
}

const COLUMNS = 16;
const ROWS_PER_INSERT = 500;
const BODY = Buffer.from('{"city":"Lisbon","temperatureC":21}');

/** Inserts the payments as `verified` rows with their response stored, 500 to a statement. */
export async function insertVerified(db: Database, payments: readonly VerifiedPayment[]): Promise<void> {
  for (let start = 0; start < payments.length; start += ROWS_PER_INSERT) {
    const chunk = payments.slice(start, start + ROWS_PER_INSERT);
    const values: SqlValue[] = [];
    const tuples = chunk.map((p, i) => {
      values.push(
        ...rowFields(p, `GET /bench/paid ${start + i}`, undefined),
        p.settlementData,
        200,
        { "content-type": "application/json" },
        BODY,
      );
      const base = i * COLUMNS;
      return `(${Array.from({ length: COLUMNS }, (_, k) => `$${base + k + 1}`).join(", ")}, 'verified')`;
    });
    await db.query(
      `INSERT INTO payments (payment_key, scheme, network, chain_id, token, payer, payee, amount, nonce, valid_before,
                             request_fingerprint, tx_hash, payload, response_status, response_headers, response_body, state)
       VALUES ${tuples.join(", ")}`,
      values,
    );
  }
}
