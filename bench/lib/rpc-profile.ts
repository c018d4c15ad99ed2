/**
 * A viem transport that times every JSON-RPC call by method: where the settlement engine's wall
 * time goes (the node executing and mining `eth_sendRawTransaction`, simulations, estimates),
 * measured rather than guessed.
 */
import { type Transport, custom, http } from "viem";

export interface RpcProfile {
  readonly transport: Transport;
  /** Milliseconds and calls per method since the last reset. */
  snapshot(): Record<string, { readonly ms: number; readonly calls: number }>;
  reset(): void;
}

export function profiledTransport(rpcUrl: string): RpcProfile {
  const base = http(rpcUrl, { retryCount: 0 })({ retryCount: 0 });
  let stats = new Map<string, { ms: number; calls: number }>();
  const transport = custom(
    {
      async request(args: { method: string; params?: unknown }) {
        const started = performance.now();
        try {
          return await base.request(args as never);
        } finally {
          const entry = stats.get(args.method) ?? { ms: 0, calls: 0 };
          entry.ms += performance.now() - started;
          entry.calls += 1;
          stats.set(args.method, entry);
        }
      },
    },
    { retryCount: 0 },
  );
  return {
    transport,
    snapshot: () => Object.fromEntries([...stats].map(([method, s]) => [method, { ...s }])),
    reset() {
      stats = new Map();
    },
  };
}
