/**
 * Runs test/faults/helpers/gateway-child.ts as a real process (`node --import tsx`) and follows
 * its stdout lines, so a test can wait for "LISTENING <url>" or "DRAINED" and see how it ended.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./gateway-child.ts", import.meta.url));

export interface GatewayChild {
  readonly process: ChildProcess;
  /** Resolves with the process's exit code and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The URL it listens on, once it printed it. */
  url(): Promise<string>;
  waitFor(line: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM and wait (SIGKILL after 10 s). */
  stop(): Promise<void>;
  output(): string;
}

export function startGatewayChild(env: Record<string, string>): GatewayChild {
  const child = spawn(process.execPath, ["--import", "tsx", SCRIPT], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const lines: string[] = [];
  const waiters: { line: RegExp; resolve: (l: string) => void }[] = [];
  child.stdout!.setEncoding("utf8");
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => (output = (output + d).slice(-20_000)));
  let partial = "";
  child.stdout!.on("data", (d: string) => {
    output = (output + d).slice(-20_000);
    partial += d;
    const parts = partial.split("\n");
    partial = parts.pop() ?? "";
    for (const line of parts) {
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.line.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  const exited = once(child, "exit").then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));

  const waitFor = (line: RegExp, timeoutMs = 60_000) => {
    const seen = lines.find((l) => line.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`gateway child: no line ${line} in ${timeoutMs} ms; output:\n${output}`)), timeoutMs);
      waiters.push({ line, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      void exited.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`gateway child exited (${code ?? signal}) before printing ${line}; output:\n${output}`));
      });
    });
  };

  return {
    process: child,
    exited,
    url: async () => (await waitFor(/^LISTENING /)).slice("LISTENING ".length).trim(),
    waitFor,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
    output: () => output,
  };
}
