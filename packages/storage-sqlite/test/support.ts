/** Shared helpers for the storage-sqlite tests: scoped temporary directories and batch builders. */
import { Effect, type Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { Protocol } from "@synod/core"

/** A fresh directory removed when the scope closes. */
export const tempDir: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "synod-sqlite-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** A database path in a fresh scoped directory. */
export const tempDb: Effect.Effect<string, never, Scope.Scope> = Effect.map(tempDir, (dir) => path.join(dir, "replica.db"))

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
