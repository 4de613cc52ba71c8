import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Exit, Scope } from "effect"
import * as fs from "node:fs"
import { Storage } from "@synod/core"
import { layerSqlite, SqliteStorage } from "@synod/storage-sqlite"
import { del, pattern, put, sameBytes, tempDb } from "./support.js"

const owner = { clusterId: "test-cluster", replicaId: 1 } as const

/** Open `path`, run `f`, close: one replica process lifetime. */
const session = <A, E>(path: string, f: (s: SqliteStorage.SqliteStorageService) => Effect.Effect<A, E>, extra: Partial<SqliteStorage.Options> = {}) =>
  Effect.scoped(Effect.flatMap(SqliteStorage.make({ ...owner, ...extra, path } as SqliteStorage.Options), f))

describe("SqliteStorage", () => {
  it.scoped("a batch written before close is loaded after reopen, deletes included", () =>
    Effect.gen(function*() {
      const path = yield* tempDb
      yield* session(path, (s) =>
        Effect.gen(function*() {
          yield* s.write([put("paxos/promised", pattern(1, 16)), put("paxos/log/1", pattern(2, 200)), put("x", pattern(3, 8))])
          yield* s.write([del("x"), put("paxos/log/2", pattern(4, 200))])
        }))
      const loaded = yield* session(path, (s) => s.load)
      expect([...loaded.keys()]).toEqual(["paxos/log/1", "paxos/log/2", "paxos/promised"])
      expect(sameBytes(loaded.get("paxos/promised"), pattern(1, 16))).toBe(true)
      expect(sameBytes(loaded.get("paxos/log/2"), pattern(4, 200))).toBe(true)
      expect(yield* session(path, (s) => s.get("x"))).toBeUndefined()
    }))

  it.scoped("values are plain Uint8Arrays, copied at write, and may be empty", () =>
    Effect.gen(function*() {
      const path = yield* tempDb
      const s = yield* SqliteStorage.make({ ...owner, path })
      const v = pattern(5, 32)
      yield* s.write([put("k", v), put("empty", new Uint8Array(0))])
      v.fill(0)
      const got = yield* s.get("k")
      expect(got?.constructor).toBe(Uint8Array)
      expect(sameBytes(got, pattern(5, 32))).toBe(true)
      expect((yield* s.get("empty"))?.byteLength).toBe(0)
    }))

  it.scoped("a snapshot of 24 MB survives a reopen byte for byte", () =>
    Effect.gen(function*() {
      const path = yield* tempDb
      const snapshot = pattern(6, 24 * 1024 * 1024)
      yield* session(path, (s) => s.write([put("pbft/snapshot", snapshot), put("pbft/view", pattern(7, 8))]))
      const loaded = yield* session(path, (s) => s.load)
      expect(loaded.get("pbft/snapshot")?.byteLength).toBe(snapshot.byteLength)
      expect(sameBytes(loaded.get("pbft/snapshot"), snapshot)).toBe(true)
    }))

  it.scoped("each write is one transaction: the group commit of one Ready", () =>
    Effect.gen(function*() {
      const s = yield* SqliteStorage.make({ ...owner, path: yield* tempDb })
      yield* s.write(Array.from({ length: 10 }, (_, i) => put(`k/${i}`, pattern(i, 200))))
      yield* s.write([put("k/10", pattern(10, 200))])
      expect(yield* s.stats).toEqual({ transactions: 2, batches: 2, writes: 11 })
    }))

  it.scoped("a value over the limit fails the whole batch and leaves storage unchanged", () =>
    Effect.gen(function*() {
      const s = yield* SqliteStorage.make({ ...owner, path: yield* tempDb, maxValueBytes: 1024 })
      yield* s.write([put("a", pattern(1, 10))])
      const error = yield* Effect.flip(s.write([put("b", pattern(2, 10)), del("a"), put("c", pattern(3, 1025))]))
      expect(error.reason).toBe("io")
      expect(error.detail).toContain("1025 bytes; the limit is 1024")
      const loaded = yield* s.load
      expect([...loaded.keys()]).toEqual(["a"])
    }))

  it.scoped("a key that is not well-formed UTF-16 is a defect, not a silent rename", () =>
    Effect.gen(function*() {
      const s = yield* SqliteStorage.make({ ...owner, path: yield* tempDb })
      const exit = yield* Effect.exit(s.write([put("bad\uD800", pattern(1, 4))]))
      expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      expect((yield* s.load).size).toBe(0)
    }))

  it.scoped("the file is in WAL mode and cannot be opened twice while in use", () =>
    Effect.gen(function*() {
      const path = yield* tempDb
      yield* SqliteStorage.make({ ...owner, path })
      const error = yield* Effect.flip(Effect.scoped(SqliteStorage.make({ ...owner, path })))
      expect(error.reason).toBe("io")
      expect(error.detail).toContain("SQLITE_BUSY")
      // Header bytes 18 and 19 (file format write/read version) are 2 in WAL mode, 1 in rollback mode.
      const header = fs.readFileSync(path).subarray(0, 100)
      expect([header[18], header[19]]).toEqual([2, 2])
    }))

  it.scoped("calls after the scope closed fail with reason closed; the data stays on disk", () =>
    Effect.gen(function*() {
      const path = yield* tempDb
      const scope = yield* Scope.make()
      const s = yield* Scope.extend(SqliteStorage.make({ ...owner, path }), scope)
      yield* s.write([put("a", pattern(1, 4))])
      yield* Scope.close(scope, Exit.void)
      expect((yield* Effect.flip(s.write([put("b", pattern(1, 4))]))).reason).toBe("closed")
      expect((yield* Effect.flip(s.load)).reason).toBe("closed")
      expect((yield* Effect.flip(s.get("a"))).reason).toBe("closed")
      expect(sameBytes(yield* session(path, (r) => r.get("a")), pattern(1, 4))).toBe(true)
    }))

  it.scoped("layerSqlite provides Storage and closes the database with the layer", () =>
    Effect.gen(function*() {
      const path = yield* tempDb
      const program = Effect.flatMap(Storage.Storage, (s) => Effect.zipRight(s.write([put("k", pattern(9, 9))]), s.load))
      const first = yield* Effect.provide(program, layerSqlite({ ...owner, path }))
      expect(first.size).toBe(1)
      // The layer's scope closed, so the exclusive lock is released and a second open succeeds.
      const second = yield* Effect.provide(program, layerSqlite({ ...owner, path }))
      expect(sameBytes(second.get("k"), pattern(9, 9))).toBe(true)
    }))

  it.effect("invalid options are a defect at make, before any file is touched", () =>
    Effect.gen(function*() {
      const path = "/nonexistent-synod-dir/x.db"
      const invalid: ReadonlyArray<SqliteStorage.Options> = [
        { clusterId: "", replicaId: 1, path },
        { clusterId: "c", replicaId: 1024, path },
        { clusterId: "c", peer: "replica/01", path },
        { clusterId: "c", replicaId: 1, peer: "replica/1", path } as unknown as SqliteStorage.Options,
        { clusterId: "c", replicaId: 1, path, maxValueBytes: 0 },
        { clusterId: "c", replicaId: 1, path, maxValueBytes: SqliteStorage.SQLITE_MAX_VALUE_BYTES + 1 },
        { clusterId: "c", replicaId: 1, path, coalesce: { maxBatches: 0 } },
        { clusterId: "c", replicaId: 1, path, coalesce: { maxQueued: 1.5 } }
      ]
      for (const options of invalid) {
        const exit = yield* Effect.exit(Effect.scoped(SqliteStorage.make(options)))
        expect(Exit.isFailure(exit) && Cause.isDie(exit.cause)).toBe(true)
      }
    }))

  it.effect("a path in a missing directory is an io error", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Effect.scoped(SqliteStorage.make({ ...owner, path: "/nonexistent-synod-dir/x.db" })))
      expect(error.reason).toBe("io")
    }))
})
