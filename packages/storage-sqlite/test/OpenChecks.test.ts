/**
 * A replica must never start on the wrong state: every file that is not this
 * replica's intact Synod database fails `make` with a typed StorageError.
 */
import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect } from "effect"
import * as fs from "node:fs"
import { SqliteStorage } from "@synod/storage-sqlite"
import { pattern, put, sameBytes, tempDb } from "./support.js"

const owner = { clusterId: "cluster-a", replicaId: 2 } as const

const openError = (path: string, options: Partial<SqliteStorage.Options> = {}) =>
  Effect.flip(Effect.scoped(SqliteStorage.make({ ...owner, ...options, path } as SqliteStorage.Options)))

/** A closed Synod database of `owner` with a few hundred rows (about 80 pages of 4 KiB). */
const populated = Effect.gen(function*() {
  const path = yield* tempDb
  yield* Effect.scoped(Effect.flatMap(SqliteStorage.make({ ...owner, path }), (s) =>
    Effect.forEach(Array.from({ length: 30 }, (_, i) => i), (i) =>
      s.write(Array.from({ length: 10 }, (_, j) => put(`pbft/log/${i}/${j}`, pattern(i * 10 + j, 1000)))))))
  expect(fs.existsSync(`${path}-wal`)).toBe(false) // checkpointed into the main file at close
  return path
})

/** A database written by some other program with `setup`. */
const otherDb = (setup: (db: Database.Database) => void) =>
  Effect.map(tempDb, (path) => {
    const db = new Database(path)
    setup(db)
    db.close()
    return path
  })

const unchanged = <E>(path: string, f: Effect.Effect<void, E>) =>
  Effect.gen(function*() {
    const before = fs.readFileSync(path)
    yield* f
    expect(fs.readFileSync(path).equals(before)).toBe(true)
    expect(fs.existsSync(`${path}-wal`)).toBe(false)
  })

describe("opening a corrupt file", () => {
  it.scoped("random bytes are corrupt: not a SQLite database", () =>
    Effect.gen(function*() {
      const path = yield* tempDb
      fs.writeFileSync(path, pattern(1, 64 * 1024))
      const error = yield* openError(path)
      expect(error.reason).toBe("corrupt")
      expect(error.detail).toContain("not a SQLite database")
    }))

  it.scoped("a SQLite header followed by random bytes is corrupt", () =>
    Effect.gen(function*() {
      const path = yield* populated
      const bytes = fs.readFileSync(path)
      bytes.set(pattern(2, bytes.length - 100), 100)
      fs.writeFileSync(path, bytes)
      expect((yield* openError(path)).reason).toBe("corrupt")
    }))

  it.scoped("a database truncated at any of several points is corrupt", () =>
    Effect.gen(function*() {
      const path = yield* populated
      const full = fs.readFileSync(path)
      // full.length - 1 drops one byte of the last page; SQLite alone would read it back as zero.
      for (const size of [50, 4096, Math.floor(full.length / 3), full.length - 4096, full.length - 1]) {
        fs.writeFileSync(path, full.subarray(0, size))
        const error = yield* openError(path)
        expect({ size, reason: error.reason }).toEqual({ size, reason: "corrupt" })
      }
    }))

  it.scoped("a b-tree page overwritten with garbage is caught by quick_check and by integrity_check", () =>
    Effect.gen(function*() {
      const path = yield* populated
      const bytes = fs.readFileSync(path)
      const pageSize = bytes.readUInt16BE(16)
      const pages = bytes.length / pageSize
      bytes.set(pattern(3, pageSize), Math.floor(pages / 2) * pageSize)
      fs.writeFileSync(path, bytes)
      for (const integrityCheck of ["quick", "full"] as const) {
        const error = yield* openError(path, { integrityCheck })
        expect(error.reason).toBe("corrupt")
        expect(error.detail).not.toContain("checksum") // found by SQLite's own check, before the row checksums
      }
    }))

  it.scoped("a flipped byte inside a value, invisible to quick_check, fails the checksum at open", () =>
    Effect.gen(function*() {
      const path = yield* tempDb
      const marker = new TextEncoder().encode("synod-marker-".repeat(100))
      yield* Effect.scoped(Effect.flatMap(SqliteStorage.make({ ...owner, path }), (s) =>
        s.write([put("paxos/accepted/1", marker), put("paxos/promised", pattern(1, 16))])))
      const bytes = fs.readFileSync(path)
      const at = bytes.indexOf(Buffer.from(marker.subarray(0, 26)))
      expect(at).toBeGreaterThan(0)
      bytes.writeUInt8(bytes.readUInt8(at + 500) ^ 0x01, at + 500)
      fs.writeFileSync(path, bytes)
      const error = yield* openError(path)
      expect(error.reason).toBe("corrupt")
      expect(error.detail).toContain(`checksum mismatch in the value of "paxos/accepted/1"`)
    }))

  it.scoped("a Synod database whose tables were dropped is corrupt", () =>
    Effect.gen(function*() {
      const path = yield* populated
      const db = new Database(path)
      db.exec("DROP TABLE synod_kv")
      db.close()
      const error = yield* openError(path)
      expect(error.reason).toBe("corrupt")
      expect(error.detail).toContain("without its tables")
    }))
})

