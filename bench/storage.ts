/**
 * Suite `storage`: what durability costs. A "Ready" here is one batch of 10
 * keys of 200 bytes, about what one protocol step persists. All figures come
 * from the same run on the same file system, so their ratios are the result:
 *
 *   - memory layer vs SQLite with one transaction (one fsync) per Ready;
 *   - one transaction per Ready vs one per write (the group commit's gain);
 *   - 8 fibers writing Readys concurrently, with and without coalescing;
 *   - an 8 MiB snapshot written and loaded back.
 *
 * The database lives in `$SYNOD_BENCH_DIR` (default: the OS temp directory);
 * fsync costs depend entirely on what backs it (tmpfs, SSD, network disk).
 */
import { Effect, Exit, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type Protocol, Storage } from "@synod/core"
import { SqliteStorage } from "@synod/storage-sqlite"
import { type Figure, measure, measureAsync } from "./harness.js"

export const name = "storage"
export const description = "durable writes on SQLite (WAL, synchronous=FULL) vs memory; group commit and coalescing"

const KEYS_PER_READY = 10
const VALUE_BYTES = 200
const FIBERS = 8

const value = (seed: number, n: number) => {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (seed * 31 + i) & 0xff
  return out
}

/** Ready number `i`: 10 keys that cycle over a window of 1000 Readys, so the table stays a steady size. */
const ready = (i: number, fiber = 0): ReadonlyArray<Protocol.StorageWrite> =>
  Array.from({ length: KEYS_PER_READY }, (_, j) => ({ key: `bench/${fiber}/${i % 1000}/${j}`, value: value(i + j, VALUE_BYTES) }))

const perSecond = (f: Figure, factor: number, name: string, unit: string, note?: string): Figure => ({
  name,
  value: Math.round(f.value * factor),
  unit,
  note: note === undefined ? (f.note ?? "") : `${note}; ${f.note ?? ""}`
})

export const run = async (): Promise<ReadonlyArray<Figure>> => {
  const dir = fs.mkdtempSync(path.join(process.env.SYNOD_BENCH_DIR ?? os.tmpdir(), "synod-bench-storage-"))
  const scope = Effect.runSync(Scope.make())
  const open = (file: string, coalesce: boolean) =>
    Effect.runSync(Scope.extend(SqliteStorage.make({ path: path.join(dir, file), clusterId: "bench", replicaId: 0, coalesce }), scope))
  try {
    const figures: Array<Figure> = []

    const memory = Effect.runSync(Storage.makeMemory())
    let m = 0
    const memoryFig = measure("memory: Ready per write", () => Effect.runSync(memory.write(ready(m++))))
    figures.push({ ...memoryFig, unit: "Readys/s" })

    const grouped = open("grouped.db", false)
    let g = 0
    const groupedFig = measure("sqlite: Ready per transaction", () => Effect.runSync(grouped.write(ready(g++))))
    figures.push({ ...groupedFig, unit: "Readys/s", note: `one fsync per Ready; ${groupedFig.note}` })

    const single = open("single.db", false)
    let s = 0
    const singleFig = measure("sqlite: one transaction per write", () => {
      for (const w of ready(s++)) Effect.runSync(single.write([w]))
    })
    figures.push({ ...singleFig, unit: "Readys/s", note: `${KEYS_PER_READY} fsyncs per Ready; ${singleFig.note}` })
    figures.push({
      name: "group commit gain",
      value: groupedFig.value / singleFig.value,
      unit: "x",
      note: "Ready per transaction over one transaction per write"
    })
    figures.push({
      name: "durability cost",
      value: memoryFig.value / groupedFig.value,
      unit: "x",
      note: "memory over sqlite, one Ready per write"
    })

    for (const coalesce of [false, true]) {
      const store = open(`concurrent-${coalesce}.db`, coalesce)
      let round = 0
      const before = Effect.runSync(store.stats)
      const fig = await measureAsync(`sqlite: ${FIBERS} fibers, coalescing ${coalesce ? "on" : "off"}`, () => {
        const r = round++
        return Effect.runPromise(
          Effect.forEach(Array.from({ length: FIBERS }, (_, f) => f), (f) => store.write(ready(r, f)), {
            concurrency: "unbounded",
            discard: true
          })
        )
      })
      const after = Effect.runSync(store.stats)
      const perTx = (after.batches - before.batches) / (after.transactions - before.transactions)
      figures.push(perSecond(fig, FIBERS, fig.name, "Readys/s", `${perTx.toFixed(1)} Readys per transaction`))
    }

    const snapshot = value(7, 8 * 1024 * 1024)
    const snapDb = open("snapshot.db", false)
    figures.push(
      perSecond(
        measure("sqlite: write 8 MiB snapshot", () => Effect.runSync(snapDb.write([{ key: "snapshot", value: snapshot }])), {
          durationMs: 1500,
          windowMs: 200
        }),
        8,
        "sqlite: write 8 MiB snapshot",
        "MiB/s"
      ),
      perSecond(
        measure("sqlite: load 8 MiB snapshot", () => Effect.runSync(snapDb.load).size, { durationMs: 1000, windowMs: 100 }),
        8,
        "sqlite: load (checksum-verified)",
        "MiB/s"
      )
    )
    return figures
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
