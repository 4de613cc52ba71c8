/**
 * Opt-in coalescing of concurrent `write` calls into one transaction.
 *
 * Each call enqueues its batch with a Deferred and waits. One writer fiber takes
 * every batch that is waiting (up to `maxBatches`), commits them in order in one
 * transaction (one fsync), and completes their Deferreds. A batch is still
 * atomic: it is wholly inside one transaction, and a caller is told "durable"
 * only after that transaction committed.
 *
 * If a grouped transaction fails, the batches are retried one per transaction,
 * so a batch that cannot be written (a value over the size limit, say) fails
 * alone instead of failing its neighbours.
 *
 * Limits: at most `maxQueued` batches wait (further callers suspend until there
 * is room), and one transaction carries at most `maxBatches` batches.
 */
import { Chunk, Deferred, Effect, Fiber, Queue, type Scope } from "effect"
import { type Protocol, Storage } from "@synod/core"

type Batch = ReadonlyArray<Protocol.StorageWrite>

interface Job {
  readonly batch: Batch
  readonly done: Deferred.Deferred<void, Storage.StorageError>
}

export interface CoalesceLimits {
  readonly maxBatches: number
  readonly maxQueued: number
}

export const makeCoalescer = (
  commit: (batches: ReadonlyArray<Batch>) => Effect.Effect<void, Storage.StorageError>,
  limits: CoalesceLimits,
  closedError: () => Storage.StorageError
): Effect.Effect<(batch: Batch) => Effect.Effect<void, Storage.StorageError>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const queue = yield* Queue.bounded<Job>(limits.maxQueued)
    let closed = false

    const settle = (jobs: ReadonlyArray<Job>) =>
      commit(jobs.map((j) => j.batch)).pipe(
        Effect.matchEffect({
          onSuccess: () => Effect.forEach(jobs, (j) => Deferred.succeed(j.done, undefined), { discard: true }),
          onFailure: (error) =>
            jobs.length === 1
              ? Deferred.fail(jobs[0]!.done, error)
              : Effect.forEach(jobs, (j) => Effect.exit(commit([j.batch])).pipe(Effect.flatMap((exit) => Deferred.done(j.done, exit))), {
                discard: true
              })
        })
      )

    // Taking is the only interruptible step: a group that was taken is always
    // committed and answered, so no caller waits on a Deferred nobody completes.
    const writer = Effect.uninterruptibleMask((restore) =>
      restore(Queue.takeBetween(queue, 1, limits.maxBatches)).pipe(
        Effect.flatMap((jobs) => settle(Chunk.toReadonlyArray(jobs)))
      )
    ).pipe(Effect.forever)

    const fiber = yield* Effect.forkDaemon(writer)

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closed = true
        yield* Fiber.interrupt(fiber)
        const left = yield* Queue.takeAll(queue)
        yield* Effect.forEach(left, (j) => Deferred.fail(j.done, closedError()), { discard: true })
        yield* Queue.shutdown(queue)
      })
    )

    return (batch: Batch) =>
      Effect.suspend(() => {
        if (closed) return Effect.fail(closedError())
        return Effect.flatMap(Deferred.make<void, Storage.StorageError>(), (done) =>
          Queue.offer(queue, { batch, done }).pipe(
            // `offer` fails only on a queue shut down by the finalizer while this caller waited for room.
            Effect.catchAllCause(() => Effect.fail(closedError())),
            Effect.zipRight(Deferred.await(done))
          ))
      })
  })
