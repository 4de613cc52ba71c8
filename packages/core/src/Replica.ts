/**
 * The generic replica shell: an actor that carries a protocol `Driver` between
 * the network, the disk and the clock. It knows nothing about any protocol.
 *
 *   mailbox (frames, ticks, status requests)
 *     -> Envelope.open           rejections: metric + `Rejected` event; never reach the core
 *                                (the signature check is skipped for frames the transport verified
 *                                with this replica's key ring: `trustTransportVerification`)
 *     -> driver.step             for every input of the batch (up to `maxBatch`)
 *     -> while driver.hasReady():
 *          ready()
 *          Storage.write(persist)             one batch: the group commit
 *          send `send`
 *          send `sendAfterPersist`            only after the write completed
 *          events: metrics, logs, request spans, then publish (PubSub)
 *          advance()
 *     -> snapshot driver.status() (gauges, `replicaStatus`); publish the applied index;
 *        answer status requests (the state digest is computed only for them)
 *
 * Every `Outbound` is sealed once and the same frame sent to each of its `to`.
 *
 * Observability (names in `Metrics`, spans in `Tracing`, status in `Status`):
 * - metrics for every message sent, received and rejected, every event, and
 *   the driver's status after each batch (view, commit and applied index,
 *   lag per peer, ...);
 * - one span per client request from the core's `RequestPhase` events;
 * - logs annotated with `replica`, `protocol` and `view`: every dropped input
 *   at Debug with its reason, view changes at Info, evidence at Warning;
 * - `replicaStatus`, the driver's `status()` after the last batch, for
 *   `Observability.serve`'s `GET /status`.
 *
 * Failures:
 * - A storage failure is fatal: the replica dies with `PersistFailed` as the
 *   defect, which its `Supervisor` receives. A replica must not continue (or
 *   send votes) after failing to make its state durable.
 * - A send failure (`TransportError`) is counted in
 *   `synod_send_failures_total{protocol,reason}` and the frame dropped: the
 *   protocols tolerate message loss.
 * - Input refused because the mailbox is full is rejected as `overloaded`.
 *
 * Ports come from the context: `Transport`, `Storage`, `Keys.SignerService`
 * and `Keys.KeyRingService`. Build scoped layers (`MemoryTransport.layerMemory`,
 * a WebSocket transport) in the scope that outlives the replica, e.g.
 *
 *   const handle = yield* Replica.run(driver, { envelope, supervisor: Actor.logSupervisor })
 *   // inside Effect.scoped / Layer.launch, with the four services provided around the program
 *
 * Limits: mailbox `mailboxCapacity` (default 4096) frames and ticks; at most
 * `maxBatch` (default 256) inputs per Ready; each event subscriber keeps the
 * latest `eventBufferSize` (default 1024) events (sliding), so a slow observer
 * never blocks the replica; at most `MAX_READY_ROUNDS` Readys per batch; at
 * most `maxOpenSpans` (default `Tracing.DEFAULT_MAX_OPEN_SPANS`) open request spans.
 */
import { Data, Deferred, type Duration, Effect, Either, ExecutionStrategy, Exit, Fiber, Option, PubSub, Queue, Scope, Stream, SubscriptionRef } from "effect"
import * as Actor from "./Actor.js"
import * as Clock from "./Clock.js"
import type { KeyRing, Signer } from "./Crypto.js"
import * as Envelope from "./Envelope.js"
import type { PeerId } from "./Ids.js"
import { KeyRingService, SignerService } from "./Keys.js"
import * as Metrics from "./Metrics.js"
import type { Driver, Outbound, ProtocolEvent, Verified } from "./Protocol.js"
import { ReplicaObserver } from "./internal/ReplicaObserver.js"
import { type Rejection, reject } from "./Rejection.js"
import type * as Status from "./Status.js"
import { Storage, type StorageError, type StorageService } from "./Storage.js"
import { type Incoming, Transport, type TransportService } from "./Transport.js"

