/**
 * Compliance suite for `Storage` implementations. The factory makes a fresh,
 * empty backing store (a map, a temporary SQLite file) inside the test's scope
 * and returns `open`, which opens a handle on that same store; every `open`
 * after the first is a restart. The suite closes a handle (its scope) before
 * it reopens, as a restarting replica would. It runs on the live clock, since
 * durable backings do real I/O.
 *
 *   storageSuite("memory", () => Effect.sync(() => {
 *     const disk = new Map<string, Uint8Array>()
 *     return { open: Storage.makeMemory(disk) }
 *   }))
 *
 * Checked: an empty store; exact bytes through write/get/load (including an
 * empty value, which is not a delete); writes inside a batch apply in order;
 * overwrites and deletes across batches; values are copied in and out; data
 * survives a reopen; large values; many keys and batches; and a property:
 * random batches with reopens in between leave exactly the model's data.
 */
import { Effect, FastCheck, type Scope } from "effect"
import type { StorageWrite } from "../Protocol.js"
import type { StorageService } from "../Storage.js"

// `@synod/core/testing` is also imported outside vitest (the simulator CLI), where
// loading vitest throws; it is loaded only inside a vitest run.
const vitest = process.env.VITEST !== undefined ? await import("@effect/vitest") : undefined

export interface StorageHarness<E> {
  /** Open a handle on the store made by the factory; reopening sees everything written before. */
  readonly open: Effect.Effect<StorageService, E, Scope.Scope>
}

export interface StorageSuiteOptions {
  /** Runs of the random-batch property (default 25). */
  readonly numRuns?: number
}

const bytes = (...values: ReadonlyArray<number>) => new Uint8Array(values)
const put = (key: string, value: Uint8Array): StorageWrite => ({ key, value })
const del = (key: string): StorageWrite => ({ key, value: null })

/** Plain object of a loaded map, with values as arrays, so expectations print readably. */
const plain = (m: ReadonlyMap<string, Uint8Array>): Record<string, Array<number>> =>
  Object.fromEntries([...m].map(([k, v]) => [k, [...v]]))

/** Byte equality without a deep-equality walk (which is slow on megabytes). */
const sameBytes = (a: Uint8Array | undefined, b: Uint8Array): boolean =>
  a !== undefined && a.byteLength === b.byteLength && Buffer.compare(a, b) === 0

const patterned = (size: number, salt: number) => {
  const out = new Uint8Array(size)
  for (let i = 0; i < size; i++) out[i] = (i * 131 + salt) & 0xff
  return out
}

