/**
 * `synod-kv replica`: one Multi-Paxos replica of the key-value store as a process.
 *
 *   cluster directory    -> config, this replica's key (checked against the config)
 *   <dir>/replica-<i>.db -> durable Paxos state (@synod/storage-sqlite, fsync per Ready); recovered at start
 *   WebSocket transport  -> listens on its address from cluster.json, dials the other replicas, accepts clients
 *   PaxosReplica         -> the Paxos driver over the reference KV state machine in the generic replica shell
 *   status server        -> /status and /metrics on 127.0.0.1 (when --status-port is given)
 *
 * It prints one `ready:` line when it serves (with the status URL when there
 * is one), then a line at every leader change. It runs until interrupted
 * (SIGINT/SIGTERM close the database and sockets cleanly) or until the replica
 * fails (e.g. its disk fails), which exits non-zero.
 */
import type { FileSystem } from "@effect/platform"
import { ClusterConfig, Keys, replicaPeer, Storage, Transport } from "@synod/core"
import { KvStateMachine } from "@synod/core/testing"
import { Config as PaxosConfig, PaxosReplica } from "@synod/paxos"
import { SqliteStorage } from "@synod/storage-sqlite"
import { WebSocketTransport, WsMetrics } from "@synod/transport-ws"
import { Duration, Effect, Exit, Layer, Queue, type Scope } from "effect"
import * as crypto from "node:crypto"
import * as CliError from "./CliError.js"
import * as ClusterDir from "./ClusterDir.js"
import { Output } from "./Output.js"
import * as StatusServer from "./StatusServer.js"

export interface ReplicaOptions {
  readonly dir: string
  readonly id: number
  /** Serve /status on this port of 127.0.0.1 (0: any free port); undefined: no status server. */
  readonly statusPort: number | undefined
  /** Logical clock period; Paxos timeouts count ticks. */
  readonly tickMs: number
  readonly paxos?: Partial<PaxosConfig.PaxosConfig>
}

const storageProblem = (db: string, id: number) => (e: Storage.StorageError) => {
  switch (e.reason) {
    case "foreign":
      return CliError.config(`${db} belongs to another cluster or replica: ${e.detail}`, "delete it to start this replica from scratch, or use the right --dir / --id")
    case "corrupt":
      return CliError.config(`${db} is damaged: ${e.detail}`, "delete it; the replica catches up from the others")
    default:
      return /lock|busy/i.test(e.detail)
        ? CliError.config(`${db} is in use: is replica ${id} already running?`)
        : CliError.config(`cannot open ${db}: ${e.detail}`)
  }
}

export const run = (o: ReplicaOptions): Effect.Effect<void, CliError.CliError, FileSystem.FileSystem | Scope.Scope | Output> =>
  Effect.gen(function*() {
    const out = yield* Output
    const startedAt = Date.now()
    const cluster = yield* ClusterDir.load(o.dir)
    const entry = yield* ClusterDir.replicaEntry(cluster, o.id)
    const peer = replicaPeer(entry.id)
    const pair = yield* ClusterDir.privateKey(cluster, peer)
    const config = cluster.config
    const signer = Keys.signerOf(pair)
    const keys = ClusterConfig.keyRing(config)
    const db = cluster.layout.database(o.id)

    const paxos = yield* Effect.try({
      try: () => PaxosConfig.make(o.paxos),
      catch: (e) => CliError.usage(`invalid Paxos settings: ${e instanceof Error ? e.message : String(e)}`)
    })
    const storage = yield* SqliteStorage.make({ path: db, replicaId: o.id, clusterId: config.clusterId }).pipe(
      Effect.mapError(storageProblem(db, o.id))
    )
    const url = new URL(entry.address)
    const transport = yield* WebSocketTransport.make({
      clusterId: config.clusterId,
      signer,
      keys,
      listen: { host: url.hostname.replace(/^\[(.*)\]$/, "$1"), port: Number(url.port || (url.protocol === "wss:" ? 443 : 80)) },
      // the transport verifies each frame's signature (and closes connections that send forgeries);
      // the replica shell, given the same key ring, trusts that check instead of repeating it
      peers: ClusterConfig.replicaAddresses(config)
    }).pipe(
      Effect.mapError((e) => CliError.config(`replica ${o.id} cannot listen on ${entry.address}: ${e.detail}`, `is replica ${o.id} already running?`))
    )

    const handle = yield* PaxosReplica.run({
      id: entry.id,
      clusterId: config.clusterId,
      trust: ClusterConfig.quorumSystem(config),
      stateMachine: KvStateMachine,
      seed: crypto.randomInt(2 ** 31),
      config: paxos,
      shell: {
        tickInterval: Duration.millis(o.tickMs),
        supervisor: (failure) => out.err(`replica ${o.id} failed: ${String(failure.cause).slice(0, 500)}`)
      }
    }).pipe(
      Effect.provide(Layer.mergeAll(
        Layer.succeed(Transport.Transport, transport),
        Layer.succeed(Storage.Storage, storage),
        Keys.layerSigner(signer),
        Keys.layerKeyRing(keys)
      )),
      Effect.mapError(storageProblem(db, o.id))
    )

    const events = yield* handle.subscribe
    yield* Effect.forever(Effect.flatMap(Queue.take(events), (event) =>
      event._tag === "ViewChanged"
        ? out.out(`leader: replica ${event.leader} (ballot round ${event.view}, ${event.cause})`)
        : Effect.void
    )).pipe(Effect.forkScoped)

    const self = { self: peer }
    const status: Effect.Effect<StatusServer.KvReplicaStatus> = Effect.gen(function*() {
      const s = yield* handle.status
      const r = yield* handle.replicaStatus
      const leading = yield* handle.isLeader
      const leader = yield* handle.leaderHint
      const stats = yield* storage.stats
      const cpu = process.cpuUsage()
      return {
        replica: o.id,
        pid: process.pid,
        role: leading ? "leader" : "follower",
        leader: leader ?? null,
        // the fencing token is `round * 1024 + replica` (Ballot.fencingToken)
        view: Math.floor((yield* handle.fencingToken) / 1024),
        commitIndex: r.commitIndex,
        appliedIndex: s.appliedIndex,
        stateDigest: s.stateDigest,
        cpu: { user: cpu.user, system: cpu.system },
        wire: { bytesOut: yield* WsMetrics.value(WsMetrics.bytesOut, self), bytesIn: yield* WsMetrics.value(WsMetrics.bytesIn, self) },
        storage: stats,
        uptimeMs: Date.now() - startedAt
      }
    })
    const statusUrl = o.statusPort === undefined
      ? undefined
      : yield* StatusServer.serve(o.statusPort, status).pipe(Effect.mapError((e) => CliError.config(e.message)))

    const recovered = (yield* handle.appliedIndex) > 0 ? `, recovered at slot ${yield* handle.appliedIndex} from ${db}` : ""
    const statusPart = statusUrl === undefined ? "" : `, status ${statusUrl}/status`
    yield* out.out(`ready: replica ${o.id} of ${config.replicas.length} listening on ${entry.address}${statusPart}${recovered}`)

    const exit = yield* handle.await
    if (Exit.isFailure(exit)) return yield* CliError.internal(`replica ${o.id} stopped: ${String(exit.cause).slice(0, 500)}`)
  })
