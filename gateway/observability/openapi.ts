/**
 * /openapi.json: an OpenAPI 3.1 document generated from the catalogue, so what is published is
 * what is enforced. Each operation carries its price (`x-price-usd`, a decimal USD string) and
 * documents the 402 an unpaid call gets. Input schemas come from the routes' zod schemas through
 * zod 4's `z.toJSONSchema` (JSON Schema 2020-12, OpenAPI 3.1's own dialect), in their input form:
 * what a client sends, before defaults and transforms.
 */
import { BODY_METHODS, type CatalogueDescription, jsonSchemaOf, openApiPath, operationId, priceText } from "./catalogue.js";

export interface OpenApiOptions {
  readonly title?: string;
  readonly version?: string;
  readonly description?: string;
  /** The gateway's public base URL; omitted means "relative to where this document came from". */
  readonly serverUrl?: string;
}

type Json = Record<string, unknown>;

export function buildOpenApi(entries: readonly CatalogueDescription[], options: OpenApiOptions = {}): Json {
  const paths: Record<string, Json> = {};
  for (const entry of entries) {
    const { path, params } = openApiPath(entry.path);
    const operations = (paths[path] ??= {});
    operations[entry.method.toLowerCase()] = operation(entry, params);
  }
  return {
    openapi: "3.1.0",
    jsonSchemaDialect: "https://spec.openapis.org/oas/3.1/dialect/base",
    info: {
      title: options.title ?? "PayPerAgent API",
      version: options.version ?? "1.0.0",
      description:
        options.description ??
        "Paid APIs for AI agents. Every operation is paid per call over x402: call it, receive 402 with the price, sign a payment and retry with it.",
    },
    ...(options.serverUrl === undefined ? {} : { servers: [{ url: options.serverUrl.replace(/\/+$/, "") }] }),
    paths,
    components: COMPONENTS,
  };
}

function operation(entry: CatalogueDescription, pathParams: readonly string[]): Json {
  const price = priceText(entry.priceUsd);
  const schema = entry.input === undefined ? undefined : jsonSchemaOf(entry.input);
  const properties = (schema?.["properties"] ?? {}) as Record<string, Json>;
  const required = new Set((schema?.["required"] ?? []) as string[]);
  const isObject = schema !== undefined && schema["type"] === "object";

  const parameters: Json[] = pathParams.map((name) => ({
    name,
    in: "path",
    required: true,
    schema: properties[name] ?? { type: "string" },
    ...describe(properties[name]),
  }));
  let requestBody: Json | undefined;
  if (BODY_METHODS.has(entry.method)) {
    if (schema !== undefined) requestBody = { required: true, content: { "application/json": { schema } } };
  } else if (schema !== undefined) {
    if (isObject) {
      for (const [name, property] of Object.entries(properties)) {
        if (pathParams.includes(name)) continue;
        parameters.push({ name, in: "query", required: required.has(name), schema: property, ...describe(property) });
      }
    } else {
      // Not a plain object: one form-style parameter whose properties are the query fields.
      parameters.push({ name: "query", in: "query", style: "form", explode: true, schema });
    }
  }

  const enabled = entry.enabled ?? true;
  return {
    operationId: operationId(entry),
    summary: entry.description.split("\n")[0],
    description: `${entry.description}\n\nPrice: $${price} per call, paid with x402.${enabled ? "" : ` Disabled: ${entry.disabledReason ?? "not available right now"}.`}`,
    ...(entry.tags === undefined ? {} : { tags: [...entry.tags] }),
    "x-price-usd": price,
    "x-enabled": enabled,
    ...(parameters.length === 0 ? {} : { parameters }),
    ...(requestBody === undefined ? {} : { requestBody }),
    security: [{ x402: [] }],
    responses: {
      "200": {
        description: "The paid response. The settlement receipt is in PAYMENT-RESPONSE (x402 v2) or X-PAYMENT-RESPONSE (v1).",
        headers: { "PAYMENT-RESPONSE": { $ref: "#/components/headers/PaymentResponse" }, "X-PAYMENT-RESPONSE": { $ref: "#/components/headers/PaymentResponse" } },
        content: { [entry.mimeType ?? "application/json"]: { schema: {} } },
      },
      "400": { $ref: "#/components/responses/InvalidRequest" },
      "402": { $ref: "#/components/responses/PaymentRequired" },
      "409": { $ref: "#/components/responses/PaymentInFlight" },
      "429": { $ref: "#/components/responses/RateLimited" },
      "502": { $ref: "#/components/responses/UpstreamFailed" },
      "503": { $ref: "#/components/responses/Unavailable" },
    },
  };
}

