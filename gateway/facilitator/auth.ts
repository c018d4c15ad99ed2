import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Bearer tokens for the facilitator API. Settling spends the gateway's gas, so /verify and
 * /settle are for known resource servers only.
 */

/** Shorter tokens can be guessed online; 16 characters of a random token carry ≥ 80 bits. */
export const MIN_TOKEN_LENGTH = 16;

/** Whether an `Authorization` header value carries one of the configured tokens. */
export type BearerCheck = (authorization: string | undefined) => boolean;

const BEARER = /^Bearer[ \t]+([\x21-\x7e]+)[ \t]*$/i;

function digest(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}

/**
 * Compares in constant time: both sides are hashed first, so neither the length nor any prefix of
 * a configured token leaks through timing, and every configured token is compared on every call
 * (no early exit revealing which one matched). Throws RangeError for an empty list or a token
 * shorter than {@link MIN_TOKEN_LENGTH}.
 */
export function bearerTokenCheck(tokens: readonly string[]): BearerCheck {
  if (tokens.length === 0) throw new RangeError("at least one facilitator token is required");
  const digests = tokens.map((token, index) => {
    if (token.length < MIN_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(token)) {
      throw new RangeError(`facilitator token #${index + 1} must be at least ${MIN_TOKEN_LENGTH} printable characters without spaces`);
    }
    return digest(token);
  });
  return (authorization) => {
    const presented = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
    if (presented === undefined) return false;
    const candidate = digest(presented);
    let matched = false;
    for (const expected of digests) matched = timingSafeEqual(candidate, expected) || matched;
    return matched;
  };
}
