import { expect } from "chai";
import { z } from "zod";
import { type Address, type Hex, getAddress, maxUint256 } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  PaymentError,
  type ErrorCode,
  type PaymentRequirementsV1,
  type PaymentRequirementsV2,
  type PaymentRequiredV2,
  addressSchema,
  bytes32Schema,
  caip2,
  caip2NetworkSchema,
  decodePaymentPayload,
  decodePaymentRequired,
  decodeSettlementResponse,
  encodeHeaderJson,
  encodePaymentPayload,
  encodePaymentRequired,
  encodeSettlementResponse,
  errorCodes,
  errorStatus,
  facilitatorReason,
  facilitatorRequestSchema,
  fieldErrors,
  findAcceptedV2,
  hexBytesSchema,
  isErrorCode,
  isPaymentError,
  jsonEqual,
  parseCaip2,
  parseFacilitatorRequest,
  parsePaymentRequiredV1Body,
  paymentPayloadV1Schema,
  paymentPayloadV2Schema,
  paymentRequiredV1Body,
  paymentRequiredV1Schema,
  paymentRequirementsV1Schema,
  paymentRequirementsV2Schema,
  requirementMismatchV2,
  settleResponseSchema,
  signatureSchema,
  skaleBase,
  skaleBaseSepolia,
  skaleChain,
  supportedResponseSchema,
  timeoutSecondsSchema,
  uint256StringSchema,
  v1NetworkChainId,
  v1NetworkName,
  verifyResponseSchema,
} from "../../gateway/x402/index.js";

// ---------------------------------------------------------------------------------------------
// Fixtures shaped like the official clients' traffic.

const payer = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
const PAY_TO = getAddress("0x70997970c51812dc3a010c7d01b50e0d17dc79c8");
const USDC = getAddress("0x2e08028e3c4c2356572e096d8ef835cd5c6030bd");
const USDC_EXTRA = { name: "Bridged USDC (SKALE Bridge)", version: "2" };
const RESOURCE = "https://gateway.example.com/v1/weather?city=Berlin";

const transferWithAuthorizationTypes = {
  TransferWithAuthorization: [
    { name: "from", type: "address" },
    { name: "to", type: "address" },
    { name: "value", type: "uint256" },
    { name: "validAfter", type: "uint256" },
    { name: "validBefore", type: "uint256" },
    { name: "nonce", type: "bytes32" },
  ],
} as const;

const NONCE = "0x8f3b1c1e0c5d9a0b7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d" as Hex;
const NOW = 1_760_000_000;

async function signAuthorization(chainId: number, to: Address, value: string, validAfter: string, validBefore: string) {
  const signature = await payer.signTypedData({
    domain: { ...USDC_EXTRA, chainId, verifyingContract: USDC },
    types: transferWithAuthorizationTypes,
    primaryType: "TransferWithAuthorization",
    message: {
      from: payer.address,
      to,
      value: BigInt(value),
      validAfter: BigInt(validAfter),
      validBefore: BigInt(validBefore),
      nonce: NONCE,
    },
  });
  // Both client generations send every authorization field as a decimal string.
  return { signature, authorization: { from: payer.address, to, value, validAfter, validBefore, nonce: NONCE } };
}

const offeredV1: PaymentRequirementsV1 = {
  scheme: "exact",
  network: "skale-base-sepolia",
  maxAmountRequired: 10_000n,
  resource: RESOURCE,
  description: "Current weather",
  mimeType: "application/json",
  payTo: PAY_TO,
  maxTimeoutSeconds: 60,
  asset: USDC,
  extra: USDC_EXTRA,
};

const offeredV2: PaymentRequirementsV2 = {
  scheme: "exact",
  network: "eip155:324705682",
  amount: 10_000n,
  asset: USDC,
  payTo: PAY_TO,
  maxTimeoutSeconds: 60,
  extra: USDC_EXTRA,
};

const requiredV2: PaymentRequiredV2 = {
  x402Version: 2,
  error: "Payment required",
  resource: { url: RESOURCE, description: "Current weather", mimeType: "application/json" },
  accepts: [offeredV2, { ...offeredV2, network: "eip155:1187947933" }],
  extensions: { bazaar: { info: { input: { type: "http", method: "GET" } } } },
};

function caught(run: () => unknown): PaymentError {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(PaymentError);
    return error as PaymentError;
  }
  expect.fail("expected a PaymentError");
}

function expectCode(run: () => unknown, code: ErrorCode): PaymentError {
  const error = caught(run);
  expect(error.code, error.message).to.equal(code);
  return error;
}

// ---------------------------------------------------------------------------------------------

