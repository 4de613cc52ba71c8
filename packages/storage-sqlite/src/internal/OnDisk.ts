/**
 * The on-disk schema and the checks made when a database file is opened.
 * `SqliteStorage.ts` documents the schema for users; this module is the one
 * place that creates or reads it.
 *
 * Opening never modifies a file that is not ours: the integrity and identity
 * checks only read, and the schema is created only in a database that has no
 * tables and no application id at all.
 */
import type Database from "better-sqlite3"
import * as fs from "node:fs"
import * as zlib from "node:zlib"
import { Storage } from "@synod/core"

const { StorageError } = Storage
type StorageError = Storage.StorageError

/** `PRAGMA application_id`: "SYND" in ASCII, so `file(1)`-style tools and we can tell the file apart. */
export const APPLICATION_ID = 0x53594e44
/** `PRAGMA user_version` and the `format_version` row: bumped on any incompatible change of the tables below. */
export const FORMAT_VERSION = 1
/** The `format` row. */
export const FORMAT_TAG = "synod-storage"

export const META_TABLE = "synod_meta"
export const KV_TABLE = "synod_kv"

/**
 * `synod_kv.crc32` is CRC-32 over the key's UTF-8 bytes followed by the value.
 * SQLite's checks see the b-tree structure, not the bytes of a value: a torn or
 * zero-filled page tail, or a flipped bit inside a snapshot, passes
 * `quick_check`. The checksum turns those into "corrupt" at open and on read.
 *
 * `synod_kv` is an ordinary rowid table rather than WITHOUT ROWID: snapshots of
 * many megabytes live in overflow pages, and SQLite recommends rowid tables
 * when rows can be larger than a small fraction of a page.
 */
const DDL = `
CREATE TABLE ${META_TABLE} (
  name  TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE ${KV_TABLE} (
  key   TEXT PRIMARY KEY NOT NULL,
  value BLOB NOT NULL,
  crc32 INTEGER NOT NULL
);
`

/** Whom a database belongs to: written once at creation, compared at every open. */
export interface Identity {
  readonly clusterId: string
  readonly peer: string
}

const SQLITE_MAGIC = Buffer.from("SQLite format 3\u0000", "latin1")

const corrupt = (path: string, detail: string) => new StorageError({ reason: "corrupt", detail: `${path}: ${detail}` })
const foreign = (path: string, detail: string) => new StorageError({ reason: "foreign", detail: `${path}: ${detail}` })

/**
 * A non-empty file that does not start with SQLite's magic string is not a
 * database at all. Checked before SQLite sees the file so the error names the
 * cause instead of SQLite's generic "file is not a database". A missing or
 * empty file is a new database.
 */
export const checkHeader = (path: string): void => {
  let fd: number
  try {
    fd = fs.openSync(path, "r")
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return
    throw e
  }
  try {
    const size = fs.fstatSync(fd).size
    if (size === 0) return
    const head = Buffer.alloc(100)
    const read = fs.readSync(fd, head, 0, head.length, 0)
    if (read < SQLITE_MAGIC.length || !head.subarray(0, SQLITE_MAGIC.length).equals(SQLITE_MAGIC)) {
      throw corrupt(path, `not a SQLite database (${size} bytes, no SQLite header)`)
    }
    // SQLite writes whole pages; a file that ends inside a page was truncated (and
    // SQLite would silently read the missing tail as zeros).
    const pageSize = head.readUInt16BE(16) === 1 ? 65536 : head.readUInt16BE(16)
    if (read < head.length || pageSize < 512 || size % pageSize !== 0) {
      throw corrupt(path, `truncated: ${size} bytes is not a whole number of ${pageSize}-byte pages`)
    }
  } finally {
    fs.closeSync(fd)
  }
}

/** `PRAGMA quick_check` (O(N), checks b-tree structure) or `integrity_check` (also indexes against tables). */
export const checkIntegrity = (db: Database.Database, path: string, mode: "quick" | "full"): void => {
  const pragma = mode === "quick" ? "quick_check" : "integrity_check"
  const rows = db.prepare(`PRAGMA ${pragma}(20)`).pluck().all()
  if (rows.length === 1 && rows[0] === "ok") return
  throw corrupt(path, `${pragma} failed: ${rows.slice(0, 5).join("; ")}`)
}

