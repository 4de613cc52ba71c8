/**
 * The generic client shell: an actor around a protocol's `ClientDriver`, and a
 * typed layer that speaks a `StateMachine`'s Command and Result types.
 *
 *   submit(bytes)  -> driver.submit -> seq; the caller waits for that seq's completion
 *   frames         -> Envelope.open -> driver.step (rejections: metric + event)
 *   ticks          -> driver.step   (retransmission and give-up timers live in the driver)
 *   after a batch  -> send the driver's `send`, resolve its completions
 *
 * Every submission ends in exactly one outcome (the driver's contract), so a
 * waiting caller is never forgotten.
 *
 * Observability: each `submit` runs in a span `synod.client.request` (kind
 * client; attributes synod.protocol, synod.client, synod.read_only, and
 * synod.seq / synod.outcome once known), and its wall time from the call to
 * the completion goes into `synod_client_latency_seconds{outcome}`. Logs carry
 * the annotations `client` and `protocol`; every dropped frame is logged at
 * Debug with its reason. Limits: mailbox `mailboxCapacity`
 * (default 1024); in-flight requests are bounded by the driver, and a
 * submission beyond its limit fails at once with `ClientOverloaded`.
 *
 * Commands and results are carried as the UTF-8 JSON of their Schema-encoded
 * form (`Codec.makeCodec` on the state machine's `command` / `result` Schemas);
 * replicas decode commands and encode results the same way.
 */
import { Clock as EffectClock, Deferred, type Duration, Effect, Either, type Exit, PubSub, Schema, type Scope, Stream } from "effect"
import * as Actor from "./Actor.js"
import type { ClientDriver, ClientOutcome, SubmitOptions } from "./Client.js"
import * as Clock from "./Clock.js"
import { type Codec, makeCodec } from "./Codec.js"
import type { EnvelopeContext } from "./Envelope.js"
import type { ClientId, PeerId } from "./Ids.js"
import { ReplicaId } from "./Ids.js"
import { KeyRingService, SignerService } from "./Keys.js"
import * as Metrics from "./Metrics.js"
import type { ProtocolEvent } from "./Protocol.js"
import { type Rejection, reject } from "./Rejection.js"
import { openIncoming, sendOutbound, type ShellInput } from "./Replica.js"
import type { StateMachine, StateMachineInstance } from "./StateMachine.js"
import { Transport } from "./Transport.js"

export const DEFAULT_MAILBOX_CAPACITY = 1024
export const DEFAULT_EVENT_BUFFER = 256

// ---------------------------------------------------------------------------
// Errors

/** Definitely not executed: refused before ordering. */
export class ClientRejected extends Schema.TaggedError<ClientRejected>()("ClientRejected", {
  reason: Schema.String,
  leaderHint: Schema.optional(ReplicaId)
}) {}

/** Outcome unknown: the driver gave up after its retry budget; the command may or may not have executed. */
export class ClientTimedOut extends Schema.TaggedError<ClientTimedOut>()("ClientTimedOut", {}) {}

/** The command was executed but its result does not decode with the state machine's result Schema. */
export class ClientUndecodableResult extends Schema.TaggedError<ClientUndecodableResult>()("ClientUndecodableResult", {
  index: Schema.Number,
  detail: Schema.String
}) {}

/** Not submitted: the in-flight limit or the mailbox is full. Safe to retry later. */
export class ClientOverloaded extends Schema.TaggedError<ClientOverloaded>()("ClientOverloaded", {
  reason: Schema.Literal("in-flight-limit", "mailbox-full"),
  detail: Schema.String
}) {}

/** Not submitted, or outcome unknown: the client shell stopped. */
export class ClientClosed extends Schema.TaggedError<ClientClosed>()("ClientClosed", {
  detail: Schema.String
}) {}

export const ClientError = Schema.Union(ClientRejected, ClientTimedOut, ClientUndecodableResult, ClientOverloaded, ClientClosed)
export type ClientError = typeof ClientError.Type

// ---------------------------------------------------------------------------
// The byte-level shell

export interface ClientShellConfig<M> {
  readonly envelope: EnvelopeContext<M>
  /** Logical clock period; default `Clock.DEFAULT_TICK_INTERVAL`. */
  readonly tickInterval?: Duration.DurationInput
  readonly mailboxCapacity?: number
  readonly eventBufferSize?: number
  /** Reject frames whose signed sender differs from the transport's `from` (default true). */
  readonly checkTransportSender?: boolean
  readonly supervisor: Actor.Supervisor
}

export interface ClientHandle {
  readonly clientId: ClientId
  readonly peer: PeerId
  /** Submit encoded command bytes; succeeds with the outcome the driver reports for them. */
  submit(command: Uint8Array, options?: SubmitOptions): Effect.Effect<ClientOutcome, ClientOverloaded | ClientClosed>
  readonly inFlight: Effect.Effect<number, ClientClosed>
  /** Events from the driver and shell rejections. */
  readonly events: Stream.Stream<ProtocolEvent>
  readonly stop: Effect.Effect<void>
  readonly await: Effect.Effect<Exit.Exit<void>>
}

