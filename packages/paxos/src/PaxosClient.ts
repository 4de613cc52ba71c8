/**
 * The Effect client of a Paxos cluster: the generic client shell
 * (`ClientShell.make` from @synod/core) around the Paxos `ClientDriver`,
 * typed by the application's state machine.
 *
 *   submit(command)   a write (or, for a read-only command, a linearizable read)
 *   read(command)     a read; `consistency: "stale"` lets any replica answer
 *   reconfigure(ms)   a membership change through the log
 *
 * Failures are typed (`ClientShell.ClientError`): `ClientRejected` (definitely
 * not executed; `leaderHint` when a replica named the leader),
 * `ClientTimedOut` (unknown: it may have executed), `ClientOverloaded` (not
 * submitted), `ClientUndecodableResult`, `ClientClosed`. Leader changes are
 * retried inside the driver with the same (clientId, seq).
 */
import { type Client as CoreClient, ClientShell, Codec, type ClientId, type Keys, type ReplicaId, type StateMachine, type Transport } from "@synod/core"
import { Effect, Either, Schema, type Scope } from "effect"
import * as Client from "./Client.js"
import * as M from "./Messages.js"

export interface PaxosClientOptions<C, R, S> {
  readonly clusterId: string
  readonly clientId: ClientId
  /** Replicas to try first (the membership the client knows of); leaders it hears of are added. */
  readonly replicas: ReadonlyArray<ReplicaId>
  readonly stateMachine: StateMachine.StateMachine<C, R, S>
  readonly seed?: number
  /** First request number (see `Client.ClientParams.firstSeq`): above every seq an earlier process of this client used. */
  readonly firstSeq?: number
  readonly config?: Partial<Client.ClientConfig>
  readonly maxFrameBytes?: number
  readonly shell: Omit<ClientShell.ClientShellConfig<M.PaxosMessage>, "envelope">
}

export interface PaxosClient<C, R> {
  readonly handle: ClientShell.ClientHandle
  submit(command: C): Effect.Effect<R, ClientShell.ClientError>
  read(command: C, options?: { readonly consistency?: M.ReadConsistency }): Effect.Effect<R, ClientShell.ClientError>
  /** Change the membership; succeeds with the scheduled membership and the first slot it governs. */
  reconfigure(members: ReadonlyArray<ReplicaId>): Effect.Effect<M.PendingMembership, ClientShell.ClientError>
}

const decodePending = Schema.decodeUnknownEither(Schema.parseJson(M.PendingMembership))
const textDecoder = new TextDecoder()

export const make = <C, R, S>(
  options: PaxosClientOptions<C, R, S>
): Effect.Effect<PaxosClient<C, R>, never, Scope.Scope | Transport.Transport | Keys.SignerService | Keys.KeyRingService> =>
  Effect.gen(function*() {
    const driver = Client.make({
      clientId: options.clientId,
      replicas: options.replicas,
      seed: options.seed ?? 0,
      ...(options.firstSeq !== undefined ? { firstSeq: options.firstSeq } : {}),
      ...(options.config !== undefined ? { config: options.config } : {})
    })
    const handle = yield* ClientShell.make(driver, { ...options.shell, envelope: M.envelope(options.clusterId, options.maxFrameBytes) })
    const commandCodec = Codec.makeCodec(options.stateMachine.command)
    const resultCodec = Codec.makeCodec(options.stateMachine.result)

    const outcomeToResult = (outcome: CoreClient.ClientOutcome) =>
      Effect.gen(function*() {
        switch (outcome._tag) {
          case "Rejected":
            return yield* new ClientShell.ClientRejected({
              reason: outcome.reason,
              ...(outcome.leaderHint !== undefined ? { leaderHint: outcome.leaderHint } : {})
            })
          case "TimedOut":
            return yield* new ClientShell.ClientTimedOut()
          case "Committed":
            return outcome
        }
      })

    const read = (command: C, o: { readonly consistency?: M.ReadConsistency } = {}) =>
      Effect.gen(function*() {
        const bytes = yield* Effect.try({
          try: () => commandCodec.encode(command),
          catch: (e) => new ClientShell.ClientRejected({ reason: `invalid-command: ${String(e).slice(0, 200)}` })
        })
        const submitOptions: Client.PaxosSubmitOptions = { readOnly: true, consistency: o.consistency ?? "linearizable" }
        const committed = yield* Effect.flatMap(handle.submit(bytes, submitOptions), outcomeToResult)
        const decoded = resultCodec.decode(committed.result)
        if (Either.isLeft(decoded)) {
          return yield* new ClientShell.ClientUndecodableResult({ index: committed.index, detail: decoded.left.message })
        }
        return decoded.right
      })

    return {
      handle,
      submit: (command) => ClientShell.submitCommand(handle, options.stateMachine, command),
      read,
      reconfigure: (members) =>
        Effect.gen(function*() {
          const submitOptions: Client.PaxosSubmitOptions = { membership: members }
          const committed = yield* Effect.flatMap(handle.submit(new Uint8Array(0), submitOptions), outcomeToResult)
          const decoded = decodePending(textDecoder.decode(committed.result))
          if (Either.isLeft(decoded)) {
            return yield* new ClientShell.ClientUndecodableResult({ index: committed.index, detail: "not a membership" })
          }
          return decoded.right
        })
    }
  })