export const storageSuite = <E1, E2>(
  name: string,
  makeStorage: () => Effect.Effect<StorageHarness<E2>, E1, Scope.Scope>,
  options: StorageSuiteOptions = {}
): void => {
  if (vitest === undefined) throw new Error("storageSuite must be called from a vitest test file")
  const { describe, expect, it } = vitest
  /** Run `f` on a handle that is closed afterwards. */
  const withHandle = <A, E>(h: StorageHarness<E2>, f: (s: StorageService) => Effect.Effect<A, E>) =>
    Effect.scoped(Effect.flatMap(h.open, f))

  describe(`Storage compliance: ${name}`, () => {
    it.scopedLive("starts empty", () =>
      Effect.gen(function*() {
        const s = yield* (yield* makeStorage()).open
        expect((yield* s.load).size).toBe(0)
        expect(yield* s.get("missing")).toBeUndefined()
      }))

    it.scopedLive("returns the exact bytes written, through get and load, including an empty value", () =>
      Effect.gen(function*() {
        const s = yield* (yield* makeStorage()).open
        const all = patterned(256, 0)
        yield* s.write([put("a", bytes(1, 2, 3)), put("empty", new Uint8Array(0)), put("all-bytes", all)])
        expect(yield* s.get("a")).toEqual(bytes(1, 2, 3))
        const empty = yield* s.get("empty")
        expect(empty).toBeInstanceOf(Uint8Array)
        expect(empty!.byteLength).toBe(0)
        expect(yield* s.get("all-bytes")).toEqual(all)
        expect(plain(yield* s.load)).toEqual({ "a": [1, 2, 3], "empty": [], "all-bytes": [...all] })
      }))

    it.scopedLive("applies the writes of one batch in order", () =>
      Effect.gen(function*() {
        const s = yield* (yield* makeStorage()).open
        yield* s.write([
          put("k", bytes(1)),
          put("j", bytes(9)),
          del("k"),
          put("k", bytes(2)),
          put("gone", bytes(3)),
          del("gone"),
          put("j", bytes(8))
        ])
        expect(plain(yield* s.load)).toEqual({ k: [2], j: [8] })
      }))

    it.scopedLive("overwrites and deletes across batches; deleting an absent key does nothing", () =>
      Effect.gen(function*() {
        const s = yield* (yield* makeStorage()).open
        yield* s.write([put("x", bytes(1)), put("y", bytes(2))])
        yield* s.write([put("x", bytes(3)), del("y"), del("never-written")])
        yield* s.write([])
        expect(plain(yield* s.load)).toEqual({ x: [3] })
        expect(yield* s.get("y")).toBeUndefined()
      }))

    it.scopedLive("copies values in and out: callers cannot change stored bytes", () =>
      Effect.gen(function*() {
        const s = yield* (yield* makeStorage()).open
        const source = bytes(1, 2, 3)
        yield* s.write([put("v", source)])
        source[0] = 99
        const got = (yield* s.get("v"))!
        got[1] = 99
        const loaded = (yield* s.load).get("v")!
        loaded[2] = 99
        expect(yield* s.get("v")).toEqual(bytes(1, 2, 3))
      }))

    it.scopedLive("keeps everything across a reopen", () =>
      Effect.gen(function*() {
        const h = yield* makeStorage()
        yield* withHandle(h, (s) =>
          Effect.gen(function*() {
            yield* s.write([put("paxos/promised", bytes(0, 7)), put("pbft/log/00000001", patterned(100, 1))])
            yield* s.write([del("paxos/promised"), put("paxos/promised", bytes(0, 8))])
          }))
        const after = yield* withHandle(h, (s) => s.load)
        expect(plain(after)).toEqual({ "paxos/promised": [0, 8], "pbft/log/00000001": [...patterned(100, 1)] })
        const reopened = yield* h.open
        expect(yield* reopened.get("paxos/promised")).toEqual(bytes(0, 8))
      }))

    it.scopedLive("stores large values", () =>
      Effect.gen(function*() {
        const h = yield* makeStorage()
        const big = patterned(4 * 1024 * 1024, 5)
        yield* withHandle(h, (s) => s.write([put("snapshot", big), put("small", bytes(1))]))
        const s = yield* h.open
        expect(sameBytes(yield* s.get("snapshot"), big)).toBe(true)
        expect(sameBytes((yield* s.load).get("snapshot"), big)).toBe(true)
      }))

    it.scopedLive("stores many keys, in one batch and in many", () =>
      Effect.gen(function*() {
        const h = yield* makeStorage()
        const key = (i: number) => `log/${String(i).padStart(8, "0")}/ключ-🙂`
        const oneBatch = Array.from({ length: 10_000 }, (_, i) => put(key(i), patterned(16, i)))
        yield* withHandle(h, (s) =>
          Effect.gen(function*() {
            yield* s.write(oneBatch)
            for (let b = 0; b < 200; b++) {
              yield* s.write(Array.from({ length: 20 }, (_, j) => put(`batch/${b}/${j}`, bytes(b & 0xff, j))))
            }
            yield* s.write(Array.from({ length: 5_000 }, (_, i) => del(key(2 * i))))
          }))
        const loaded = yield* withHandle(h, (s) => s.load)
        expect(loaded.size).toBe(5_000 + 4_000)
        expect(loaded.get(key(1))).toEqual(patterned(16, 1))
        expect(loaded.has(key(2))).toBe(false)
        expect(loaded.get("batch/199/19")).toEqual(bytes(199, 19))
      }))

    const keyArb = FastCheck.constantFrom("a", "b", "c", "paxos/promised", "pbft/log/1", "pbft/log/2", "x/y/z")
    const writeArb = FastCheck.oneof(
      FastCheck.record({ key: keyArb, value: FastCheck.uint8Array({ maxLength: 32 }) }),
      FastCheck.record({ key: keyArb, value: FastCheck.constant(null) })
    )
    const stepArb = FastCheck.oneof(
      { weight: 4, arbitrary: FastCheck.array(writeArb, { maxLength: 8 }).map((batch) => ({ _tag: "write" as const, batch })) },
      { weight: 1, arbitrary: FastCheck.constant({ _tag: "reopen" as const }) }
    )

    it.scopedLive.prop(
      "holds exactly the model's data after random batches and reopens",
      [FastCheck.array(stepArb, { maxLength: 20 })],
      ([steps]) =>
        Effect.gen(function*() {
          const h = yield* makeStorage()
          const model = new Map<string, Uint8Array>()
          // each handle lives in its own scope, closed before the next one opens
          let batches: Array<ReadonlyArray<StorageWrite>> = []
          const flush = (pending: ReadonlyArray<ReadonlyArray<StorageWrite>>) =>
            withHandle(h, (s) => Effect.forEach(pending, (b) => s.write(b), { discard: true }))
          for (const step of steps) {
            if (step._tag === "reopen") {
              yield* flush(batches)
              batches = []
              continue
            }
            batches.push(step.batch)
            for (const w of step.batch) {
              if (w.value === null) model.delete(w.key)
              else model.set(w.key, w.value)
            }
          }
          yield* flush(batches)
          const loaded = yield* withHandle(h, (s) => s.load)
          expect(plain(loaded)).toEqual(plain(model))
        }),
      { fastCheck: { numRuns: options.numRuns ?? 25 } }
    )
  })
}
