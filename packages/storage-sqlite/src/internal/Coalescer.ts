/**
 * Opt-in coalescing of concurrent `write` calls into one transaction.
 *
 * Each call appends its batch to `pending` and waits. One writer fiber takes
 * what is pending (up to `maxBatches` batches), commits it in order in one
 * transaction (one fsync), and answers each caller. A batch is still atomic: it
 * is wholly inside one transaction, and a caller hears "durable" only after that
 * transaction committed.
 *
 * If a grouped transaction fails, its batches are retried one per transaction,
 * so a batch that cannot be written (a value over the size limit, say) fails
 * alone instead of failing its neighbours.
 *
 * Limits: at most `maxQueued` batches are accepted and unanswered at a time;
 * further callers suspend until the writer answers some. One transaction
 * carries at most `maxBatches` batches.
 *
 * The state is plain JavaScript mutated only inside synchronous steps, so an
 * enqueue and a wake-up cannot be split by an interruption or by another fiber;
 * the writer is never interrupted: at close it commits everything accepted
 * before it stops, and calls that arrive later fail with "closed".
 */
import { Effect, Exit, Fiber, type Scope } from "effect"
import type { Protocol, Storage } from "@synod/core"

type Batch = ReadonlyArray<Protocol.StorageWrite>

interface Job {
  readonly batch: Batch
  readonly answer: (exit: Exit.Exit<void, Storage.StorageError>) => void
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
    const pending: Array<Job> = []
    /** Accepted and not yet answered: `pending` plus the group being committed. */
    let accepted = 0
    let closed = false
    let wakeWriter: (() => void) | undefined
    const roomWaiters = new Set<() => void>()

    const wake = () => {
      const w = wakeWriter
      wakeWriter = undefined
      w?.()
    }
    const freeRoom = () => {
      for (const w of [...roomWaiters]) w()
    }

    const answer = (jobs: ReadonlyArray<Job>, exit: Exit.Exit<void, Storage.StorageError>) => {
      for (const j of jobs) j.answer(exit)
    }

    const settle = (jobs: ReadonlyArray<Job>): Effect.Effect<void> =>
      Effect.exit(commit(jobs.map((j) => j.batch))).pipe(
        Effect.flatMap((exit) =>
          Exit.isSuccess(exit) || jobs.length === 1
            ? Effect.sync(() => answer(jobs, exit))
            : Effect.forEach(jobs, (j) => Effect.map(Effect.exit(commit([j.batch])), (e) => answer([j], e)), {
              discard: true
            })
        ),
        Effect.ensuring(Effect.sync(() => {
          accepted -= jobs.length
          freeRoom()
        }))
      )

    /** One turn of the writer: commit a group, or sleep until woken; false once closed and drained. */
    const turn: Effect.Effect<boolean> = Effect.suspend(() => {
      if (pending.length > 0) return Effect.as(settle(pending.splice(0, limits.maxBatches)), true)
      if (closed) return Effect.succeed(false)
      return Effect.as(
        Effect.async<void>((resume) => {
          // Re-checked here: a job may have arrived between the checks above and this registration.
          if (pending.length > 0 || closed) resume(Effect.void)
          else wakeWriter = () => resume(Effect.void)
        }),
        true
      )
    })
    const writer = yield* Effect.forkDaemon(Effect.iterate(true, { while: (go) => go, body: () => turn }))

    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closed = true
        wake()
        freeRoom()
        return Fiber.await(writer)
      })
    )

    // The checks and the enqueue run in one synchronous step (the async
    // registration), so no close can slip in between and leave a job unanswered.
    const write = (batch: Batch): Effect.Effect<void, Storage.StorageError> =>
      Effect.async<void, Storage.StorageError>((resume) => {
        let waiter: (() => void) | undefined
        const attempt = () => {
          waiter = undefined
          if (closed) return resume(Effect.fail(closedError()))
          if (accepted >= limits.maxQueued) {
            const w = () => {
              roomWaiters.delete(w)
              attempt()
            }
            waiter = w
            roomWaiters.add(w)
            return
          }
          pending.push({ batch, answer: (exit) => resume(exit) })
          accepted++
          wake()
        }
        attempt()
        // Interrupted while waiting for room: give up the place. Once accepted, the batch is still committed.
        return Effect.sync(() => {
          if (waiter !== undefined) roomWaiters.delete(waiter)
        })
      })
    return write
  })
