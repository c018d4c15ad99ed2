/**
 * The agent CLI: `node --import tsx agent/cli/main.ts <command>` (see `run.ts` for the commands,
 * docs/agent-sdk.md for a walkthrough). Only wiring to the process lives here.
 */
import { runCli } from "./run.js";

process.exitCode = await runCli(process.argv.slice(2), process.env, {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
