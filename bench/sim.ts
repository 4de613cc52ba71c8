/**
 * Suite `sim`: how fast the deterministic simulator runs real protocols, so
 * that "thousands of seeds in minutes" can be checked rather than hoped for.
 * Everything runs in this process with no faults (no loss, duplication,
 * reordering, partitions, crashes or Byzantine replicas), over three protocols:
 *
 *   reference  the simulator's own sequencer protocol, n=3 (cheap codec: it
 *              measures the simulator itself);
 *   paxos      Multi-Paxos, n=3;
 *   pbft       PBFT, n=4 (f=1), every replica correct.
 *
 * Two workloads per protocol:
 *
 *   seed       what one default seed of `npm run sim` does: 3 clients x 20
 *              requests, a 2000-tick safety phase (mostly heartbeats once the
 *              requests are done), then the liveness phase;
 *   busy       8 clients x 30 requests, a 10-tick safety phase: the run is
 *              all commits, which is what commits/s and CPU per commit measure.
 *
 * The cases are measured round-robin in short windows (each window runs whole
 * seeds, consecutive seeds per case), so that a busy phase of a shared machine
 * falls on every case alike. Figures are per wall-clock second and per
 * CPU-second of this process (`process.cpuUsage`: user + system, GC threads
 * included); on a loaded machine the CPU figures are the ones to compare.
 * `Simulator.openOncePerFrame: false` (every delivery opens its frame itself,
 * as before that option existed) is measured beside the default.
 */
import { Simulator, ReferenceProtocol, type SimProtocol } from "@synod/core/testing"
import type { Figure } from "./harness.js"

export const name = "sim"
export const description = "deterministic simulator: deliveries/s and commits/s for reference, Paxos (n=3), PBFT (n=4, f=1), no faults"

const ROUNDS = 4
const WINDOW_MS = 800
const WARMUP_MS = 800

const NO_FAULTS = { drop: 0, duplicate: 0, reorder: false, partitions: false, crashes: false, unsyncedLoss: 0, clockSkew: false }

interface Workload {
  readonly name: string
  readonly clients: number
  readonly requestsPerClient: number
  readonly safetyTicks: number
}

const SEED_WORKLOAD: Workload = { name: "seed", clients: 3, requestsPerClient: 20, safetyTicks: 2000 }
const BUSY_WORKLOAD: Workload = { name: "busy", clients: 8, requestsPerClient: 30, safetyTicks: 10 }

interface Case {
  readonly label: string
  readonly protocol: SimProtocol<any>
  readonly replicas: number
  readonly workload: Workload
  readonly openOncePerFrame: boolean
  /** Accumulated over the timed windows. */
  seeds: number
  deliveries: number
  commits: number
  failed: number
  wallMs: number
  cpuUs: number
  nextSeed: number
  /** Deliveries per CPU-second of each window, for the spread. */
  readonly rates: Array<number>
}

/** A protocol package exports `simProtocol(options?)`; a package that does not load is reported, not fatal. */
const load = async (pkg: string): Promise<SimProtocol<any> | string> => {
  try {
    const mod = (await import(pkg)) as { readonly simProtocol?: () => SimProtocol<any> }
    if (typeof mod.simProtocol !== "function") return `${pkg} does not export simProtocol()`
    return mod.simProtocol()
  } catch (e) {
    return `${pkg} does not load: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`
  }
}

