/**
 * A route's parameters, declared in a small subset of JSON Schema that an operator can write in a
 * config file, turned into (a) the zod schema that validates and normalizes requests and (b) the
 * JSON Schema published in /api/catalog. Built-in routes declare theirs the same way, so what the
 * catalogue shows is exactly what is enforced.
 *
 * The same schema accepts a query string (every value a string: numbers and booleans are parsed)
 * and a JSON body (real numbers and booleans). Normalization, which makes equal requests share
 * one cache entry: strings are trimmed (and lower-cased when `lowercase`), defaults are filled in,
 * arrays are sets (a comma-separated string or a JSON array; trimmed, deduplicated, sorted).
 * Unknown parameters are refused, so a misspelt one is a 400 rather than silently ignored.
 */
import { z } from "zod";

const name = z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, "parameter names are letters, digits and _, starting with a letter");
const common = { description: z.string().max(500).optional(), required: z.boolean().default(false) };

const stringItem = {
  minLength: z.number().int().min(0).optional(),
  maxLength: z.number().int().min(1).max(10_000).default(256),
  pattern: z
    .string()
    .refine((p) => {
      try {
        new RegExp(p, "u");
        return true;
      } catch {
        return false;
      }
    }, "must be a valid regular expression")
    .optional(),
  enum: z.array(z.string()).min(1).optional(),
  lowercase: z.boolean().default(false),
};

const stringSpec = z.strictObject({ type: z.literal("string"), ...common, ...stringItem, default: z.string().optional() });
const numberSpec = z.strictObject({
  type: z.enum(["integer", "number"]),
  ...common,
  minimum: z.number().optional(),
  maximum: z.number().optional(),
  default: z.number().optional(),
});
const booleanSpec = z.strictObject({ type: z.literal("boolean"), ...common, default: z.boolean().optional() });
const arraySpec = z.strictObject({
  type: z.literal("array"),
  ...common,
  items: z.strictObject({ type: z.literal("string"), ...stringItem }),
  minItems: z.number().int().min(0).optional(),
  maxItems: z.number().int().min(1).max(1_000).default(50),
  default: z.array(z.string()).optional(),
});

export const paramSpecSchema = z.discriminatedUnion("type", [stringSpec, numberSpec, booleanSpec, arraySpec]);
export const paramsSpecSchema = z.record(name, paramSpecSchema).default({});

export type ParamSpec = z.output<typeof paramSpecSchema>;
/** As written in configuration (defaults not yet applied). */
export type ParamSpecInput = z.input<typeof paramSpecSchema>;
export type ParamsSpec = Readonly<Record<string, ParamSpec>>;

export type ParamInput = Record<string, unknown>;

/** Parses params written by hand (built-in adapters) with the same rules as configuration. */
export function defineParams(specs: Record<string, ParamSpecInput>): ParamsSpec {
  return paramsSpecSchema.parse(specs);
}

const INTEGER_TEXT = /^-?\d{1,16}$/;
const NUMBER_TEXT = /^-?\d{1,16}(\.\d{1,16})?$/;

function stringSchema(spec: z.output<typeof stringSpec> | z.output<typeof arraySpec>["items"]): z.ZodType<string, string> {
  // Normalize first (checks run in order), so the rules apply to the value that is used.
  let schema = z.string().trim();
  if (spec.lowercase) schema = schema.toLowerCase();
  schema = schema.max(spec.maxLength);
  if (spec.minLength !== undefined) schema = schema.min(spec.minLength);
  if (spec.pattern !== undefined) schema = schema.regex(new RegExp(spec.pattern, "u"), `must match ${spec.pattern}`);
  let out: z.ZodType<string, string> = schema;
  if (spec.enum !== undefined) {
    const allowed = spec.enum;
    out = out.refine((value) => allowed.includes(value), `must be one of: ${allowed.join(", ")}`);
  }
  return out;
}

function paramSchema(spec: ParamSpec): z.ZodType {
  let schema: z.ZodType;
  switch (spec.type) {
    case "string":
      schema = stringSchema(spec);
      break;
    case "integer":
    case "number": {
      const text = spec.type === "integer" ? INTEGER_TEXT : NUMBER_TEXT;
      let number = spec.type === "integer" ? z.number().int() : z.number();
      if (spec.minimum !== undefined) number = number.min(spec.minimum);
      if (spec.maximum !== undefined) number = number.max(spec.maximum);
      schema = z
        .union([z.number(), z.string().regex(text, `must be ${spec.type === "integer" ? "a whole number" : "a number"}`).transform(Number)])
        .pipe(number);
      break;
    }
    case "boolean":
      schema = z.union([z.boolean(), z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1")]);
      break;
    case "array": {
      let items = z.array(stringSchema(spec.items)).max(spec.maxItems);
      if (spec.minItems !== undefined) items = items.min(spec.minItems);
      schema = z
        .union([z.array(z.string()), z.string().transform((s) => s.split(",").filter((item) => item.trim() !== ""))])
        .pipe(items)
        .transform((list) => [...new Set(list)].sort());
      break;
    }
  }
  if (spec.default !== undefined) return schema.optional().transform((value) => value ?? spec.default);
  return spec.required ? schema : schema.optional();
}

/**
 * The zod schema of a route's input. `refine` adds a rule across parameters (e.g. "at least one
 * of q, category"); it returns an error message or undefined.
 */
export function inputSchema(specs: ParamsSpec, refine?: (input: ParamInput) => string | undefined): z.ZodType<ParamInput> {
  const shape: Record<string, z.ZodType> = {};
  for (const [key, spec] of Object.entries(specs)) shape[key] = paramSchema(spec);
  const object = z.strictObject(shape);
  if (refine === undefined) return object as z.ZodType<ParamInput>;
  return object.superRefine((input, ctx) => {
    const problem = refine(input);
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem, path: [] });
  }) as z.ZodType<ParamInput>;
}

/** The published JSON Schema (draft 2020-12 subset) of a route's input. */
export function inputJsonSchema(specs: ParamsSpec): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  for (const [key, spec] of Object.entries(specs)) {
    const { required: isRequired, lowercase: _l, ...rest } = spec as ParamSpec & { lowercase?: boolean };
    if (isRequired && spec.default === undefined) required.push(key);
    if (spec.type === "array") {
      const { lowercase: _il, ...items } = spec.items;
      properties[key] = { ...rest, items, description: joinDescription(spec.description, "a JSON array or a comma-separated list; treated as a set") };
    } else {
      properties[key] = rest;
    }
  }
  return { type: "object", properties, required, additionalProperties: false };
}

function joinDescription(description: string | undefined, note: string): string {
  return description === undefined ? note : `${description} (${note})`;
}
