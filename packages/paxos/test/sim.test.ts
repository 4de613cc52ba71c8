/**
 * Whole simulator runs: a faulty safety phase (loss, duplication, reordering,
 * partitions, crashes that lose unsynced writes, restarts, clock skew) then a
 * healed liveness phase in which every request must complete. Every checker
 * runs throughout. Kept to a few seconds; `npm run sim -- --protocol paxos
 * --seeds 500` runs many more.
 */
import { describe, expect, it } from "@effect/vitest"
import { Simulator } from "@synod/core/testing"
import { simProtocol, type SimOptions } from "../src/SimProtocol.js"

const allFaults = { drop: 0.02, duplicate: 0.02, reorder: true, partitions: true, crashes: true, clockSkew: true } as const

const runSeeds = (seeds: ReadonlyArray<number>, options: SimOptions, extra: Partial<Simulator.SimulatorOptions<never>> = {}) => {
  const failures: Array<string> = []
  let commits = 0
  let crashes = 0
  let partitions = 0
  for (const seed of seeds) {
    const r = Simulator.make({ protocol: simProtocol(options), seed, faults: allFaults, ...extra } as never).run()
    commits += r.stats.commits
    crashes += r.stats.crashes
    partitions += r.stats.partitions + r.stats.asymmetricPartitions
    if (!r.ok) failures.push(`seed ${seed}: ${r.violations.map((v) => `${v.checker}: ${v.message}`).join("; ")} ${r.stalled ?? ""}\n  replay: ${r.replay}`)
  }
  return { failures, commits, crashes, partitions }
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i)

describe("Paxos under the simulator", () => {
  it("30 seeds with every fault enabled: no checker violation, every request completes after healing", () => {
    const r = runSeeds(range(1, 30), {})
    expect(r.failures).toEqual([])
    expect(r.commits).toBeGreaterThan(30 * 40)
    expect(r.crashes).toBeGreaterThan(30) // the faults really happened
    expect(r.partitions).toBeGreaterThan(30)
  })

  it("5 replicas, tiny windows, batches and snapshot intervals: snapshots and catch-up under faults", () => {
    const options: SimOptions = {
      config: { snapshotIntervalSlots: 5, logRetentionSlots: 1, pipelineWindow: 4, acceptorWindow: 8, maxBatchItems: 2, catchUpBatchSlots: 3 }
    }
    const r = runSeeds(range(101, 5), options, { replicas: 5, clients: 4, requestsPerClient: 20 })
    expect(r.failures).toEqual([])
  })

  it("leader leases on, with clock skew: still linearizable", () => {
    const r = runSeeds(range(201, 5), { config: { lease: { durationTicks: 8, driftTicks: 2 } } })
    expect(r.failures).toEqual([])
  })

  it("replays a seed exactly", () => {
    const a = Simulator.make({ protocol: simProtocol(), seed: 77, faults: allFaults }).run()
    const b = Simulator.make({ protocol: simProtocol(), seed: 77, faults: allFaults }).run()
    expect(a.traceDigest).toBe(b.traceDigest)
    expect(a.ok).toBe(true)
  })
})
