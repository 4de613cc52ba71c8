/**
 * Typed actors: a scoped fiber that owns some state and processes one message
 * at a time from a bounded mailbox. Replicas and client shells are actors, so
 * the driver they wrap is only ever touched by one fiber.
 *
 * Limits and policies:
 * - Mailbox capacity: `capacity` messages (default `DEFAULT_MAILBOX_CAPACITY`).
 *   `tell` never blocks: on a full mailbox it fails with `MailboxFull` (counted
 *   in `synod_mailbox_rejected_total{actor}`), so a flood of network input
 *   cannot back-pressure the sender into a deadlock; callers decide whether a
 *   refused message is dropped (network frames, ticks) or reported (requests).
 * - Batching: the loop takes up to `maxBatch` waiting messages, hands each to
 *   `receive`, then runs `onDrained` once. A replica uses `onDrained` for group
 *   commit: many inputs, one `Ready`, one storage write.
 * - Failure: if `receive` or `onDrained` fails or dies, the actor stops and the
 *   `Supervisor` is called with the cause; `await` returns the exit. Nothing is
 *   swallowed. Interruption (scope closed, `stop`) is a normal stop and is not
 *   reported.
 * - Lifetime: the actor stops when the `Scope` it was made in closes.
 */
import { Cause, Data, Deferred, Effect, type Exit, Fiber, Option, Queue, type Scope } from "effect"
import * as Metrics from "./Metrics.js"

export const DEFAULT_MAILBOX_CAPACITY = 1024
export const DEFAULT_MAX_BATCH = 64

export class MailboxFull extends Data.TaggedError("MailboxFull")<{
  readonly actor: string
  readonly capacity: number
}> {}

export class ActorStopped extends Data.TaggedError("ActorStopped")<{
  readonly actor: string
}> {}

/** An actor that stopped with a failure or a defect. */
export interface ActorFailure {
  readonly actor: string
  readonly cause: Cause.Cause<unknown>
}

/**
 * Receives the failure of every actor it supervises. It runs inside the dying
 * actor's exit handler, uninterruptibly, so it must not block.
 */
export type Supervisor = (failure: ActorFailure) => Effect.Effect<void>

/** A supervisor that logs failures at error level (for applications with no better owner). */
export const logSupervisor: Supervisor = (failure) =>
  Effect.logError(`actor ${failure.actor} failed`, failure.cause)

/**
 * A supervisor that queues failures for an owner to take. The queue keeps the
 * latest `capacity` failures (sliding), so reporting never blocks.
 */
export const queueSupervisor = (
  capacity = 64
): Effect.Effect<{ readonly supervisor: Supervisor; readonly failures: Queue.Dequeue<ActorFailure> }> =>
  Effect.map(Queue.sliding<ActorFailure>(capacity), (queue) => ({
    supervisor: (failure) => Queue.offer(queue, failure).pipe(Effect.asVoid),
    failures: queue
  }))

export interface ActorRef<Msg, E = never> {
  readonly name: string
  readonly capacity: number
  /** Enqueue `msg`. Fails with `MailboxFull` when the mailbox is full, `ActorStopped` once the actor has stopped. */
  tell(msg: Msg): Effect.Effect<void, MailboxFull | ActorStopped>
  /**
   * Request/response: `make` builds the message around a fresh `Deferred`
   * that the actor completes. Fails with `ActorStopped` if the actor stops
   * before replying.
   */
  ask<A, E2 = never>(make: (reply: Deferred.Deferred<A, E2>) => Msg): Effect.Effect<A, E2 | MailboxFull | ActorStopped>
  /** Messages currently waiting. */
  readonly depth: Effect.Effect<number>
  /** Wait for the actor to stop; its exit (interrupted when stopped normally). */
  readonly await: Effect.Effect<Exit.Exit<void, E>>
  /** Stop the actor now (the messages still queued are discarded). */
  readonly stop: Effect.Effect<void>
}

export interface ActorOptions<Msg, E, R> {
  /** Used in metrics (`actor` tag), logs and errors. */
  readonly name: string
  readonly capacity?: number
  readonly maxBatch?: number
  readonly receive: (msg: Msg) => Effect.Effect<void, E, R>
  /** Runs after each batch of messages; see the module comment. */
  readonly onDrained?: Effect.Effect<void, E, R>
  readonly supervisor: Supervisor
}

