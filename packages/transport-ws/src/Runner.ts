/**
 * The process-level runner: one replica per process, started from the cluster
 * configuration file and this replica's private key file, over the WebSocket
 * transport, until SIGINT or SIGTERM.
 *
 *   node --conditions=source --import tsx my-replica.ts cluster.json keys/replica-0.key.json
 *
 * Generic over the protocol: the caller passes `build`, which turns the
 * replica's context (id, trust model, keys, a per-boot seed) into the envelope
 * context and a driver factory. The runner has no protocol `if`s; the paxos
 * and pbft packages and the examples provide builders.
 *
 * What it does, in order (each failure is a typed `RunnerError` and exit 1):
 *   1. read and validate the cluster file (`ClusterConfig.readFile`);
 *   2. read the private key file; its PeerId must be a replica of the cluster
 *      and its public key the one the cluster file lists for it ("identity");
 *   3. listen on this replica's address (or `listen` overrides), dial every
 *      other replica, accept the cluster's clients;
 *   4. open storage (`storage(ctx)`), recover the driver from it and run the
 *      generic Replica shell of @synod/core;
 *   5. call `onStart`, then wait. SIGINT/SIGTERM interrupt the main fiber
 *      (`NodeRuntime.runMain`), and the scopes close in reverse: the shell
 *      stops, the transport closes every connection with 1001 (peers redial
 *      with back-off), storage closes. A replica that dies (e.g. a failed
 *      persist) ends the process with `replica-died` and exit code 1.
 */
import { FileSystem } from "@effect/platform"
import { NodeFileSystem, NodeRuntime } from "@effect/platform-node"
import {
  type Actor,
  ClusterConfig,
  type Crypto,
  type Envelope,
  Keys,
  type PeerId,
  peerReplica,
  type Protocol,
  Replica,
  type ReplicaId,
  type Storage,
  Transport,
  type TrustModel
} from "@synod/core"
import { Cause, Deferred, Effect, Layer, Schema } from "effect"
import * as crypto from "node:crypto"
import type { WsLimits } from "./Limits.js"
import * as WebSocketTransport from "./WebSocketTransport.js"

export class RunnerError extends Schema.TaggedError<RunnerError>()("RunnerError", {
  reason: Schema.Literal("config", "key", "identity", "listen", "storage", "replica-died"),
  detail: Schema.String
}) {
  override get message() {
    return `${this.reason}: ${this.detail}`
  }
}

/** What a protocol builder gets to build one replica. */
export interface ReplicaContext {
  readonly id: ReplicaId
  readonly peer: PeerId
  readonly cluster: ClusterConfig.ClusterConfig
  readonly trust: TrustModel.QuorumSystem
  readonly signer: Crypto.Signer
  readonly keys: Crypto.KeyRing
  /** Fresh per boot (from `crypto.randomInt`): seeds the protocol's own randomness, e.g. election timeouts. */
  readonly seed: number
}

/** What a protocol builder returns: how to seal and open its frames, and how to build its driver from the disk. */
export interface ReplicaProgram<M> {
  readonly envelope: Envelope.EnvelopeContext<M>
  readonly makeDriver: (disk: ReadonlyMap<string, Uint8Array>) => Protocol.Driver<M>
}

export interface RunningReplica {
  readonly id: ReplicaId
  readonly address: string
  readonly handle: Replica.ReplicaHandle
  readonly transport: WebSocketTransport.WebSocketTransport
}

export interface RunnerOptions<M> {
  readonly clusterFile: string
  readonly keyFile: string
  readonly build: (ctx: ReplicaContext) => ReplicaProgram<M>
  /** Durable storage of this replica (e.g. `layerSqlite` from @synod/storage-sqlite). */
  readonly storage: (ctx: ReplicaContext) => Layer.Layer<Storage.Storage, Storage.StorageError>
  /** Bind address; default: host and port of this replica's entry in the cluster file. */
  readonly listen?: { readonly host?: string; readonly port?: number }
  /** PEM files of this replica's certificate and key, for wss:// addresses. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string }
  /** Trust for dialing wss:// peers (default: the system CA store). */
  readonly clientTls?: WebSocketTransport.TlsClientOptions
  readonly limits?: Partial<WsLimits>
  readonly verifySignatures?: boolean
  /** Settings of the generic shell (tick interval, mailbox, batch). */
  readonly shell?: Omit<Replica.ReplicaConfig<M>, "envelope" | "supervisor">
  /** Runs once the replica is up (e.g. print a ready line for a supervisor process). */
  readonly onStart?: (replica: RunningReplica) => Effect.Effect<void>
}

const fail = (reason: RunnerError["reason"], detail: string) => new RunnerError({ reason, detail })

/** Load the configuration and the key, and check that the key is a replica of this cluster. */
export const loadIdentity = (
  clusterFile: string,
  keyFile: string
): Effect.Effect<
  { readonly cluster: ClusterConfig.ClusterConfig; readonly pair: Keys.PeerKeyPair; readonly id: ReplicaId },
  RunnerError,
  FileSystem.FileSystem