describe("x402 errors", () => {
  it("gives every code a status in its class and a one-line description", () => {
    const byStatus: Record<number, string[]> = {};
    for (const [code, info] of Object.entries(errorCodes)) {
      expect(info.description).to.be.a("string").and.not.match(/\n/);
      expect(info.description.length).to.be.greaterThan(10);
      (byStatus[info.status] ??= []).push(code);
    }
    expect(byStatus[400]).to.have.members(["invalid_request", "batch_path_not_allowed"]);
    expect(byStatus[401]).to.have.members(["unauthorized", "admin_unauthorized"]);
    expect(byStatus[403]).to.have.members(["admin_forbidden", "admin_disabled"]);
    expect(byStatus[404]).to.deep.equal(["not_found"]);
    expect(byStatus[409]).to.deep.equal(["payment_in_flight"]);
    expect(byStatus[422]).to.have.members(["upstream_rejected", "batch_call_rejected"]);
    expect(byStatus[429]).to.deep.equal(["rate_limited"]);
    expect(byStatus[502]).to.deep.equal(["upstream_failed"]);
    expect(byStatus[503]).to.have.members([
      "chain_unavailable",
      "database_unavailable",
      "price_unavailable",
      "route_disabled",
      "upstream_unavailable",
    ]);
    expect(byStatus[402]).to.include.members([
      "malformed_payment",
      "unsupported_version",
      "unsupported_scheme",
      "wrong_network",
      "unsupported_token",
      "amount_mismatch",
      "wrong_recipient",
      "invalid_signature",
      "expired",
      "not_yet_valid",
      "nonce_used",
      "insufficient_funds",
      "requirements_mismatch",
      "transfer_not_found",
      "transfer_failed",
      "transfer_already_used",
      "insufficient_confirmations",
      "wrong_token",
      "settlement_failed",
      "payment_required",
    ]);
    expect(errorStatus("chain_unavailable")).to.equal(503);
  });

  it("PaymentError carries code, status, message and details", () => {
    const error = new PaymentError("invalid_request", "bad query", { fields: { limit: ["too big"] } });
    expect(error).to.be.instanceOf(Error);
    expect(isPaymentError(error)).to.equal(true);
    expect(isPaymentError(new Error("x"))).to.equal(false);
    expect(error.name).to.equal("PaymentError");
    expect(error.code).to.equal("invalid_request");
    expect(error.status).to.equal(400);
    expect(error.message).to.equal("bad query");
    expect(error.details).to.deep.equal({ fields: { limit: ["too big"] } });
    expect(new PaymentError("expired").message).to.equal(errorCodes.expired.description);
    expect(isErrorCode("expired")).to.equal(true);
    expect(isErrorCode("toString")).to.equal(false);
  });

  it("collects zod issues per field", () => {
    const result = z.object({ a: z.object({ b: z.string() }), c: z.number() }).safeParse({ a: { b: 1 }, c: "x" });
    expect(result.success).to.equal(false);
    const fields = fieldErrors(result.error!);
    expect(Object.keys(fields)).to.have.members(["a.b", "c"]);
  });

  it("maps codes to the facilitator API's reason strings", () => {
    const expected: [ErrorCode, string][] = [
      ["invalid_signature", "invalid_exact_evm_payload_signature"],
      ["expired", "invalid_exact_evm_payload_authorization_valid_before"],
      ["not_yet_valid", "invalid_exact_evm_payload_authorization_valid_after"],
      ["amount_mismatch", "invalid_exact_evm_payload_authorization_value"],
      ["wrong_recipient", "invalid_exact_evm_payload_recipient_mismatch"],
      ["insufficient_funds", "insufficient_funds"],
      ["wrong_network", "invalid_network"],
      ["malformed_payment", "invalid_payload"],
      ["unsupported_scheme", "unsupported_scheme"],
      ["unsupported_version", "invalid_x402_version"],
      ["nonce_used", "invalid_transaction_state"],
      ["requirements_mismatch", "invalid_payment_requirements"],
    ];
    for (const [code, reason] of expected) {
      expect(facilitatorReason(code, "verify"), code).to.equal(reason);
      expect(facilitatorReason(code, "settle"), code).to.equal(reason);
    }
    expect(facilitatorReason("chain_unavailable", "verify")).to.equal("unexpected_verify_error");
    expect(facilitatorReason("settlement_failed", "settle")).to.equal("unexpected_settle_error");
  });
});

