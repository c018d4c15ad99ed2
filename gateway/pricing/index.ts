export * from "./errors.js";
export * from "./rational.js";
export * from "./usd.js";
export * from "./discount.js";
export * from "./price-sources.js";
export * from "./configured.js";
