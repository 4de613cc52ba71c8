/**
 * The Effect client of a PBFT cluster: the generic client shell
 * (`ClientShell.make` from @synod/core) around the PBFT `ClientDriver`, typed
 * by the application's state machine.
 *
 *   submit(command)      ordered through the protocol; f+1 matching replies
 *   read(command)        read-only path: 2f+1 matching replies, or ordered
 *   certified(command)   like submit, and keeps the reply certificate
 *
 * Failures are typed (`ClientShell.ClientError`). The first request sequence
 * number comes from the clock (the paper's timestamps), so a restarted client
 * never reuses one that replicas have already executed.
 */
import { ClientShell, Codec, type ClientId, type Keys, type StateMachine, type Transport, type TrustModel } from "@synod/core"
import { Clock, Effect, Either, type Scope } from "effect"
import { PbftClientDriver as Driver, type PbftClientConfig } from "./Client.js"
import { envelopeContext, type PbftMessage } from "./Messages.js"

export interface PbftClientOptions<C, R, S> {
  readonly clusterId: string
  readonly clientId: ClientId
  readonly trust: TrustModel.QuorumSystem
  readonly stateMachine: StateMachine.StateMachine<C, R, S>
  readonly config?: Partial<PbftClientConfig>
  readonly maxFrameBytes?: number
  readonly shell: Omit<ClientShell.ClientShellConfig<PbftMessage>, "envelope">
}

export interface Certified<R> {
  readonly result: R
  /** The sequence number that executed the command. */
  readonly index: number
  /** The signed replies; check them with `verifyReplyCertificate`. */
  readonly certificate: ReadonlyArray<Uint8Array>
}

export interface PbftClient<C, R> {
  readonly handle: ClientShell.ClientHandle
  submit(command: C): Effect.Effect<R, ClientShell.ClientError>
  read(command: C): Effect.Effect<R, ClientShell.ClientError>
  certified(command: C): Effect.Effect<Certified<R>, ClientShell.ClientError>
}

export const make = <C, R, S>(
  options: PbftClientOptions<C, R, S>
): Effect.Effect<PbftClient<C, R>, never, Scope.Scope | Transport.Transport | Keys.SignerService | Keys.KeyRingService> =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const driver = new Driver({
      clientId: options.clientId,
      trust: options.trust,
      config: { firstSeq: Math.max(1, now), ...options.config }
    })
    const handle = yield* ClientShell.make(driver, { ...options.shell, envelope: envelopeContext(options.clusterId, options.maxFrameBytes) })
    const commands = Codec.makeCodec(options.stateMachine.command)
    const results = Codec.makeCodec(options.stateMachine.result)

    const certified = (command: C): Effect.Effect<Certified<R>, ClientShell.ClientError> =>
      Effect.gen(function*() {
        const bytes = yield* Effect.try({
          try: () => commands.encode(command),
          catch: (e) => new ClientShell.ClientRejected({ reason: `invalid-command: ${String(e).slice(0, 200)}` })
        })
        const outcome = yield* handle.submit(bytes, { readOnly: false })
        if (outcome._tag === "Rejected") return yield* new ClientShell.ClientRejected({ reason: outcome.reason })
        if (outcome._tag === "TimedOut") return yield* new ClientShell.ClientTimedOut()
        const decoded = results.decode(outcome.result)
        if (Either.isLeft(decoded)) return yield* new ClientShell.ClientUndecodableResult({ index: outcome.index, detail: decoded.left.message })
        return { result: decoded.right, index: outcome.index, certificate: outcome.certificate ?? [] }
      })

    return {
      handle,
      submit: (command) => ClientShell.submitCommand(handle, options.stateMachine, command, { readOnly: false }),
      read: (command) => ClientShell.submitCommand(handle, options.stateMachine, command, { readOnly: true }),
      certified
    }
  })
