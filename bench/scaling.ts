/**
 * Suite `scaling`: how PBFT (n = 4, 7, 10) and Multi-Paxos (n = 3, 5, 7)
 * behave as the cluster grows, and as batch size and payload size vary.
 *
 * Everything runs in this process: the real Effect shells (`PbftReplica.run`,
 * `PaxosReplica.run`, their client shells) over the in-memory transport, with
 * Ed25519 keys for every replica and client and in-memory storage. In one
 * process the replicas share the cores (on a 2-core machine, processes per
 * replica would only measure the scheduler), so read the figures as cost per
 * operation: CPU microseconds and bytes sent per op, and how they grow with n.
 * Ops/s is this process's throughput with all replicas in it.
 *
 * Workload: `CLIENTS` closed-loop clients, one request outstanding each,
 * null operations (`support/NullMachine.ts`) with a command of `payload`
 * bytes. Per case: a warm-up (`WARMUP_MS`), then `MEASURE_MS` measured.
 * Bytes per op: frame bytes the replicas hand to the transport (all
 * destinations), and the clients' separately.
 *
 * Cases (defaults unless varied: PBFT maxBatchSize 128, Paxos maxBatchItems
 * 64, payload 8 B):
 *   n          PBFT n = 4, 7, 10; Paxos n = 3, 5, 7
 *   batch      PBFT n = 4 and Paxos n = 3 with batches of at most 1 and 8
 *   payload    PBFT n = 4 and Paxos n = 3 with 1 KiB and 8 KiB commands
 *
 * `SYNOD_BENCH_CASES=<text>` runs only the cases whose label contains it.
 */
import {
  Actor,
  clientPeer,
  Crypto,
  Keys,
  MemoryTransport,
  Metrics,
  type PeerId,
  makeClientId,
  makeReplicaId,
  replicaPeer,
  Storage,
  Transport,
  TrustModel
} from "@synod/core"
import { PaxosClient, PaxosReplica } from "@synod/paxos"
import { PbftClientShell, PbftReplica } from "@synod/pbft"
import { Duration, Effect, Exit, Layer, Logger, LogLevel, Metric, type Scope } from "effect"
import type { Figure } from "./harness.js"
import { nullMachine } from "./support/NullMachine.js"

export const name = "scaling"
export const description = "PBFT n=4/7/10 and Paxos n=3/5/7 in one process (memory transport, Ed25519): ops/s, CPU and bytes per op; batch and payload varied"

const CLIENTS = 32
const WARMUP_MS = 1000
const MEASURE_MS = 3000
/** A cluster that has not committed anything after this long is reported, not waited for. */
const FIRST_COMMIT_TIMEOUT = Duration.seconds(20)

type Protocol = "pbft" | "paxos"

interface Case {
  readonly protocol: Protocol
  readonly n: number
  readonly batch?: number
  /** PBFT maxInFlightBatches / Paxos pipelineWindow. */
  readonly window?: number
  readonly payload: number
  readonly varied: "n" | "batch" | "window" | "payload"
}

const CASES: ReadonlyArray<Case> = [
  ...[4, 7, 10].map((n): Case => ({ protocol: "pbft", n, payload: 8, varied: "n" })),
  ...[3, 5, 7].map((n): Case => ({ protocol: "paxos", n, payload: 8, varied: "n" })),
  ...[1, 8].map((batch): Case => ({ protocol: "pbft", n: 4, batch, payload: 8, varied: "batch" })),
  ...[1, 8].map((batch): Case => ({ protocol: "paxos", n: 3, batch, payload: 8, varied: "batch" })),
  ...[1, 4].map((window): Case => ({ protocol: "pbft", n: 4, window, payload: 8, varied: "window" })),
  ...[1, 4].map((window): Case => ({ protocol: "paxos", n: 3, window, payload: 8, varied: "window" })),
  ...[1024, 8192].map((payload): Case => ({ protocol: "pbft", n: 4, payload, varied: "payload" })),
  ...[1024, 8192].map((payload): Case => ({ protocol: "paxos", n: 3, payload, varied: "payload" }))
]

