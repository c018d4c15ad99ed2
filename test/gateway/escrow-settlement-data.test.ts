/**
 * `encodeEscrowSettlementData` is zod's encode of `escrowSettlementDataSchema` written out by hand
 * (it runs on every escrow payment). These properties hold it to `z.encode` of the same schema:
 * the same JSON, key order included, for every value zod encodes, and a refusal wherever zod
 * refuses.
 */
import { expect } from "chai";
import fc from "fast-check";
import { type Address, type Hex, bytesToHex, getAddress, maxUint256 } from "viem";
import { z } from "zod";
import {
  type EscrowSettlementData,
  encodeEscrowSettlementData,
  escrowSettlementDataSchema,
} from "../../gateway/schemes/escrow/payload.js";

/** What zod answers: its encoding as JSON text, or that it refused. */
function zodAnswer(data: unknown): string {
  try {
    return JSON.stringify(z.encode(escrowSettlementDataSchema, data as EscrowSettlementData));
  } catch {
    return "refused";
  }
}

function handAnswer(data: unknown): string {
  try {
    return JSON.stringify(encodeEscrowSettlementData(data as EscrowSettlementData));
  } catch {
    return "refused";
  }
}

/** Addresses in every case a decoded or hand-built value may carry: checksummed, lower, upper. */
const arbAddress: fc.Arbitrary<Address> = fc
  .tuple(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.constantFrom("checksum", "lower", "upper"))
  .map(([bytes, form]) => {
    const hex = bytesToHex(bytes);
    if (form === "checksum") return getAddress(hex);
    return (form === "lower" ? hex : `0x${hex.slice(2).toUpperCase()}`) as Address;
  });

/** Hex of `min`..`max` bytes, sometimes in upper or mixed case (the encoding lower-cases it). */
function arbHex(min: number, max: number): fc.Arbitrary<Hex> {
  return fc
    .tuple(fc.uint8Array({ minLength: min, maxLength: max }), fc.boolean())
    .map(([bytes, upper]) => (upper ? `0x${bytesToHex(bytes).slice(2).toUpperCase()}` : bytesToHex(bytes)) as Hex);
}

const arbUint256 = fc.oneof(fc.bigInt({ min: 0n, max: maxUint256 }), fc.bigInt({ min: 0n, max: 2n ** 64n }), fc.constantFrom(0n, maxUint256));

const arbData: fc.Arbitrary<EscrowSettlementData> = fc.record({
  signature: fc.oneof(arbHex(64, 66), arbHex(64, 300)),
  authorization: fc.record({
    payer: arbAddress,
    payee: arbAddress,
    token: arbAddress,
    amount: arbUint256,
    nonce: arbUint256,
    validAfter: arbUint256,
    validBefore: arbUint256,
    challengeHash: arbHex(32, 32),
  }),
  mode: fc.constantFrom("async" as const, "sync" as const),
  escrow: arbAddress,
});

/** One field replaced by something outside its type. */
const arbBroken: fc.Arbitrary<unknown> = fc
  .tuple(
    arbData,
    fc.constantFrom("signature", "payer", "payee", "token", "amount", "nonce", "validAfter", "validBefore", "challengeHash", "mode", "escrow"),
    fc.constantFrom<unknown>(-1n, maxUint256 + 1n, 5, "5", "0x", "0x123", `0x${"zz".repeat(32)}`, `0x${"ab".repeat(31)}`, `0x${"ab".repeat(4097)}`, null, undefined, "later"),
  )
  .map(([data, field, value]) => {
    if (field === "signature" || field === "mode" || field === "escrow") return { ...data, [field]: value };
    return { ...data, authorization: { ...data.authorization, [field]: value } };
  });

describe("escrow settlement data: hand-written encoding against zod's", () => {
  it("encodes every valid value exactly as z.encode does, key order included", () => {
    fc.assert(
      fc.property(arbData, (data) => {
        const zod = zodAnswer(data);
        expect(zod).to.not.equal("refused");
        expect(handAnswer(data)).to.equal(zod);
      }),
      { numRuns: 2_000 },
    );
  });

  it("refuses wherever z.encode refuses, and encodes alike wherever it does not", () => {
    fc.assert(
      fc.property(arbBroken, (data) => {
        expect(handAnswer(data)).to.equal(zodAnswer(data));
      }),
      { numRuns: 2_000 },
    );
  });

  it("refuses a value that is out of range in every field at once", () => {
    const refused = handAnswer({ signature: "0x", authorization: {}, mode: "never", escrow: "0x0" });
    expect(refused).to.equal("refused");
    expect(zodAnswer({ signature: "0x", authorization: {}, mode: "never", escrow: "0x0" })).to.equal("refused");
  });
});