/** What the actor answers a submission with. */
interface Submitted {
  readonly seq: number
  readonly outcome: ClientOutcome
}

interface Pending {
  readonly reply: Deferred.Deferred<Submitted, ClientOverloaded>
  /** Wall-clock nanoseconds when `submit` was called. */
  readonly submittedAt: bigint
}

type ClientInput =
  | ShellInput
  | {
    readonly _tag: "Submit"
    readonly command: Uint8Array
    readonly options: SubmitOptions
    readonly submittedAt: bigint
    readonly reply: Deferred.Deferred<Submitted, ClientOverloaded>
  }
  | { readonly _tag: "InFlight"; readonly reply: Deferred.Deferred<number> }

export const make = <M>(
  driver: ClientDriver<M>,
  config: ClientShellConfig<M>
): Effect.Effect<ClientHandle, never, Scope.Scope | Transport | SignerService | KeyRingService> =>
  Effect.gen(function*() {
    const transport = yield* Transport
    const signer = yield* SignerService
    const keys = yield* KeyRingService
    const protocol = config.envelope.protocol
    const name = signer.peer
    const checkSender = config.checkTransportSender ?? true
    const events = yield* PubSub.sliding<ProtocolEvent>(config.eventBufferSize ?? DEFAULT_EVENT_BUFFER)
    // at most the driver's in-flight limit entries: one per submitted, not yet completed seq.
    // A caller that stops waiting leaves its entry until the driver completes that seq.
    const pending = new Map<number, Pending>()

    const logDropped = (from: PeerId, rejection: Rejection) =>
      Effect.logDebug("dropped message").pipe(Effect.annotateLogs({ from, reason: rejection.reason, detail: rejection.detail }))
    // logged before it is published, so a subscriber that saw the event finds the line
    const dropped = (from: PeerId, rejection: Rejection) =>
      Effect.zipRight(logDropped(from, rejection), PubSub.publish(events, { _tag: "Rejected", from, rejection }))

    const receive = (input: ClientInput): Effect.Effect<void> => {
      switch (input._tag) {
        case "Tick":
          return Effect.sync(() => driver.step(input))
        case "Frame":
          return Effect.flatMap(openIncoming(config.envelope, keys, input.incoming, checkSender), (opened) =>
            Either.isLeft(opened)
              ? dropped(input.incoming.from, opened.left)
              : Effect.sync(() => driver.step({ _tag: "Receive", envelope: opened.right })))
        case "Submit": {
          const seq = driver.submit(input.command, input.options)
          if (seq === undefined) {
            return Deferred.fail(
              input.reply,
              new ClientOverloaded({ reason: "in-flight-limit", detail: `${driver.inFlight()} requests in flight` })
            )
          }
          return Effect.sync(() => void pending.set(seq, { reply: input.reply, submittedAt: input.submittedAt }))
        }
        case "InFlight":
          return Deferred.succeed(input.reply, driver.inFlight())
      }
    }

    const onDrained = Effect.gen(function*() {
      while (driver.hasReady()) {
        const ready = driver.ready()
        yield* sendOutbound(config.envelope, signer, transport, ready.send)
        yield* sendOutbound(config.envelope, signer, transport, ready.sendAfterPersist)
        if (ready.events.length > 0) {
          yield* PubSub.publishAll(events, ready.events)
          yield* Metrics.recordEvents(protocol, ready.events)
          for (const e of ready.events) if (e._tag === "Rejected") yield* logDropped(e.from, e.rejection)
        }
        driver.advance()
      }
      const completions = driver.takeCompletions()
      if (completions.length === 0) return
      const now = yield* EffectClock.currentTimeNanos
      for (const completion of completions) {
        const outcome = completion.outcome._tag
        yield* Metrics.recordClientCompletion(protocol, outcome)
        const waiting = pending.get(completion.seq)
        if (waiting === undefined) continue
        pending.delete(completion.seq)
        yield* Metrics.recordClientLatency(protocol, outcome, Number(now - waiting.submittedAt) / 1e9)
        yield* Deferred.succeed(waiting.reply, { seq: completion.seq, outcome: completion.outcome })
      }
    })

    // the actor and the network pump log with these annotations
    const annotated = Effect.annotateLogs({ client: driver.clientId, protocol })
    const actor = yield* Actor.make<ClientInput>({
      name,
      capacity: config.mailboxCapacity ?? DEFAULT_MAILBOX_CAPACITY,
      receive,
      onDrained,
      supervisor: config.supervisor
    }).pipe(annotated)

    yield* Stream.runForEach(
      transport.incoming.pipe(Stream.interruptWhen(actor.await)),
      (incoming) =>
        actor.tell({ _tag: "Frame", incoming }).pipe(
          Effect.catchTag("MailboxFull", () => {
            const rejection = reject("overloaded", `mailbox of ${name} is full`)
            return Effect.zipRight(Metrics.recordRejection(protocol, rejection), dropped(incoming.from, rejection))
          })
        )
    ).pipe(Effect.ignore, Effect.forkScoped, annotated)
    yield* Clock.drive(
      Clock.make(config.tickInterval ?? Clock.DEFAULT_TICK_INTERVAL),
      actor.tell(Clock.Tick).pipe(Effect.catchTag("MailboxFull", () => Effect.void))
    )

    const closed = (e: Actor.ActorStopped | Actor.MailboxFull) =>
      e._tag === "MailboxFull"
        ? new ClientOverloaded({ reason: "mailbox-full", detail: `mailbox of ${name} is full` })
        : new ClientClosed({ detail: `client ${name} has stopped` })

    const handle: ClientHandle = {
      clientId: driver.clientId,
      peer: signer.peer,
      submit: (command, options = {}) =>
        EffectClock.currentTimeNanos.pipe(
          Effect.flatMap((submittedAt) =>
            actor.ask<Submitted, ClientOverloaded>((reply) => ({ _tag: "Submit", command, options, submittedAt, reply }))
          ),
          Effect.tap(({ outcome, seq }) => Effect.annotateCurrentSpan({ "synod.seq": seq, "synod.outcome": outcome._tag })),
          Effect.map(({ outcome }) => outcome),
          Effect.mapError((e) => (e._tag === "ClientOverloaded" ? e : closed(e))),
          Effect.withSpan("synod.client.request", {
            kind: "client",
            captureStackTrace: false,
            attributes: { "synod.protocol": protocol, "synod.client": driver.clientId, "synod.read_only": options.readOnly ?? false }
          })
        ),
      inFlight: actor.ask<number>((reply) => ({ _tag: "InFlight", reply })).pipe(
        Effect.mapError((e) => new ClientClosed({ detail: `client ${name}: ${e._tag}` }))
      ),
      events: Stream.fromPubSub(events).pipe(Stream.interruptWhen(actor.await)),
      stop: actor.stop,
      await: actor.await
    }
    return handle
  })