describe("x402 networks", () => {
  it("converts chain ids to and from CAIP-2", () => {
    expect(caip2(324705682)).to.equal("eip155:324705682");
    expect(parseCaip2("eip155:324705682")).to.equal(324705682);
    expect(parseCaip2(caip2(skaleBase.chainId))).to.equal(1187947933);
    for (const bad of [
      "eip155:0",
      "eip155:01",
      "eip155:-1",
      "eip155:",
      "eip155:0x1",
      "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp",
      "324705682",
      "EIP155:1",
      "eip155:99999999999999999",
    ]) {
      expect(parseCaip2(bad), bad).to.equal(undefined);
    }
    expect(() => caip2(0)).to.throw(RangeError);
    expect(() => caip2(1.5)).to.throw(RangeError);
  });

  it("knows the SKALE chains and which have a v1 name", () => {
    expect(skaleChain(324705682)).to.equal(skaleBaseSepolia);
    expect(skaleChain(1187947933)).to.equal(skaleBase);
    expect(skaleChain(1)).to.equal(undefined);
    expect(v1NetworkName(324705682)).to.equal("skale-base-sepolia");
    expect(v1NetworkName(1187947933)).to.equal(undefined);
    expect(v1NetworkChainId("skale-base-sepolia")).to.equal(324705682);
    expect(v1NetworkChainId("skale-base")).to.equal(undefined);
    expect(v1NetworkChainId("__proto__")).to.equal(undefined);
  });

  it("validates CAIP-2 syntax on the wire", () => {
    expect(caip2NetworkSchema.parse("eip155:324705682")).to.equal("eip155:324705682");
    for (const bad of ["skale-base-sepolia", "eip155", ":1", "eip155:", "e:1", "eip155:1 ", "eip155:a/b"]) {
      expect(caip2NetworkSchema.safeParse(bad).success, bad).to.equal(false);
    }
  });
});

describe("x402 wire primitives", () => {
  it("decodes canonical decimal integers to bigint and back", () => {
    for (const [wire, value] of [
      ["0", 0n],
      ["1", 1n],
      ["10000", 10_000n],
      [maxUint256.toString(), maxUint256],
    ] as const) {
      expect(uint256StringSchema.parse(wire)).to.equal(value);
      expect(z.encode(uint256StringSchema, value)).to.equal(wire);
    }
  });

  it("rejects every non-canonical or out-of-range integer", () => {
    const bad: unknown[] = [
      "-1",
      "-0",
      "+1",
      "1.0",
      "1.",
      ".5",
      "1e6",
      "1E6",
      "0x10",
      "0X10",
      "0b1",
      "01",
      "00",
      "007",
      "",
      " 1",
      "1 ",
      "1_000",
      "1,000",
      "١٢",
      "Infinity",
      "NaN",
      (maxUint256 + 1n).toString(),
      "9".repeat(78),
      "1" + "0".repeat(78),
      10000,
      10000n,
      null,
    ];
    for (const value of bad) {
      expect(uint256StringSchema.safeParse(value).success, String(value)).to.equal(false);
    }
  });

  it("normalizes addresses to their checksum and refuses bad ones", () => {
    const lower = PAY_TO.toLowerCase();
    expect(addressSchema.parse(lower)).to.equal(PAY_TO);
    expect(addressSchema.parse(PAY_TO)).to.equal(PAY_TO);
    expect(z.encode(addressSchema, lower as Address)).to.equal(PAY_TO);
    const badChecksum = PAY_TO.replace(/[a-f]/, (c) => c.toUpperCase());
    expect(badChecksum).not.to.equal(PAY_TO);
    for (const bad of [
      badChecksum,
      PAY_TO.slice(0, 41),
      PAY_TO + "0",
      PAY_TO.slice(2),
      "0X" + PAY_TO.slice(2),
      "0x" + "g".repeat(40),
      " " + PAY_TO,
      "",
      42,
    ]) {
      expect(addressSchema.safeParse(bad).success, String(bad)).to.equal(false);
    }
  });

  it("bounds and lower-cases hex byte strings", () => {
    expect(bytes32Schema.parse(NONCE.toUpperCase().replace("0X", "0x"))).to.equal(NONCE);
    for (const bad of [NONCE.slice(0, -1), NONCE + "0", NONCE + "00", NONCE.slice(2), "0x" + "z".repeat(64), ""]) {
      expect(bytes32Schema.safeParse(bad).success, bad).to.equal(false);
    }
    const sig65 = "0x" + "ab".repeat(65);
    expect(signatureSchema.parse(sig65)).to.equal(sig65);
    expect(signatureSchema.parse("0x" + "ab".repeat(64))).to.have.length(130);
    expect(signatureSchema.safeParse("0x" + "ab".repeat(63)).success).to.equal(false);
    expect(signatureSchema.safeParse(sig65 + "a").success).to.equal(false);
    expect(signatureSchema.safeParse("0x" + "ab".repeat(4097)).success).to.equal(false);
    expect(hexBytesSchema({ min: 1, max: 2 }).safeParse("0x").success).to.equal(false);
  });

  it("accepts only sane timeouts", () => {
    expect(timeoutSecondsSchema.parse(60)).to.equal(60);
    for (const bad of [0, -1, 1.5, 2 ** 32, "60", Number.NaN]) {
      expect(timeoutSecondsSchema.safeParse(bad).success, String(bad)).to.equal(false);
    }
  });
});

