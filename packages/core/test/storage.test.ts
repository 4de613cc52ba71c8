import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as Storage from "../src/Storage.js"
import { storageSuite } from "../src/testing/StorageSuite.js"

storageSuite("memory", () =>
  Effect.sync(() => {
    const disk = new Map<string, Uint8Array>()
    return { open: Storage.makeMemory(disk) }
  }))

describe("Storage.layerMemory", () => {
  it.effect("shares the disk map it is given, as a restart that keeps the disk", () =>
    Effect.gen(function*() {
      const disk = new Map<string, Uint8Array>()
      yield* Effect.flatMap(Storage.Storage, (s) => s.write([{ key: "k", value: new Uint8Array([4]) }])).pipe(
        Effect.provide(Storage.layerMemory(disk))
      )
      expect([...disk.keys()]).toEqual(["k"])
      const loaded = yield* Effect.flatMap(Storage.Storage, (s) => s.load).pipe(Effect.provide(Storage.layerMemory(disk)))
      expect(loaded.get("k")).toEqual(new Uint8Array([4]))
    }))
})
