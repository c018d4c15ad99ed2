import { getAddress } from "viem";
import { supportedResponseSchema } from "../x402/facilitator.js";
import { caip2, v1NetworkName } from "../x402/networks.js";
import type { FacilitatorDeps, SupportedBody } from "./types.js";

/**
 * GET /supported: one kind per (protocol version, scheme, concrete network). v2 kinds name every
 * served chain by its CAIP-2 id; v1 kinds exist only where the v1 client knows the chain by name
 * (SKALE Base Sepolia is "skale-base-sepolia"; SKALE Base has no v1 name, so it is v2 only).
 * No wildcards: a resource server matches kinds literally.
 */
export function supportedKinds(deps: FacilitatorDeps): SupportedBody {
  const kinds: SupportedBody["kinds"][number][] = [];
  const signers: Record<string, string[]> = {};
  for (const chain of deps.chains) {
    const extraOf = (scheme: string) => {
      const extra = chain.kindExtra?.[scheme];
      return extra === undefined ? {} : { extra };
    };
    const v1Name = v1NetworkName(chain.chainId);
    for (const scheme of deps.schemes.filter((s) => s.chainId === chain.chainId)) {
      if (v1Name !== undefined) kinds.push({ x402Version: 1, scheme: scheme.name, network: v1Name, ...extraOf(scheme.name) });
      kinds.push({ x402Version: 2, scheme: scheme.name, network: caip2(chain.chainId), ...extraOf(scheme.name) });
    }
    if (chain.signers !== undefined && chain.signers.length > 0) signers[caip2(chain.chainId)] = chain.signers.map((a) => getAddress(a));
  }
  const body: SupportedBody = { kinds, extensions: [], signers };
  const result = supportedResponseSchema.safeParse(body);
  if (!result.success) throw new TypeError(`/supported does not match the x402 wire format: ${result.error.message}`);
  return body;
}
