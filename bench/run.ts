/**
 * Benchmark runner: `npm run bench` runs every suite, `npm run bench -- core pbft`
 * the named ones, `npm run bench -- --list` lists them.
 *
 * It prints a table per suite and writes one JSON file per run to
 * `bench/results/<iso-timestamp>-<suites>.json` with the machine, the git
 * commit and every figure. Figures from one run are comparable with each other
 * (ratios); absolute numbers depend on the machine and its load.
 *
 * To add a suite: write `bench/<name>.ts` exporting `name`, `description` and
 * `run` (see `harness.ts`), and add one line to `registry` below.
 */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import type { Figure, Suite } from "./harness.js"

export type { Figure, Suite } from "./harness.js"

/** One line per suite; imported lazily so a suite's dependencies load only when it runs. */
const registry: Record<string, () => Promise<Suite>> = {
  core: () => import("./core.js"),
  storage: () => import("./storage.js"),
  "paxos-ws": () => import("./paxos-ws.js"),
  etcd: () => import("./etcd.js"),
  ws: () => import("./ws.js"),
  sim: () => import("./sim.js"),
  shell: () => import("./shell.js"),
  "pbft-ws": () => import("./pbft-ws.js"),
  scaling: () => import("./scaling.js")
}

interface SuiteResult {
  readonly name: string
  readonly description: string
  readonly durationMs: number
  readonly figures: ReadonlyArray<Figure>
  readonly error?: string
}

const git = (...args: Array<string>): string | null => {
  try {
    return execFileSync("git", args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()
  } catch {
    return null
  }
}

const machine = () => {
  const cpus = os.cpus()
  return {
    platform: os.platform(),
    release: os.release(),
    arch: os.arch(),
    cpuModel: cpus[0]?.model ?? "unknown",
    cpuCount: cpus.length,
    totalMemoryBytes: os.totalmem(),
    loadAverage: os.loadavg(),
    node: process.version
  }
}

const formatValue = (f: Figure): string =>
  f.value >= 100 ? Math.round(f.value).toLocaleString("en-US") : f.value.toLocaleString("en-US", { maximumFractionDigits: 3 })

const printTable = (result: SuiteResult): void => {
  console.log(`\n## ${result.name} — ${result.description} (${(result.durationMs / 1000).toFixed(1)} s)`)
  if (result.error !== undefined) {
    console.log(`  FAILED: ${result.error}`)
    return
  }
  const rows = result.figures.map((f) => [f.name, formatValue(f), f.unit, f.note ?? ""] as const)
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length), 4))
  for (const [name, value, unit, note] of rows) {
    console.log(`  ${name.padEnd(widths[0]!)}  ${value.padStart(widths[1]!)} ${unit.padEnd(widths[2]!)}  ${note}`)
  }
}

const main = async (): Promise<number> => {
  const args = process.argv.slice(2)
  if (args.includes("--list")) {
    for (const [name, load] of Object.entries(registry)) console.log(`${name}: ${(await load()).description}`)
    return 0
  }
  const unknown = args.filter((a) => !(a in registry))
  if (unknown.length > 0) {
    console.error(`unknown suite(s): ${unknown.join(", ")}; available: ${Object.keys(registry).join(", ")}`)
    return 2
  }
  const names = args.length > 0 ? [...new Set(args)] : Object.keys(registry)
  const startedAt = new Date()
  const info = machine()
  const commit = git("rev-parse", "HEAD")
  const dirty = git("status", "--porcelain", "--untracked-files=no")
  console.log(`synod bench: ${names.join(", ")} on ${info.cpuModel} x${info.cpuCount}, node ${info.node}, commit ${commit?.slice(0, 12) ?? "unknown"}`)

  const results: Array<SuiteResult> = []
  for (const name of names) {
    const t0 = performance.now()
    let result: SuiteResult
    try {
      const suite = await registry[name]!()
      const figures = await suite.run()
      result = { name, description: suite.description, durationMs: performance.now() - t0, figures }
    } catch (e) {
      result = { name, description: "", durationMs: performance.now() - t0, figures: [], error: e instanceof Error ? e.stack ?? e.message : String(e) }
    }
    results.push(result)
    printTable(result)
  }

  const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "results")
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, `${startedAt.toISOString().replace(/:/g, "-")}-${names.join("+")}.json`)
  const report = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    argv: args,
    git: { commit, dirty: dirty === null ? null : dirty.length > 0 },
    machine: info,
    suites: results
  }
  fs.writeFileSync(file, JSON.stringify(report, null, 2) + "\n")
  console.log(`\nwrote ${path.relative(process.cwd(), file)}`)
  return results.some((r) => r.error !== undefined) ? 1 : 0
}

process.exitCode = await main()
