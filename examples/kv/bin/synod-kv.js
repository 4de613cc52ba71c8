#!/usr/bin/env node
// Runs the TypeScript CLI (src/main.ts) through tsx, resolving the workspace
// packages to their sources (the "source" export condition). Signals are
// passed on to the CLI and its exit code is ours.
import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))
const tsx = import.meta.resolve("tsx")
const child = spawn(process.execPath, ["--conditions=source", "--import", tsx, main, ...process.argv.slice(2)], { stdio: "inherit" })
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal))
child.on("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" ? 130 : 1)))
