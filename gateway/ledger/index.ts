export * from "./unsettled.js";
export * from "./payment-row.js";
