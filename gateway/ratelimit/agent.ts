/**
 * Who a request is counted against: its wallet once it has paid, otherwise its client address.
 *
 * The client address is the socket's peer unless the gateway sits behind proxies it trusts. Then
 * X-Forwarded-For is read from the RIGHT: each trusted proxy appends the address it received the
 * request from, so with N trusted proxies the client is the N-th entry from the end (the socket
 * peer being the last proxy). Everything further left was written by the client and proves
 * nothing. (Koa's `ctx.ip` with `app.proxy` takes the LEFTMOST entry unless `maxIpsCount` is set,
 * which a client can forge; hence this function.)
 *
 * IPv6 clients are counted per /64: one host is routinely given a whole /64 and could otherwise
 * take a fresh address for every request.
 */
import { isIP } from "node:net";

/** "ip:203.0.113.7", "ip:2001:db8:0:1::/64". */
export function ipAgent(address: string): string {
  return `ip:${normalizeIp(address)}`;
}

/** "wallet:0x…" in lower case, so one wallet never splits into two spellings. */
export function walletAgent(address: string): string {
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) throw new TypeError("not an EVM address");
  return `wallet:${address.toLowerCase()}`;
}

/**
 * The client address of a request. `trustedProxies` is how many proxies in front of the gateway
 * append to X-Forwarded-For (0: ignore the header entirely).
 */
export function clientAddress(socketAddress: string | undefined, forwardedFor: string | string[] | undefined, trustedProxies: number): string {
  const peer = socketAddress ?? "unknown";
  if (trustedProxies <= 0 || forwardedFor === undefined) return peer;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor)
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry !== "");
  const chain = [...hops, peer];
  const client = chain[Math.max(0, chain.length - 1 - trustedProxies)];
  // A trusted proxy writes plain addresses; anything else means the chain is not what we think,
  // and the nearest address we can vouch for is the proxy itself.
  return client !== undefined && isIP(stripPort(client)) !== 0 ? stripPort(client) : peer;
}

/** IPv4 as is (IPv4-mapped IPv6 unwrapped); IPv6 as its /64 network. */
export function normalizeIp(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped?.[1] !== undefined) return mapped[1];
  if (isIP(address) !== 6) return address;
  const groups = expandIpv6(address.split("%")[0] ?? address);
  if (groups === undefined) return address;
  return `${groups.slice(0, 4).map((g) => g.toString(16)).join(":")}::/64`;
}

/** The eight 16-bit groups of an IPv6 address (with "::" and a dotted IPv4 tail expanded). */
function expandIpv6(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4 !== null) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const missing = 8 - left.length - right.length;
  if (missing < 0 || (tail === undefined && missing !== 0)) return undefined;
  return [...left, ...Array<string>(missing).fill("0"), ...right].map((g) => Number.parseInt(g, 16));
}

/** "1.2.3.4:5678" → "1.2.3.4"; "[::1]:80" → "::1". Some proxies include the port. */
function stripPort(entry: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  if (bracketed?.[1] !== undefined) return bracketed[1];
  const v4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(entry);
  return v4WithPort?.[1] ?? entry;
}
