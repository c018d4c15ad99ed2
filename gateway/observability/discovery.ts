/**
 * The list of paid resources agents can read to find what this gateway sells, in the shape of the
 * x402 Bazaar discovery list (`GET /discovery/resources` in the bazaar extension spec): an
 * `items` array of {resource, type, x402Version, accepts, lastUpdated, …} with `pagination`.
 * Each item carries today's payment requirements (`accepts`, x402 v2, from the same quoting as a
 * 402) and a `bazaar` extension declaring how to call it, whose JSON Schema is the route's input
 * schema. Disabled routes are left out: an agent should not be sent to pay for them.
 */
import { offerV2 } from "../payments/index.js";
import type { Offer, ResourceDescription } from "../schemes/types.js";
import { BODY_METHODS, type CatalogueDescription, jsonSchemaOf, openApiPath, priceText } from "./catalogue.js";

export interface DiscoveryQuery {
  /** The gateway's public base URL, e.g. https://api.example.com. */
  readonly baseUrl: string;
  /** Today's offers for a route (the payment flow's quote); without it `accepts` is empty. */
  readonly quote?: (entry: CatalogueDescription, resource: ResourceDescription) => Promise<readonly Offer[]>;
  readonly type?: string;
  readonly limit?: number;
  readonly offset?: number;
  /** Stamped as lastUpdated; default now. */
  readonly now?: Date;
  readonly onQuoteError?: (entry: CatalogueDescription, error: unknown) => void;
}

export const MAX_DISCOVERY_LIMIT = 1_000;

export async function discoveryList(entries: readonly CatalogueDescription[], query: DiscoveryQuery): Promise<Record<string, unknown>> {
  const limit = query.limit ?? 100;
  const offset = query.offset ?? 0;
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_DISCOVERY_LIMIT) throw new RangeError(`limit must be 1 to ${MAX_DISCOVERY_LIMIT}`);
  if (!Number.isSafeInteger(offset) || offset < 0) throw new RangeError("offset must be a non-negative integer");
  const listed = entries.filter((entry) => (entry.enabled ?? true) && (query.type === undefined || query.type === "http"));
  const page = listed.slice(offset, offset + limit);
  const lastUpdated = (query.now ?? new Date()).toISOString();
  const base = query.baseUrl.replace(/\/+$/, "");

  const items = await Promise.all(
    page.map(async (entry) => {
      const resource: ResourceDescription = { url: `${base}${entry.path}`, description: entry.description, mimeType: entry.mimeType ?? "application/json" };
      let accepts: unknown[] = [];
      if (query.quote !== undefined) {
        try {
          accepts = (await query.quote(entry, resource)).map(offerV2);
        } catch (error) {
          // No fresh price right now: still listed, with nothing to pay until one is back.
          query.onQuoteError?.(entry, error);
        }
      }
      const inputSchema = entry.input === undefined ? undefined : jsonSchemaOf(entry.input);
      const bazaar = bazaarDeclaration(entry, inputSchema);
      return {
        resource: resource.url,
        type: "http",
        x402Version: 2,
        accepts,
        lastUpdated,
        description: entry.description,
        mimeType: resource.mimeType,
        ...(entry.tags === undefined ? {} : { tags: entry.tags.slice(0, 5) }),
        metadata: { method: entry.method, path: entry.path, priceUsd: priceText(entry.priceUsd), ...(inputSchema === undefined ? {} : { inputSchema }) },
        ...(bazaar === undefined ? {} : { extensions: { bazaar } }),
      };
    }),
  );
  return { x402Version: 2, items, pagination: { limit, offset, total: listed.length } };
}

/**
 * The bazaar extension for one route: `info` says how to call it, `schema` validates `info`.
 * Body methods need an example body in `info`, which a schema alone cannot supply, so they get
 * only the input schema (under metadata) until the catalogue provides examples.
 */
function bazaarDeclaration(entry: CatalogueDescription, inputSchema: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (BODY_METHODS.has(entry.method)) return undefined;
  const { params } = openApiPath(entry.path);
  const input = inputSchema ?? { type: "object" };
  return {
    info: { input: { type: "http", method: entry.method }, output: { type: entry.mimeType === undefined || entry.mimeType.includes("json") ? "json" : "text" } },
    schema: {
      $schema: "https://json-schema.org/draft/2020-12/schema",
      type: "object",
      properties: {
        input: {
          type: "object",
          properties: {
            type: { type: "string", const: "http" },
            method: { type: "string", enum: [entry.method] },
            queryParams: input,
            ...(params.length === 0 ? {} : { pathParams: { type: "object", properties: Object.fromEntries(params.map((p) => [p, { type: "string" }])) } }),
            headers: { type: "object", additionalProperties: { type: "string" } },
          },
          required: ["type", "method"],
          additionalProperties: false,
        },
        output: { type: "object", properties: { type: { type: "string" }, example: {} }, required: ["type"] },
      },
      required: ["input"],
    },
    ...(params.length === 0 ? {} : { routeTemplate: entry.path }),
  };
}
