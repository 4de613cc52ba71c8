import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Scope } from "effect"
import { SqliteStorage } from "@synod/storage-sqlite"
import { del, pattern, put, sameBytes, tempDb } from "./support.js"

const owner = { clusterId: "coalesce", replicaId: 0 } as const

/** Batch `i` of a writer: ten keys of 200 bytes, like one Ready. */
const batch = (i: number) => Array.from({ length: 10 }, (_, j) => put(`w/${i}/${j}`, pattern(i * 100 + j, 200)))

describe("coalescing concurrent writes", () => {
  it.scoped("concurrent batches share transactions, and every batch lands whole", () =>
    Effect.gen(function*() {
      const path = yield* tempDb
      const s = yield* SqliteStorage.make({ ...owner, path, coalesce: true })
      yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) => s.write(batch(i)), {
        concurrency: "unbounded",
        discard: true
      })
      const stats = yield* s.stats
      expect(stats.batches).toBe(20)
      expect(stats.writes).toBe(200)
      expect(stats.transactions).toBeLessThan(20)
      const loaded = yield* s.load
      expect(loaded.size).toBe(200)
      for (let i = 0; i < 20; i++) expect(sameBytes(loaded.get(`w/${i}/9`), pattern(i * 100 + 9, 200))).toBe(true)
    }))

  it.scoped("without coalescing, the same concurrent batches take one transaction each", () =>
    Effect.gen(function*() {
      const s = yield* SqliteStorage.make({ ...owner, path: yield* tempDb })
      yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) => s.write(batch(i)), {
        concurrency: "unbounded",
        discard: true
      })
      expect(yield* s.stats).toEqual({ transactions: 20, batches: 20, writes: 200 })
    }))

  it.scoped("a transaction carries at most maxBatches batches", () =>
    Effect.gen(function*() {
      const s = yield* SqliteStorage.make({ ...owner, path: yield* tempDb, coalesce: { maxBatches: 3, maxQueued: 4 } })
      yield* Effect.forEach(Array.from({ length: 30 }, (_, i) => i), (i) => s.write(batch(i)), {
        concurrency: "unbounded",
        discard: true
      })
      const stats = yield* s.stats
      expect(stats.batches).toBe(30)
      expect(stats.transactions).toBeGreaterThanOrEqual(10)
      expect((yield* s.load).size).toBe(300)
    }))

  it.scoped("a batch that cannot be written fails alone; its neighbours in the group succeed", () =>
    Effect.gen(function*() {
      const s = yield* SqliteStorage.make({ ...owner, path: yield* tempDb, coalesce: true, maxValueBytes: 1000 })
      yield* s.write([put("w/0/0", pattern(0, 10))])
      const exits = yield* Effect.forEach(
        [0, 1, 2, 3, 4],
        (i) => Effect.exit(s.write(i === 2 ? [del("w/0/0"), put("big", pattern(1, 1001))] : batch(i + 1))),
        { concurrency: "unbounded" }
      )
      expect(exits.map(Exit.isSuccess)).toEqual([true, true, false, true, true])
      const loaded = yield* s.load
      expect(loaded.has("big")).toBe(false)
      expect(loaded.has("w/0/0")).toBe(true) // the failed batch's delete did not happen either
      expect(loaded.size).toBe(1 + 40)
    }))

  it.scoped("closing with writes in flight: each write either landed or failed with closed, none hangs", () =>
    Effect.gen(function*() {
      const path = yield* tempDb
      const scope = yield* Scope.make()
      const s = yield* Scope.extend(SqliteStorage.make({ ...owner, path, coalesce: { maxBatches: 2, maxQueued: 2 } }), scope)
      const fibers = yield* Effect.forEach(Array.from({ length: 12 }, (_, i) => i), (i) => Effect.fork(Effect.exit(s.write(batch(i)))))
      yield* Effect.yieldNow()
      yield* Scope.close(scope, Exit.void)
      const exits = yield* Fiber.joinAll(fibers).pipe(Effect.zipRight(Effect.forEach(fibers, Fiber.join)))
      const loaded = yield* Effect.scoped(Effect.flatMap(SqliteStorage.make({ ...owner, path }), (r) => r.load))
      exits.forEach((exit, i) => {
        if (Exit.isSuccess(exit)) {
          expect(loaded.has(`w/${i}/0`) && loaded.has(`w/${i}/9`)).toBe(true)
        } else {
          expect(exit.cause._tag === "Fail" && exit.cause.error.reason).toBe("closed")
          expect(loaded.has(`w/${i}/0`) || loaded.has(`w/${i}/9`)).toBe(false)
        }
      })
      expect(exits.some(Exit.isSuccess)).toBe(true)
      expect(exits.some(Exit.isFailure)).toBe(true)
    }))
})