describe("x402 v1 messages", () => {
  it("round-trips requirements and the 402 body", () => {
    const body = paymentRequiredV1Body({ x402Version: 1, error: "X-PAYMENT header is required", accepts: [offeredV1] });
    const wire = JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
    expect(wire).to.deep.equal({
      x402Version: 1,
      error: "X-PAYMENT header is required",
      accepts: [
        {
          scheme: "exact",
          network: "skale-base-sepolia",
          maxAmountRequired: "10000",
          resource: RESOURCE,
          description: "Current weather",
          mimeType: "application/json",
          payTo: PAY_TO,
          maxTimeoutSeconds: 60,
          asset: USDC,
          extra: USDC_EXTRA,
        },
      ],
    });
    expect(parsePaymentRequiredV1Body(wire)).to.deep.equal({
      x402Version: 1,
      error: "X-PAYMENT header is required",
      accepts: [offeredV1],
    });
    const withSchema = { ...offeredV1, outputSchema: { input: { type: "http", method: "GET" } } };
    expect(paymentRequirementsV1Schema.parse(z.encode(paymentRequirementsV1Schema, withSchema))).to.deep.equal(
      withSchema,
    );
  });

  it("encodes everything the v1 client's strict schema demands", () => {
    const [entry] = paymentRequiredV1Body({ x402Version: 1, error: "", accepts: [offeredV1] }).accepts;
    expect(entry).to.not.equal(undefined);
    expect(entry!.network).to.equal(v1NetworkName(skaleBaseSepolia.chainId));
    expect(entry!.maxAmountRequired).to.match(/^\d+$/);
    expect(Number.isInteger(entry!.maxTimeoutSeconds)).to.equal(true);
    expect(() => new URL(entry!.resource)).not.to.throw();
    expect(entry!.payTo).to.match(/^0x[0-9a-fA-F]{40}$/);
    for (const key of [
      "scheme",
      "network",
      "maxAmountRequired",
      "resource",
      "description",
      "mimeType",
      "payTo",
      "maxTimeoutSeconds",
      "asset",
    ]) {
      expect(entry).to.have.property(key);
    }
  });

  it("rejects bad requirements field by field", () => {
    const wire = z.encode(paymentRequirementsV1Schema, offeredV1);
    const cases: Record<string, unknown>[] = [
      { ...wire, maxAmountRequired: "1.5" },
      { ...wire, maxAmountRequired: 10000 },
      { ...wire, network: "eip155:324705682" },
      { ...wire, resource: "/relative" },
      { ...wire, resource: "ftp://example.com/x" },
      { ...wire, payTo: "0x123" },
      { ...wire, asset: "USDC" },
      { ...wire, maxTimeoutSeconds: "60" },
      { ...wire, description: undefined },
      { ...wire, extra: "name" },
    ];
    for (const value of cases) {
      expect(paymentRequirementsV1Schema.safeParse(value).success, JSON.stringify(value)).to.equal(false);
    }
    expect(paymentRequiredV1Schema.safeParse({ x402Version: 2, error: "", accepts: [] }).success).to.equal(false);
  });

  it("decodes an X-PAYMENT header exactly as x402-fetch 1.x builds it", async () => {
    const validAfter = String(NOW - 600);
    const validBefore = String(NOW + offeredV1.maxTimeoutSeconds);
    const payload = await signAuthorization(skaleBaseSepolia.chainId, PAY_TO, "10000", validAfter, validBefore);
    const header = Buffer.from(
      JSON.stringify({ x402Version: 1, scheme: "exact", network: "skale-base-sepolia", payload }),
    ).toString("base64");

    const decoded = decodePaymentPayload(header, { version: 1 });
    expect(decoded).to.deep.equal({ x402Version: 1, scheme: "exact", network: "skale-base-sepolia", payload });
    expect(decoded.x402Version).to.equal(1);
    expect(decodePaymentPayload(encodePaymentPayload(decoded))).to.deep.equal(decoded);
  });

  it("rejects malformed v1 envelopes", () => {
    const ok = { x402Version: 1, scheme: "exact", network: "skale-base-sepolia", payload: {} };
    const cases: Record<string, unknown>[] = [
      { ...ok, scheme: undefined },
      { ...ok, scheme: "EXACT" },
      { ...ok, network: "Skale Base" },
      { ...ok, payload: "0xdeadbeef" },
      { ...ok, payload: [] },
      { ...ok, payload: null },
    ];
    for (const value of cases) {
      const error = expectCode(
        () => decodePaymentPayload(encodeHeaderJson(value), { version: 1 }),
        "malformed_payment",
      );
      expect(error.details).to.have.property("fields");
    }
  });

  it("round-trips settlement responses, success and failure", () => {
    const hash = `0x${"1f".repeat(32)}` as Hex;
    const success = { success: true, transaction: hash, network: "skale-base-sepolia", payer: payer.address } as const;
    const header = encodeSettlementResponse(success, 1);
    expect(JSON.parse(Buffer.from(header, "base64").toString())).to.deep.equal(success);
    expect(decodeSettlementResponse(header, 1)).to.deep.equal(success);

    const failure = {
      success: false,
      transaction: "",
      network: "skale-base-sepolia",
      errorReason: "insufficient_funds",
    } as const;
    expect(decodeSettlementResponse(encodeSettlementResponse(failure, 1), 1)).to.deep.equal(failure);

    // A payment accepted for batched settlement succeeds before any transaction exists.
    const deferred = { ...success, transaction: "" } as const;
    expect(decodeSettlementResponse(encodeHeaderJson(deferred), 1)).to.deep.equal(deferred);
    expectCode(
      () => decodeSettlementResponse(encodeHeaderJson({ ...success, transaction: "0x1234" }), 1),
      "malformed_payment",
    );
    expectCode(
      () => decodeSettlementResponse(encodeHeaderJson({ ...success, payer: undefined }), 1),
      "malformed_payment",
    );
    expectCode(
      () => decodeSettlementResponse(encodeHeaderJson({ ...failure, errorReason: undefined }), 1),
      "malformed_payment",
    );
    expectCode(
      () => decodeSettlementResponse(encodeHeaderJson({ ...success, network: "eip155:1" }), 1),
      "malformed_payment",
    );
  });
});

