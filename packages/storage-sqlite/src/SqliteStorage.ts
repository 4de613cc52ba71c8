/**
 * Durable `Storage` on SQLite.
 *
 * Why better-sqlite3 and not `@effect/sql-sqlite-node`: the port needs exactly
 * three operations (load everything, read a key, write a batch atomically) and
 * full control of the connection's pragmas. better-sqlite3 gives synchronous
 * prepared statements and `transaction()`, so one `Ready.persist` batch is one
 * BEGIN ... COMMIT with no query builder, connection pool or async hop in
 * between, and WAL / synchronous / locking mode are set and verified directly
 * on the one connection. The cost is that a commit (and its fsync) blocks the
 * event loop for its duration; a replica persists before it sends votes anyway.
 *
 * Durability. The connection runs `journal_mode=WAL` with `synchronous=FULL`:
 * COMMIT returns only after the WAL is fsynced, so `write` succeeding means the
 * batch survives a crash or power loss (better-sqlite3 is built with WAL
 * synchronous NORMAL as default, which is not durable per commit; we set FULL
 * and read it back). `locking_mode=EXCLUSIVE` keeps the file locked while
 * open, so a second replica process on the same file fails at start with a
 * typed "io" error instead of interleaving writes, and no `-shm` file is used.
 *
 * Group commit. Every `write(batch)` is one transaction, so a Ready's writes
 * cost one fsync together. With `coalesce`, concurrent `write` calls from
 * several fibers are queued and committed together, several batches per
 * transaction (see `internal/Coalescer.ts`); each batch stays atomic.
 *
 * On-disk schema (format 1):
 *
 *   PRAGMA application_id = 0x53594e44  -- "SYND"
 *   PRAGMA user_version   = 1           -- format version
 *   CREATE TABLE synod_meta (name TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
 *     -- rows: format = 'synod-storage', format_version = '1',
 *     --       cluster_id = <ClusterId>, peer = <PeerId, e.g. 'replica/2'>
 *   CREATE TABLE synod_kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL, crc32 INTEGER NOT NULL);
 *     -- the port's key/value map, one row per key; a delete removes the row;
 *     -- crc32 = CRC-32 of the key's UTF-8 bytes followed by the value
 *
 * Opening checks, in order, each failing with a typed `StorageError`:
 *   1. a non-empty file without SQLite's header, or whose size is not a whole
 *      number of pages, is "corrupt";
 *   2. `PRAGMA quick_check` (or `integrity_check`) reporting anything is "corrupt",
 *      as is any SQLITE_CORRUPT / SQLITE_NOTADB raised while reading;
 *   3. an empty database gets the schema above; a database with another
 *      application id, other tables, another format version, another cluster
 *      id or another peer is "foreign" (and is not modified);
 *   4. every row's crc32 is checked ("corrupt" on a mismatch); `load` and `get`
 *      check it again on every read;
 *   5. WAL and synchronous=FULL must be in force, else "io".
 *
 * Limits: a value is at most `maxValueBytes` (default and ceiling: SQLite's
 * SQLITE_MAX_LENGTH of this build, 1e9 bytes). Keys must be well-formed
 * UTF-16 strings (they are stored as TEXT); a key with a lone surrogate is a
 * bug of the caller and dies.
 */
import Database from "better-sqlite3"
import { Effect, Layer, type Scope } from "effect"
import { ClusterId, PeerId, type Protocol, replicaPeer, ReplicaId, Storage } from "@synod/core"
import { makeCoalescer } from "./internal/Coalescer.js"
import {
  checkChecksums,
  checkHeader,
  checkIntegrity,
  checksum,
  initializeOrVerify,
  KV_TABLE,
  toStorageError,
  verifyRow
} from "./internal/OnDisk.js"

/** SQLITE_MAX_LENGTH of the better-sqlite3 build: the largest value SQLite stores. */
export const SQLITE_MAX_VALUE_BYTES = 1_000_000_000

/** Whose database this is; exactly one of `replicaId` and `peer`. */
export type Owner =
  | { readonly replicaId: ReplicaId | number; readonly peer?: never }
  | { readonly peer: PeerId | string; readonly replicaId?: never }

