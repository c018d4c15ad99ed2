import { AgentError } from "./errors.js";

/**
 * Human amounts ("1.5 USDC") to atomic units and back, by string arithmetic only: a float would
 * turn 0.1 + 0.2 into 0.30000000000000004 and a budget into something the user never typed. More
 * fractional digits than the token has is an error, never a silent rounding.
 */

const HUMAN_AMOUNT = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/;

export function parseAmount(text: string, decimals: number): bigint {
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 255) {
    throw new AgentError("invalid_argument", `token decimals must be an integer 0..255, got ${decimals}`);
  }
  const match = HUMAN_AMOUNT.exec(text.trim());
  if (match === null) {
    throw new AgentError("invalid_argument", `"${text}" is not an amount: use digits with an optional decimal point, e.g. 0.25`);
  }
  const whole = match[1] as string;
  const fraction = (match[2] ?? "").replace(/0+$/, "");
  if (fraction.length > decimals) {
    throw new AgentError("invalid_argument", `"${text}" has more than ${decimals} decimal places`);
  }
  return BigInt(whole) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, "0") || "0");
}

/** Atomic units as a human decimal, without trailing zeros ("1.5", "0.000001", "12"). */
export function formatAmount(atomic: bigint, decimals: number): string {
  const negative = atomic < 0n;
  const digits = (negative ? -atomic : atomic).toString().padStart(decimals + 1, "0");
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = digits.slice(digits.length - decimals).replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fraction === "" ? "" : `.${fraction}`}`;
}
