import { PaymentError } from "./errors.js";

/**
 * Bounds on untrusted input. `maxLength` counts characters of the encoded text (the header value,
 * or the JSON text for plain JSON); `maxDepth` counts nested objects/arrays, the top level being 1.
 */
export interface CodecLimits {
  readonly maxLength: number;
  readonly maxDepth: number;
}

/**
 * 8 KiB stays well under Node's 16 KiB total header budget. A depth of 8 fits every payment the
 * official clients send as long as each extension we offer is at most 6 levels deep: v2 clients
 * echo `extensions` back inside the payment, two levels below its top.
 */
export const defaultCodecLimits: CodecLimits = { maxLength: 8 * 1024, maxDepth: 8 };

export type JsonObject = Record<string, unknown>;

const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/;

/** Keys that turn into prototype writes when a parsed object is later spread or assigned. */
const forbiddenKeys: ReadonlySet<string> = new Set(["__proto__", "constructor", "prototype"]);

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function malformed(message: string): PaymentError {
  return new PaymentError("malformed_payment", message);
}

function resolveLimits(limits: Partial<CodecLimits> | undefined): CodecLimits {
  return { ...defaultCodecLimits, ...limits };
}

/**
 * Strict standard-alphabet base64. Padding may be omitted (some clients strip it), but when present
 * it must be exactly right, and the final character must not carry stray bits: there is exactly one
 * accepted spelling of any byte string, so two different header values never mean the same payment.
 */
export function decodeBase64(value: string, maxLength: number = defaultCodecLimits.maxLength): Uint8Array {
  if (value.length === 0) throw malformed("payment header is empty");
  if (value.length > maxLength) throw malformed(`payment header exceeds ${maxLength} characters`);
  if (!base64Pattern.test(value)) throw malformed("payment header is not standard base64");

  const body = value.replace(/=+$/, "");
  const padded = body.length !== value.length;
  if (padded ? value.length % 4 !== 0 : body.length % 4 === 1) {
    throw malformed("payment header has invalid base64 length or padding");
  }
  const bytes = Buffer.from(body, "base64");
  if (bytes.toString("base64").replace(/=+$/, "") !== body) {
    throw malformed("payment header is not canonical base64");
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

/**
 * Rejects over-deep JSON by counting brackets outside strings, so a "[[[[…" bomb costs one linear
 * scan instead of reaching JSON.parse or any recursive walk.
 */
export function assertJsonDepth(text: string, maxDepth: number): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > maxDepth) throw malformed(`payment JSON nests deeper than ${maxDepth} levels`);
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    }
  }
}

function assertSafeKeys(root: JsonObject): void {
  // Iterative: the depth is already bounded, but an explicit stack keeps this independent of it.
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== "object" || node === null) continue;
    if (Array.isArray(node)) {
      for (const child of node) stack.push(child);
      continue;
    }
    for (const [key, child] of Object.entries(node)) {
      if (forbiddenKeys.has(key)) throw malformed(`payment JSON contains forbidden key "${key}"`);
      stack.push(child);
    }
  }
}

function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses untrusted JSON text whose top level must be an object; also usable for request bodies. */
export function parseJsonObject(text: string, limits?: Partial<CodecLimits>): JsonObject {
  const { maxLength, maxDepth } = resolveLimits(limits);
  if (text.length > maxLength) throw malformed(`payment JSON exceeds ${maxLength} characters`);
  assertJsonDepth(text, maxDepth);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw malformed("payment is not valid JSON");
  }
  if (!isJsonObject(value)) throw malformed("payment JSON must be an object");
  assertSafeKeys(value);
  return value;
}

/** Header value (base64 of UTF-8 JSON) → plain JSON object, within `limits`. */
export function decodeHeaderJson(value: string, limits?: Partial<CodecLimits>): JsonObject {
  const resolved = resolveLimits(limits);
  const bytes = decodeBase64(value, resolved.maxLength);
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw malformed("payment header is not UTF-8");
  }
  // The decoded text is shorter than the header, so only the depth limit still applies.
  return parseJsonObject(text, { maxLength: Number.POSITIVE_INFINITY, maxDepth: resolved.maxDepth });
}

/** Plain JSON object → header value (padded standard base64 of UTF-8 JSON). */
export function encodeHeaderJson(value: JsonObject): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64");
}
