import { expect } from "chai";
import {
  PaymentError,
  assertJsonDepth,
  decodeBase64,
  decodeHeaderJson,
  defaultCodecLimits,
  encodeBase64,
  encodeHeaderJson,
  parseJsonObject,
} from "../../gateway/x402/index.js";

function expectMalformed(run: () => unknown, message?: RegExp): PaymentError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  expect(caught, "expected a PaymentError").to.be.instanceOf(PaymentError);
  const error = caught as PaymentError;
  expect(error.code).to.equal("malformed_payment");
  expect(error.status).to.equal(402);
  if (message) expect(error.message).to.match(message);
  return error;
}

const b64 = (text: string): string => Buffer.from(text, "utf8").toString("base64");

describe("x402 codec: base64", () => {
  it("round-trips arbitrary bytes in every padding class", () => {
    for (let length = 0; length < 12; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 53 + 7) & 0xff);
      const encoded = encodeBase64(bytes);
      if (length > 0) expect(decodeBase64(encoded)).to.deep.equal(bytes);
    }
  });

  it("accepts values with their padding stripped", () => {
    expect(Buffer.from(decodeBase64("YQ")).toString()).to.equal("a");
    expect(Buffer.from(decodeBase64("YWI")).toString()).to.equal("ab");
    expect(Buffer.from(decodeBase64("YQ==")).toString()).to.equal("a");
    expect(Buffer.from(decodeBase64("YWI=")).toString()).to.equal("ab");
  });

  it("uses the standard alphabet including + and /", () => {
    expect(Array.from(decodeBase64("+/8="))).to.deep.equal([0xfb, 0xff]);
  });

  const rejected: [string, string][] = [
    ["empty", ""],
    ["url-safe -", "-_8="],
    ["url-safe _", "__8="],
    ["inner space", "YW Jj"],
    ["trailing newline", "YWJj\n"],
    ["leading space", " YWJj"],
    ["dot", "YW.j"],
    ["non-ASCII", "YWJé"],
    ["one pad short", "YQ="],
    ["pad where none belongs", "YWJj="],
    ["double pad on a one-pad group", "YWI=="],
    ["three pads", "YQ==="],
    ["pad in the middle", "YQ==YQ=="],
    ["length 1 mod 4", "YWJjZ"],
    ["single char", "Y"],
    ["stray bits in the last char (one pad)", "YR=="],
    ["stray bits in the last char (unpadded)", "YR"],
    ["stray bits in the last char (two bytes)", "YWJ="],
  ];
  for (const [name, value] of rejected) {
    it(`rejects ${name}`, () => {
      expectMalformed(() => decodeBase64(value));
    });
  }

  it("rejects values over the length limit before decoding them", () => {
    const limit = defaultCodecLimits.maxLength;
    expect(limit).to.equal(8192);
    expect(decodeBase64("A".repeat(limit)).length).to.equal((limit / 4) * 3);
    expectMalformed(() => decodeBase64("A".repeat(limit + 4)), /exceeds 8192/);
    expectMalformed(() => decodeBase64("AAAAAAAA", 4), /exceeds 4/);
    // Not even well-formed: the length check comes first and keeps the work constant.
    expectMalformed(() => decodeBase64("!".repeat(1_000_000)), /exceeds/);
  });
});

