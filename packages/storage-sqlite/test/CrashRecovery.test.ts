/**
 * Crash recovery with a real kill -9: a child process writes batches in a loop
 * and acknowledges each on stdout; we SIGKILL it at an arbitrary moment (it
 * spends most of its time inside commits), reopen the file, and require that
 * every acknowledged batch is there and no batch is there in part. The second
 * round reuses the file, so recovery also runs on a file that was itself
 * recovered, and kills four coalescing writers.
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
import { tempDb } from "./support.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const FIXTURE = path.join(here, "fixtures", "crash-writer.ts")

class ChildError extends Data.TaggedError("ChildError")<{ readonly detail: string }> {}

/** Run the writer child until it has acknowledged `killAfter` batches, then SIGKILL it. Returns the last ack per writer. */
const runAndKill = (db: string, writers: number, coalesce: boolean, killAfter: number) =>
  Effect.async<Map<number, number>, ChildError>((resume) => {
    const child = spawn(
      process.execPath,
      ["--conditions=source", "--import", "tsx", FIXTURE, db, String(writers), coalesce ? "1" : "0"],
      { cwd: path.join(here, ".."), stdio: ["ignore", "pipe", "pipe"] }
    )
    const acked = new Map<number, number>()
    let acks = 0
    let killed = false
    let pending = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      pending += chunk
      let nl: number
      while ((nl = pending.indexOf("\n")) >= 0) {
        const m = /^ack (\d+) (\d+)$/.exec(pending.slice(0, nl))
        pending = pending.slice(nl + 1)
        if (m === null) continue
        const f = Number(m[1])
        acked.set(f, Math.max(acked.get(f) ?? -1, Number(m[2])))
        if (++acks >= killAfter && !killed) {
          killed = true
          child.kill("SIGKILL")
        }
      }
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    // "close" comes after stdout is drained: acks printed just before the kill are counted too.
    child.on("close", (code, signal) => {
      if (killed && signal === "SIGKILL") resume(Effect.succeed(acked))
      else resume(Effect.fail(new ChildError({ detail: `child ended (code ${code}, signal ${signal}) after ${acks} acks: ${stderr}` })))
    })
    child.on("error", (e) => resume(Effect.fail(new ChildError({ detail: String(e) }))))
    return Effect.sync(() => child.kill("SIGKILL"))
  }).pipe(Effect.timeoutFail({ duration: "60 seconds", onTimeout: () => new ChildError({ detail: "no kill within 60 s" }) }))

const loadAll = (db: string) =>
  Effect.scoped(Effect.flatMap(SqliteStorage.make({ path: db, clusterId: "crash-test", replicaId: 0 }), (s) => s.load))

describe("crash recovery", () => {
  it.scopedLive("after kill -9, every acknowledged batch is present and no batch is partial", () =>
    Effect.gen(function*() {
      const db = yield* tempDb
      const rounds = [
        { writers: 1, coalesce: false, killAfter: 37 },
        { writers: 4, coalesce: true, killAfter: 97 }
      ]
      const lastAcked = new Map<number, number>()
      for (const round of rounds) {
        const acked = yield* runAndKill(db, round.writers, round.coalesce, round.killAfter)
        for (const [f, i] of acked) lastAcked.set(f, i)
        const loaded = yield* loadAll(db)
        expect(recoveryProblems(loaded, round.writers, lastAcked)).toEqual([])
      }
      // Every round made progress on top of the recovered state.
      expect(lastAcked.get(0)).toBeGreaterThan(37)
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
