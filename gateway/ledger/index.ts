export * from "./unsettled.js";