export type Options = Owner & {
  /** The database file; created if missing. `-wal` beside it holds committed but uncheckpointed writes. */
  readonly path: string
  readonly clusterId: ClusterId | string
  /**
   * Coalesce concurrent `write` calls into shared transactions. `true` uses the
   * defaults: at most 64 batches per transaction and 1024 batches waiting.
   * Off by default: a replica writes one Ready at a time and gains nothing.
   */
  readonly coalesce?: boolean | { readonly maxBatches?: number; readonly maxQueued?: number }
  /** The check run at open: `quick` (default, `PRAGMA quick_check`) or `full` (`PRAGMA integrity_check`). */
  readonly integrityCheck?: "quick" | "full"
  /** Largest value accepted by `write`, in bytes. Default and ceiling `SQLITE_MAX_VALUE_BYTES`. */
  readonly maxValueBytes?: number
  /** How long to wait for another connection's lock at open, in milliseconds. Default 0: fail at once. */
  readonly lockTimeoutMillis?: number
}

/** Counters since open: how many transactions carried how many batches and writes. */
export interface Stats {
  readonly transactions: number
  readonly batches: number
  readonly writes: number
}

export interface SqliteStorageService extends Storage.StorageService {
  readonly stats: Effect.Effect<Stats>
}

const DEFAULT_MAX_BATCHES = 64
const DEFAULT_MAX_QUEUED = 1024
/** Truncate the WAL back to this size after a checkpoint, so one big snapshot does not leave a big file behind. */
const JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

const ownerPeer = (options: Options): string => {
  if ((options.replicaId === undefined) === (options.peer === undefined)) {
    throw new TypeError("SqliteStorage: give exactly one of replicaId and peer")
  }
  return options.replicaId !== undefined ? replicaPeer(ReplicaId.make(options.replicaId)) : PeerId.make(options.peer!)
}

const positiveInt = (name: string, value: number, ceiling: number): number => {
  if (!Number.isInteger(value) || value < 1 || value > ceiling) {
    throw new RangeError(`SqliteStorage: ${name} must be an integer in [1, ${ceiling}], got ${value}`)
  }
  return value
}

/** The options, checked; throws on a caller's mistake. */
const configOf = (options: Options) => {
  const coalesce = options.coalesce === true ? {} : options.coalesce === false ? undefined : options.coalesce
  return {
    owner: { clusterId: ClusterId.make(options.clusterId), peer: ownerPeer(options) },
    maxValueBytes: positiveInt(
      "maxValueBytes",
      options.maxValueBytes ?? SQLITE_MAX_VALUE_BYTES,
      SQLITE_MAX_VALUE_BYTES
    ),
    coalesce: coalesce === undefined ? undefined : {
      maxBatches: positiveInt("coalesce.maxBatches", coalesce.maxBatches ?? DEFAULT_MAX_BATCHES, 1 << 20),
      maxQueued: positiveInt("coalesce.maxQueued", coalesce.maxQueued ?? DEFAULT_MAX_QUEUED, 1 << 20)
    }
  }
}

interface Opened {
  readonly db: Database.Database
  readonly commit: (batches: ReadonlyArray<ReadonlyArray<Protocol.StorageWrite>>) => void
  readonly get: (key: string) => Uint8Array | undefined
  readonly load: () => Map<string, Uint8Array>
}

/** Zero-copy view of a Buffer as a plain Uint8Array (what the memory backing returns). */
const bytes = (b: Buffer): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)

