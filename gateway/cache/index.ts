export * from "./key.js";
export * from "./response-cache.js";