describe("x402 codec: header JSON", () => {
  it("round-trips objects, including non-ASCII text", () => {
    const value = { x402Version: 2, note: "ünïcødé ✓ 支付", nested: { list: [1, "two", null, true] } };
    const header = encodeHeaderJson(value);
    expect(header).to.match(/^[A-Za-z0-9+/]+={0,2}$/);
    expect(decodeHeaderJson(header)).to.deep.equal(value);
  });

  it("produces exactly what Buffer/btoa-based clients produce", () => {
    const value = { x402Version: 1, scheme: "exact" };
    expect(encodeHeaderJson(value)).to.equal(b64(JSON.stringify(value)));
    expect(encodeHeaderJson(value)).to.equal(btoa(JSON.stringify(value)));
  });

  it("decodes unpadded headers", () => {
    const header = b64('{"a":1}').replace(/=+$/, "");
    expect(header.endsWith("=")).to.equal(false);
    expect(decodeHeaderJson(header)).to.deep.equal({ a: 1 });
  });

  it("rejects oversize headers using the configured limit", () => {
    const big = encodeHeaderJson({ filler: "x".repeat(7000) });
    expect(big.length).to.be.greaterThan(8192);
    expectMalformed(() => decodeHeaderJson(big), /exceeds 8192/);
    expect(decodeHeaderJson(big, { maxLength: 16_384 })).to.have.property("filler");
    expectMalformed(() => decodeHeaderJson(encodeHeaderJson({ a: 1 }), { maxLength: 8 }), /exceeds 8/);
  });

  it("rejects non-JSON and non-UTF-8 content", () => {
    expectMalformed(() => decodeHeaderJson(b64("{not json")), /not valid JSON/);
    expectMalformed(() => decodeHeaderJson(b64('{"a":1} trailing')), /not valid JSON/);
    expectMalformed(() => decodeHeaderJson(Buffer.from([0x7b, 0xff, 0x7d]).toString("base64")), /UTF-8/);
    expectMalformed(() => decodeHeaderJson(b64('\uFEFF{"a":1}')), /not valid JSON/);
  });

  const nonObjects: [string, string][] = [
    ["array", "[1,2]"],
    ["string", '"hello"'],
    ["number", "42"],
    ["null", "null"],
    ["boolean", "true"],
  ];
  for (const [name, json] of nonObjects) {
    it(`rejects a top-level ${name}`, () => {
      expectMalformed(() => decodeHeaderJson(b64(json)), /must be an object/);
    });
  }

  it("rejects depth bombs by scanning, at any size", () => {
    expectMalformed(() => decodeHeaderJson(b64("[".repeat(5000))), /deeper than 8/);
    expectMalformed(() => decodeHeaderJson(b64('{"a":'.repeat(500) + "1" + "}".repeat(500))), /deeper than 8/);
    // Far beyond what a recursive parser could survive; the scan stops at level 9.
    expectMalformed(() => parseJsonObject("[".repeat(2_000_000), { maxLength: Infinity }), /deeper than 8/);
  });

  it("accepts exactly the maximum depth and rejects one more", () => {
    const nest = (levels: number): string => '{"a":'.repeat(levels - 1) + "{}" + "}".repeat(levels - 1);
    expect(() => decodeHeaderJson(b64(nest(8)))).not.to.throw();
    expectMalformed(() => decodeHeaderJson(b64(nest(9))), /deeper than 8/);
    expect(() => decodeHeaderJson(b64(nest(9)), { maxDepth: 9 })).not.to.throw();
    const arrays = '{"a":' + "[".repeat(7) + "]".repeat(7) + "}";
    expect(() => decodeHeaderJson(b64(arrays))).not.to.throw();
    expectMalformed(() => decodeHeaderJson(b64('{"a":' + "[".repeat(8) + "]".repeat(8) + "}")));
  });

  it("does not count brackets inside strings, escaped quotes included", () => {
    const value = { text: "[[[[[[[[[[{{{{{{{{{{", tricky: 'quote \\" [[[[[[[[[[ "', end: "\\" };
    expect(decodeHeaderJson(encodeHeaderJson(value))).to.deep.equal(value);
    expect(() => assertJsonDepth(JSON.stringify(value), 1)).not.to.throw();
  });

  it("rejects prototype-polluting keys anywhere in the document", () => {
    const cases = [
      '{"__proto__":{"polluted":true}}',
      '{"a":{"__proto__":{"polluted":true}}}',
      '{"a":[1,{"__proto__":{}}]}',
      '{"constructor":{"prototype":{"polluted":true}}}',
      '{"a":{"constructor":1}}',
      '{"a":{"prototype":1}}',
    ];
    for (const json of cases) {
      expectMalformed(() => decodeHeaderJson(b64(json)), /forbidden key/);
    }
    expect(({} as Record<string, unknown>)["polluted"]).to.equal(undefined);
  });

  it("allows the forbidden words as values", () => {
    expect(decodeHeaderJson(b64('{"k":"__proto__","c":["constructor"]}'))).to.deep.equal({
      k: "__proto__",
      c: ["constructor"],
    });
  });

  it("parseJsonObject applies the same rules to plain JSON bodies", () => {
    expect(parseJsonObject('{"x402Version":1}')).to.deep.equal({ x402Version: 1 });
    expectMalformed(() => parseJsonObject("[]"), /must be an object/);
    expectMalformed(() => parseJsonObject('{"__proto__":1}'), /forbidden key/);
    expectMalformed(() => parseJsonObject("x".repeat(9000)), /exceeds 8192/);
    expect(parseJsonObject(JSON.stringify({ s: "x".repeat(9000) }), { maxLength: 10_000 })).to.have.property("s");
  });
});