export const DEFAULT_MAILBOX_CAPACITY = 4096
export const DEFAULT_MAX_BATCH = 256
export const DEFAULT_EVENT_BUFFER = 1024
/** A driver that still has work after this many Readys without new input is broken. */
export const MAX_READY_ROUNDS = 64

export interface ReplicaConfig<M> {
  readonly envelope: Envelope.EnvelopeContext<M>
  /** Actor name in metrics and errors; defaults to the signer's PeerId. */
  readonly name?: string
  /** Logical clock period; default `Clock.DEFAULT_TICK_INTERVAL` (10 ms). */
  readonly tickInterval?: Duration.DurationInput
  readonly mailboxCapacity?: number
  readonly maxBatch?: number
  readonly eventBufferSize?: number
  /** Reject frames whose signed sender differs from the transport's `from` (default true). */
  readonly checkTransportSender?: boolean
  /**
   * Accept the transport's own verification of a frame's signature instead of
   * verifying it again (default true). It applies only to a frame the transport
   * marked `verifiedWith` this replica's `KeyRingService` (the very same object,
   * so a transport configured with other keys is never trusted) and whose
   * signed sender is the transport's `from`; every other check still runs
   * (size, header, protocol, cluster, sender, known key, decoding). The
   * WebSocket transport marks frames only with `verifySignatures` on (its
   * default), and the Runner gives transport and shell the same key ring, so a
   * replica on it verifies each frame once instead of twice. The transport is
   * in-process code the application chose, as trusted as this shell. Turn it
   * off to verify every frame here regardless.
   */
  readonly trustTransportVerification?: boolean
  /** Told when the replica dies (storage failure, a defect in the driver). */
  readonly supervisor: Actor.Supervisor
  /** Request spans open at once (see `Tracing`); 0 turns request spans and the commit-latency histogram off. */
  readonly maxOpenSpans?: number
}

/** The replica could not make a Ready durable; it stops rather than continue. */
export class PersistFailed extends Data.TaggedError("PersistFailed")<{
  readonly replica: string
  readonly error: StorageError
}> {
  override get message() {
    return `replica ${this.replica} failed to persist: ${this.error.reason}: ${this.error.detail}`
  }
}

export interface ReplicaStatus {
  readonly appliedIndex: number
  readonly stateDigest: string
}

export interface ReplicaHandle {
  readonly peer: PeerId
  /** A subscription to the replica's events (core events and shell rejections), from now on. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<ProtocolEvent>, never, Scope.Scope>
  /** The same events as a stream that ends when the replica stops. */
  readonly events: Stream.Stream<ProtocolEvent>
  /**
   * Applied index and state digest after the last completed batch. The digest
   * is computed only when asked for (here, `stateDigest`, `statusChanges`,
   * `awaitApplied`), between two batches of the actor, and at most once per
   * applied index (state changes only by applying entries or installing a
   * snapshot at another index): a digest can cost as much as the state is
   * large, so the shell never computes one nobody reads. When the replica has
   * stopped, or its mailbox is full, it is read from the driver directly.
   */
  readonly status: Effect.Effect<ReplicaStatus>
  /** The status each time the applied index moves (changes that come faster than they are read may be merged). */
  readonly statusChanges: Stream.Stream<ReplicaStatus>
  /**
   * The operator's view of the replica after the last completed batch: the
   * driver's `status()` when it has one, otherwise `Status.fallback` (role
   * `unknown`, view and commit index from its events). Served by
   * `Observability.serve` at `GET /status`.
   */
  readonly replicaStatus: Effect.Effect<Status.ReplicaStatus>
  readonly appliedIndex: Effect.Effect<number>
  readonly stateDigest: Effect.Effect<string>
  /** Wait until the applied index reaches `index`; fails if the replica stops first. */
  awaitApplied(index: number): Effect.Effect<ReplicaStatus, Actor.ActorStopped>
  /** Stop the replica (mailbox, ticker, network input). Idempotent. */
  readonly stop: Effect.Effect<void>
  /** Wait for the replica to stop; a failure carries the cause (e.g. `PersistFailed`). */
  readonly await: Effect.Effect<Exit.Exit<void>>
}

