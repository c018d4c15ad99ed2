#!/usr/bin/env node
// The package.json `bin` entry: registers tsx (the sources are TypeScript with `.js` import
// specifiers, which Node's own type stripping does not rewrite), then runs the CLI.
import { register } from "tsx/esm/api";

register();
await import("./main.ts");
