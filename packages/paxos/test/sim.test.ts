/**
 * Whole simulator runs: a faulty safety phase (loss, duplication, reordering,
 * partitions, crashes that lose unsynced writes, restarts, clock skew) then a
 * healed liveness phase in which every request must complete. Every checker
 * runs throughout. Kept to a few seconds; `npm run sim -- --protocol paxos
 * --seeds 500` runs many more.
 */
import { describe, expect, it } from "@effect/vitest"
import { TrustModel } from "@synod/core"
import { Simulator, type SimProtocol } from "@synod/core/testing"
import type * as Driver from "../src/Driver.js"
import type * as M from "../src/Messages.js"
import { simProtocol, type SimOptions } from "../src/SimProtocol.js"

const allFaults = { drop: 0.02, duplicate: 0.02, reorder: true, partitions: true, crashes: true, clockSkew: true } as const

/** Memberships a leader switches to, in turn. */
const memberships = [[0, 1, 2], [1, 2, 3], [0, 1, 2, 3, 4], [2, 3, 4], [0, 2, 4], [0, 1, 3, 4]]

/** Every `every` ticks, a replica that leads proposes the next membership (an operator at work). */
const reconfiguring = (base: SimProtocol<M.PaxosMessage>, every: number): SimProtocol<M.PaxosMessage> => ({
  ...base,
  makeReplica: (params) => {
    const d = base.makeReplica(params) as Driver.PaxosDriver
    let ticks = 0
    return {
      ...d,
      step: (input) => {
        d.step(input)
        if (input._tag === "Tick" && ++ticks % every === 0 && d.isLeader()) {
          d.reconfigure(memberships[(ticks / every + params.id) % memberships.length] as never)
        }
      }
    }
  }
})

const runSeeds = (
  seeds: ReadonlyArray<number>,
  options: SimOptions,
  extra: Partial<Simulator.SimulatorOptions<never>> = {},
  wrap: (p: SimProtocol<M.PaxosMessage>) => SimProtocol<M.PaxosMessage> = (p) => p
) => {
  const failures: Array<string> = []
  let commits = 0
  let crashes = 0
  let partitions = 0
  let epochs = 0
  for (const seed of seeds) {
    const sim = Simulator.make({ protocol: wrap(simProtocol(options)), seed, faults: allFaults, ...extra } as never) as Simulator.Simulation<M.PaxosMessage>
    const r = sim.run()
    epochs = Math.max(epochs, ...Array.from({ length: sim.n }, (_, i) => (sim.replica(i) as Driver.PaxosDriver).membership().epoch))
    commits += r.stats.commits
    crashes += r.stats.crashes
    partitions += r.stats.partitions + r.stats.asymmetricPartitions
    if (!r.ok) failures.push(`seed ${seed}: ${r.violations.map((v) => `${v.checker}: ${v.message}`).join("; ")} ${r.stalled ?? ""}\n  replay: ${r.replay}`)
  }
  return { failures, commits, crashes, partitions, epochs }
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
    const r = runSeeds(range(101, 3), options, { replicas: 5, clients: 4, requestsPerClient: 20 })
    expect(r.failures).toEqual([])
  })

  it("leader leases on, with clock skew: still linearizable", () => {
    const r = runSeeds(range(201, 4), { config: { lease: { durationTicks: 8, driftTicks: 2 } } })
    expect(r.failures).toEqual([])
  })

  it("membership changes at arbitrary moments under every fault: still safe and live", () => {
    const r = runSeeds(range(301, 4), { config: { pipelineWindow: 4 } }, { replicas: 5 }, (p) => reconfiguring(p, 40))
    expect(r.failures).toEqual([])
    expect(r.epochs).toBeGreaterThanOrEqual(2)
  })

  it("flexible quorums (|Q1| + |Q2| > n) in both directions, under every fault", () => {
    const big = runSeeds(range(401, 2), {}, { trust: TrustModel.flexible(5, 4, 2) })
    const small = runSeeds(range(411, 2), {}, { trust: TrustModel.flexible(5, 2, 4) })
    expect([...big.failures, ...small.failures]).toEqual([])
  })

  it("replays a seed exactly", () => {
    const a = Simulator.make({ protocol: simProtocol(), seed: 77, faults: allFaults }).run()
    const b = Simulator.make({ protocol: simProtocol(), seed: 77, faults: allFaults }).run()
    expect(a.traceDigest).toBe(b.traceDigest)
    expect(a.ok).toBe(true)
  })
})