/** What a shell's mailbox holds. */
export type ShellInput = { readonly _tag: "Frame"; readonly incoming: Incoming } | Clock.Tick

/** A replica's mailbox also takes requests for its status, answered after the batch they arrive in. */
type ReplicaInput = ShellInput | { readonly _tag: "Status"; readonly reply: Deferred.Deferred<ReplicaStatus> }

// ---------------------------------------------------------------------------
// Shell plumbing shared with ClientShell

/**
 * Authenticate a frame from the network. A rejection is recorded in metrics
 * and returned; the caller publishes it and never gives it to the core.
 * `trustTransport`: see `ReplicaConfig.trustTransportVerification` (here
 * default false, for callers that predate it).
 */
export const openIncoming = <M>(
  ctx: Envelope.EnvelopeContext<M>,
  keys: KeyRing,
  incoming: Incoming,
  checkTransportSender: boolean,
  trustTransport = false
): Effect.Effect<Either.Either<Verified<M>, Rejection>> =>
  Effect.suspend((): Effect.Effect<Either.Either<Verified<M>, Rejection>> => {
    // the sender check runs inside `open`, before the (costly) signature check;
    // a frame the transport verified with our own key ring as `from`'s skips only the signature
    const opened = trustTransport && incoming.verifiedWith === keys
      ? Envelope.openVerifiedByTransport(ctx, keys, incoming.bytes, incoming.from)
      : checkTransportSender
      ? Envelope.open(ctx, keys, incoming.bytes, incoming.from)
      : Envelope.open(ctx, keys, incoming.bytes)
    return Either.isLeft(opened)
      ? Effect.as(Metrics.recordRejection(ctx.protocol, opened.left), opened)
      : Effect.as(Metrics.recordReceived(ctx.protocol, (opened.right.message as { _tag?: string })._tag ?? "unknown"), opened)
  })

/**
 * Seal each message once and send the frame to every destination; send
 * failures are counted and dropped. Succeeds with the bytes handed to the
 * transport (frame size times accepted destinations).
 */
export const sendOutbound = <M>(
  ctx: Envelope.EnvelopeContext<M>,
  signer: Signer,
  transport: TransportService,
  outbound: ReadonlyArray<Outbound<M>>
): Effect.Effect<number> =>
  Effect.suspend(() => {
    let bytes = 0
    return Effect.zipRight(
      Effect.forEach(outbound, (out) =>
        Effect.suspend(() => {
          const frame = Envelope.seal(ctx, signer, out.message)
          const type = (out.message as { _tag?: string })._tag ?? "unknown"
          const sent = Effect.zipRight(
            Metrics.recordSent(ctx.protocol, type),
            Effect.suspend(() => {
              bytes += frame.byteLength
              return Metrics.recordBytesSent(ctx.protocol, frame.byteLength)
            })
          )
          return Effect.forEach(out.to, (to) =>
            transport.send(to, frame).pipe(
              Effect.zipRight(sent),
              Effect.catchAll((e) => Metrics.recordSendFailure(ctx.protocol, e.reason))
            ), { discard: true })
        }), { discard: true }),
      Effect.sync(() => bytes)
    )
  })

// ---------------------------------------------------------------------------

interface Ports {
  readonly transport: TransportService
  readonly storage: StorageService
  readonly signer: Signer
  readonly keys: KeyRing
}

