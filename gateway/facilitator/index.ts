import { supportedKinds } from "./supported.js";
import { settleRequest } from "./settle.js";
import type { Facilitator, FacilitatorDeps } from "./types.js";
import { verifyRequest } from "./verify.js";

export * from "./types.js";
export { type BearerCheck, bearerTokenCheck, MIN_TOKEN_LENGTH } from "./auth.js";
export { paymentIdentity, sameSignedPayment } from "./identity.js";
export { type ResolvedRequest, parseRequest, resolveRequest } from "./request.js";

/**
 * The x402 facilitator API over this gateway's schemes (docs/facilitator.md): other resource
 * servers verify and settle SKALE payments through it. Framework-free; gateway/http/facilitator.ts
 * is the Koa adapter.
 */
export function createFacilitator(deps: FacilitatorDeps): Facilitator {
  for (const chain of deps.chains) {
    if (!deps.schemes.some((s) => s.chainId === chain.chainId)) throw new RangeError(`no scheme serves chain ${chain.chainId}`);
  }
  // Computed once: what is served only changes with the configuration.
  const supported = supportedKinds(deps);
  return {
    supported: () => supported,
    verify: (body) => verifyRequest(deps, body),
    settle: (body) => settleRequest(deps, body),
  };
}