const runSeed = (c: Case): void => {
  const result = Simulator.make({
    protocol: c.protocol,
    seed: c.nextSeed++,
    replicas: c.replicas,
    byzantine: 0,
    clients: c.workload.clients,
    requestsPerClient: c.workload.requestsPerClient,
    safetyTicks: c.workload.safetyTicks,
    faults: NO_FAULTS,
    openOncePerFrame: c.openOncePerFrame
  }).run()
  c.seeds++
  c.deliveries += result.stats.deliveries
  c.commits += result.stats.commits
  if (!result.ok) c.failed++
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6

/** Whole seeds until `ms` of wall-clock time have passed; returns [wall ms, CPU µs, deliveries]. */
const window = (c: Case, ms: number): [number, number, number] => {
  const d0 = c.deliveries
  const cpu0 = process.cpuUsage()
  const t0 = nowMs()
  do runSeed(c)
  while (nowMs() - t0 < ms)
  const used = process.cpuUsage(cpu0)
  return [nowMs() - t0, used.user + used.system, c.deliveries - d0]
}

const spread = (rates: ReadonlyArray<number>): string => {
  if (rates.length < 2) return "1 window"
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length
  const sd = Math.sqrt(rates.reduce((a, r) => a + (r - mean) ** 2, 0) / (rates.length - 1))
  return `±${((100 * sd) / mean).toFixed(1)}% over ${rates.length} windows`
}

const figuresOf = (c: Case): Array<Figure> => {
  const cpuS = c.cpuUs / 1e6
  const wallS = c.wallMs / 1000
  const runs = `${c.seeds} seeds${c.failed > 0 ? `, ${c.failed} FAILED` : ""}`
  const out: Array<Figure> = [
    { name: `${c.label} deliveries per CPU-s`, value: c.deliveries / cpuS, unit: "deliveries/s", note: `${runs}, ${spread(c.rates)}` },
    { name: `${c.label} deliveries per wall-s`, value: c.deliveries / wallS, unit: "deliveries/s", note: `${(cpuS / wallS).toFixed(2)} CPU-s per wall-s` }
  ]
  if (c.workload === SEED_WORKLOAD) {
    out.push({ name: `${c.label} seeds per CPU-minute`, value: (60 * c.seeds) / cpuS, unit: "seeds/min", note: `${(c.deliveries / c.seeds).toFixed(0)} deliveries per seed` })
  } else {
    out.push(
      { name: `${c.label} commits per CPU-s`, value: c.commits / cpuS, unit: "commits/s", note: `${(c.commits / wallS).toFixed(0)} per wall-s` },
      { name: `${c.label} CPU per commit`, value: c.cpuUs / c.commits, unit: "µs", note: `${(c.deliveries / c.commits).toFixed(1)} deliveries per commit` }
    )
  }
  return out
}

export const run = async (): Promise<ReadonlyArray<Figure>> => {
  const protocols: Array<{ readonly label: string; readonly replicas: number; readonly protocol: SimProtocol<any> | string }> = [
    { label: "reference", replicas: 3, protocol: ReferenceProtocol.simProtocol() },
    { label: "paxos", replicas: 3, protocol: await load("@synod/paxos") },
    { label: "pbft", replicas: 4, protocol: await load("@synod/pbft") }
  ]
  const figures: Array<Figure> = []
  const cases: Array<Case> = []
  for (const p of protocols) {
    if (typeof p.protocol === "string") {
      figures.push({ name: `${p.label}: not measured`, value: 0, unit: "", note: p.protocol })
      continue
    }
    const variants: Array<[Workload, boolean]> = [[SEED_WORKLOAD, true], [BUSY_WORKLOAD, true]]
    // what sharing one open per frame buys, where frames have several receivers
    if (p.label !== "reference") variants.push([BUSY_WORKLOAD, false])
    for (const [workload, openOncePerFrame] of variants) {
      cases.push({
        label: `${p.label} ${workload.name}${openOncePerFrame ? "" : " (open per delivery)"}`,
        protocol: p.protocol,
        replicas: p.replicas,
        workload,
        openOncePerFrame,
        seeds: 0,
        deliveries: 0,
        commits: 0,
        failed: 0,
        wallMs: 0,
        cpuUs: 0,
        nextSeed: 1,
        rates: []
      })
    }
  }
  // warm-up: JIT and caches, not counted (the seeds it ran are not reused)
  for (const c of cases) {
    window(c, WARMUP_MS / cases.length)
    Object.assign(c, { seeds: 0, deliveries: 0, commits: 0, failed: 0 })
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const c of cases) {
      const [wallMs, cpuUs, deliveries] = window(c, WINDOW_MS)
      c.wallMs += wallMs
      c.cpuUs += cpuUs
      c.rates.push(deliveries / (cpuUs / 1e6))
    }
  }
  for (const c of cases) figures.push(...figuresOf(c))
  return figures
}