/** Carry out every Ready the driver has, in the order of the module comment. */
const drainReady = <M>(
  driver: Driver<M>,
  config: ReplicaConfig<M>,
  name: string,
  ports: Ports,
  events: PubSub.PubSub<ProtocolEvent>,
  observer: ReplicaObserver<M>
) =>
  Effect.gen(function*() {
    for (let round = 0; driver.hasReady(); round++) {
      if (round >= MAX_READY_ROUNDS) return yield* Effect.dieMessage(`replica ${name}: driver still has a Ready after ${round} rounds`)
      const ready = driver.ready()
      if (ready.persist.length > 0) {
        yield* ports.storage.write(ready.persist).pipe(
          Effect.catchAll((error) => Effect.die(new PersistFailed({ replica: name, error })))
        )
        yield* Metrics.recordPersistBatch(ready.persist.length)
      }
      observer.sent(yield* sendOutbound(config.envelope, ports.signer, ports.transport, ready.send))
      observer.sent(yield* sendOutbound(config.envelope, ports.signer, ports.transport, ready.sendAfterPersist))
      if (ready.events.length > 0) {
        // metrics and logs first: a subscriber that saw an event finds them up to date
        yield* observer.events(ready.events)
        yield* PubSub.publishAll(events, ready.events)
      }
      driver.advance()
    }
  })

/**
 * Run `driver` as a replica in the current scope. The driver must already hold
 * the replica's recovered state (see `recover`).
 */
