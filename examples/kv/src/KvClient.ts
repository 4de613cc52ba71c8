/**
 * A key-value client over the WebSocket transport: the Paxos client driver
 * inside the generic client shell of @synod/core, speaking the reference KV
 * state machine's typed commands. Request numbers start at the `firstSeq`
 * that `ClientSession` reserved for this process.
 *
 * Reads (`Get`) go through Paxos' linearizable read path: the leader answers
 * from its state once a quorum has confirmed its leadership at or after the
 * read arrived (read index), without writing to the log. Writes are ordered
 * through the log and executed exactly once per request number.
 *
 * Failures are `ClientShell.ClientError`s: `ClientRejected` (definitely not
 * executed), `ClientTimedOut` (unknown: may have executed), `ClientOverloaded`
 * (not submitted; retry), `ClientClosed`, `ClientUndecodableResult`.
 */
import type { FileSystem } from "@effect/platform"
import { Actor, ClientShell, ClusterConfig, Keys, LogicalClock, clientPeer, makeClientId, Transport } from "@synod/core"
import { Kv, KvStateMachine } from "@synod/core/testing"
import { Client, PaxosReplica } from "@synod/paxos"
import { WebSocketTransport, WsMetrics } from "@synod/transport-ws"
import { Duration, Effect, Layer, type Scope } from "effect"
import * as CliError from "./CliError.js"
import * as ClientSession from "./ClientSession.js"
import * as ClusterDir from "./ClusterDir.js"

export interface KvClient {
  readonly name: string
  submit(command: Kv.Command): Effect.Effect<Kv.Result, ClientShell.ClientError>
  /** Replicas with an authenticated connection right now. */
  readonly connectedReplicas: Effect.Effect<number>
  /** Bytes this client has sent over WebSocket. */
  readonly bytesSent: Effect.Effect<number>
  /** An upper bound on the request numbers used so far. */
  readonly issued: () => number
}

export interface ClientOptions {
  /** Requests in flight at once (at most the replicas' session window). Default 1. */
  readonly inFlight?: number
  /** An operation whose outcome is not known after this long completes as `ClientTimedOut`. Default 10 s. */
  readonly timeoutSeconds?: number
  /** Logical clock period of the client driver. Default 10 ms. */
  readonly tickMs?: number
}

/**
 * The replicas' default `maxSessionResults`: how far a client's request
 * numbers may run ahead of its oldest unacknowledged one.
 */
export const SESSION_WINDOW = 64
/** Largest `inFlight` per client identity (half the session window, so a slow request leaves room). */
export const MAX_IN_FLIGHT = SESSION_WINDOW / 2
const DEFAULT_TICK_MS = Duration.toMillis(LogicalClock.DEFAULT_TICK_INTERVAL)

export interface ConnectOptions extends ClientOptions {
  readonly cluster: ClusterDir.Cluster
  readonly name: string
  readonly key: Keys.PeerKeyPair
  readonly firstSeq: number
  /** Seed of the driver's choice of first replica. */
  readonly seed?: number
}

/** Connect as `key` (a client of the cluster), numbering requests from `firstSeq`. */
export const connect = (o: ConnectOptions): Effect.Effect<KvClient, CliError.CliError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = o.cluster.config
    const keys = ClusterConfig.keyRing(config)
    const signer = Keys.signerOf(o.key)
    const tickMs = o.tickMs ?? DEFAULT_TICK_MS
    const inFlight = o.inFlight ?? 1
    if (!Number.isInteger(inFlight) || inFlight < 1 || inFlight > MAX_IN_FLIGHT) {
      return yield* CliError.usage(`a client identity carries 1 to ${MAX_IN_FLIGHT} requests in flight, not ${inFlight}`)
    }
    const transport = yield* WebSocketTransport.make({
      clusterId: config.clusterId,
      signer,
      keys,
      peers: ClusterConfig.replicaAddresses(config),
      // the client shell verifies every reply's signature (Envelope.open); once is enough
      verifySignatures: false
    }).pipe(Effect.mapError((e) => CliError.config(`cannot start the client transport: ${e.detail}`)))
    const driver = Client.make({
      clientId: makeClientId(o.name),
      replicas: config.replicas.map((r) => r.id),
      seed: o.seed ?? 0,
      firstSeq: o.firstSeq,
      config: {
        maxInFlight: inFlight,
        // a slow request (a leader change) must not let the others run past the replicas' session window
        sessionWindow: SESSION_WINDOW,
        deadlineTicks: Math.max(1, Math.round(((o.timeoutSeconds ?? 10) * 1000) / tickMs)),
        readConsistency: "linearizable"
      }
    })
    const shell = yield* ClientShell.make(driver, {
      envelope: PaxosReplica.envelopeFor(config.clusterId),
      tickInterval: Duration.millis(tickMs),
      supervisor: Actor.logSupervisor
    }).pipe(
      Effect.provide(Layer.mergeAll(Layer.succeed(Transport.Transport, transport), Keys.layerSigner(signer), Keys.layerKeyRing(keys)))
    )
    const self = { self: o.key.peer }
    // each submission takes at most one request number
    let submitted = 0
    return {
      name: o.name,
      submit: (command) => Effect.suspend(() => {
        submitted++
        return ClientShell.submitCommand(shell, KvStateMachine, command)
      }),
      connectedReplicas: Effect.map(transport.connectedPeers, (peers) => peers.filter((p) => p.startsWith("replica/")).length),
      bytesSent: WsMetrics.value(WsMetrics.bytesOut, self),
      issued: () => submitted
    } satisfies KvClient
  })

/**
 * Open client `name` of the cluster for the scope: check its key, lock its
 * identity, reserve its request numbers, connect. When the scope closes, the
 * numbers used are recorded.
 */
export const open = (
  cluster: ClusterDir.Cluster,
  name: string,
  options: ClientOptions & { readonly seed?: number } = {}
): Effect.Effect<KvClient, CliError.CliError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    yield* ClusterDir.requireClient(cluster, name)
    const key = yield* ClusterDir.privateKey(cluster, clientPeer(name))
    const session = yield* ClientSession.open(cluster, name, Date.now())
    const client = yield* connect({ ...options, cluster, name, key, firstSeq: session.firstSeq })
    yield* Effect.addFinalizer(() => session.release(client.issued()))
    return client
  })
