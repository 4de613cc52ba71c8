import { describe, expect, it } from "@effect/vitest"
import { driverOf } from "../src/Protocol.js"
import type { StateMachine } from "../src/StateMachine.js"
import { FaultScheduler } from "../src/testing/internal/Faults.js"
import * as Kv from "../src/testing/KvStateMachine.js"
import { Prng } from "../src/testing/Prng.js"
import * as Reference from "../src/testing/ReferenceProtocol.js"
import type { SimProtocol } from "../src/testing/SimProtocol.js"
import * as Simulator from "../src/testing/Simulator.js"
import * as Workload from "../src/testing/Workload.js"

const reference = Reference.simProtocol()
const allFaults = { drop: 0.05, duplicate: 0.05, reorder: true, partitions: true, crashes: true, unsyncedLoss: 0.7, clockSkew: true }
const quick = { requestsPerClient: 8, safetyTicks: 800, livenessTicks: 3000 }

const put = (key: string, value: string) => Kv.encodeCommand({ _tag: "Put", key, value })

describe("Simulator replay", () => {
  it("gives the identical trace for the same seed, and different traces for different seeds", () => {
    const run = (seed: number) => Simulator.make({ protocol: reference, seed, ...quick, faults: allFaults }).run()
    const a = run(11)
    const again = run(11)
    expect(again.traceDigest).toBe(a.traceDigest)
    expect(again.stats).toEqual(a.stats)
    const digests = new Set([a.traceDigest, run(12).traceDigest, run(13).traceDigest])
    expect(digests.size).toBe(3)
  })

  it("prints a replay command that parses back into the same run", () => {
    const options = { protocol: reference, seed: 77, clients: 2, ...quick, faults: { drop: 0.02, partitions: false } }
    const first = Simulator.make(options).run()
    expect(first.replay).toMatch(/^npm run sim -- --protocol reference --seed 77 /)
    const argv = first.replay.split(" ").slice(4) // after "npm run sim --"
    const args = Simulator.parseSimArgs(argv)
    expect(args.faults).toEqual({ drop: 0.02, partitions: false })
    const replayed = Simulator.make(Simulator.fromArgs(args, { protocol: reference, stateMachine: Kv.KvStateMachine, workload: Workload.kv() })).run()
    expect(replayed.traceDigest).toBe(first.traceDigest)
    expect(replayed.replay).toBe(first.replay)
  })

  it("rejects bad command lines with a readable message", () => {
    expect(() => Simulator.parseSimArgs(["--seeds", "3"])).toThrow(/--protocol is required/)
    expect(() => Simulator.parseSimArgs(["--protocol", "pbft", "--seed", "-1"])).toThrow(/--seed/)
    expect(() => Simulator.parseSimArgs(["--protocol", "pbft", "--strategies", "nice"])).toThrow(/unknown strategy nice/)
    expect(() => Simulator.parseSimArgs(["--protocol", "pbft", "--faults", "drop=2"])).toThrow(/--faults/)
    expect(() => Simulator.parseSimArgs(["--protocol", "pbft", "--bogus", "1"])).toThrow(/unknown argument --bogus/)
    expect(Simulator.parseSimArgs(["--protocol", "pbft", "--seeds", "500"])).toEqual({ protocol: "pbft", seed: 1, seeds: 500 })
  })
})

describe("Simulator faults", () => {
  it("every fault actually happens over a few seeds, and the reference protocol stays safe and live", () => {
    const total = { drops: 0, loss: 0, partitionDrops: 0, duplicates: 0, reorders: 0, partitions: 0, asymmetric: 0, heals: 0, crashes: 0, unsynced: 0, restarts: 0 }
    for (const seed of [1, 2, 3, 4]) {
      const r = Simulator.make({ protocol: reference, seed, requestsPerClient: 10, safetyTicks: 2000, livenessTicks: 4000, faults: allFaults }).run()
      expect(r.violations).toEqual([])
      expect(r.stalled).toBeUndefined()
      expect(r.stats.completed).toBe(r.stats.submitted)
      expect(r.stats.submitted).toBe(30)
      const s = r.stats
      total.drops += s.drops
      total.loss += s.dropsByCause.loss ?? 0
      total.partitionDrops += s.dropsByCause.partition ?? 0
      total.duplicates += s.duplicates
      total.reorders += s.reorders
      total.partitions += s.partitions
      total.asymmetric += s.asymmetricPartitions
      total.heals += s.heals
      total.crashes += s.crashes
      total.unsynced += s.unsyncedLost
      total.restarts += s.restarts
    }
    for (const [fault, count] of Object.entries(total)) expect([fault, count > 0]).toEqual([fault, true])
  })

  it("skews replica clocks when asked, and keeps them in step otherwise", () => {
    const spread = (clockSkew: boolean) => {
      const sim = Simulator.make({ protocol: reference, seed: 5, faults: { clockSkew } })
      sim.runFor(400)
      const ticks = [0, 1, 2].map((r) => sim.ticksOf(r))
      return Math.max(...ticks) - Math.min(...ticks)
    }
    expect(spread(false)).toBeLessThanOrEqual(1)
    expect(spread(true)).toBeGreaterThan(4)
  })

  it("loses a Ready that a crash strikes before it is persisted, and the replica recovers from what was durable", () => {
    const sim = Simulator.make({ protocol: reference, seed: 3, faults: { crashes: false, partitions: false } })
    expect(sim.submit(0, put("a", "1"))).toBe(1)
    expect(sim.runUntil(() => sim.completions().length === 1, 100)).toBe(true)
    sim.crash(1)
    expect(sim.isUp(1)).toBe(false)
    sim.submit(0, put("a", "2"))
    expect(sim.runUntil(() => sim.completions().length === 2, 100)).toBe(true)
    sim.restart(1)
    expect(sim.runUntil(() => sim.replica(1).appliedIndex() === 2, 100)).toBe(true)
    expect(sim.replica(1).stateDigest()).toBe(sim.replica(0).stateDigest())
    expect(sim.stats.crashes).toBe(1)
    expect(sim.stats.restarts).toBe(1)
    expect(sim.check()).toEqual([])
  })
})

