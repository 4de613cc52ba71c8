/**
 * A ledger client over the WebSocket transport: a PBFT client driver inside
 * the generic client shell, speaking the ledger's typed commands, and keeping
 * the reply certificate of every answer (the f+1 — or 2f+1 for reads —
 * signed replies that agreed on it).
 *
 * Request numbers. PBFT replicas execute a client's request only if its
 * number is above the last one they executed for that client, so a client that
 * restarts must never reuse a number. `reserveSeqs` hands a process a block
 * of numbers above both the last block it recorded in the cluster directory
 * and the clock (microseconds), and records the block before any is used.
 */
import { FileSystem } from "@effect/platform"
import { Actor, ClientShell, ClusterConfig, Codec, Keys, clientPeer, type Client, Transport } from "@synod/core"
import { Pbft, PbftClientDriver, type PbftClientConfig, verifyReplyCertificate } from "@synod/pbft"
import { WebSocketTransport } from "@synod/transport-ws"
import { Duration, Effect, Either, Layer, Schema, type Scope } from "effect"
import * as path from "node:path"
import * as CliError from "./CliError.js"
import type { Cluster } from "./ClusterDir.js"
import { Command, Result } from "./Commands.js"

export const commandCodec = Codec.makeCodec(Command)
export const resultCodec = Codec.makeCodec(Result)

/** One answered request, with what proves the answer. */
export interface Answer {
  readonly seq: number
  /** Sequence number that executed it (for a read: the replicas' last executed). */
  readonly index: number
  readonly readOnly: boolean
  readonly command: Uint8Array
  readonly resultBytes: Uint8Array
  readonly result: Result
  /** The signed PBFT replies that agreed on the result. */
  readonly certificate: ReadonlyArray<Uint8Array>
  /** The replicas that signed them. */
  readonly replicas: ReadonlyArray<number>
}

export interface LedgerClient {
  readonly name: string
  /**
   * Submit a command and wait for a certified answer. Read-only commands use
   * PBFT's read path (2f+1 matching replies) and fall back to ordering.
   * Fails `unreachable` when the driver gives up, `refused` when the replicas
   * reject the request before ordering it.
   */
  submit(command: Command): Effect.Effect<Answer, CliError.CliError>
  /** Replicas with an authenticated connection right now. */
  readonly connectedReplicas: Effect.Effect<number>
}

export interface ConnectOptions {
  readonly cluster: Cluster
  readonly name: string
  readonly key: Keys.PeerKeyPair
  readonly firstSeq: number
  /** Clock period of the client driver; default 10 ms. */
  readonly tickMs?: number
  readonly client?: Partial<PbftClientConfig>
}

const probe = { isReadOnly: (c: Command) => c._tag === "GetBalance" || c._tag === "GetHistory" || c._tag === "GetTotals" }

export const connect = (o: ConnectOptions): Effect.Effect<LedgerClient, CliError.CliError, Scope.Scope> =>
  Effect.gen(function*() {
    const config = o.cluster.config
    const keys = ClusterConfig.keyRing(config)
    const signer = Keys.signerOf(o.key)
    const transport = yield* WebSocketTransport.make({
      clusterId: config.clusterId,
      signer,
      keys,
      peers: ClusterConfig.replicaAddresses(config)
    }).pipe(Effect.mapError((e) => CliError.config(`cannot start the client transport: ${e.detail}`)))
    const driver = new PbftClientDriver({
      clientId: o.cluster.config.clients.find((c) => clientPeer(c.id) === o.key.peer)!.id,
      trust: ClusterConfig.quorumSystem(config),
      config: { ...o.client, firstSeq: o.firstSeq }
    })
    const shell = yield* ClientShell.make(driver, {
      envelope: Pbft.envelopeContext(config.clusterId),
      tickInterval: Duration.millis(o.tickMs ?? 10),
      supervisor: Actor.logSupervisor
    }).pipe(
      Effect.provide(Layer.mergeAll(
        Layer.succeed(Transport.Transport, transport),
        Keys.layerSigner(signer),
        Keys.layerKeyRing(keys)
      ))
    )
    const trust = ClusterConfig.quorumSystem(config)
    const answer = (bytes: Uint8Array, readOnly: boolean, outcome: Client.ClientOutcome): Either.Either<Answer, CliError.CliError> => {
      switch (outcome._tag) {
        case "TimedOut":
          return Either.left(CliError.unreachable("the cluster did not answer: the client gave up after retransmitting to every replica"))
        case "Rejected":
          return Either.left(CliError.refused(`the replicas refused the request before ordering it: ${outcome.reason}`))
        case "Committed": {
          // the driver accepted a quorum of matching signed replies; check them as an auditor would
          const certified = verifyReplyCertificate(outcome.certificate ?? [], trust, keys, { clusterId: config.clusterId })
          if (Either.isLeft(certified)) return Either.left(CliError.internal(`the answer's reply certificate does not verify: ${certified.left.message}`))
          const decoded = resultCodec.decode(outcome.result)
          if (Either.isLeft(decoded)) return Either.left(CliError.internal(`the replicas answered with bytes that are no ledger result: ${decoded.left.detail}`))
          return Either.right({
            seq: certified.right.seq,
            index: outcome.index,
            readOnly,
            command: bytes,
            resultBytes: outcome.result,
            result: decoded.right,
            certificate: outcome.certificate ?? [],
            replicas: certified.right.replicas
          })
        }
      }
    }
    return {
      name: o.name,
      connectedReplicas: Effect.map(transport.connectedPeers, (peers) => peers.filter((p) => p.startsWith("replica/")).length),
      submit: (command) =>
        Effect.gen(function*() {
          const bytes = commandCodec.encode(command)
          const readOnly = probe.isReadOnly(command)
          const outcome = yield* shell.submit(bytes, { readOnly }).pipe(
            Effect.mapError((e) => CliError.internal(`client ${o.name}: ${e._tag}: ${e.detail}`))
          )
          return yield* answer(bytes, readOnly, outcome)
        })
    } satisfies LedgerClient
  })

// ---------------------------------------------------------------------------
// Request numbers that survive restarts

export const SESSION_FILE_FORMAT = "synod-ledger-session/1"
/** Numbers reserved per process; a command uses one or two, the demo's clients one per transfer. */
export const SEQ_BLOCK = 1_000_000

const Session = Schema.parseJson(Schema.Struct({ format: Schema.Literal(SESSION_FILE_FORMAT), reservedUpTo: Schema.NonNegativeInt }))

/**
 * Reserve `SEQ_BLOCK` request numbers for `client` and return the first. The
 * block starts above the last reservation on disk and above the clock in
 * microseconds, so it is fresh even if the session file was deleted.
 */
export const reserveSeqs = (cluster: Cluster, client: string, now: number): Effect.Effect<number, CliError.CliError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const dir = cluster.layout.clientDir(client)
    const file = path.join(dir, "session.json")
    const text = yield* fs.readFileString(file).pipe(Effect.option)
    const previous = text._tag === "Some" ? Either.getOrUndefined(Schema.decodeUnknownEither(Session)(text.value))?.reservedUpTo ?? 0 : 0
    const first = Math.max(previous + 1, Math.floor(now * 1000))
    const reservedUpTo = first + SEQ_BLOCK - 1
    yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError((e) => CliError.config(`cannot create ${dir}: ${e.message}`)))
    yield* Keys.writeTextFile(file, Schema.encodeSync(Session)({ format: SESSION_FILE_FORMAT, reservedUpTo }), 0o644).pipe(
      Effect.mapError((e) => CliError.config(`cannot record the client session in ${file}: ${e.detail}`))
    )
    return first
  })