> =>
  Effect.gen(function*() {
    const cluster = yield* ClusterConfig.readFile(clusterFile).pipe(Effect.mapError((e) => fail("config", e.message)))
    const pair = yield* Keys.readPrivateKeyFile(keyFile).pipe(Effect.mapError((e) => fail("key", e.message)))
    const id = peerReplica(pair.peer)
    const entry = id === undefined ? undefined : cluster.replicas.find((r) => r.id === id)
    if (id === undefined || entry === undefined) {
      return yield* fail("identity", `${pair.peer} (from ${keyFile}) is not a replica of cluster ${cluster.clusterId}`)
    }
    const listed = ClusterConfig.principals(cluster).find((p) => p.peer === pair.peer)!
    if (!listed.publicKey.equals(pair.publicKey)) {
      return yield* fail("identity", `the key in ${keyFile} is not the public key ${clusterFile} lists for ${pair.peer}`)
    }
    return { cluster, pair, id }
  })

/** Run one replica until interrupted; fails if it cannot start or if the replica dies. */
export const run = <M>(options: RunnerOptions<M>): Effect.Effect<never, RunnerError, FileSystem.FileSystem> =>
  Effect.scoped(
    Effect.gen(function*() {
      const { cluster, pair, id } = yield* loadIdentity(options.clusterFile, options.keyFile)
      const signer = Keys.signerOf(pair)
      const keys = ClusterConfig.keyRing(cluster)
      const ctx: ReplicaContext = {
        id,
        peer: pair.peer,
        cluster,
        trust: ClusterConfig.quorumSystem(cluster),
        signer,
        keys,
        seed: crypto.randomInt(0, 2 ** 31)
      }
      const program = options.build(ctx)
      if (program.envelope.clusterId !== cluster.clusterId) {
        return yield* Effect.dieMessage(`builder returned an envelope for cluster ${program.envelope.clusterId}, not ${cluster.clusterId}`)
      }

      const own = new URL(cluster.replicas[id]!.address)
      const fs = yield* FileSystem.FileSystem
      const tls = options.tls === undefined ? undefined : {
        cert: yield* fs.readFileString(options.tls.certFile).pipe(Effect.mapError((e) => fail("listen", e.message))),
        key: yield* fs.readFileString(options.tls.keyFile).pipe(Effect.mapError((e) => fail("listen", e.message)))
      }
      const transport = yield* WebSocketTransport.make({
        clusterId: cluster.clusterId,
        signer,
        keys,
        listen: {
          host: options.listen?.host ?? own.hostname.replace(/^\[(.*)\]$/, "$1"),
          port: options.listen?.port ?? Number(own.port || (own.protocol === "wss:" ? 443 : 80)),
          ...(tls === undefined ? {} : { tls })
        },
        peers: ClusterConfig.replicaAddresses(cluster),
        ...(options.clientTls === undefined ? {} : { tls: options.clientTls }),
        ...(options.limits === undefined ? {} : { limits: options.limits }),
        ...(options.verifySignatures === undefined ? {} : { verifySignatures: options.verifySignatures })
      }).pipe(Effect.mapError((e) => fail("listen", e.detail)))

      // built into this scope (not with `Effect.provide(layer)`, whose scope would close when `recover` returns)
      const storage = yield* Layer.build(options.storage(ctx)).pipe(Effect.mapError((e) => fail("storage", `${e.reason}: ${e.detail}`)))
      const died = yield* Deferred.make<Actor.ActorFailure>()
      const handle = yield* Replica.recover(program.makeDriver, {
        ...options.shell,
        envelope: program.envelope,
        supervisor: (failure) => Deferred.succeed(died, failure).pipe(Effect.asVoid)
      }).pipe(
        Effect.provide(storage),
        Effect.provide(Layer.mergeAll(
          Layer.succeed(Transport.Transport, transport),
          Keys.layerSigner(signer),
          Keys.layerKeyRing(keys)
        )),
        Effect.mapError((e) => fail("storage", `${e.reason}: ${e.detail}`))
      )
      yield* Effect.logInfo(`replica ${pair.peer} of ${cluster.clusterId} (${cluster.protocol}) listening on ${transport.address}`)
      yield* Effect.addFinalizer(() => Effect.logInfo(`replica ${pair.peer} shutting down`))
      if (options.onStart !== undefined) yield* options.onStart({ id, address: transport.address!, handle, transport })
      const failure = yield* Deferred.await(died)
      return yield* fail("replica-died", Cause.pretty(failure.cause).slice(0, 2000))
    })
  )

/**
 * The process entry point: `run` with the Node file system, under
 * `NodeRuntime.runMain`, which turns SIGINT and SIGTERM into interruption (the
 * graceful shutdown above) and a failure into exit code 1.
 */
export const main = <M>(options: RunnerOptions<M>): void =>
  NodeRuntime.runMain(run(options).pipe(Effect.provide(NodeFileSystem.layer)))