/** Start an actor in the current scope. */
export const make = <Msg, E = never, R = never>(
  options: ActorOptions<Msg, E, R>
): Effect.Effect<ActorRef<Msg, E>, never, Scope.Scope | R> =>
  Effect.gen(function*() {
    const { name, receive, supervisor } = options
    const capacity = options.capacity ?? DEFAULT_MAILBOX_CAPACITY
    const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH
    if (!Number.isInteger(capacity) || capacity < 1) return yield* Effect.dieMessage(`actor ${name}: bad capacity ${capacity}`)
    if (!Number.isInteger(maxBatch) || maxBatch < 1) return yield* Effect.dieMessage(`actor ${name}: bad maxBatch ${maxBatch}`)

    // dropping: `offer` on a full mailbox returns false instead of suspending
    const mailbox = yield* Queue.dropping<Msg>(capacity)
    // size() is negative while the loop waits in take; the gauge shows waiting messages only
    const depth = Effect.map(Queue.size(mailbox), (n) => Math.max(0, n))
    const publishDepth = Effect.flatMap(depth, (n) => Metrics.setMailboxDepth(name, n))

    const onDrained = options.onDrained ?? Effect.void
    const loop: Effect.Effect<never, E, R> = Effect.forever(
      Effect.gen(function*() {
        const batch = yield* Queue.takeBetween(mailbox, 1, maxBatch)
        yield* publishDepth
        for (const msg of batch) yield* receive(msg)
        yield* onDrained
      })
    )

    // The fiber's own exit is the actor's exit (observed through `await`, `tell`
    // and `ask`); a fiber interrupted before it ever ran has no exit handler to
    // run, so nothing may depend on one for a normal stop.
    const fiber = yield* loop.pipe(
      Effect.onExit((exit) =>
        exit._tag === "Failure" && !Cause.isInterruptedOnly(exit.cause)
          ? Effect.zipRight(Metrics.recordActorFailure(name), supervisor({ actor: name, cause: exit.cause }))
          : Effect.void
      ),
      Effect.forkScoped
    )

    const tell = (msg: Msg): Effect.Effect<void, MailboxFull | ActorStopped> =>
      Effect.flatMap(fiber.poll, (exit): Effect.Effect<void, MailboxFull | ActorStopped> =>
        Option.isSome(exit)
          ? Effect.fail(new ActorStopped({ actor: name }))
          : Effect.flatMap(Queue.offer(mailbox, msg), (accepted) =>
            accepted
              ? publishDepth
              : Effect.zipRight(Metrics.recordMailboxRejected(name), Effect.fail(new MailboxFull({ actor: name, capacity })))
          ))

    const stoppedError = Effect.zipRight(Fiber.await(fiber), Effect.fail(new ActorStopped({ actor: name })))

    const ref: ActorRef<Msg, E> = {
      name,
      capacity,
      tell,
      ask: <A, E2>(make: (reply: Deferred.Deferred<A, E2>) => Msg) =>
        Effect.gen(function*() {
          const reply = yield* Deferred.make<A, E2>()
          yield* tell(make(reply))
          return yield* Effect.raceFirst(Deferred.await(reply), stoppedError)
        }),
      depth,
      await: Fiber.await(fiber),
      stop: Effect.asVoid(Fiber.interrupt(fiber))
    }
    return ref
  })

/**
 * An actor that folds its messages into a state value. The state is owned by
 * the actor's fiber; other fibers see it only through replies.
 */
export const makeStateful = <Msg, S, E = never, R = never>(
  options: Omit<ActorOptions<Msg, E, R>, "receive"> & {
    readonly initial: S
    readonly receive: (state: S, msg: Msg) => Effect.Effect<S, E, R>
  }
): Effect.Effect<ActorRef<Msg, E>, never, Scope.Scope | R> =>
  Effect.suspend(() => {
    // one state cell per actor started, not per call site
    let state = options.initial
    return make<Msg, E, R>({
      name: options.name,
      supervisor: options.supervisor,
      ...(options.capacity !== undefined ? { capacity: options.capacity } : {}),
      ...(options.maxBatch !== undefined ? { maxBatch: options.maxBatch } : {}),
      ...(options.onDrained !== undefined ? { onDrained: options.onDrained } : {}),
      receive: (msg) => Effect.map(options.receive(state, msg), (next) => void (state = next))
    })
  })