describe("opening a foreign file", () => {
  it.scoped("a database of another replica id is foreign and keeps its data", () =>
    Effect.gen(function*() {
      const path = yield* populated
      const error = yield* openError(path, { replicaId: 3 })
      expect(error.reason).toBe("foreign")
      expect(error.detail).toContain("belongs to replica/2, not replica/3")
      const loaded = yield* Effect.scoped(Effect.flatMap(SqliteStorage.make({ ...owner, path }), (s) => s.load))
      expect(loaded.size).toBe(300)
      expect(sameBytes(loaded.get("pbft/log/7/3"), pattern(73, 1000))).toBe(true)
    }))

  it.scoped("a database of another cluster is foreign", () =>
    Effect.gen(function*() {
      const path = yield* populated
      const error = yield* openError(path, { clusterId: "cluster-b" })
      expect(error.reason).toBe("foreign")
      expect(error.detail).toContain(`cluster "cluster-a", not "cluster-b"`)
    }))

  it.scoped("owners given as replicaId or as the same PeerId are the same owner; a client peer is another", () =>
    Effect.gen(function*() {
      const path = yield* populated
      const size = yield* Effect.scoped(
        Effect.flatMap(SqliteStorage.make({ clusterId: owner.clusterId, peer: "replica/2", path }), (s) =>
          Effect.map(s.load, (m) => m.size))
      )
      expect(size).toBe(300)
      const error = yield* Effect.flip(Effect.scoped(
        SqliteStorage.make({ clusterId: owner.clusterId, peer: "client/alice", path })
      ))
      expect(error.reason).toBe("foreign")
      expect(error.detail).toContain("belongs to replica/2, not client/alice")
    }))

  it.scoped("a database of another application's schema is foreign and is not modified", () =>
    Effect.gen(function*() {
      const path = yield* otherDb((db) => {
        db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        db.prepare("INSERT INTO users (name) VALUES (?)").run("ada")
      })
      yield* unchanged(
        path,
        Effect.gen(function*() {
          const error = yield* openError(path)
          expect(error.reason).toBe("foreign")
          expect(error.detail).toContain("another application (tables: users)")
        })
      )
    }))

  it.scoped("a database with another application_id is foreign", () =>
    Effect.gen(function*() {
      const path = yield* otherDb((db) => db.pragma("application_id = 1234"))
      yield* unchanged(
        path,
        Effect.gen(function*() {
          const error = yield* openError(path)
          expect(error.reason).toBe("foreign")
          expect(error.detail).toContain("application_id 0x000004d2")
        })
      )
    }))

  it.scoped("a Synod database of a newer format version is foreign", () =>
    Effect.gen(function*() {
      const path = yield* populated
      const db = new Database(path)
      db.pragma("user_version = 2")
      db.close()
      const error = yield* openError(path)
      expect(error.reason).toBe("foreign")
      expect(error.detail).toContain("format 2")
    }))
})

describe("opening a new or empty file", () => {
  it.scoped("a zero-length file becomes a new database", () =>
    Effect.gen(function*() {
      const path = yield* tempDb
      fs.writeFileSync(path, new Uint8Array(0))
      const got = yield* Effect.scoped(Effect.flatMap(SqliteStorage.make({ ...owner, path }), (s) =>
        Effect.zipRight(s.write([put("k", pattern(1, 3))]), s.get("k"))))
      expect(sameBytes(got, pattern(1, 3))).toBe(true)
    }))
})