/** The checksum stored beside each value. */
export const checksum = (key: string, value: Uint8Array): number => {
  const crc = zlib.crc32(key)
  // An empty Buffer from SQLite has no data pointer, and zlib's crc32 of a null
  // pointer returns 0 instead of its input: skip empty values.
  return value.byteLength === 0 ? crc : zlib.crc32(value, crc)
}

/** Throws "corrupt" if a row read back does not match its checksum. */
export const verifyRow = (path: string, key: string, value: Uint8Array, crc: number): void => {
  if (checksum(key, value) !== crc) {
    throw corrupt(path, `checksum mismatch in the value of ${JSON.stringify(key.slice(0, 128))}`)
  }
}

/** Read every row once and check its checksum. */
export const checkChecksums = (db: Database.Database, path: string): void => {
  const rows = db.prepare(`SELECT key, value, crc32 FROM ${KV_TABLE}`).raw().iterate() as Iterable<
    [string, Buffer, number]
  >
  for (const [key, value, crc] of rows) verifyRow(path, key, value, crc)
}

const userObjects = (db: Database.Database): Array<string> =>
  db.prepare("SELECT name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as Array<string>

const hex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, "0")}`

/**
 * Create the schema in an empty database, or check that an existing one is a
 * Synod database of this format, cluster and peer. Throws `StorageError`.
 */
export const initializeOrVerify = (db: Database.Database, path: string, identity: Identity): void => {
  const applicationId = db.pragma("application_id", { simple: true }) as number
  const userVersion = db.pragma("user_version", { simple: true }) as number
  const objects = userObjects(db)
  if (applicationId === 0 && userVersion === 0 && objects.length === 0) return initialize(db, identity)
  if (applicationId !== APPLICATION_ID) {
    throw foreign(
      path,
      applicationId === 0
        ? `a SQLite database of another application (tables: ${objects.slice(0, 8).join(", ") || "none"})`
        : `application_id ${hex(applicationId)} is not Synod's ${hex(APPLICATION_ID)}`
    )
  }
  if (userVersion !== FORMAT_VERSION) {
    throw foreign(path, `Synod storage format ${userVersion}; this build reads format ${FORMAT_VERSION}`)
  }
  if (!objects.includes(META_TABLE) || !objects.includes(KV_TABLE)) {
    throw corrupt(path, `Synod database without its tables (found: ${objects.join(", ") || "none"})`)
  }
  const rows = db.prepare(`SELECT name, value FROM ${META_TABLE}`).raw().all() as Array<[string, string]>
  const meta = new Map(rows)
  if (meta.get("format") !== FORMAT_TAG || meta.get("format_version") !== String(FORMAT_VERSION)) {
    throw corrupt(path, `metadata format is ${meta.get("format")}/${meta.get("format_version")}`)
  }
  const clusterId = meta.get("cluster_id")
  const peer = meta.get("peer")
  if (clusterId === undefined || peer === undefined) throw corrupt(path, "metadata without cluster_id or peer")
  if (clusterId !== identity.clusterId) {
    throw foreign(path, `belongs to cluster ${JSON.stringify(clusterId)}, not ${JSON.stringify(identity.clusterId)}`)
  }
  if (peer !== identity.peer) throw foreign(path, `belongs to ${peer}, not ${identity.peer}`)
}

/** One transaction: a crash during creation leaves an empty database, which the next open creates again. */
const initialize = (db: Database.Database, identity: Identity): void => {
  db.transaction(() => {
    db.exec(DDL)
    const put = db.prepare(`INSERT INTO ${META_TABLE} (name, value) VALUES (?, ?)`)
    put.run("format", FORMAT_TAG)
    put.run("format_version", String(FORMAT_VERSION))
    put.run("cluster_id", identity.clusterId)
    put.run("peer", identity.peer)
    db.pragma(`application_id = ${APPLICATION_ID}`)
    db.pragma(`user_version = ${FORMAT_VERSION}`)
  }).immediate()
}

/** A better-sqlite3 exception (or our own) as a typed error. */
export const toStorageError = (path: string, operation: string) => (e: unknown): StorageError => {
  if (e instanceof StorageError) return e
  const code = typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : undefined
  const message = e instanceof Error ? e.message : String(e)
  const reason = code === "SQLITE_NOTADB" || code?.startsWith("SQLITE_CORRUPT") === true ? "corrupt" : "io"
  const hint = code === "SQLITE_BUSY" ? " (the database is open in another connection or process)" : ""
  return new StorageError({
    reason,
    detail: `${operation} ${path}: ${message}${code === undefined ? "" : ` [${code}]`}${hint}`
  })
}
