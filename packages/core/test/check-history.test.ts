import { describe, expect, it } from "@effect/vitest"
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"

// `npm run check-history` is this command, run from the repository root.
const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
const fixtures = "packages/core/test/fixtures/histories"
const jepsen = "../shared/testdata/jepsen-etcd"

const checkHistory = (...args: ReadonlyArray<string>) => {
  const run = spawnSync(
    process.execPath,
    ["--conditions=source", "--import", "tsx", "packages/core/src/bin/check-history.ts", ...args],
    { cwd: repoRoot, encoding: "utf8" }
  )
  return { status: run.status, stdout: run.stdout, stderr: run.stderr }
}

describe("npm run check-history", () => {
  it("prints linearizable and exits 0", () => {
    const run = checkHistory(`${fixtures}/linearizable.jsonl`)
    expect(run).toEqual({ status: 0, stdout: "linearizable\n", stderr: "" })
  })

  it("prints not linearizable with a witness naming lines, clients and times, and exits 1", () => {
    const run = checkHistory(`${fixtures}/stale-read.jsonl`)
    expect(run.status).toBe(1)
    expect(run.stdout.split("\n")).toEqual([
      `not linearizable: key "x"`,
      `  These 2 operations cannot be linearized, whatever "x" held when the first of them was called,`,
      `  even if every other write to "x" not returned by then took effect at any time after its call, or never:`,
      `    line 3, client 1, [12, 20]: put "x" 2 => ok`,
      `    line 5, client 0, [21, 30]: get "x" => 1`,
      `  No order places line 5, client 0, [21, 30] before it returns.`,
      ``
    ])
  })

  it("exits 2 on an unreadable line, naming it", () => {
    const run = checkHistory(`${fixtures}/unreadable.jsonl`)
    expect(run.status).toBe(2)
    expect(run.stdout).toBe("")
    expect(run.stderr).toBe(`${fixtures}/unreadable.jsonl: line 3, column 59: "return_ns" is before "call_ns"\n`)
  })

  it("exits 2 on a missing file, and without arguments", () => {
    const missing = checkHistory(`${fixtures}/no-such-history.jsonl`)
    expect(missing.status).toBe(2)
    expect(missing.stderr).toContain(`${fixtures}/no-such-history.jsonl: cannot read`)
    const none = checkHistory()
    expect(none.status).toBe(2)
    expect(none.stderr).toContain("usage: check-history")
  })

  it("checks several files, prefixing each verdict, and exits with the worst status", () => {
    const both = checkHistory(`${fixtures}/linearizable.jsonl`, `${jepsen}/etcd_000.jsonl`)
    expect(both.status).toBe(1)
    expect(both.stdout).toMatch(new RegExp(`^${fixtures}/linearizable.jsonl: linearizable\n${jepsen}/etcd_000.jsonl: not linearizable: key "r"\n`))
    const withMissing = checkHistory(`${jepsen}/etcd_000.jsonl`, `${fixtures}/no-such-history.jsonl`)
    expect(withMissing.status).toBe(2)
  })

  it("exits 3 when --max-steps ends the search before a verdict", () => {
    const run = checkHistory(`${jepsen}/etcd_002.jsonl`, "--max-steps", "1")
    expect(run.status).toBe(3)
    expect(run.stdout).toMatch(/^unknown: the search on key "r" stopped after \d+ steps \(budget\)\n$/)
  })
})
