/**
 * `{param}` placeholders in an operator route's upstream path and query. Path values are
 * percent-encoded as one segment each, and "." / ".." are refused (a URL parser would resolve them
 * and address another endpoint with our API key); query values are encoded by URLSearchParams.
 * Arrays are joined with commas.
 */
import type { ParamInput } from "./params.js";

const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9_]*)\}/g;

export function placeholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

function text(value: unknown): string {
  return Array.isArray(value) ? value.map(String).join(",") : String(value);
}

export class TemplateValueError extends Error {
  override readonly name = "TemplateValueError";
}

export function renderPath(template: string, input: ParamInput): string {
  return template.replace(PLACEHOLDER, (_, name: string) => {
    const value = input[name];
    if (value === undefined) throw new TemplateValueError(`parameter ${name} is required`);
    const segment = text(value);
    if (segment === "" || segment === "." || segment === "..") throw new TemplateValueError(`parameter ${name} may not be "${segment}"`);
    return encodeURIComponent(segment);
  });
}

/** A query value that is exactly one placeholder is left out when its parameter is absent. */
export function renderQuery(templates: Readonly<Record<string, string>>, input: ParamInput): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [key, template] of Object.entries(templates)) {
    const only = /^\{([A-Za-z][A-Za-z0-9_]*)\}$/.exec(template);
    if (only !== null && input[only[1]!] === undefined) continue;
    query[key] = template.replace(PLACEHOLDER, (_, name: string) => (input[name] === undefined ? "" : text(input[name])));
  }
  return query;
}
