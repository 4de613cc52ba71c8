/**
 * The load generator: `clients` closed-loop clients, each with at most one
 * operation outstanding, for `durationSeconds`, spread over one or more
 * client connections (`KvClient`s, one per client identity). Every operation
 * goes into the history (when one is given):
 *
 *   completed            `ok:true` with what it returned
 *   ClientRejected       `ok:false`: definitely had no effect
 *   ClientTimedOut,      `unknown:true`: it may have taken effect at any time
 *   ClientClosed, ...    after its call, or never
 *   ClientOverloaded     not recorded: it was never submitted (the client retries)
 *
 * `call_ns` / `return_ns` come from `process.hrtime.bigint()`. Clients stop
 * starting operations at the end of the run and wait for the ones in flight
 * (each completes by the connection's timeout); an operation interrupted
 * before its answer is recorded as unknown.
 *
 * Throughput and latency count the operations that completed `ok` between
 * the end of the warm-up and the end of the run.
 */
import type { ClientShell } from "@synod/core"
import type { Kv } from "@synod/core/testing"
import { Duration, Effect, Exit } from "effect"
import type * as HistoryFile from "./HistoryFile.js"
import type { KvClient } from "./KvClient.js"
import { Latency } from "./Latency.js"
import * as LoadMix from "./LoadMix.js"

export interface LoadOptions {
  readonly clients: number
  readonly durationSeconds: number
  /** Operations completing in the first seconds are recorded but not counted. Default 0. */
  readonly warmupSeconds?: number
  readonly keys: number
  readonly valueBytes: number
  readonly mix: LoadMix.Mix
  readonly seed: number
  readonly history?: HistoryFile.HistoryFile
  /** Called about once a second with the operations completed `ok` in that second. */
  readonly onSecond?: (second: number, okInSecond: number) => Effect.Effect<void>
}

export interface KindReport {
  readonly ok: number
  readonly p50Ms: number
  readonly p99Ms: number
}

export interface LoadReport {
  readonly clients: number
  /** Seconds measured (the run without its warm-up). */
  readonly seconds: number
  /** Operations completed `ok` in the measured window. */
  readonly ok: number
  /** Operations completed `ok` over the whole run (warm-up and the wait for the last answers included). */
  readonly completed: number
  /** Over the whole run: definite failures and unknown outcomes. */
  readonly failed: number
  readonly unknown: number
  /** Submissions refused by the client for lack of room (not operations). */
  readonly overloaded: number
  readonly opsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly maxMs: number
  readonly byKind: Readonly<Record<LoadMix.OpKind, KindReport>>
  /** History lines written. */
  readonly recorded: number
}

const kindOf = (c: Kv.Command): LoadMix.OpKind =>
  c._tag === "Get" ? "get" : c._tag === "Put" ? "put" : c._tag === "Delete" ? "delete" : "cas"

/** The history line of an operation that returned `result`. */
const completed = (client: number, c: Kv.Command, callNs: bigint, returnNs: bigint, r: Kv.Result): HistoryFile.Operation => {
  const base = { client, key: c.key, callNs }
  switch (c._tag) {
    case "Get":
      return { ...base, op: "get", outcome: { status: "ok", returnNs, result: r._tag === "Got" ? r.value ?? null : null } }
    case "Put":
      return { ...base, op: "put", value: c.value, outcome: { status: "ok", returnNs } }
    case "Delete":
      return { ...base, op: "delete", outcome: { status: "ok", returnNs } }
    case "Cas":
      return { ...base, op: "cas", expected: c.expected, value: c.value, outcome: { status: "ok", returnNs, result: r._tag === "CasResult" && r.ok } }
  }
}

/** The history line of an operation without a result: `failed` (no effect) or `unknown`. */
const unresolved = (client: number, c: Kv.Command, callNs: bigint, outcome: { readonly status: "failed"; readonly returnNs: bigint } | { readonly status: "unknown" }): HistoryFile.Operation => {
  const base = { client, key: c.key, callNs, outcome }
  switch (c._tag) {
    case "Get":
      return { ...base, op: "get" }
    case "Put":
      return { ...base, op: "put", value: c.value }
    case "Delete":
      return { ...base, op: "delete" }
    case "Cas":
      return { ...base, op: "cas", expected: c.expected, value: c.value }
  }
}

/** Does the answer match the command (a replica answering a put with a Got is a bug, not an outcome)? */
const answers = (c: Kv.Command, r: Kv.Result): boolean =>
  (c._tag === "Get" && r._tag === "Got") || (c._tag === "Put" && r._tag === "Stored") ||
  (c._tag === "Delete" && r._tag === "Deleted") || (c._tag === "Cas" && r._tag === "CasResult")

