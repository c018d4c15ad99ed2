export { type AppDeps, type HealthSources, createApp } from "./app.js";
export { type CatalogHelpers, type MountCatalogOptions, mountCatalog } from "./catalog-routes.js";
export { type FacilitatorRouterOptions, facilitatorRouter } from "./facilitator.js";
export { type AdminActions, type OpsRoutesOptions, opsRoutes } from "./ops-routes.js";
export { type RateLimitHandle, type RateLimitOptions, rateLimit } from "./rate-limit.js";
export { type PaidHandler, type PaidOptions, type PaidRequest, type UpstreamResponse, fingerprint, paid } from "./paid.js";
export { type GatewayState, HttpError, cors, errorHandler, readBody, requestId } from "./middleware.js";
export * from "./headers.js";
export {
  type GatewayDeps,
  type GatewayParts,
  type RunningGateway,
  type SettlementEngine,
  type SettlementEngineFactory,
  type SettlementEngineOptions,
  type StartOptions,
  StartupError,
  createGateway,
  startGateway,
} from "./server.js";
