/**
 * A JSON-RPC endpoint on a loopback port in front of a chain (Hardhat's in-process provider, or
 * another RPC URL), with faults switched on and off by the test: the node refusing connections,
 * answering errors, never answering, or receiving a call and dying before it answers. Child
 * processes reach the same chain through its URL. No side effects on import.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface Eip1193Like {
  request(args: { method: string; params?: unknown }): Promise<unknown>;
}

interface RpcRequest {
  readonly id?: unknown;
  readonly method: string;
  readonly params?: unknown[];
}

/**
 * - `ok`: pass through;
 * - `refuse`: every connection is reset before an answer (a node that is down);
 * - `error`: HTTP 200 with a JSON-RPC error (an overloaded or broken node);
 * - `hang`: never answers (a timeout on the client's side);
 * - `drop-reply`: passes the call to the chain, then never answers (the node got it, the client
 *   never hears back).
 */
export type RpcFault = "ok" | "refuse" | "error" | "hang" | "drop-reply";

export interface RpcProxy {
  readonly url: string;
  /** Calls seen per method (answered or not). */
  readonly calls: Map<string, number>;
  /** Sets the fault for every method, or only for `methods`. */
  set(fault: RpcFault, methods?: readonly string[]): void;
  /** Back to `ok` everywhere; hung requests are cut. */
  heal(): void;
  close(): Promise<void>;
}

export async function startRpcProxy(chain: Eip1193Like): Promise<RpcProxy> {
  let everywhere: RpcFault = "ok";
  const perMethod = new Map<string, RpcFault>();
  const calls = new Map<string, number>();
  const sockets = new Set<Socket>();
  const hung = new Set<ServerResponse>();
  const faultOf = (method: string) => perMethod.get(method) ?? everywhere;

  const answer = async (request: RpcRequest): Promise<unknown> => {
    try {
      const result = await chain.request({ method: request.method, params: request.params ?? [] });
      return { jsonrpc: "2.0", id: request.id ?? null, result };
    } catch (error) {
      const e = error as { code?: number; message?: string; data?: unknown };
      return { jsonrpc: "2.0", id: request.id ?? null, error: { code: e.code ?? -32603, message: e.message ?? String(error), data: e.data } };
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk);
    let body: RpcRequest | RpcRequest[];
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as RpcRequest | RpcRequest[];
    } catch {
      res.writeHead(400).end();
      return;
    }
    const requests = Array.isArray(body) ? body : [body];
    for (const r of requests) calls.set(r.method, (calls.get(r.method) ?? 0) + 1);
    // A batch suffers the worst fault of its methods.
    const faults = requests.map((r) => faultOf(r.method));
    const worst = (["refuse", "hang", "error", "drop-reply"] as const).find((f) => faults.includes(f)) ?? "ok";
    if (worst === "refuse") {
      req.socket.destroy();
      return;
    }
    if (worst === "hang") {
      hung.add(res);
      return;
    }
    if (worst === "error") {
      const errors = requests.map((r) => ({ jsonrpc: "2.0", id: r.id ?? null, error: { code: -32005, message: "injected fault: node overloaded" } }));
      send(res, Array.isArray(body) ? errors : errors[0]);
      return;
    }
    const replies = await Promise.all(requests.map(answer));
    if (worst === "drop-reply") {
      hung.add(res);
      return;
    }
    send(res, Array.isArray(body) ? replies : replies[0]);
  };

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch(() => res.destroy());
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  server.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));

  const cutHung = () => {
    for (const res of hung) res.destroy();
    hung.clear();
  };
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    set(fault, methods) {
      if (methods === undefined) {
        everywhere = fault;
        perMethod.clear();
      } else {
        for (const m of methods) perMethod.set(m, fault);
      }
    },
    heal() {
      everywhere = "ok";
      perMethod.clear();
      cutHung();
    },
    close: () =>
      new Promise<void>((resolve) => {
        cutHung();
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function send(res: ServerResponse, value: unknown): void {
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v)));
}
