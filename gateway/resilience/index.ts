export * from "./breakers.js";