interface Result {
  /** Requests per committed log entry (`synod_batch_size`, every replica's commits). */
  readonly batchSize: number
  readonly ops: number
  readonly seconds: number
  readonly cpuMicros: number
  readonly replicaBytes: number
  readonly clientBytes: number
  readonly failures: number
  readonly p50Ms: number
}

/** A transport that counts the bytes it is asked to send (per destination, as the shells count). */
const counting = (inner: Transport.TransportService, counter: { bytes: number }): Transport.TransportService => ({
  ...inner,
  send: (to, bytes) =>
    Effect.suspend(() => {
      counter.bytes += bytes.byteLength
      return inner.send(to, bytes)
    })
})

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6

const ports = (transport: Transport.TransportService, signer: Crypto.Signer, keys: Crypto.KeyRing) =>
  Layer.mergeAll(Layer.succeed(Transport.Transport, transport), Keys.layerSigner(signer), Keys.layerKeyRing(keys))

/** Start the cluster and its clients for the scope; returns one submit per client. */
const startCase = (c: Case): Effect.Effect<
  { readonly submits: ReadonlyArray<(command: string) => Effect.Effect<unknown, unknown>>; readonly replicaBytes: { bytes: number }; readonly clientBytes: { bytes: number } },
  never,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const replicaIds = Array.from({ length: c.n }, (_, i) => makeReplicaId(i))
    const replicaPairs = replicaIds.map((id) => Keys.generateKeyPair(replicaPeer(id)))
    const clientIds = Array.from({ length: CLIENTS }, (_, i) => makeClientId(`c${i}`))
    const clientPairs = clientIds.map((id) => Keys.generateKeyPair(clientPeer(id)))
    const keys = Crypto.ed25519KeyRing(new Map([...replicaPairs, ...clientPairs].map((p) => [p.peer, p.publicKey] as [PeerId, typeof p.publicKey])))
    const net = yield* MemoryTransport.makeNetwork({ peers: [...replicaPairs, ...clientPairs].map((p) => p.peer) })
    const replicaBytes = { bytes: 0 }
    const clientBytes = { bytes: 0 }
    const clusterId = `scaling-${c.protocol}`
    const trust = c.protocol === "pbft" ? TrustModel.byzantine(c.n) : TrustModel.crashMajority(c.n)
    const shell = { supervisor: Actor.logSupervisor, maxOpenSpans: 0 }

    for (const [i, pair] of replicaPairs.entries()) {
      const transport = counting(yield* net.connect(pair.peer), replicaBytes)
      const layer = Layer.merge(ports(transport, Keys.signerOf(pair), keys), Storage.layerMemory())
      if (c.protocol === "pbft") {
        yield* PbftReplica.run({
          id: replicaIds[i]!,
          clusterId,
          trust,
          stateMachine: nullMachine,
          config: { ...(c.batch === undefined ? {} : { maxBatchSize: c.batch }), ...(c.window === undefined ? {} : { maxInFlightBatches: c.window }) },
          shell
        }).pipe(Effect.provide(layer), Effect.orDie)
      } else {
        yield* PaxosReplica.run({
          id: replicaIds[i]!,
          clusterId,
          trust,
          stateMachine: nullMachine,
          seed: i + 1,
          config: { ...(c.batch === undefined ? {} : { maxBatchItems: c.batch }), ...(c.window === undefined ? {} : { pipelineWindow: c.window }) },
          shell
        }).pipe(Effect.provide(layer), Effect.orDie)
      }
    }

    const submits = yield* Effect.forEach(clientPairs, (pair, i) =>
      Effect.gen(function*() {
        const transport = counting(yield* net.connect(pair.peer), clientBytes)
        const layer = ports(transport, Keys.signerOf(pair), keys)
        if (c.protocol === "pbft") {
          const client = yield* PbftClientShell.make({ clusterId, clientId: clientIds[i]!, trust, stateMachine: nullMachine, shell }).pipe(Effect.provide(layer))
          return (command: string) => client.submit(command)
        }
        const client = yield* PaxosClient.make({ clusterId, clientId: clientIds[i]!, replicas: replicaIds, stateMachine: nullMachine, seed: i, shell }).pipe(
          Effect.provide(layer)
        )
        return (command: string) => client.submit(command)
      }))
    return { submits, replicaBytes, clientBytes }
  })

