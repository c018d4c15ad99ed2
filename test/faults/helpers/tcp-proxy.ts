/**
 * A loopback TCP proxy that can be cut: `down()` resets every open connection and refuses new
 * ones (ECONNREFUSED, as when the server is gone); `up()` listens again on the same port. Used in
 * front of PostgreSQL, so the database "goes down" for the gateway only, not for the test.
 */
import { type Server, type Socket, connect, createServer } from "node:net";

export interface TcpProxy {
  readonly port: number;
  readonly isUp: boolean;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    // A reset peer is expected here; without a listener it would crash the test process.
    socket.on("error", () => socket.destroy());
  };

  const listen = async () => {
    const s = createServer((client) => {
      track(client);
      const upstream = connect(target.port, target.host);
      track(upstream);
      client.pipe(upstream);
      upstream.pipe(client);
      client.once("close", () => upstream.destroy());
      upstream.once("close", () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => resolve());
    });
    const address = s.address();
    if (typeof address === "object" && address !== null) port = address.port;
    server = s;
  };

  const stop = async () => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    if (s !== undefined) await new Promise<void>((resolve) => s.close(() => resolve()));
  };

  await listen();
  return {
    get port() {
      return port;
    },
    get isUp() {
      return server !== undefined;
    },
    down: stop,
    async up() {
      if (server === undefined) await listen();
    },
    close: stop,
  };
}
