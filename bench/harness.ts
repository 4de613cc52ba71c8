/**
 * What a benchmark suite is, and how it measures.
 *
 * A suite is a module `bench/<name>.ts` whose exports satisfy `Suite`
 * (`export const name`, `export const description`, `export const run`), listed
 * with one line in the registry of `bench/run.ts`.
 *
 * `measure` runs an operation in batches: a warm-up (JIT, caches) whose last
 * batch sizes the real ones to about `windowMs`, then windows until `durationMs`
 * has passed. The figure is total operations over total time; the note gives the
 * spread of the per-window rates, so a noisy run is visible as such.
 */
export interface Figure {
  readonly name: string
  readonly value: number
  readonly unit: string
  readonly note?: string
}

export interface Suite {
  readonly name: string
  readonly description: string
  run(): Promise<ReadonlyArray<Figure>>
}

export interface MeasureOptions {
  /** Default 200 ms. */
  readonly warmupMs?: number
  /** Default 1000 ms. */
  readonly durationMs?: number
  /** Target length of one timed window. Default 50 ms. */
  readonly windowMs?: number
}

/** Results are folded in here so no engine can prove an operation's result unused. */
let sink = 0
const keep = (value: unknown): void => {
  sink = (sink + (value === undefined ? 1 : typeof value === "number" ? value : 2)) | 0
}
/** For suites that want to keep values alive themselves. */
export const blackhole = keep
export const sinkValue = (): number => sink

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6

const spread = (rates: ReadonlyArray<number>): string => {
  if (rates.length < 2) return "1 window"
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length
  const sd = Math.sqrt(rates.reduce((a, r) => a + (r - mean) ** 2, 0) / (rates.length - 1))
  return `±${((100 * sd) / mean).toFixed(1)}% over ${rates.length} windows`
}

/** Operations per second of a synchronous operation. */
export const measure = (name: string, op: () => unknown, options: MeasureOptions = {}): Figure => {
  const warmupMs = options.warmupMs ?? 200
  const durationMs = options.durationMs ?? 1000
  const windowMs = options.windowMs ?? 50
  // warm-up: double the batch until one batch takes a measurable time, until warm-up time is spent
  let batch = 1
  const warmEnd = nowMs() + warmupMs
  let perOpMs = Infinity
  while (nowMs() < warmEnd || perOpMs === Infinity) {
    const t0 = nowMs()
    for (let i = 0; i < batch; i++) keep(op())
    const dt = nowMs() - t0
    if (dt > 1) perOpMs = dt / batch
    if (dt < windowMs / 4) batch *= 2
  }
  batch = Math.max(1, Math.round(windowMs / perOpMs))
  const rates: Array<number> = []
  let ops = 0
  const start = nowMs()
  let elapsed = 0
  while (elapsed < durationMs) {
    const t0 = nowMs()
    for (let i = 0; i < batch; i++) keep(op())
    const t1 = nowMs()
    rates.push((batch * 1000) / (t1 - t0))
    ops += batch
    elapsed = t1 - start
    // keep windows near windowMs as the JIT settles (at most halve or double at a time)
    const ideal = Math.round((windowMs * batch) / Math.max(t1 - t0, 1e-3))
    batch = Math.max(1, Math.min(batch * 2, Math.max(Math.floor(batch / 2), ideal)))
  }
  return { name, value: Math.round((ops * 1000) / elapsed), unit: "ops/s", note: spread(rates) }
}

/** Operations per second of an asynchronous operation, awaited one at a time. */
export const measureAsync = async (
  name: string,
  op: () => Promise<unknown>,
  options: MeasureOptions = {}
): Promise<Figure> => {
  const warmupMs = options.warmupMs ?? 200
  const durationMs = options.durationMs ?? 1000
  const windowMs = options.windowMs ?? 50
  const warmEnd = nowMs() + warmupMs
  while (nowMs() < warmEnd) keep(await op())
  const rates: Array<number> = []
  let ops = 0
  const start = nowMs()
  let elapsed = 0
  while (elapsed < durationMs) {
    const t0 = nowMs()
    let n = 0
    while (nowMs() - t0 < windowMs) {
      keep(await op())
      n++
    }
    const t1 = nowMs()
    rates.push((n * 1000) / (t1 - t0))
    ops += n
    elapsed = t1 - start
  }
  return { name, value: Math.round((ops * 1000) / elapsed), unit: "ops/s", note: spread(rates) }
}
