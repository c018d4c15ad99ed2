import { type Address, isAddressEqual } from "viem";
import { type PaymentPolicy, type SchemeName, type TokenPolicy, isSchemeName, parseAmount } from "../sdk/index.js";
import type { CliContext, CliToken } from "./context.js";
import { CliError } from "./errors.js";

/** A per-token amount setting: one bare amount ("0.01"), or "USDC=0.01,SKL=2". */
interface TokenAmounts {
  readonly bare: string | undefined;
  readonly pairs: readonly (readonly [string, string])[];
}

function parseTokenAmounts(text: string, name: string): TokenAmounts {
  const parts = text.split(",").map((p) => p.trim()).filter((p) => p !== "");
  if (parts.length === 1 && !parts[0]!.includes("=")) return { bare: parts[0], pairs: [] };
  const pairs = parts.map((part) => {
    const [token, amount, ...rest] = part.split("=").map((s) => s.trim());
    if (token === undefined || token === "" || amount === undefined || amount === "" || rest.length > 0) {
      throw new CliError(`${name}: "${part}" is not TOKEN=AMOUNT`);
    }
    return [token, amount] as const;
  });
  return { bare: undefined, pairs };
}

function list(text: string | undefined): string[] | undefined {
  const items = text?.split(",").map((s) => s.trim()).filter((s) => s !== "");
  return items === undefined || items.length === 0 ? undefined : items;
}

export interface PolicyInputs {
  readonly tokens?: readonly string[];
  readonly schemes?: readonly string[];
  readonly maxPrice?: string;
  readonly dailyBudget?: string;
}

/**
 * The payment policy from flags, falling back to the environment (AGENT_TOKENS, AGENT_SCHEMES,
 * AGENT_MAX_PRICE, AGENT_DAILY_BUDGET). Every allowed token needs a maximum price: a bare amount
 * is accepted only when a single token is allowed, since 0.01 USDC and 0.01 WETH are different money.
 * Amounts are human units of each token, converted exactly with the decimals the token reports.
 */
export async function buildPolicy(ctx: CliContext, inputs: PolicyInputs): Promise<{ policy: PaymentPolicy; tokens: CliToken[] }> {
  const maxPriceText = inputs.maxPrice ?? ctx.env["AGENT_MAX_PRICE"]?.trim();
  if (maxPriceText === undefined || maxPriceText === "") {
    throw new CliError("no maximum price: pass --max-price AMOUNT (or TOKEN=AMOUNT,...) or set AGENT_MAX_PRICE");
  }
  const maxPrice = parseTokenAmounts(maxPriceText, "max price");
  const budgetText = inputs.dailyBudget ?? ctx.env["AGENT_DAILY_BUDGET"]?.trim();
  const budget = budgetText === undefined || budgetText === "" ? undefined : parseTokenAmounts(budgetText, "daily budget");

  const refs = (inputs.tokens?.length ? inputs.tokens : undefined) ?? list(ctx.env["AGENT_TOKENS"]) ?? maxPrice.pairs.map(([t]) => t);
  if (refs.length === 0) throw new CliError("no token to pay with: pass --token or set AGENT_TOKENS");
  const tokens = await Promise.all(refs.map((ref) => ctx.token(ref)));
  if ((maxPrice.bare !== undefined || budget?.bare !== undefined) && tokens.length > 1) {
    throw new CliError("with several tokens, give per-token amounts: e.g. --max-price USDC=0.01,SKL=2");
  }

  const resolvePairs = async (amounts: TokenAmounts | undefined): Promise<Map<Address, string>> => {
    const map = new Map<Address, string>();
    if (amounts === undefined) return map;
    if (amounts.bare !== undefined) map.set(tokens[0]!.address, amounts.bare);
    for (const [ref, amount] of amounts.pairs) map.set((await ctx.token(ref)).address, amount);
    return map;
  };
  const prices = await resolvePairs(maxPrice);
  const budgets = await resolvePairs(budget);

  const policies: TokenPolicy[] = tokens.map((t) => {
    const price = [...prices].find(([a]) => isAddressEqual(a, t.address))?.[1];
    if (price === undefined) throw new CliError(`no maximum price for ${t.symbol}: add ${t.symbol}=AMOUNT to --max-price`);
    const daily = [...budgets].find(([a]) => isAddressEqual(a, t.address))?.[1];
    return {
      address: t.address,
      symbol: t.symbol,
      maxPrice: parseAmount(price, t.decimals),
      ...(daily === undefined ? {} : { dailyBudget: parseAmount(daily, t.decimals) }),
    };
  });

  const schemeNames = (inputs.schemes?.length ? inputs.schemes : undefined) ?? list(ctx.env["AGENT_SCHEMES"]);
  let schemes: SchemeName[] | undefined;
  if (schemeNames !== undefined) {
    schemes = schemeNames.map((s) => {
      if (!isSchemeName(s)) throw new CliError(`unknown scheme "${s}": use exact, escrow or transfer`);
      return s;
    });
  }
  return { policy: { tokens: policies, ...(schemes === undefined ? {} : { schemes }) }, tokens };
}

/** Splits repeatable, comma-separated flag values ("--token USDC,SKL --token WETH"). */
export function flagList(values: readonly string[] | undefined): string[] | undefined {
  const items = values?.flatMap((v) => v.split(",")).map((s) => s.trim()).filter((s) => s !== "");
  return items === undefined || items.length === 0 ? undefined : items;
}
