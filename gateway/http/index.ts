export { type AppDeps, createApp } from "./app.js";
export { type PaidHandler, type PaidOptions, type PaidRequest, type UpstreamResponse, fingerprint, paid } from "./paid.js";
export { type GatewayState, HttpError, cors, errorHandler, readBody, requestId } from "./middleware.js";
export * from "./headers.js";
export { type RunningGateway, StartupError, startGateway } from "./server.js";
