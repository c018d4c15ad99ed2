export * from "./types.js";
export * from "./chain.js";
export * from "./exact/index.js";
export * from "./transfer/index.js";
export * from "./escrow/index.js";