/** What a completed command shows about its key's value (undefined: absent). */
const observed = (c: Kv.Command, r: Kv.Result): Kv.Value | undefined => {
  switch (c._tag) {
    case "Get":
      return r._tag === "Got" ? r.value : undefined
    case "Put":
      return c.value
    case "Delete":
      return undefined
    case "Cas":
      return r._tag === "CasResult" && !r.ok ? r.current : c.value
  }
}

export const run = (connections: ReadonlyArray<KvClient>, o: LoadOptions): Effect.Effect<LoadReport> =>
  Effect.gen(function*() {
    if (connections.length === 0) return yield* Effect.dieMessage("load: no client connections")
    const gen = LoadMix.generator({ keys: o.keys, valueBytes: o.valueBytes, mix: o.mix, seed: o.seed })
    const all = new Latency()
    const byKind = { get: new Latency(), put: new Latency(), delete: new Latency(), cas: new Latency() }
    let failed = 0
    let unknown = 0
    let overloaded = 0
    let okTotal = 0
    const start = process.hrtime.bigint()
    const measureFrom = start + BigInt(Math.round((o.warmupSeconds ?? 0) * 1e9))
    const end = start + BigInt(Math.round(o.durationSeconds * 1e9))
    const record = (op: HistoryFile.Operation) => o.history?.record(op)

    const one = (client: number, conn: KvClient): Effect.Effect<void> =>
      Effect.suspend(() => {
        const command = gen.next(client)
        const callNs = process.hrtime.bigint()
        return conn.submit(command).pipe(
          Effect.onInterrupt(() => Effect.sync(() => {
            unknown++
            record(unresolved(client, command, callNs, { status: "unknown" }))
          })),
          Effect.exit,
          Effect.flatMap((exit) => {
            const returnNs = process.hrtime.bigint()
            // recorded as unknown by onInterrupt above
            if (Exit.isInterrupted(exit)) return Effect.void
            if (Exit.isSuccess(exit) && answers(command, exit.value)) {
              const r = exit.value
              record(completed(client, command, callNs, returnNs, r))
              gen.observe(command.key, observed(command, r))
              okTotal++
              if (returnNs >= measureFrom && returnNs <= end) {
                all.record(returnNs - callNs)
                byKind[kindOf(command)].record(returnNs - callNs)
              }
              return Effect.void
            }
            const error: ClientShell.ClientError | undefined = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
            if (error?._tag === "ClientOverloaded") {
              overloaded++
              return Effect.sleep(Duration.millis(1))
            }
            if (error?._tag === "ClientRejected") {
              failed++
              record(unresolved(client, command, callNs, { status: "failed", returnNs }))
            } else {
              unknown++
              record(unresolved(client, command, callNs, { status: "unknown" }))
            }
            return Effect.void
          })
        )
      })

    const loop = (client: number) => {
      const conn = connections[client % connections.length]!
      return Effect.whileLoop({
        while: () => process.hrtime.bigint() < end,
        body: () => one(client, conn),
        step: () => {}
      })
    }

    const clients = Effect.forEach(Array.from({ length: o.clients }, (_, i) => i), loop, { concurrency: "unbounded", discard: true })
    const onSecond = o.onSecond
    if (onSecond === undefined) yield* clients
    else {
      let second = 0
      let last = 0
      const tick = Effect.suspend(() => {
        const done = okTotal - last
        last = okTotal
        return onSecond(++second, done)
      })
      // the progress loop never ends on its own: the race ends it when the clients are done
      yield* Effect.race(clients, Effect.forever(Effect.zipRight(Effect.sleep(Duration.seconds(1)), tick)))
    }

    const seconds = Math.max(1e-9, Number(end - measureFrom) / 1e9)
    const kind = (l: Latency): KindReport => ({ ok: l.count, p50Ms: l.quantileMs(0.5), p99Ms: l.quantileMs(0.99) })
    return {
      clients: o.clients,
      seconds,
      ok: all.count,
      completed: okTotal,
      failed,
      unknown,
      overloaded,
      opsPerSecond: all.count / seconds,
      p50Ms: all.quantileMs(0.5),
      p99Ms: all.quantileMs(0.99),
      maxMs: all.maxMs,
      byKind: { get: kind(byKind.get), put: kind(byKind.put), delete: kind(byKind.delete), cas: kind(byKind.cas) },
      recorded: o.history?.lines() ?? 0
    }
  })
