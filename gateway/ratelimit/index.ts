export * from "./limiter.js";
export * from "./agent.js";
