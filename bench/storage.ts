/**
 * Suite `storage`: what durability costs. A "Ready" here is one batch of 10
 * keys of 200 bytes, about what one protocol step persists. All figures come
 * from the same run on the same file system, so their ratios are the result:
 *
 *   - memory layer vs SQLite with one transaction (one fsync) per Ready;
 *   - one transaction per Ready vs one per write (the group commit's gain);
 *   - 1 and 8 fibers writing Readys concurrently, with and without coalescing
 *     (1 fiber shows what the coalescer costs when there is nothing to share);
 *   - an 8 MiB snapshot written and loaded back.
 *
 * fsync latency on a shared machine drifts by an order of magnitude from one
 * second to the next, so the SQLite cases are measured interleaved: short
 * windows taken round-robin over all cases, so that a slow phase of the disk
 * falls on every case alike and the ratios stay meaningful.
 *
 * The databases live in `$SYNOD_BENCH_DIR` (default: the OS temp directory);
 * fsync costs depend entirely on what backs it (tmpfs, SSD, network disk).
 */
import { Effect, Exit, Scope } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type Protocol, Storage } from "@synod/core"
import { SqliteStorage } from "@synod/storage-sqlite"
import { type Figure, measure } from "./harness.js"

export const name = "storage"
export const description = "durable writes on SQLite (WAL, synchronous=FULL) vs memory; group commit and coalescing"

const KEYS_PER_READY = 10
const VALUE_BYTES = 200
const FIBERS = 8
const ROUNDS = 12
const WINDOW_MS = 80

const value = (seed: number, n: number) => {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) out[i] = (seed * 31 + i) & 0xff
  return out
}

/** Ready number `i` of `fiber`: keys cycle over 1000 Readys, so the table stays a steady size. */
const ready = (i: number, fiber = 0): ReadonlyArray<Protocol.StorageWrite> =>
  Array.from({ length: KEYS_PER_READY }, (_, j) => ({
    key: `bench/${fiber}/${i % 1000}/${j}`,
    value: value(i + j, VALUE_BYTES)
  }))

interface Case {
  readonly name: string
  /** Readys written by one call of `op`. */
  readonly readysPerOp: number
  readonly op: () => Promise<unknown>
  /** Extra text for the note, computed after the run. */
  readonly note?: () => string
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6

/** Readys per second of each case, measured in `ROUNDS` round-robin windows (after one warm-up round). */
const interleaved = async (cases: ReadonlyArray<Case>): Promise<Array<Figure>> => {
  const acc = cases.map(() => ({ readys: 0, ms: 0, rates: [] as Array<number> }))
  for (let round = -1; round < ROUNDS; round++) {
    for (let c = 0; c < cases.length; c++) {
      const t0 = nowMs()
      let ops = 0
      while (nowMs() - t0 < WINDOW_MS) {
        await cases[c]!.op()
        ops++
      }
      const ms = nowMs() - t0
      if (round < 0) continue
      const readys = ops * cases[c]!.readysPerOp
      acc[c]!.readys += readys
      acc[c]!.ms += ms
      acc[c]!.rates.push((readys * 1000) / ms)
    }
  }
  return cases.map((c, i) => {
    const { readys, ms, rates } = acc[i]!
    const mean = rates.reduce((a, b) => a + b, 0) / rates.length
    const sd = Math.sqrt(rates.reduce((a, r) => a + (r - mean) ** 2, 0) / (rates.length - 1))
    const spread = `±${((100 * sd) / mean).toFixed(1)}% over ${rates.length} interleaved windows`
    return {
      name: c.name,
      value: Math.round((readys * 1000) / ms),
      unit: "Readys/s",
      note: c.note === undefined ? spread : `${c.note()}; ${spread}`
    }
  })
}

export const run = async (): Promise<ReadonlyArray<Figure>> => {
  const dir = fs.mkdtempSync(path.join(process.env.SYNOD_BENCH_DIR ?? os.tmpdir(), "synod-bench-storage-"))
  const scope = Effect.runSync(Scope.make())
  const open = (file: string, coalesce: boolean) =>
    Effect.runSync(
      Scope.extend(SqliteStorage.make({ path: path.join(dir, file), clusterId: "bench", replicaId: 0, coalesce }), scope)
    )
  try {
    const memory = Effect.runSync(Storage.makeMemory())
    let m = 0
    const memoryFig = measure("memory: Ready per write", () => Effect.runSync(memory.write(ready(m++))))

    const grouped = open("grouped.db", false)
    let g = 0
    const single = open("single.db", false)
    let s = 0
    const cases: Array<Case> = [
      {
        name: "sqlite: Ready per transaction",
        readysPerOp: 1,
        op: async () => Effect.runSync(grouped.write(ready(g++))),
        note: () => "one fsync per Ready"
      },
      {
        name: "sqlite: one transaction per write",
        readysPerOp: 1,
        op: async () => {
          for (const w of ready(s++)) Effect.runSync(single.write([w]))
        },
        note: () => `${KEYS_PER_READY} fsyncs per Ready`
      }
    ]
    for (const fibers of [1, FIBERS]) {
      for (const coalesce of [false, true]) {
        const store = open(`fibers-${fibers}-${coalesce}.db`, coalesce)
        let round = 0
        cases.push({
          name: `sqlite: ${fibers} fiber${fibers > 1 ? "s" : ""}, coalescing ${coalesce ? "on" : "off"}`,
          readysPerOp: fibers,
          op: () => {
            const r = round++
            return Effect.runPromise(
              Effect.forEach(Array.from({ length: fibers }, (_, f) => f), (f) => store.write(ready(r, f)), {
                concurrency: "unbounded",
                discard: true
              })
            )
          },
          note: () => {
            const st = Effect.runSync(store.stats)
            return `${(st.batches / st.transactions).toFixed(1)} Readys per transaction`
          }
        })
      }
    }
    const sqlite = await interleaved(cases)
    const [groupedFig, singleFig] = sqlite as [Figure, Figure]

    const snapshot = value(7, 8 * 1024 * 1024)
    const snapDb = open("snapshot.db", false)
    const write8 = measure("write", () => Effect.runSync(snapDb.write([{ key: "snapshot", value: snapshot }])), {
      durationMs: 1500,
      windowMs: 200
    })
    const load8 = measure("load", () => Effect.runSync(snapDb.load).size, { durationMs: 1000, windowMs: 100 })

    return [
      { ...memoryFig, unit: "Readys/s" },
      ...sqlite,
      {
        name: "group commit gain",
        value: groupedFig.value / singleFig.value,
        unit: "x",
        note: "Ready per transaction over one transaction per write"
      },
      {
        name: "durability cost",
        value: memoryFig.value / groupedFig.value,
        unit: "x",
        note: "memory over sqlite, one Ready per write (memory measured alone, not interleaved)"
      },
      { name: "sqlite: write 8 MiB snapshot", value: write8.value * 8, unit: "MiB/s", note: write8.note ?? "" },
      { name: "sqlite: load, checksums verified", value: load8.value * 8, unit: "MiB/s", note: load8.note ?? "" }
    ]
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    fs.rmSync(dir, { recursive: true, force: true })
  }
}