export const run = <M>(
  driver: Driver<M>,
  config: ReplicaConfig<M>
): Effect.Effect<ReplicaHandle, never, Scope.Scope | Transport | Storage | SignerService | KeyRingService> =>
  Effect.gen(function*() {
    const ports: Ports = {
      transport: yield* Transport,
      storage: yield* Storage,
      signer: yield* SignerService,
      keys: yield* KeyRingService
    }
    const name = config.name ?? ports.signer.peer
    const protocol = config.envelope.protocol
    const checkSender = config.checkTransportSender ?? true
    const trustTransport = config.trustTransportVerification ?? true
    // a child scope, so `stop` can end this replica without closing the caller's scope
    const scope = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)

    const events = yield* PubSub.sliding<ProtocolEvent>(config.eventBufferSize ?? DEFAULT_EVENT_BUFFER)
    // the applied index after each batch is cheap and always current; the digest is computed on demand
    const applied = yield* SubscriptionRef.make(driver.appliedIndex())
    let digested: ReplicaStatus = { appliedIndex: driver.appliedIndex(), stateDigest: driver.stateDigest() }
    const currentStatus = (): ReplicaStatus => {
      const index = driver.appliedIndex()
      if (index !== digested.appliedIndex) digested = { appliedIndex: index, stateDigest: driver.stateDigest() }
      return digested
    }
    // status requests of the current batch (at most the mailbox capacity), answered once it is done
    let statusWaiters: Array<Deferred.Deferred<ReplicaStatus>> = []

    const observer = new ReplicaObserver(driver, {
      protocol,
      replica: name,
      ...(config.maxOpenSpans !== undefined ? { maxOpenSpans: config.maxOpenSpans } : {})
    })
    // added before the actor, so it runs after the actor has stopped (finalizers run in reverse)
    yield* Scope.addFinalizer(scope, observer.tracker.abandonAll)

    // logged before it is published, as in `drainReady`
    const rejectInput = (from: PeerId, rejection: Rejection) =>
      Effect.zipRight(observer.dropped(from, rejection), PubSub.publish(events, { _tag: "Rejected", from, rejection }))

    const receive = (input: ReplicaInput): Effect.Effect<void> => {
      switch (input._tag) {
        case "Tick":
          return Effect.sync(() => driver.step(input))
        case "Status":
          return Effect.sync(() => void statusWaiters.push(input.reply))
        case "Frame":
          return Effect.flatMap(openIncoming(config.envelope, ports.keys, input.incoming, checkSender, trustTransport), (opened) =>
            Either.isLeft(opened)
              ? rejectInput(input.incoming.from, opened.left)
              : Effect.sync(() => driver.step({ _tag: "Receive", envelope: opened.right })))
      }
    }

    const onDrained = Effect.gen(function*() {
      yield* drainReady(driver, config, name, ports, events, observer)
      yield* observer.afterBatch
      const index = driver.appliedIndex()
      if (index !== (yield* SubscriptionRef.get(applied))) yield* SubscriptionRef.set(applied, index)
      if (statusWaiters.length > 0) {
        const waiters = statusWaiters
        statusWaiters = []
        const status = currentStatus()
        for (const w of waiters) yield* Deferred.succeed(w, status)
      }
    })
    // every fiber forked below logs with these annotations (the actor adds `view` as it changes)
    const annotated = Effect.annotateLogs({ replica: name, protocol, view: observer.currentView })

    const actor = yield* Actor.make<ReplicaInput>({
      name,
      capacity: config.mailboxCapacity ?? DEFAULT_MAILBOX_CAPACITY,
      maxBatch: config.maxBatch ?? DEFAULT_MAX_BATCH,
      receive,
      onDrained,
      supervisor: config.supervisor
    }).pipe(annotated, Scope.extend(scope))
    const stopped = actor.await

    // network input: a full mailbox is an overload rejection
    const pump = yield* Stream.runForEach(
      ports.transport.incoming,
      (incoming) =>
        actor.tell({ _tag: "Frame", incoming }).pipe(
          Effect.catchTag("MailboxFull", () => {
            const rejection = reject("overloaded", `mailbox of ${name} is full`)
            return Effect.zipRight(Metrics.recordRejection(protocol, rejection), rejectInput(incoming.from, rejection))
          })
        )
    ).pipe(Effect.ignore, Effect.forkIn(scope), annotated)
    // the pump ends with the actor: one fiber waits for the actor and interrupts it, instead of
    // `Stream.interruptWhen`, which races every pull of the stream against the actor (tens of µs each)
    yield* Effect.forkIn(Effect.zipRight(stopped, Fiber.interrupt(pump)), scope)

    // logical time: a tick refused by a full mailbox is dropped (the replica is busy, not idle)
    yield* Clock.drive(
      Clock.make(config.tickInterval ?? Clock.DEFAULT_TICK_INTERVAL),
      actor.tell(Clock.Tick).pipe(Effect.catchTag("MailboxFull", () => Effect.void))
    ).pipe(Scope.extend(scope))

    // between two batches; a stopped replica's driver no longer moves, and a full mailbox is not waited for
    const status: Effect.Effect<ReplicaStatus> = actor.ask<ReplicaStatus>((reply) => ({ _tag: "Status", reply })).pipe(
      Effect.catchAll(() => Effect.sync(currentStatus))
    )

    const handle: ReplicaHandle = {
      peer: ports.signer.peer,
      subscribe: PubSub.subscribe(events),
      events: Stream.fromPubSub(events).pipe(Stream.interruptWhen(stopped)),
      status,
      statusChanges: applied.changes.pipe(
        Stream.mapEffect(() => status),
        Stream.changesWith((a, b) => a.appliedIndex === b.appliedIndex)
      ),
      replicaStatus: observer.status,
      appliedIndex: SubscriptionRef.get(applied),
      stateDigest: Effect.map(status, (s) => s.stateDigest),
      awaitApplied: (index) =>
        applied.changes.pipe(
          Stream.filter((i) => i >= index),
          Stream.interruptWhen(stopped),
          Stream.runHead,
          Effect.flatMap(Option.match({
            onNone: () => Effect.fail(new Actor.ActorStopped({ actor: name })),
            onSome: () => status
          }))
        ),
      stop: Scope.close(scope, Exit.void),
      await: stopped
    }
    return handle
  })

/** Load the durable state, build the driver from it, and run it. */
export const recover = <M>(
  makeDriver: (disk: ReadonlyMap<string, Uint8Array>) => Driver<M>,
  config: ReplicaConfig<M>
): Effect.Effect<ReplicaHandle, StorageError, Scope.Scope | Transport | Storage | SignerService | KeyRingService> =>
  Effect.gen(function*() {
    const storage = yield* Storage
    const disk = yield* storage.load
    return yield* run(makeDriver(disk), config)
  })