function describe(property: Json | undefined): Json {
  const description = property?.["description"];
  return typeof description === "string" ? { description } : {};
}

const errorBody = { $ref: "#/components/schemas/Error" };

const COMPONENTS: Json = {
  schemas: {
    Error: {
      type: "object",
      required: ["error", "message"],
      properties: {
        error: { type: "string", description: "Stable machine-readable code, e.g. invalid_request, payment_required, rate_limited." },
        message: { type: "string" },
        details: { type: "object", description: "Per-field errors (details.fields) and other specifics." },
      },
    },
    PaymentRequirements: {
      type: "object",
      description: "One way to pay (x402 v1 `accepts` entry). The v2 form is in the PAYMENT-REQUIRED header.",
      required: ["scheme", "network", "maxAmountRequired", "resource", "payTo", "asset", "maxTimeoutSeconds"],
      properties: {
        scheme: { type: "string", examples: ["exact"] },
        network: { type: "string" },
        maxAmountRequired: { type: "string", pattern: "^[0-9]+$", description: "Atomic token units." },
        resource: { type: "string", format: "uri" },
        description: { type: "string" },
        mimeType: { type: "string" },
        payTo: { type: "string", pattern: "^0x[0-9a-fA-F]{40}$" },
        maxTimeoutSeconds: { type: "integer" },
        asset: { type: "string", pattern: "^0x[0-9a-fA-F]{40}$" },
        extra: { type: "object" },
      },
    },
    PaymentRequired: {
      type: "object",
      required: ["x402Version", "error", "accepts"],
      properties: {
        x402Version: { const: 1 },
        error: { type: "string" },
        message: { type: "string" },
        accepts: { type: "array", items: { $ref: "#/components/schemas/PaymentRequirements" } },
      },
    },
  },
  headers: {
    PaymentResponse: { description: "Base64 JSON settlement receipt {success, transaction, network, payer}.", schema: { type: "string" } },
    RetryAfter: { description: "Seconds to wait before retrying.", schema: { type: "integer", minimum: 1 } },
    RateLimitLimit: { description: "Requests allowed in the window closest to refusing.", schema: { type: "integer" } },
    RateLimitRemaining: { description: "Requests left in that window.", schema: { type: "integer" } },
    RateLimitReset: { description: "Seconds until that window resets.", schema: { type: "integer" } },
  },
  responses: {
    InvalidRequest: { description: "Invalid query or body; details.fields lists the errors per field.", content: { "application/json": { schema: errorBody } } },
    PaymentRequired: {
      description: "Payment required, or the payment was refused (the code says why). Pay one of `accepts` and retry with X-PAYMENT (v1) or PAYMENT-SIGNATURE (v2).",
      headers: { "PAYMENT-REQUIRED": { description: "Base64 JSON x402 v2 PaymentRequired (resource, accepts).", schema: { type: "string" } } },
      content: { "application/json": { schema: { $ref: "#/components/schemas/PaymentRequired" } } },
    },
    PaymentInFlight: { description: "The same payment is still being processed; retry the same request later.", content: { "application/json": { schema: errorBody } } },
    RateLimited: {
      description: "Too many requests from this agent (rate_limited).",
      headers: {
        "Retry-After": { $ref: "#/components/headers/RetryAfter" },
        "RateLimit-Limit": { $ref: "#/components/headers/RateLimitLimit" },
        "RateLimit-Remaining": { $ref: "#/components/headers/RateLimitRemaining" },
        "RateLimit-Reset": { $ref: "#/components/headers/RateLimitReset" },
      },
      content: { "application/json": { schema: errorBody } },
    },
    UpstreamFailed: { description: "The upstream failed; nothing was charged (see the receipt header).", content: { "application/json": { schema: errorBody } } },
    Unavailable: { description: "A dependency (database, chain, price, open circuit breaker) is unavailable; nothing was charged.", content: { "application/json": { schema: errorBody } } },
  },
  securitySchemes: {
    x402: {
      type: "apiKey",
      in: "header",
      name: "PAYMENT-SIGNATURE",
      description: "An x402 payment (v2 PAYMENT-SIGNATURE, or v1 X-PAYMENT) for the amount quoted in the 402 response. Not a standing credential: one payment buys one call.",
    },
  },
};
