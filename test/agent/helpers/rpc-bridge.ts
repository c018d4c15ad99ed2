/**
 * Serves Hardhat's in-process chain over HTTP JSON-RPC on a loopback port, so programs that only
 * take an RPC URL (the agent CLI, in-process or as a child process) talk to the very chain the
 * test deployed on. No side effects on import.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { EIP1193Provider } from "hardhat/types/providers";

interface RpcRequest {
  readonly id?: unknown;
  readonly method: string;
  readonly params?: unknown[];
}

export interface RpcBridge {
  readonly url: string;
  close(): Promise<void>;
}

export async function startRpcBridge(provider: EIP1193Provider): Promise<RpcBridge> {
  const answer = async (request: RpcRequest) => {
    try {
      const result = await provider.request({ method: request.method, params: request.params ?? [] });
      return { jsonrpc: "2.0", id: request.id ?? null, result };
    } catch (error) {
      const e = error as { code?: number; message?: string; data?: unknown };
      return { jsonrpc: "2.0", id: request.id ?? null, error: { code: e.code ?? -32603, message: e.message ?? String(error), data: e.data } };
    }
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      void (async () => {
        let body: RpcRequest | RpcRequest[];
        try {
          body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as RpcRequest | RpcRequest[];
        } catch {
          res.writeHead(400).end();
          return;
        }
        const reply = Array.isArray(body) ? await Promise.all(body.map(answer)) : await answer(body);
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(reply, (_k, v: unknown) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v)));
      })();
    });
  });
  server.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