const open = (path: string, owner: { clusterId: string; peer: string }, options: Options): Opened => {
  checkHeader(path)
  const db = new Database(path, { timeout: options.lockTimeoutMillis ?? 0 })
  try {
    // Before the first read: holds the lock from the first access on, and WAL without shared memory.
    db.pragma("locking_mode = EXCLUSIVE")
    checkIntegrity(db, path, options.integrityCheck ?? "quick")
    initializeOrVerify(db, path, owner)
    checkChecksums(db, path)
    const mode = db.pragma("journal_mode = WAL", { simple: true })
    if (mode !== "wal") {
      throw new Storage.StorageError({ reason: "io", detail: `${path}: journal_mode is ${mode}, not wal` })
    }
    db.pragma("synchronous = FULL")
    const sync = db.pragma("synchronous", { simple: true })
    if (sync !== 2) {
      throw new Storage.StorageError({ reason: "io", detail: `${path}: synchronous is ${sync}, not FULL` })
    }
    db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT}`)
    return statements(db, path)
  } catch (e) {
    db.close()
    throw e
  }
}

const statements = (db: Database.Database, path: string): Opened => {
  const put = db.prepare(
    `INSERT INTO ${KV_TABLE} (key, value, crc32) VALUES (?, ?, ?)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value, crc32 = excluded.crc32`
  )
  const del = db.prepare(`DELETE FROM ${KV_TABLE} WHERE key = ?`)
  const getOne = db.prepare(`SELECT value, crc32 FROM ${KV_TABLE} WHERE key = ?`).raw()
  const all = db.prepare(`SELECT key, value, crc32 FROM ${KV_TABLE} ORDER BY key`).raw()
  const commit = db.transaction((batches: ReadonlyArray<ReadonlyArray<Protocol.StorageWrite>>) => {
    for (const batch of batches) {
      for (const w of batch) {
        if (w.value === null) del.run(w.key)
        else put.run(w.key, w.value, checksum(w.key, w.value))
      }
    }
  })
  return {
    db,
    commit: (batches) => commit(batches),
    get: (key) => {
      const row = getOne.get(key) as [Buffer, number] | undefined
      if (row === undefined) return undefined
      verifyRow(path, key, row[0], row[1])
      return bytes(row[0])
    },
    load: () => {
      const map = new Map<string, Uint8Array>()
      for (const [key, value, crc] of all.iterate() as Iterable<[string, Buffer, number]>) {
        verifyRow(path, key, value, crc)
        map.set(key, bytes(value))
      }
      return map
    }
  }
}

/**
 * Open (or create) the database of `peer` in `clusterId` at `path`. The
 * database is closed when the scope closes; later calls fail with "closed".
 */
export const make = (options: Options): Effect.Effect<SqliteStorageService, Storage.StorageError, Scope.Scope> =>
  Effect.gen(function*() {
    const path = options.path
    // Bad options are the caller's bug, not a storage condition: they die.
    const config = yield* Effect.orDie(Effect.try({ try: () => configOf(options), catch: (e) => e }))
    const opened = yield* Effect.acquireRelease(
      Effect.try({ try: () => open(path, config.owner, options), catch: toStorageError(path, "open") }),
      (o) =>
        Effect.try(() => o.db.close()).pipe(
          // Every acknowledged batch is already durable in the WAL; a failed close loses nothing.
          Effect.catchAll((e) => Effect.logWarning(`SqliteStorage: closing ${path} failed`, e))
        )
    )

    let transactions = 0
    let batches = 0
    let writes = 0
    const closed = () => new Storage.StorageError({ reason: "closed", detail: `${path} is closed` })
    const ifOpen = <A>(operation: string, f: () => A): Effect.Effect<A, Storage.StorageError> =>
      Effect.suspend(() =>
        opened.db.open ? Effect.try({ try: f, catch: toStorageError(path, operation) }) : Effect.fail(closed())
      )

    const tooLarge = (key: string, value: Uint8Array) =>
      new Storage.StorageError({
        reason: "io",
        detail: `${path}: value of ${JSON.stringify(key.slice(0, 128))} is ${value.byteLength} bytes; ` +
          `the limit is ${config.maxValueBytes}`
      })

    /** Checked before the transaction starts, so a bad batch never reaches SQLite. */
    const validate = (group: ReadonlyArray<ReadonlyArray<Protocol.StorageWrite>>) => {
      for (const batch of group) {
        for (const w of batch) {
          if (LONE_SURROGATE.test(w.key)) {
            return Effect.dieMessage(`SqliteStorage: key ${JSON.stringify(w.key)} is not well-formed UTF-16`)
          }
          if (w.value !== null && w.value.byteLength > config.maxValueBytes) return Effect.fail(tooLarge(w.key, w.value))
        }
      }
      return Effect.void
    }

    const commit = (group: ReadonlyArray<ReadonlyArray<Protocol.StorageWrite>>) =>
      Effect.zipRight(
        validate(group),
        ifOpen("write", () => {
          opened.commit(group)
          transactions++
          batches += group.length
          for (const b of group) writes += b.length
        })
      )

    const write = config.coalesce === undefined
      ? (batch: ReadonlyArray<Protocol.StorageWrite>) => commit([batch])
      : yield* makeCoalescer(commit, config.coalesce, closed)

    return {
      load: ifOpen("load", () => opened.load()),
      get: (key: string) => ifOpen("get", () => opened.get(key)),
      write,
      stats: Effect.sync(() => ({ transactions, batches, writes }))
    }
  })

/** The `Storage` port on SQLite; the database closes with the layer's scope. */
export const layerSqlite = (options: Options): Layer.Layer<Storage.Storage, Storage.StorageError> =>
  Layer.scoped(Storage.Storage, make(options))