describe("x402 v2 messages", () => {
  it("round-trips the PAYMENT-REQUIRED header", () => {
    const header = encodePaymentRequired(requiredV2);
    const wire = JSON.parse(Buffer.from(header, "base64").toString()) as { accepts: unknown[] };
    expect(wire.accepts[0]).to.deep.equal({
      scheme: "exact",
      network: "eip155:324705682",
      amount: "10000",
      asset: USDC,
      payTo: PAY_TO,
      maxTimeoutSeconds: 60,
      extra: USDC_EXTRA,
    });
    expect(decodePaymentRequired(header)).to.deep.equal(requiredV2);
    const minimal: PaymentRequiredV2 = { x402Version: 2, resource: { url: RESOURCE }, accepts: [offeredV2] };
    expect(decodePaymentRequired(encodePaymentRequired(minimal))).to.deep.equal(minimal);
  });

  it("rejects bad requirements field by field", () => {
    const wire = z.encode(paymentRequirementsV2Schema, offeredV2);
    const cases: Record<string, unknown>[] = [
      { ...wire, amount: "-1" },
      { ...wire, amount: "0x2710" },
      { ...wire, amount: "010000" },
      { ...wire, amount: "1e4" },
      { ...wire, amount: (maxUint256 + 1n).toString() },
      { ...wire, network: "skale-base-sepolia" },
      { ...wire, asset: USDC.toLowerCase().replace("0x", "") },
      { ...wire, payTo: PAY_TO.replace(/[a-f]/, (c) => c.toUpperCase()) },
      { ...wire, maxTimeoutSeconds: 0 },
      { ...wire, scheme: "" },
    ];
    for (const value of cases) {
      expect(paymentRequirementsV2Schema.safeParse(value).success, JSON.stringify(value)).to.equal(false);
    }
  });

  it("decodes a PAYMENT-SIGNATURE exactly as @x402/fetch 2.x builds it", async () => {
    // The client reads the PAYMENT-REQUIRED header, signs with validAfter "0", and echoes the
    // chosen entry, the resource and the extensions verbatim.
    const required = JSON.parse(Buffer.from(encodePaymentRequired(requiredV2), "base64").toString()) as {
      x402Version: number;
      resource: unknown;
      accepts: { network: string; payTo: Address; amount: string; maxTimeoutSeconds: number }[];
      extensions: unknown;
    };
    const accepted = required.accepts[0]!;
    const chainId = Number(accepted.network.split(":")[1]);
    const payload = await signAuthorization(
      chainId,
      accepted.payTo,
      accepted.amount,
      "0",
      String(NOW + accepted.maxTimeoutSeconds),
    );
    const header = btoa(
      JSON.stringify({
        x402Version: required.x402Version,
        payload,
        extensions: required.extensions,
        resource: required.resource,
        accepted,
      }),
    );

    const decoded = decodePaymentPayload(header, { version: 2 });
    if (decoded.x402Version !== 2) expect.fail("expected v2");
    expect(decoded.accepted).to.deep.equal(offeredV2);
    expect(decoded.payload).to.deep.equal(payload);
    expect(decoded.resource).to.deep.equal(requiredV2.resource);
    expect(decoded.extensions).to.deep.equal(requiredV2.extensions);
    expect(findAcceptedV2(requiredV2.accepts, decoded.accepted)).to.equal(offeredV2);
    expect(decodePaymentPayload(encodePaymentPayload(decoded))).to.deep.equal(decoded);
  });

  it("tolerates an informational resource that is not a URL", () => {
    const value = {
      x402Version: 2,
      resource: { url: "", description: "", mimeType: "" },
      accepted: z.encode(paymentRequirementsV2Schema, offeredV2),
      payload: {},
    };
    expect(paymentPayloadV2Schema.parse(value).resource).to.deep.equal({ url: "", description: "", mimeType: "" });
  });

  it("rejects malformed v2 envelopes", () => {
    const ok = { x402Version: 2, accepted: z.encode(paymentRequirementsV2Schema, offeredV2), payload: {} };
    const cases: Record<string, unknown>[] = [
      { ...ok, accepted: undefined },
      { ...ok, accepted: { ...ok.accepted, amount: "1.0" } },
      { ...ok, payload: "signed" },
      { ...ok, extensions: [] },
      { ...ok, resource: "https://example.com" },
    ];
    for (const value of cases) {
      expectCode(() => decodePaymentPayload(encodeHeaderJson(value), { version: 2 }), "malformed_payment");
    }
  });

  it("round-trips settlement responses", () => {
    const hash = `0x${"ab".repeat(32)}` as Hex;
    const success = { success: true, transaction: hash, network: caip2(324705682), payer: payer.address } as const;
    expect(decodeSettlementResponse(encodeSettlementResponse(success, 2), 2)).to.deep.equal(success);
    const failure = {
      success: false,
      transaction: hash,
      network: caip2(324705682),
      payer: payer.address,
      errorReason: "settlement_failed",
    } as const;
    expect(decodeSettlementResponse(encodeSettlementResponse(failure, 2), 2)).to.deep.equal(failure);
    expectCode(
      () => decodeSettlementResponse(encodeHeaderJson({ ...success, network: "skale-base-sepolia" }), 2),
      "malformed_payment",
    );
    expectCode(
      () => decodeSettlementResponse(encodeHeaderJson({ ...success, payer: undefined }), 2),
      "malformed_payment",
    );
  });
});

