/**
 * Crash recovery with a real kill -9: a child process writes batches in a loop
 * and acknowledges each on stdout; we SIGKILL it at an arbitrary moment (a
 * timer, while it spends most of its time inside commits), reopen the file,
 * and require that every acknowledged batch is there and no batch is there in
 * part. Three rounds reuse the file, so recovery also runs on files that were
 * themselves recovered; the second round kills four coalescing writers.
 *
 * The file is on the OS temp directory rather than in RAM: with an fsync per
 * commit the child spends most of its time inside commits, which is where the
 * kill must land to catch a batch that is not atomic. (Checked by making
 * `write` commit statement by statement: this test then fails.)
 *
 * A kill -9 loses the process, not the kernel's page cache: this proves crash
 * atomicity and that an acknowledged batch was committed, not power-loss
 * durability, which rests on synchronous=FULL (checked at open).
 */
import { describe, expect, it } from "@effect/vitest"
import { Data, Effect } from "effect"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { SqliteStorage } from "@synod/storage-sqlite"
import { crashBatch, modelState, recoveryProblems } from "./fixtures/crashModel.js"
import { diskDb } from "./support.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const FIXTURE = path.join(here, "fixtures", "crash-writer.ts")

class ChildError extends Data.TaggedError("ChildError")<{ readonly detail: string }> {}

/**
 * Run the writer child for `killAfterMs` after it is ready, then SIGKILL it.
 * A timer, not an ack, triggers the kill, so it lands at an arbitrary point of
 * the child's loop. Returns the last ack per writer.
 */
const runAndKill = (db: string, writers: number, coalesce: boolean, killAfterMs: number) =>
  Effect.async<Map<number, number>, ChildError>((resume) => {
    const child = spawn(
      process.execPath,
      ["--conditions=source", "--import", "tsx", FIXTURE, db, String(writers), coalesce ? "1" : "0"],
      { cwd: path.join(here, ".."), stdio: ["ignore", "pipe", "pipe"] }
    )
    const acked = new Map<number, number>()
    let killed = false
    let pending = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      pending += chunk
      let nl: number
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl)
        pending = pending.slice(nl + 1)
        if (line === "ready") {
          setTimeout(() => {
            killed = true
            child.kill("SIGKILL")
          }, killAfterMs)
        }
        const m = /^ack (\d+) (\d+)$/.exec(line)
        if (m !== null) acked.set(Number(m[1]), Math.max(acked.get(Number(m[1])) ?? -1, Number(m[2])))
      }
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    // "close" comes after stdout is drained: acks printed just before the kill are counted too.
    child.on("close", (code, signal) => {
      if (killed && signal === "SIGKILL") resume(Effect.succeed(acked))
      else resume(Effect.fail(new ChildError({ detail: `child ended (code ${code}, signal ${signal}): ${stderr}` })))
    })
    child.on("error", (e) => resume(Effect.fail(new ChildError({ detail: String(e) }))))
    return Effect.sync(() => child.kill("SIGKILL"))
  }).pipe(Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new ChildError({ detail: "no kill within 60 s" }) }))

const loadAll = (db: string) =>
  Effect.scoped(Effect.flatMap(SqliteStorage.make({ path: db, clusterId: "crash-test", replicaId: 0 }), (s) => s.load))

describe("crash recovery", () => {
  it.scopedLive("after kill -9, every acknowledged batch is present and no batch is partial", () =>
    Effect.gen(function*() {
      const db = yield* diskDb
      const rounds = [
        { writers: 1, coalesce: false, killAfterMs: 150 },
        { writers: 4, coalesce: true, killAfterMs: 150 },
        { writers: 1, coalesce: false, killAfterMs: 90 }
      ]
      const lastAcked = new Map<number, number>()
      for (const round of rounds) {
        const before = lastAcked.get(0) ?? -1
        const acked = yield* runAndKill(db, round.writers, round.coalesce, round.killAfterMs)
        for (const [f, i] of acked) lastAcked.set(f, i)
        // The round wrote something on top of the recovered state, or it proved nothing.
        expect(lastAcked.get(0) ?? -1).toBeGreaterThan(before)
        const loaded = yield* loadAll(db)
        // All four writers' keys are checked every round: a writer idle this round must be unchanged.
        expect(recoveryProblems(loaded, 4, lastAcked)).toEqual([])
      }
      expect([...lastAcked.keys()].sort()).toEqual([0, 1, 2, 3])
    }), 120_000)

  it("the recovery check rejects a partial batch, a lost acknowledged batch and a stray key", () => {
    const head = 12
    const whole = modelState(0, head)
    expect(recoveryProblems(whole, 1, new Map([[0, head]]))).toEqual([])

    // Batch 13 in part: its log keys landed but not its head, tmp move or deletes.
    const partial = new Map(whole)
    for (const w of crashBatch(0, head + 1).slice(0, 8)) partial.set(w.key, w.value!)
    expect(recoveryProblems(partial, 1, new Map([[0, head]]))).toHaveLength(8)

    // One write of batch 12 missing.
    const torn = new Map(whole)
    torn.delete([...whole.keys()].find((k) => k.includes("/tmp/"))!)
    expect(recoveryProblems(torn, 1, new Map([[0, head]]))).toEqual([`writer 0 at head ${head}: missing key w/0/tmp/${head}`])

    expect(recoveryProblems(whole, 1, new Map([[0, head + 1]]))[0]).toContain("was acknowledged but the head on disk is 12")
    expect(recoveryProblems(new Map([...whole, ["w/3/x", new Uint8Array(1)]]), 1, new Map())).toContain("keys of no writer: w/3/x")
  })
})