describe("fault scheduler", () => {
  it("never has more correct replicas down than the trust model tolerates, and brings them back", () => {
    const up = [true, true, true, true, true]
    let maxDownSeen = 0
    const log = { crash: 0, crashAtReady: 0, restart: 0, partition: 0, cut: 0, heal: 0 }
    const pendingReady = new Set<number>()
    const scheduler = new FaultScheduler(
      { drop: 0, duplicate: 0, reorder: false, partitions: true, crashes: true, unsyncedLoss: 0.5, clockSkew: false },
      new Prng(12),
      {
        replicas: 5,
        maxDown: 2,
        isCorrect: (r) => r !== 4, // replica 4 is Byzantine: never crashed by the scheduler
        isUp: (r) => up[r]!,
        crash: (r) => {
          log.crash++
          up[r] = false
          pendingReady.delete(r)
        },
        crashAtNextReady: (r) => {
          log.crashAtReady++
          pendingReady.add(r)
        },
        restart: (r) => {
          log.restart++
          up[r] = true
        },
        partition: () => log.partition++,
        cutOneWay: () => log.cut++,
        heal: () => log.heal++
      }
    )
    let byzantineCrashed = false
    for (let tick = 0; tick < 8000; tick++) {
      scheduler.tick(tick)
      // a replica waiting to crash at its next Ready sometimes gets one
      for (const r of [...pendingReady]) {
        if (tick % 3 === 0) {
          up[r] = false
          pendingReady.delete(r)
        }
      }
      const down = up.filter((u) => !u).length + pendingReady.size
      maxDownSeen = Math.max(maxDownSeen, down)
      byzantineCrashed ||= !up[4]
    }
    expect(byzantineCrashed).toBe(false)
    expect(maxDownSeen).toBe(2)
    expect(log.crash + log.crashAtReady).toBeGreaterThan(10)
    expect(log.crashAtReady).toBeGreaterThan(0)
    expect(log.restart).toBeGreaterThan(10)
    expect(log.partition).toBeGreaterThan(0)
    expect(log.cut).toBeGreaterThan(0)
    expect(log.heal).toBeGreaterThan(0)
  })
})

describe("Simulator low-level control", () => {
  it("commits nothing while the sequencer is isolated, and catches up after healing", () => {
    const sim = Simulator.make({ protocol: reference, seed: 8, faults: { drop: 0 } })
    sim.isolate(0)
    sim.submit(1, put("k", "v"))
    sim.runFor(50)
    expect(sim.completions()).toEqual([])
    expect([0, 1, 2].map((r) => sim.replica(r).appliedIndex())).toEqual([0, 0, 0])
    sim.heal()
    expect(sim.runUntil(() => sim.completions().length === 1, 200)).toBe(true)
    expect(sim.completions()[0]!.outcome?._tag).toBe("Committed")
    expect(sim.runUntil(() => [0, 1, 2].every((r) => sim.replica(r).appliedIndex() === 1), 200)).toBe(true)
    expect(sim.events(2).filter((e) => e._tag === "Committed")).toHaveLength(1)
    expect(sim.now()).toBeGreaterThanOrEqual(50)
  })

  it("partitions a minority away without stopping the majority", () => {
    const sim = Simulator.make({ protocol: reference, seed: 9 })
    sim.partition([[0, 1], [2]])
    sim.submit(0, put("x", "1"))
    expect(sim.runUntil(() => sim.completions().length === 1, 100)).toBe(true)
    sim.runFor(30)
    expect(sim.replica(2).appliedIndex()).toBe(0)
    sim.heal()
    expect(sim.runUntil(() => sim.replica(2).appliedIndex() === 1, 100)).toBe(true)
  })

  it("refuses Byzantine replicas outside the trust model", () => {
    expect(() => Simulator.make({ protocol: reference, seed: 1, byzantine: 1 })).toThrow(/crash faults only/)
    const bft = Reference.simProtocol({ faultModel: "byzantine" })
    expect(() => Simulator.make({ protocol: bft, seed: 1, byzantine: 2 })).toThrow(/exceed f=1/)
    expect(() => Simulator.make({ protocol: bft, seed: 1, byzantineReplicas: [0] })).toThrow(/always correct/)
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const sim = Simulator.make({ protocol: bft, seed, byzantine: 1 })
      expect(sim.byzantine.size).toBe(1)
      expect(sim.byzantine.has(0)).toBe(false)
    }
  })
})

