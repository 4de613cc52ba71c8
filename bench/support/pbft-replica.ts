/**
 * One PBFT replica process of the `pbft-ws` suite, built the way
 * examples/ledger's `ReplicaProcess` builds one: the transport-ws `Runner`
 * (cluster file, key file, WebSocket transport listening on this replica's
 * address and dialing the others) around `PbftDriver.make`, with in-memory
 * storage (`Storage.layerMemory`: no disk, so the figures are protocol,
 * crypto and transport).
 *
 *   node --conditions=source --import tsx bench/support/pbft-replica.ts \
 *     <cluster.json> <key.json> null|ledger [<genesis.json>]
 *
 * `null`: the null state machine of `NullMachine.ts`; `ledger`: the ledger of
 * examples/ledger built from the genesis file. `SYNOD_BENCH_PBFT` (JSON)
 * overrides PBFT settings. Prints `ready <address>` once
 * it serves. Over the IPC channel of its parent it answers `stats` (CPU time,
 * view, last executed, WebSocket bytes sent) and `profile-start` /
 * `profile-stop <file>` (a V8 CPU profile of just the measured window, through
 * `node:inspector`). SIGINT/SIGTERM stop it gracefully (the Runner's
 * `NodeRuntime.runMain`); it also stops when its parent goes away.
 */
import { NodeFileSystem, NodeRuntime } from "@effect/platform-node"
import { Storage } from "@synod/core"
import { Genesis, makeLedger } from "@synod/example-ledger"
import { Pbft, type PbftConfig, PbftDriver } from "@synod/pbft"
import { Runner, WsMetrics } from "@synod/transport-ws"
import { Effect, Either, Metric, MetricState } from "effect"
import * as fs from "node:fs"
import * as inspector from "node:inspector"
import { nullMachine } from "./NullMachine.js"

export interface Stats {
  readonly cpuMicros: number
  readonly view: number
  readonly executed: number
  readonly bytesOut: number
  /** Frames delivered to the core, by message type. */
  readonly received: Readonly<Record<string, number>>
  /** Inputs the shell or core dropped, by reason. */
  readonly rejected: Readonly<Record<string, number>>
  /** Requests in committed batches, and committed batches (`synod_batch_size`). */
  readonly batchedRequests: number
  readonly batches: number
}

/** The counters and histogram of `Stats` (names from @synod/core `Metrics`), from the metric registry. */
const metricStats = Effect.map(Metric.snapshot, (pairs) => {
  const received: Record<string, number> = {}
  const rejected: Record<string, number> = {}
  let batchedRequests = 0
  let batches = 0
  for (const pair of pairs) {
    const key = pair.metricKey
    const tag = (name: string) => key.tags.find((t) => t.key === name)?.value ?? "?"
    const state = pair.metricState
    if (key.name === "synod_messages_received_total" && MetricState.isCounterState(state)) {
      received[tag("type")] = (received[tag("type")] ?? 0) + Number(state.count)
    } else if (key.name === "synod_messages_rejected_total" && MetricState.isCounterState(state)) {
      rejected[tag("reason")] = (rejected[tag("reason")] ?? 0) + Number(state.count)
    } else if (key.name === "synod_batch_size" && MetricState.isHistogramState(state)) {
      batchedRequests += state.sum
      batches += state.count
    }
  }
  return { received, rejected, batchedRequests, batches }
})

export type Request =
  | { readonly cmd: "stats"; readonly id: number }
  | { readonly cmd: "profile-start"; readonly id: number }
  | { readonly cmd: "profile-stop"; readonly id: number; readonly file: string }

const [clusterFile, keyFile, mode, genesisFile] = process.argv.slice(2)
if (clusterFile === undefined || keyFile === undefined || (mode !== "null" && mode !== "ledger")) {
  console.error("usage: pbft-replica.ts <cluster.json> <key.json> null|ledger [<genesis.json>]")
  process.exit(2)
}

const stateMachine = mode === "null"
  ? nullMachine
  : makeLedger(Either.getOrThrowWith(Genesis.decode(fs.readFileSync(genesisFile!, "utf8")), (e) => new Error(`genesis: ${e}`)))

/** `SYNOD_BENCH_PBFT`: JSON of `PbftConfig` fields to override (e.g. `{"maxInFlightBatches":2}`). */
const pbftOverrides = JSON.parse(process.env.SYNOD_BENCH_PBFT ?? "{}") as Partial<PbftConfig.PbftConfig>

let driver: PbftDriver.PbftDriver | undefined
let self = ""
const session = new inspector.Session()

const answer = (id: number, body: unknown) => process.send?.({ id, body })

process.on("message", (m: Request) => {
  switch (m.cmd) {
    case "stats": {
      const cpu = process.cpuUsage()
      Effect.runPromise(Effect.zip(WsMetrics.value(WsMetrics.bytesOut, { self }), metricStats)).then(([bytesOut, counts]) => {
        const stats: Stats = {
          cpuMicros: cpu.user + cpu.system,
          view: driver?.view() ?? -1,
          executed: driver?.appliedIndex() ?? -1,
          bytesOut,
          ...counts
        }
        answer(m.id, stats)
      })
      return
    }
    case "profile-start":
      session.connect()
      session.post("Profiler.enable", () => session.post("Profiler.start", () => answer(m.id, "started")))
      return
    case "profile-stop":
      session.post("Profiler.stop", (err, result) => {
        if (err === null) fs.writeFileSync(m.file, JSON.stringify(result.profile))
        session.disconnect()
        answer(m.id, err === null ? "written" : String(err))
      })
      return
  }
})
// the parent is gone (crashed or killed): stop rather than linger
process.on("disconnect", () => process.kill(process.pid, "SIGTERM"))

NodeRuntime.runMain(
  Runner.run({
    clusterFile,
    keyFile,
    build: (ctx) => ({
      envelope: Pbft.envelopeContext(ctx.cluster.clusterId),
      makeDriver: (disk) => {
        driver = PbftDriver.make({
          id: ctx.id,
          trust: ctx.trust,
          signer: ctx.signer,
          keys: ctx.keys,
          stateMachine,
          disk,
          config: { ...pbftOverrides, clusterId: ctx.cluster.clusterId }
        })
        return driver
      }
    }),
    storage: () => Storage.layerMemory(),
    onStart: (replica) =>
      Effect.sync(() => {
        self = replica.transport.self
        console.log(`ready ${replica.address}`)
      })
  }).pipe(Effect.provide(NodeFileSystem.layer))
)