const runCase = (c: Case): Effect.Effect<Result | string> =>
  Effect.scoped(Effect.gen(function*() {
    const { clientBytes, replicaBytes, submits } = yield* startCase(c)
    const command = "x".repeat(c.payload)
    // the first commit (a Paxos leader is elected first) before the clock starts
    const first = yield* Effect.exit(submits[0]!(command).pipe(Effect.timeout(FIRST_COMMIT_TIMEOUT)))
    if (Exit.isFailure(first)) return "no commit within 20 s"
    const loop = (ms: number) =>
      Effect.gen(function*() {
        const end = nowMs() + ms
        const latencies: Array<number> = []
        let failures = 0
        yield* Effect.forEach(submits, (submit) =>
          Effect.gen(function*() {
            while (nowMs() < end) {
              const t0 = nowMs()
              const exit = yield* Effect.exit(submit(command))
              if (Exit.isSuccess(exit)) latencies.push(nowMs() - t0)
              else failures++
            }
          }), { concurrency: "unbounded", discard: true })
        return { latencies, failures }
      })
    yield* loop(WARMUP_MS)
    const batches = Metric.value(Metric.tagged(Metrics.batchSize, "protocol", c.protocol === "pbft" ? "pbft/1" : "paxos/1"))
    const batches0 = yield* batches
    const bytes0 = [replicaBytes.bytes, clientBytes.bytes]
    const cpu0 = process.cpuUsage()
    const t0 = nowMs()
    const { failures, latencies } = yield* loop(MEASURE_MS)
    const seconds = (nowMs() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const batches1 = yield* batches
    latencies.sort((a, b) => a - b)
    return {
      batchSize: (batches1.sum - batches0.sum) / Math.max(1, batches1.count - batches0.count),
      ops: latencies.length,
      seconds,
      cpuMicros: cpu.user + cpu.system,
      replicaBytes: replicaBytes.bytes - bytes0[0]!,
      clientBytes: clientBytes.bytes - bytes0[1]!,
      failures,
      p50Ms: latencies[Math.floor(latencies.length / 2)] ?? NaN
    }
  }).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.Warning))))

const labelOf = (c: Case): string =>
  `${c.protocol} n=${c.n}` + (c.varied === "batch" ? `, batch ${c.batch}` : "") + (c.varied === "window" ? `, window ${c.window}` : "") +
  (c.varied === "payload" ? `, ${c.payload} B commands` : "")

export const run = async (): Promise<ReadonlyArray<Figure>> => {
  const figures: Array<Figure> = []
  // `SYNOD_BENCH_CASES=<text>`: only the cases whose label contains it (e.g. "pbft n=4")
  const only = process.env.SYNOD_BENCH_CASES
  for (const c of CASES.filter((c) => only === undefined || labelOf(c).includes(only))) {
    const r = await Effect.runPromise(runCase(c))
    const label = labelOf(c)
    if (typeof r === "string") {
      figures.push({ name: `${label}: not measured`, value: 0, unit: "", note: r })
      continue
    }
    const ops = Math.max(1, r.ops)
    const failed = r.failures > 0 ? `; ${r.failures} failed` : ""
    figures.push(
      {
        name: `${label} ops/s`,
        value: r.ops / r.seconds,
        unit: "ops/s",
        note: `${CLIENTS} clients; ${r.ops} ops in ${r.seconds.toFixed(1)} s; p50 ${r.p50Ms.toFixed(1)} ms; ${r.batchSize.toFixed(1)} requests per batch${failed}`
      },
      { name: `${label} CPU per op`, value: r.cpuMicros / ops, unit: "µs", note: "this process: every replica and client" },
      { name: `${label} replica bytes per op`, value: Math.round(r.replicaBytes / ops), unit: "B", note: `clients: ${Math.round(r.clientBytes / ops)} B per op` }
    )
  }
  return figures
}