describe("x402 version handling", () => {
  const v1 = { x402Version: 1, scheme: "exact", network: "skale-base-sepolia", payload: {} };
  const v2 = { x402Version: 2, accepted: z.encode(paymentRequirementsV2Schema, offeredV2), payload: {} };

  it("dispatches on x402Version when the header does not imply one", () => {
    expect(decodePaymentPayload(encodeHeaderJson(v1)).x402Version).to.equal(1);
    expect(decodePaymentPayload(encodeHeaderJson(v2)).x402Version).to.equal(2);
  });

  it("rejects unknown versions and versions other than the header's", () => {
    for (const version of [0, 3, 99, -1]) {
      const error = expectCode(
        () => decodePaymentPayload(encodeHeaderJson({ ...v2, x402Version: version })),
        "unsupported_version",
      );
      expect(error.status).to.equal(402);
    }
    expectCode(() => decodePaymentPayload(encodeHeaderJson(v1), { version: 2 }), "unsupported_version");
    expectCode(() => decodePaymentPayload(encodeHeaderJson(v2), { version: 1 }), "unsupported_version");
    expectCode(
      () => decodePaymentRequired(encodeHeaderJson({ x402Version: 1, error: "", accepts: [] })),
      "unsupported_version",
    );
  });

  it("treats a missing or non-integer version as malformed", () => {
    for (const version of [undefined, "1", 1.5, null, true]) {
      expectCode(() => decodePaymentPayload(encodeHeaderJson({ ...v1, x402Version: version })), "malformed_payment");
    }
  });
});

