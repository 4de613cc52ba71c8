/**
 * `npm run demo`, end to end, as CI runs it: the demo process with four
 * replica processes, a Byzantine replica and a crashed and restarted primary,
 * shortened to 8 seconds of traffic. Also: Ctrl-C stops every process it started.
 */
import { describe, expect, it } from "@effect/vitest"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"

const DEMO = fileURLToPath(new URL("../src/demo.ts", import.meta.url))
/** The repository root, where `--import tsx` resolves (vitest has no import.meta.resolve). */
const ROOT = fileURLToPath(new URL("../../..", import.meta.url))

interface Finished {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

const startDemo = (args: ReadonlyArray<string>): { child: ChildProcess; done: Promise<Finished>; output: () => string } => {
  const child = spawn(process.execPath, ["--conditions=source", "--import", "tsx", DEMO, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" }
  })
  let stdout = ""
  let stderr = ""
  child.stdout!.on("data", (c: Buffer) => (stdout += c.toString()))
  child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()))
  const done = new Promise<Finished>((resolve) => child.once("exit", (code) => resolve({ code, stdout, stderr })))
  return { child, done, output: () => stdout }
}

/** Live child processes of `pid` (Linux /proc). */
const childrenOf = (pid: number): Array<number> =>
  fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).flatMap((d) => {
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8")
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
      return ppid === pid ? [Number(d)] : []
    } catch {
      return []
    }
  })

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

const waitFor = async (what: () => boolean, ms: number) => {
  const end = Date.now() + ms
  while (!what() && Date.now() < end) await new Promise((r) => setTimeout(r, 100))
  return what()
}

describe("npm run demo", () => {
  it("keeps the ledger correct with a Byzantine replica and a crashed primary, and exits 0", async () => {
    const { done } = startDemo(["--duration", "8", "--seed", "1"])
    const r = await done
    const shown = `${r.stdout}\n${r.stderr}`
    expect(r.code, shown).toBe(0)
    expect(r.stdout).toContain("replica 0 is Byzantine: it sends conflicting signed variants of its messages to different peers")
    expect(r.stdout).toMatch(/killing the primary, replica \d \(SIGKILL\)/)
    expect(r.stdout).toMatch(/replica \d is back/)
    // the final table has a row per replica with view, executed sequence number, digest, supply
    expect(r.stdout).toMatch(/replica\s+view\s+executed\s+state digest\s+supply/)
    for (const id of [1, 2, 3]) expect(r.stdout).toMatch(new RegExp(`\\n  ${id}\\s+\\d+\\s+\\d+\\s+[0-9a-f]{16}\\s+4000\\s+4000`))
    expect(r.stdout).toMatch(/✔ PASS agreement: 3 correct replicas \(1, 2, 3\) executed up to sequence \d+ with state digest [0-9a-f]{12}/)
    expect(r.stdout).toContain("✔ PASS supply: 4000 units on every correct replica, equal to what genesis minted")
    expect(r.stdout).toMatch(/✔ PASS exactly-once: [1-9]\d* acknowledged transfers applied exactly once on each of 3 correct replicas/)
    expect(r.stdout).toMatch(/✔ PASS certificates: all [1-9]\d* kept reply certificates verify/)
    expect(r.stdout).toContain("VERDICT: PASS")
    expect(r.stdout).not.toContain("FAIL")
  }, 120_000)

  it("stops every replica process it started when interrupted (Ctrl-C)", async () => {
    const { child, done, output } = startDemo(["--duration", "60", "--byzantine", "silent"])
    expect(await waitFor(() => /\[\s*\d+\.\ds\]/.test(output()), 90_000), output()).toBe(true)
    const replicas = childrenOf(child.pid!)
    expect(replicas).toHaveLength(4)
    child.kill("SIGINT")
    const r = await done
    expect(r.code).toBe(130)
    expect(r.stderr).toContain("interrupted: stopping every replica process")
    expect(replicas.filter(alive)).toEqual([])
  }, 120_000)

  it("refuses bad arguments with exit code 2", async () => {
    const r = await startDemo(["--byzantine", "chaotic"]).done
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("--byzantine must be one of equivocate, silent, stale-view, lie")
  }, 60_000)
})