// ---------------------------------------------------------------------------
// The typed layer

interface TypedCodecs<C, R, S> {
  readonly command: Codec<C>
  readonly result: Codec<R>
  readonly probe: StateMachineInstance<C, R, S>
}

const codecCache = new WeakMap<StateMachine<any, any, any>, TypedCodecs<any, any, any>>()

const codecsOf = <C, R, S>(sm: StateMachine<C, R, S>): TypedCodecs<C, R, S> => {
  let c = codecCache.get(sm) as TypedCodecs<C, R, S> | undefined
  if (c === undefined) {
    // the probe is a genesis instance used only for `isReadOnly`, which must not depend on state
    c = { command: makeCodec(sm.command), result: makeCodec(sm.result), probe: sm.make() }
    codecCache.set(sm, c)
  }
  return c
}

/** Submit a typed command and decode its result; `readOnly` defaults to the state machine's `isReadOnly`. */
export const submitCommand = <C, R, S>(
  client: ClientHandle,
  stateMachine: StateMachine<C, R, S>,
  command: C,
  options: SubmitOptions = {}
): Effect.Effect<R, ClientError> =>
  Effect.gen(function*() {
    const codecs = codecsOf(stateMachine)
    const bytes = yield* Effect.try({
      try: () => codecs.command.encode(command),
      catch: (e) => new ClientRejected({ reason: `invalid-command: ${String(e).slice(0, 200)}` })
    })
    const readOnly = options.readOnly ?? codecs.probe.isReadOnly(command)
    const outcome = yield* client.submit(bytes, { readOnly })
    switch (outcome._tag) {
      case "Rejected":
        return yield* new ClientRejected({
          reason: outcome.reason,
          ...(outcome.leaderHint !== undefined ? { leaderHint: outcome.leaderHint } : {})
        })
      case "TimedOut":
        return yield* new ClientTimedOut()
      case "Committed": {
        const decoded = codecs.result.decode(outcome.result)
        if (Either.isLeft(decoded)) {
          return yield* new ClientUndecodableResult({ index: outcome.index, detail: decoded.left.message })
        }
        return decoded.right
      }
    }
  })

/** A client bound to one state machine. */
export interface TypedClient<C, R> {
  submit(command: C, options?: SubmitOptions): Effect.Effect<R, ClientError>
}

export const typed = <C, R, S>(client: ClientHandle, stateMachine: StateMachine<C, R, S>): TypedClient<C, R> => ({
  submit: (command, options) => submitCommand(client, stateMachine, command, options)
})
