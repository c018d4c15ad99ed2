export * from "./catalog.js";
export * from "./config.js";
export * from "./params.js";
export * from "./batch.js";
export { placeholders, renderPath, renderQuery } from "./template.js";
