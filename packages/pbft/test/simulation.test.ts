/**
 * Many seeded runs of the simulator with faults (loss, duplication,
 * reordering, partitions, crashes and restarts) and Byzantine replicas using
 * every adversary strategy; each run must pass every checker (agreement,
 * validity, exactly-once, state digests, linearizability) and finish its
 * liveness phase. PBFT_SIM_SEEDS=<n> widens the sweep (default 20).
 */
import { type ReplicaId, TrustModel } from "@synod/core"
import { Adversary, Simulator } from "@synod/core/testing"
import { describe, expect, it } from "vitest"
import { simProtocol } from "../src/SimProtocol.js"

const SEEDS = Number(process.env.PBFT_SIM_SEEDS ?? 20)
const seeds = (count: number, from = 1) => Array.from({ length: count }, (_, i) => from + i)

const runOk = (options: Omit<Simulator.SimulatorOptions<any>, "protocol">) => {
  const result = Simulator.make({ protocol: simProtocol(), ...options }).run()
  const why = `seed ${options.seed}: ${result.stalled ?? ""} ${JSON.stringify(result.violations).slice(0, 400)}\nreplay: ${result.replay}`
  expect(result.ok, why).toBe(true)
  return result
}

describe("simulation", () => {
  it(`n=4, f=1: ${SEEDS} seeds with faults and a Byzantine replica`, () => {
    const used = new Set<string>()
    for (const seed of seeds(SEEDS)) {
      const result = runOk({ seed, replicas: 4, byzantine: 1 })
      for (const [s, n] of Object.entries(result.stats.byzantineActions)) if (n > 0) used.add(s)
    }
    if (SEEDS >= 20) expect([...used].sort()).toEqual([...Adversary.STRATEGIES].sort())
  })

  it(`n=7, f=2: ${Math.ceil(SEEDS / 4)} seeds with two Byzantine replicas using every strategy`, () => {
    for (const seed of seeds(Math.ceil(SEEDS / 4), 100)) {
      const result = runOk({ seed, replicas: 7, byzantine: 2, strategies: Adversary.STRATEGIES })
      expect(result.stats.outcomes.Committed).toBeGreaterThan(0)
    }
  })

  it("weighted voting power: one heavy replica and three light ones, one of them Byzantine", () => {
    const trust = TrustModel.weighted("byzantine", new Map([[0, 1], [1, 1], [2, 1], [3, 2]] as Array<[ReplicaId, number]>))
    for (const seed of seeds(3, 200)) runOk({ seed, trust, byzantineReplicas: [seed % 3], strategies: Adversary.STRATEGIES })
  })
})
