import type { z } from "zod";
import { UpstreamError } from "./http.js";

/**
 * Parses an upstream answer with the adapter's expectation of it. An answer of another shape is
 * the upstream failing (it changed, or answered an error page with 200), never a reason to invent
 * fields, so it becomes an "unavailable" UpstreamError: the payment is released.
 */
export function expectShape<T extends z.ZodType>(upstream: string, schema: T, data: unknown): z.output<T> {
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const where = first === undefined ? "" : ` at ${first.path.join(".") || "(root)"}: ${first.message}`;
    throw new UpstreamError(upstream, "unavailable", `${upstream} answered an unexpected shape${where}`);
  }
  return parsed.data;
}

export const DEMO_NOTICE = "Demo data from the local fake upstream; not live data.";

/** Marks a normalized answer as demo data when its upstream said so, in the body itself. */
export function labelled<T extends object>(data: T, demo: boolean): T | (T & { demo: true; notice: string }) {
  return demo ? { ...data, demo: true as const, notice: DEMO_NOTICE } : data;
}

/** Unix seconds to ISO 8601 (UTC), or null when absent. */
export function isoFromUnix(seconds: number | undefined | null): string | null {
  return seconds === undefined || seconds === null ? null : new Date(seconds * 1000).toISOString();
}
