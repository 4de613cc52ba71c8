/** Shared helpers for the storage-sqlite tests: scoped temporary directories and batch builders. */
import { Effect, type Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Protocol } from "@synod/core"

/**
 * Where test databases go: `$SYNOD_TEST_DIR`, else `/dev/shm` when it is a
 * writable directory, else the OS temp directory. What these tests check
 * (atomicity, recovery after kill -9, open checks) does not depend on the file
 * system, since a killed process leaves the page cache behind on any of them,
 * and a RAM-backed one keeps them fast on a machine whose disk is shared.
 */
const testRoot = (): string => {
  const configured = process.env.SYNOD_TEST_DIR
  if (configured !== undefined) return configured
  try {
    fs.accessSync("/dev/shm", fs.constants.W_OK)
    return "/dev/shm"
  } catch {
    return os.tmpdir()
  }
}

/** A fresh directory under `root` removed when the scope closes. */
export const tempDirIn = (root: string): Effect.Effect<string, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(root, "synod-sqlite-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )

/** A fresh directory removed when the scope closes. */
export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.suspend(() => tempDirIn(testRoot()))

/** A database path in a fresh scoped directory. */
export const tempDb: Effect.Effect<string, never, Scope.Scope> = Effect.map(tempDir, (dir) => path.join(dir, "replica.db"))

/**
 * A database path on the OS temp directory (usually disk-backed): there a
 * commit's fsync dominates the writer's time, so a kill lands inside commits.
 */
export const diskDb: Effect.Effect<string, never, Scope.Scope> = Effect.map(
  Effect.suspend(() => tempDirIn(os.tmpdir())),
  (dir) => path.join(dir, "replica.db")
)

/** Deterministic bytes: `n` bytes derived from `seed`. */
export const pattern = (seed: number, n: number): Uint8Array => {
  const out = new Uint8Array(n)
  let x = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

export const put = (key: string, value: Uint8Array): Protocol.StorageWrite => ({ key, value })
export const del = (key: string): Protocol.StorageWrite => ({ key, value: null })

export const sameBytes = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean =>
  a !== undefined && b !== undefined && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b)