describe("x402 v2 requirement matching", () => {
  const echo = (): PaymentRequirementsV2 =>
    paymentRequirementsV2Schema.parse(JSON.parse(JSON.stringify(z.encode(paymentRequirementsV2Schema, offeredV2))));

  it("matches a verbatim echo", () => {
    expect(requirementMismatchV2(offeredV2, echo())).to.equal(undefined);
    expect(findAcceptedV2([offeredV2], echo())).to.equal(offeredV2);
  });

  it("compares addresses case-insensitively", () => {
    const lowerCaseOffer = {
      ...offeredV2,
      payTo: PAY_TO.toLowerCase() as Address,
      asset: USDC.toLowerCase() as Address,
    };
    expect(requirementMismatchV2(lowerCaseOffer, echo())).to.equal(undefined);
    const decodedFromLower = paymentRequirementsV2Schema.parse({
      ...z.encode(paymentRequirementsV2Schema, offeredV2),
      payTo: PAY_TO.toLowerCase(),
      asset: USDC.toLowerCase(),
    });
    expect(requirementMismatchV2(offeredV2, decodedFromLower)).to.equal(undefined);
  });

  it("tolerates extra keys the client adds to extra", () => {
    expect(
      requirementMismatchV2(offeredV2, { ...echo(), extra: { ...USDC_EXTRA, assetTransferMethod: "eip3009" } }),
    ).to.equal(undefined);
    expect(requirementMismatchV2({ ...offeredV2, extra: undefined }, { ...echo(), extra: undefined })).to.equal(
      undefined,
    );
    expect(requirementMismatchV2({ ...offeredV2, extra: undefined }, echo())).to.equal(undefined);
  });

  const mismatches: [string, Partial<PaymentRequirementsV2>][] = [
    ["scheme", { scheme: "upto" }],
    ["network", { network: "eip155:1187947933" }],
    ["amount", { amount: 10_001n }],
    ["amount", { amount: 9_999n }],
    ["asset", { asset: PAY_TO }],
    ["payTo", { payTo: USDC }],
    ["maxTimeoutSeconds", { maxTimeoutSeconds: 61 }],
    ["extra", { extra: { name: USDC_EXTRA.name } }],
    ["extra", { extra: { ...USDC_EXTRA, version: "1" } }],
    ["extra", { extra: { name: "USD Coin", version: "2" } }],
    ["extra", { extra: {} }],
    ["extra", { extra: undefined }],
  ];
  for (const [field, change] of mismatches) {
    it(`reports a ${field} mismatch (${JSON.stringify(change, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v))})`, () => {
      const accepted = { ...echo(), ...change };
      expect(requirementMismatchV2(offeredV2, accepted)).to.equal(field);
      expect(findAcceptedV2([offeredV2], accepted)).to.equal(undefined);
    });
  }

  it("compares nested extra values structurally", () => {
    const offered = { ...offeredV2, extra: { ...USDC_EXTRA, limits: { min: "1", tiers: [1, 2] } } };
    const reordered = {
      ...echo(),
      extra: { limits: { tiers: [1, 2], min: "1" }, version: "2", name: USDC_EXTRA.name },
    };
    expect(requirementMismatchV2(offered, reordered)).to.equal(undefined);
    const swapped = { ...echo(), extra: { ...USDC_EXTRA, limits: { min: "1", tiers: [2, 1] } } };
    expect(requirementMismatchV2(offered, swapped)).to.equal("extra");
    expect(jsonEqual({ a: [1, { b: null }] }, { a: [1, { b: null }] })).to.equal(true);
    expect(jsonEqual({ a: 1 }, { a: 1, b: undefined })).to.equal(false);
    expect(jsonEqual([1], { 0: 1 })).to.equal(false);
    expect(jsonEqual("1", 1)).to.equal(false);
  });

  it("finds the one offer that was accepted among several", () => {
    const offers = requiredV2.accepts;
    const second = { ...echo(), network: "eip155:1187947933" as const };
    expect(findAcceptedV2(offers, second)).to.equal(offers[1]);
    expect(findAcceptedV2(offers, { ...second, amount: 1n })).to.equal(undefined);
    expect(findAcceptedV2([], echo())).to.equal(undefined);
  });
});