describe("Simulator catches broken protocols", () => {
  it("reports the deliberately broken sequencer as an agreement violation, with seed and replay", () => {
    const broken = Reference.simProtocol({ broken: true })
    for (const seed of [1, 2, 3]) {
      const r = Simulator.make({ protocol: broken, seed, ...quick }).run()
      expect(r.ok).toBe(false)
      expect(r.violations[0]!.checker).toBe("agreement")
      expect(r.seed).toBe(seed)
      expect(r.replay).toContain(`--protocol reference-broken --seed ${seed} `)
    }
  })

  it("reports a run that cannot finish as stalled, with pending requests and replica progress", () => {
    const mute: SimProtocol<Reference.Message> = {
      ...reference,
      name: "mute",
      makeReplica: (p) => p.id === 0 ? driverOf({ step: () => {}, appliedIndex: () => 0, stateDigest: () => "" }) : reference.makeReplica(p)
    }
    const r = Simulator.make({ protocol: mute, seed: 4, requestsPerClient: 2, safetyTicks: 50, livenessTicks: 100, faults: { drop: 0 } }).run()
    expect(r.ok).toBe(false)
    expect(r.violations).toEqual([])
    expect(r.stalled).toMatch(/^liveness: not done 100 ticks after healing/)
    expect(r.stalled).toContain("pending: c0#")
    expect(r.stalled).toContain("r0 committed=0 applied=0")
    // with a longer bound the clients give up: requests after healing timed out
    const longer = Simulator.make({ protocol: mute, seed: 4, requestsPerClient: 2, safetyTicks: 50, livenessTicks: 2000, faults: { drop: 0 } }).run()
    expect(longer.stalled).toMatch(/requests submitted after healing did not commit: c\d#\d timed out/)
  })

  it("reports application invariants that fail on a replica", () => {
    const guarded: StateMachine<Kv.Command, Kv.Result, Kv.Snapshot> = {
      ...Kv.KvStateMachine,
      name: "kv-guarded",
      make: () => {
        const inner = Kv.KvStateMachine.make()
        return { ...inner, invariants: () => inner.snapshot().some(([, v]) => v === "forbidden") ? ["a key holds \"forbidden\""] : [] }
      }
    }
    const sim = Simulator.make({ protocol: reference, seed: 2, stateMachine: guarded, history: Kv.checkLinearizable })
    sim.submit(0, put("k", "fine"))
    expect(sim.runUntil(() => sim.completions().length === 1, 100)).toBe(true)
    expect(sim.violations()).toEqual([])
    sim.submit(0, put("k", "forbidden"))
    expect(sim.runUntil(() => sim.violations().length > 0, 100)).toBe(true)
    expect(sim.violations()[0]!.checker).toBe("invariants")
    expect(sim.violations()[0]!.message).toMatch(/^replica \d: a key holds "forbidden"$/)
  })

  it("turns a driver that throws into a violation instead of crashing the run", () => {
    const throwing: SimProtocol<Reference.Message> = {
      ...reference,
      name: "throwing",
      makeReplica: (p) => {
        const d = reference.makeReplica(p)
        return { ...d, step: (input) => { if (input._tag === "Receive" && input.envelope.message._tag === "Ack") throw new Error("boom"); d.step(input) } }
      }
    }
    const r = Simulator.make({ protocol: throwing, seed: 1, ...quick }).run()
    expect(r.ok).toBe(false)
    expect(r.violations[0]!.checker).toBe("exception")
    expect(r.violations[0]!.message).toContain("boom")
  })

  it("checks client histories for linearizability at the end of a run", () => {
    const r = Simulator.make({ protocol: reference, seed: 21, ...quick, history: () => ["history rejected by test"] }).run()
    expect(r.violations).toEqual([{ checker: "linearizability", step: r.stats.steps, message: "history rejected by test" }])
  })
})
