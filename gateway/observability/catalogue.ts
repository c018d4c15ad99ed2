import { z } from "zod";
import { type NanoUsd, formatUsd, parseUsd } from "../pricing/index.js";

/**
 * What /openapi.json and the discovery list need to know about one paid route. The catalogue
 * (gateway/catalog) produces these; nothing here calls an upstream.
 */
export interface CatalogueDescription {
  readonly method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Koa-style path, ":name" for a path parameter ("/api/wikipedia/page/:title"). */
  readonly path: string;
  readonly description: string;
  /** List price per call: nano-USD, or a decimal USD string ("0.001"). */
  readonly priceUsd: NanoUsd | bigint | string;
  /** Validates the query (GET/DELETE) or the JSON body (POST/PUT/PATCH). */
  readonly input?: z.ZodType;
  /** Of a successful response; default application/json. */
  readonly mimeType?: string;
  /** False for a route that cannot serve now (e.g. its API key is missing); default true. */
  readonly enabled?: boolean;
  readonly disabledReason?: string;
  readonly tags?: readonly string[];
  /** Stable identifier (operationId); default derived from method and path. */
  readonly name?: string;
}

export const BODY_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH"]);

/** The price as a plain decimal USD string, e.g. "0.001". */
export function priceText(price: CatalogueDescription["priceUsd"]): string {
  return typeof price === "bigint" ? formatUsd(price) : formatUsd(parseUsd(price));
}

/** "/api/wikipedia/page/:title" → "/api/wikipedia/page/{title}" and ["title"]. */
export function openApiPath(path: string): { path: string; params: string[] } {
  const params: string[] = [];
  const converted = path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, (_, name: string) => {
    params.push(name);
    return `{${name}}`;
  });
  return { path: converted, params };
}

export function operationId(entry: CatalogueDescription): string {
  if (entry.name !== undefined) return entry.name;
  const words = entry.path
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w !== "" && w !== "api")
    .map((w) => w[0]?.toUpperCase() + w.slice(1));
  return `${entry.method.toLowerCase()}${words.join("")}`;
}

/** A route's input as JSON Schema 2020-12, in its input form (what a client sends). */
export function jsonSchemaOf(input: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...schema } = z.toJSONSchema(input, { target: "draft-2020-12", io: "input", unrepresentable: "any" }) as Record<string, unknown>;
  return schema;
}