describe("x402 facilitator API", () => {
  const v1Payload = {
    x402Version: 1,
    scheme: "exact",
    network: "skale-base-sepolia",
    payload: { signature: `0x${"cd".repeat(65)}`, authorization: {} },
  };
  const v2Payload = { x402Version: 2, accepted: z.encode(paymentRequirementsV2Schema, offeredV2), payload: {} };

  it("parses and re-encodes verify/settle requests of both versions", () => {
    const requests = [
      {
        x402Version: 1,
        paymentPayload: v1Payload,
        paymentRequirements: z.encode(paymentRequirementsV1Schema, offeredV1),
      },
      {
        x402Version: 2,
        paymentPayload: v2Payload,
        paymentRequirements: z.encode(paymentRequirementsV2Schema, offeredV2),
      },
    ];
    for (const request of requests) {
      const parsed = parseFacilitatorRequest(JSON.parse(JSON.stringify(request)) as Record<string, unknown>);
      expect(parsed.x402Version).to.equal(request.x402Version);
      expect(JSON.parse(JSON.stringify(z.encode(facilitatorRequestSchema, parsed)))).to.deep.equal(request);
    }
    const v2 = parseFacilitatorRequest(requests[1]!);
    if (v2.x402Version !== 2) expect.fail("expected v2");
    expect(v2.paymentRequirements.amount).to.equal(10_000n);
  });

  it("rejects bad requests with invalid_request or unsupported_version", () => {
    const req2 = z.encode(paymentRequirementsV2Schema, offeredV2);
    const error = expectCode(
      () => parseFacilitatorRequest({ x402Version: 2, paymentPayload: v1Payload, paymentRequirements: req2 }),
      "invalid_request",
    );
    expect(error.status).to.equal(400);
    expect(error.details).to.have.property("fields");
    expectCode(() => parseFacilitatorRequest({ x402Version: 2, paymentPayload: v2Payload }), "invalid_request");
    expectCode(
      () => parseFacilitatorRequest({ paymentPayload: v2Payload, paymentRequirements: req2 }),
      "invalid_request",
    );
    expectCode(
      () => parseFacilitatorRequest({ x402Version: 3, paymentPayload: v2Payload, paymentRequirements: req2 }),
      "unsupported_version",
    );
  });

  it("round-trips verify responses", () => {
    const valid = { isValid: true, payer: payer.address } as const;
    const invalid = {
      isValid: false,
      invalidReason: facilitatorReason("expired", "verify"),
      payer: payer.address,
    } as const;
    for (const response of [valid, invalid]) {
      const wire = JSON.parse(JSON.stringify(z.encode(verifyResponseSchema, response))) as unknown;
      expect(verifyResponseSchema.parse(wire)).to.deep.equal(response);
    }
    expect(verifyResponseSchema.safeParse({ isValid: false, invalidReason: "because" }).success).to.equal(false);
    expect(verifyResponseSchema.safeParse({ isValid: false }).success).to.equal(false);
  });

  it("round-trips settle responses in either network spelling", () => {
    const hash = `0x${"ee".repeat(32)}` as Hex;
    const responses = [
      { success: true, transaction: hash, network: "skale-base-sepolia", payer: payer.address },
      { success: true, transaction: hash, network: "eip155:324705682", payer: payer.address },
      { success: false, transaction: "", network: "eip155:324705682", errorReason: "unexpected_settle_error" },
    ] as const;
    for (const response of responses) {
      expect(
        settleResponseSchema.parse(JSON.parse(JSON.stringify(z.encode(settleResponseSchema, response)))),
      ).to.deep.equal(response);
    }
    expect(settleResponseSchema.safeParse({ ...responses[2], errorReason: "nope" }).success).to.equal(false);
  });

  it("round-trips the /supported document", () => {
    const supported = {
      kinds: [
        { x402Version: 1, scheme: "exact", network: "skale-base-sepolia" },
        { x402Version: 2, scheme: "exact", network: "eip155:324705682" },
        { x402Version: 2, scheme: "exact", network: "eip155:1187947933", extra: { note: "x" } },
      ],
      extensions: [],
      signers: { "eip155:*": [payer.address] },
    };
    const parsed = supportedResponseSchema.parse(supported);
    expect(JSON.parse(JSON.stringify(z.encode(supportedResponseSchema, parsed)))).to.deep.equal(supported);
    expect(
      supportedResponseSchema.safeParse({
        ...supported,
        kinds: [{ x402Version: 1, scheme: "exact", network: "eip155:1" }],
      }).success,
    ).to.equal(false);
    expect(
      supportedResponseSchema.safeParse({
        ...supported,
        kinds: [{ x402Version: 2, scheme: "exact", network: "skale-base" }],
      }).success,
    ).to.equal(false);
    expect(supportedResponseSchema.safeParse({ ...supported, signers: { "*": [payer.address] } }).success).to.equal(
      false,
    );
  });

  it("the v1 envelope schema accepts what the facilitator receives", () => {
    expect(paymentPayloadV1Schema.parse(v1Payload)).to.deep.equal(v1Payload);
  });
});
