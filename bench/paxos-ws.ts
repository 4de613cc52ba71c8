/**
 * Suite `paxos-ws`: the key-value example as it runs. Three `synod-kv replica`
 * processes on 127.0.0.1 (Multi-Paxos over WebSocket, Ed25519-signed frames,
 * SQLite with an fsync per Ready), and closed-loop clients in this process
 * putting 64-byte values under 8-byte keys (10,000 of them), as etcd's
 * benchmark does, at 1, 16 and 64 operations in flight.
 *
 * Per level: a 1 s warm-up, then `SYNOD_BENCH_SECONDS` (default 5) measured.
 *   - ops/s, p50 and p99 of the puts completed in the measured window;
 *   - CPU seconds per 1,000 puts: the replica processes' `process.cpuUsage()`
 *     (from their /status) over the window, summed, per put completed;
 *   - bytes on the wire per put: what the replicas and the clients handed to
 *     WebSocket (`synod_ws_bytes_out_total`) over the window, per put.
 *
 * The replicas' data lives in `$SYNOD_BENCH_DIR` (default: the OS temp
 * directory), which decides what an fsync costs. `$SYNOD_BENCH_REPLICA_ARGS`
 * adds `synod-kv replica` flags (e.g. "--batch-delay 1 --pipeline-window 8")
 * to try other Paxos settings.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { KvClient, Load, LoadMix, LocalCluster } from "@synod/example-kv"
import { Cause, Duration, Effect, Fiber, type Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Figure } from "./harness.js"

export const name = "paxos-ws"
export const description = "KV puts on Multi-Paxos: 3 replica processes, WebSocket on 127.0.0.1, SQLite fsync; 1/16/64 in flight"

export const LEVELS = [1, 16, 64] as const
export const KEYS = 10_000
export const VALUE_BYTES = 64
export const WARMUP_SECONDS = 1
export const measureSeconds = (): number => {
  const s = Number(process.env.SYNOD_BENCH_SECONDS ?? "5")
  return Number.isFinite(s) && s > 0 ? s : 5
}

/** One closed-loop measurement of a system at one level of concurrency. */
export interface Point {
  readonly inFlight: number
  readonly opsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  /** Server CPU seconds per 1,000 operations completed. */
  readonly cpuSecondsPer1000: number
  /** Bytes sent per operation (what is counted differs per system; see `wireNote`). */
  readonly bytesPerOp: number | undefined
  readonly failed: number
  readonly unknown: number
  /** Leader elections during the measured window. */
  readonly leaderChanges: number
}

export const benchDir = (prefix: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(process.env.SYNOD_BENCH_DIR ?? os.tmpdir(), prefix))),
    (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
  )

export interface Synod {
  readonly measure: (inFlight: number) => Effect.Effect<Point>
  readonly wireNote: string
}

