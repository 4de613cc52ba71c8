/**
 * The load generator and its history, against in-process fake clients: every
 * outcome maps to the right history line (ok with its result, `ok:false` for
 * a definite rejection, `unknown` for a timeout or an interruption), the file
 * parses, and the linearizability checker accepts a correct store and catches
 * a store that serves stale reads. Also the operation mix and the latency
 * histogram.
 */
import { describe, expect, it } from "@effect/vitest"
import { ClientShell } from "@synod/core"
import { Kv } from "@synod/core/testing"
import { Duration, Effect, Either, Fiber } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as HistoryFile from "../src/HistoryFile.js"
import { History, Linearizability } from "@synod/core/testing"
import type { KvClient } from "../src/KvClient.js"
import { Latency } from "../src/Latency.js"
import * as Load from "../src/Load.js"
import * as LoadMix from "../src/LoadMix.js"

interface Fault {
  /** What the n-th submission (from 0) does instead of a clean answer. */
  (n: number): "reject" | "timeout-applied" | "timeout-lost" | "stale-read" | undefined
}

/**
 * A store in memory behind a `KvClient`: each command takes effect at one
 * instant inside its call (after a short wait), like a linearizable server.
 */
const fakeClient = (fault: Fault = () => undefined): KvClient => {
  const state = new Map<string, Kv.Value>()
  const previous = new Map<string, Kv.Value | undefined>()
  let n = 0
  return {
    name: "fake",
    connectedReplicas: Effect.succeed(3),
    bytesSent: Effect.succeed(0),
    issued: () => n,
    submit: (command) =>
      Effect.gen(function*() {
        const f = fault(n++)
        yield* Effect.sleep(Duration.millis(1))
        if (f === "reject") return yield* new ClientShell.ClientRejected({ reason: "test" })
        if (f === "stale-read" && command._tag === "Get" && previous.has(command.key)) {
          const old = previous.get(command.key)
          return old === undefined ? { _tag: "Got" } as const : { _tag: "Got", value: old } as const
        }
        if (f !== "timeout-lost") {
          previous.set(command.key, state.get(command.key))
          const result = Kv.applyTo(state, command)
          if (f === "timeout-applied") return yield* new ClientShell.ClientTimedOut()
          yield* Effect.sleep(Duration.millis(1))
          return result
        }
        return yield* new ClientShell.ClientTimedOut()
      })
  }
}

const withHistory = <A>(use: (file: HistoryFile.HistoryFile) => Effect.Effect<A>) =>
  Effect.gen(function*() {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "synod-kv-load-"))),
      (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
    )
    const file = path.join(dir, "history.jsonl")
    const result = yield* Effect.scoped(Effect.flatMap(HistoryFile.open(file), use))
    const parsed = History.parseHistory(fs.readFileSync(file, "utf8"))
    if (Either.isLeft(parsed)) throw new Error(`history does not parse: ${parsed.left.message}`)
    return { result, ops: parsed.right }
  })

const options = (history: HistoryFile.HistoryFile): Load.LoadOptions => ({
  clients: 4,
  durationSeconds: 0.4,
  keys: 3,
  valueBytes: 24,
  mix: LoadMix.DEFAULT_MIX,
  seed: 11,
  history
})

