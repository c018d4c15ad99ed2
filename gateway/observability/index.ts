export * from "./metrics.js";
export * from "./observer.js";
export * from "./stats.js";
export * from "./catalogue.js";
export * from "./openapi.js";
export * from "./discovery.js";