/** Start the cluster and its client connections for the scope. */
export const startSynod = (replicaArgs: ReadonlyArray<string> = []): Effect.Effect<Synod, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* benchDir("synod-bench-kv-")
    const lc = yield* LocalCluster.make({ dir, replicas: 3, loadClients: 2, replicaArgs }).pipe(Effect.provide(NodeFileSystem.layer))
    yield* Effect.forEach([0, 1, 2], lc.start, { concurrency: "unbounded", discard: true })
    yield* lc.awaitLeader()
    const max = Math.max(...LEVELS)
    const identities = Math.ceil(max / KvClient.MAX_IN_FLIGHT)
    const clients = yield* Effect.forEach(Array.from({ length: identities }, (_, i) => `load-${i}`), (n, i) =>
      KvClient.open(lc.cluster, n, { inFlight: Math.ceil(max / identities), timeoutSeconds: 10, seed: i })).pipe(
        Effect.provide(NodeFileSystem.layer)
      )
    // every connection reaches every replica before the clock starts
    yield* Effect.forEach(clients, (c) =>
      Effect.gen(function*() {
        while ((yield* c.connectedReplicas) < 3) yield* Effect.sleep(Duration.millis(50))
      })).pipe(Effect.timeoutFail({ duration: Duration.seconds(30), onTimeout: () => new Error("clients could not reach every replica") }))

    const counters = Effect.gen(function*() {
      const statuses = yield* Effect.forEach([0, 1, 2], lc.status)
      const clientBytes = yield* Effect.forEach(clients, (c) => c.bytesSent)
      return {
        view: Math.max(...statuses.map((s) => s.view)),
        cpuMicros: statuses.reduce((a, s) => a + s.cpu.user + s.cpu.system, 0),
        bytes: statuses.reduce((a, s) => a + s.wire.bytesOut, 0) + clientBytes.reduce((a, b) => a + b, 0)
      }
    }).pipe(Effect.orDie)

    const run = (inFlight: number, seconds: number, seed: number) =>
      Load.run(clients, { clients: inFlight, durationSeconds: seconds, keys: KEYS, valueBytes: VALUE_BYTES, mix: LoadMix.PUT_ONLY, seed })

    return {
      wireNote: "all WebSocket bytes sent by the replicas and the clients",
      measure: (inFlight) =>
        Effect.gen(function*() {
          yield* run(inFlight, WARMUP_SECONDS, inFlight)
          const before = yield* counters
          const report = yield* run(inFlight, measureSeconds(), inFlight + 1000)
          const after = yield* counters
          const done = Math.max(1, report.completed)
          return {
            inFlight,
            opsPerSecond: report.opsPerSecond,
            p50Ms: report.p50Ms,
            p99Ms: report.p99Ms,
            cpuSecondsPer1000: ((after.cpuMicros - before.cpuMicros) / 1e6 / done) * 1000,
            bytesPerOp: (after.bytes - before.bytes) / done,
            failed: report.failed,
            unknown: report.unknown,
            leaderChanges: after.view - before.view
          }
        })
    }
  })

/** The figures of one system's points, named `<label> <figure>, <n> in flight`. */
export const figuresOf = (label: string, points: ReadonlyArray<Point>, wireNote: string): Array<Figure> =>
  points.flatMap((p) => {
    const at = `${p.inFlight} in flight`
    const errors = (p.failed + p.unknown > 0 ? `; ${p.failed} failed, ${p.unknown} unknown` : "") +
      (p.leaderChanges > 0 ? `; ${p.leaderChanges} leader election${p.leaderChanges === 1 ? "" : "s"}` : "")
    return [
      { name: `${label} puts/s, ${at}`, value: Math.round(p.opsPerSecond), unit: "ops/s", note: `${measureSeconds()} s measured${errors}` },
      { name: `${label} p50, ${at}`, value: p.p50Ms, unit: "ms" },
      { name: `${label} p99, ${at}`, value: p.p99Ms, unit: "ms" },
      { name: `${label} CPU per 1,000 puts, ${at}`, value: p.cpuSecondsPer1000, unit: "s", note: "server processes, summed" },
      ...(p.bytesPerOp === undefined ? [] : [{ name: `${label} bytes per put, ${at}`, value: Math.round(p.bytesPerOp), unit: "B", note: wireNote }])
    ]
  })

/** Extra replica flags from `$SYNOD_BENCH_REPLICA_ARGS` (space-separated). */
export const replicaArgs = (): ReadonlyArray<string> => (process.env.SYNOD_BENCH_REPLICA_ARGS ?? "").split(/\s+/).filter((a) => a !== "")

/**
 * Run a suite's program; SIGINT or SIGTERM interrupts it, so its scope stops
 * every process it started before the bench exits.
 */
export const runStoppable = <A, E>(program: Effect.Effect<A, E>): Promise<A> => {
  const fiber = Effect.runFork(program)
  const stop = () => fiber.unsafeInterruptAsFork(fiber.id())
  process.once("SIGINT", stop)
  process.once("SIGTERM", stop)
  return Effect.runPromise(Fiber.join(fiber).pipe(
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.die(new Error("interrupted by a signal; the processes it started were stopped"))
        : Effect.failCause(cause)
    )
  )).finally(() => {
    process.off("SIGINT", stop)
    process.off("SIGTERM", stop)
  })
}

export const run = async (): Promise<ReadonlyArray<Figure>> =>
  runStoppable(Effect.scoped(Effect.gen(function*() {
    const synod = yield* startSynod(replicaArgs())
    const points = yield* Effect.forEach(LEVELS, synod.measure)
    return figuresOf("synod", points, synod.wireNote)
  })))
