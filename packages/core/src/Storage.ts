/**
 * The durable state port. A replica's durable state is a small ordered
 * key-value map: protocols namespace their keys ("paxos/promised",
 * "pbft/log/00000042", ...) and write each `Ready.persist` as one atomic batch.
 * One batch per Ready is the group commit: one fsync per batch of protocol
 * work, not one per message.
 */
import { Context, Data, Effect, Layer } from "effect"
import type { StorageWrite } from "./Protocol.js"

export class StorageError extends Data.TaggedError("StorageError")<{
  readonly reason: "io" | "corrupt" | "foreign" | "closed"
  readonly detail: string
}> {}

export interface StorageService {
  /** Every key and value, for recovery at start. */
  readonly load: Effect.Effect<ReadonlyMap<string, Uint8Array>, StorageError>
  /** Apply a batch atomically; when this succeeds the batch is durable. */
  readonly write: (batch: ReadonlyArray<StorageWrite>) => Effect.Effect<void, StorageError>
  readonly get: (key: string) => Effect.Effect<Uint8Array | undefined, StorageError>
}

export class Storage extends Context.Tag("@synod/core/Storage")<Storage, StorageService>() {}

/** Apply a batch to a plain map (the in-memory backing and the simulator's disk). */
export const applyBatch = (map: Map<string, Uint8Array>, batch: ReadonlyArray<StorageWrite>): void => {
  for (const w of batch) {
    if (w.value === null) map.delete(w.key)
    else map.set(w.key, w.value.slice())
  }
}

/**
 * An in-memory Storage over a map. Pass the same map to model a restart that
 * keeps the disk. Values are copied in and out, like bytes on a disk: a caller
 * that mutates a buffer after `write`, or one returned by `get`/`load`, cannot
 * change what is stored. A batch is applied synchronously, so it is atomic with
 * respect to every other operation.
 */
export const makeMemory = (disk: Map<string, Uint8Array> = new Map()): Effect.Effect<StorageService> =>
  Effect.sync(() => ({
    load: Effect.sync(() => {
      const copy = new Map<string, Uint8Array>()
      for (const [k, v] of disk) copy.set(k, v.slice())
      return copy
    }),
    write: (batch) => Effect.sync(() => applyBatch(disk, batch)),
    get: (key) => Effect.sync(() => disk.get(key)?.slice())
  }))

export const layerMemory = (disk?: Map<string, Uint8Array>): Layer.Layer<Storage> =>
  Layer.effect(Storage, makeMemory(disk))
