export * from "./tiers.js";
export * from "./types.js";
export * from "./recorder.js";
export * from "./reputation.js";
