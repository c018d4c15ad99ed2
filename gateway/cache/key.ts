import { hash } from "node:crypto";

/**
 * Cache keys from a route and its VALIDATED input (after zod has trimmed, lower-cased, sorted and
 * defaulted it), never from the raw query: `?city=London&units=metric` and `?units=metric&city=London`
 * and `?city=London` (metric by default) are one entry. The parameters are hashed so a key has a
 * fixed length whatever the input, and user input never reaches the key's structure.
 */
export function cacheKey(routeId: string, input: unknown): string {
  return `${routeId}:${hash("sha256", canonicalJson(input), "hex")}`;
}

/** JSON with object keys sorted at every level and `undefined` members dropped. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "bigint") return JSON.stringify(value.toString());
    if (value === undefined) return "null";
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const members = Object.keys(value)
    .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
  return `{${members.join(",")}}`;
}