describe("load generator", () => {
  it.scopedLive("records every outcome in the history format and the checker accepts a linearizable store", () =>
    Effect.gen(function*() {
      const fault: Fault = (n) => (n % 13 === 5 ? "reject" : n % 17 === 3 ? "timeout-applied" : n % 19 === 7 ? "timeout-lost" : undefined)
      const { ops, result } = yield* withHistory((h) => Load.run([fakeClient(fault)], options(h)))
      expect(ops.length).toBe(result.recorded)
      expect(ops.filter((o) => o.outcome.status === "failed")).toHaveLength(result.failed)
      expect(ops.filter((o) => o.outcome.status === "unknown")).toHaveLength(result.unknown)
      expect(result.failed).toBeGreaterThan(0)
      expect(result.unknown).toBeGreaterThan(0)
      expect(result.ok).toBeGreaterThan(20)
      for (const kind of LoadMix.OP_KINDS) expect(ops.some((o) => o.op === kind && o.outcome.status === "ok")).toBe(true)
      // values have the requested size and are unique per write
      const written = ops.flatMap((o) => (o.op === "put" || o.op === "cas" ? [o.value] : []))
      expect(written.every((v) => typeof v === "string" && v.length === 24)).toBe(true)
      expect(new Set(written).size).toBe(written.length)
      // one operation at a time per client
      for (let c = 0; c < 4; c++) {
        const mine = ops.filter((o) => o.client === c && o.outcome.status !== "unknown")
        for (let i = 1; i < mine.length; i++) {
          const prev = mine[i - 1]!.outcome
          if ("returnNs" in prev && prev.returnNs !== undefined) expect(BigInt(mine[i]!.callNs) >= BigInt(prev.returnNs)).toBe(true)
        }
      }
      expect(Linearizability.checkHistory(ops)._tag).toBe("Linearizable")
    }))

  it.scopedLive("a store that serves stale reads is caught by the checker", () =>
    Effect.gen(function*() {
      const { ops } = yield* withHistory((h) =>
        Load.run([fakeClient((n) => (n % 5 === 4 ? "stale-read" : undefined))], { ...options(h), clients: 1, mix: { get: 1, put: 1, delete: 0, cas: 0 } })
      )
      expect(Linearizability.checkHistory(ops)._tag).toBe("NotLinearizable")
    }))

  it.scopedLive("an operation interrupted before its answer is recorded as unknown", () =>
    Effect.gen(function*() {
      const hanging: KvClient = { ...fakeClient(), submit: () => Effect.never }
      const { ops } = yield* withHistory((h) =>
        Effect.gen(function*() {
          const fiber = yield* Effect.fork(Load.run([hanging], { ...options(h), clients: 2, durationSeconds: 10 }))
          yield* Effect.sleep(Duration.millis(50))
          yield* Fiber.interrupt(fiber)
        })
      )
      expect(ops).toHaveLength(2)
      expect(ops.every((o) => o.outcome.status === "unknown")).toBe(true)
    }))

  it("parses operation mixes", () => {
    expect(LoadMix.parseMix("put")).toEqual(Either.right(LoadMix.PUT_ONLY))
    expect(LoadMix.parseMix("get=3, cas=1")).toEqual(Either.right({ get: 3, put: 0, delete: 0, cas: 1 }))
    expect(Either.isLeft(LoadMix.parseMix("get=x"))).toBe(true)
    expect(Either.isLeft(LoadMix.parseMix("get=0"))).toBe(true)
    expect(Either.isLeft(LoadMix.parseMix(""))).toBe(true)
    expect(LoadMix.keyName(42)).toBe("k0000042")
    expect(LoadMix.keyName(42)).toHaveLength(LoadMix.KEY_BYTES)
  })

  it("reports latency quantiles within the histogram's resolution", () => {
    const l = new Latency()
    expect(Number.isNaN(l.quantileMs(0.5))).toBe(true)
    for (let ms = 1; ms <= 1000; ms++) l.record(BigInt(ms) * 1_000_000n)
    expect(l.count).toBe(1000)
    expect(l.quantileMs(0.5)).toBeGreaterThanOrEqual(500)
    expect(l.quantileMs(0.5)).toBeLessThan(500 * 1.003)
    expect(l.quantileMs(0.99)).toBeGreaterThanOrEqual(990)
    expect(l.quantileMs(0.99)).toBeLessThan(990 * 1.003)
    expect(l.maxMs).toBe(1000)
    const small = new Latency()
    for (const us of [5, 7, 9]) small.record(us * 1000)
    expect(small.quantileMs(0.5)).toBe(0.007)
  })
})
