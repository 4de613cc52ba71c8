/**
 * Scenario tests on the deterministic simulator of @synod/core/testing, named
 * like the bug reports they guard against. Each drives the simulator by hand
 * (no random faults unless stated), then asserts outcomes and runs every
 * checker (agreement, validity, exactly-once, state digests, linearizability).
 */
import { describe, expect, it } from "@effect/vitest"
import type { Protocol } from "@synod/core"
import { Kv, Simulator, type SimProtocol } from "@synod/core/testing"
import type * as Config from "../src/Config.js"
import type * as Driver from "../src/Driver.js"
import * as Election from "../src/Election.js"
import type * as M from "../src/Messages.js"
import { simProtocol, type SimOptions } from "../src/SimProtocol.js"

type Sim = Simulator.Simulation<M.PaxosMessage>

const put = (key: string, value: string) => Kv.encodeCommand({ _tag: "Put", key, value })
const get = (key: string) => Kv.encodeCommand({ _tag: "Get", key })
const paxos = (sim: Sim, r: number) => sim.replica(r) as Driver.PaxosDriver

const make = (seed: number, options: SimOptions = {}, extra: { replicas?: number; clients?: number } = {}) =>
  Simulator.make({ protocol: simProtocol(options), seed, replicas: extra.replicas ?? 3, clients: extra.clients ?? 3 })

/** The live leader with the highest ballot. */
const leader = (sim: Sim): number | undefined => {
  let best: number | undefined
  for (let r = 0; r < sim.n; r++) {
    if (!sim.isUp(r) || !paxos(sim, r).isLeader()) continue
    if (best === undefined || paxos(sim, r).fencingToken() > paxos(sim, best).fencingToken()) best = r
  }
  return best
}

const electLeader = (sim: Sim): number => {
  expect(sim.runUntil(() => leader(sim) !== undefined, 500)).toBe(true)
  return leader(sim)!
}

const allCompleted = (sim: Sim) => sim.operations().every((op) => op.outcome !== undefined)
const outcomes = (sim: Sim) => sim.operations().map((op) => op.outcome?._tag)

const expectClean = (sim: Sim) => expect(sim.check()).toEqual([])

/** Wraps a SimProtocol so every Ready a replica hands out is also given to `observe`. */
const observed = (base: SimProtocol<M.PaxosMessage>, observe: (replica: number, ready: Protocol.Ready<M.PaxosMessage>) => void): SimProtocol<M.PaxosMessage> => ({
  ...base,
  makeReplica: (params) => {
    const d = base.makeReplica(params)
    let last: Protocol.Ready<M.PaxosMessage> | undefined
    return {
      ...d,
      ready: () => {
        const r = d.ready()
        if (r !== last) observe(params.id, r)
        last = r
        return r
      }
    }
  }
})

describe("Paxos scenarios on the simulator", () => {
  it("the leader crashes with a full pipeline: every request still completes once, under a new leader", () => {
    const sim = make(11, { config: { pipelineWindow: 4, maxBatchItems: 1 } })
    const first = electLeader(sim)
    const token = paxos(sim, first).fencingToken()
    for (let i = 0; i < 4; i++) for (let c = 0; c < 3; c++) sim.submit(c, put(`k${c}`, `${c}.${i}`))
    expect(sim.runUntil(() => paxos(sim, first).inFlight() === 4, 200)).toBe(true)
    sim.crash(first)
    expect(sim.runUntil(() => allCompleted(sim), 3000)).toBe(true)
    expect(outcomes(sim).every((o) => o === "Committed")).toBe(true)
    const second = leader(sim)!
    expect(second).not.toBe(first)
    expect(paxos(sim, second).fencingToken()).toBeGreaterThan(token)
    sim.restart(first)
    sim.runFor(100)
    expect(paxos(sim, first).appliedIndex()).toBe(paxos(sim, second).appliedIndex())
    expectClean(sim)
  })

  it("a partition isolates the leader: the old leader commits nothing and answers no read while the majority moves on", () => {
    const replies: Array<M.Outcome["_tag"]> = []
    let watching = -1
    const protocol = observed(simProtocol(), (replica, ready) => {
      if (replica !== watching) return
      for (const o of [...ready.send, ...ready.sendAfterPersist]) if (o.message._tag === "Reply") replies.push(o.message.outcome._tag)
    })
    const sim = Simulator.make({ protocol, seed: 5, replicas: 3, clients: 2 })
    const old = electLeader(sim)
    sim.submit(0, put("x", "before"))
    sim.submit(1, put("y", "before"))
    expect(sim.runUntil(() => allCompleted(sim), 500)).toBe(true)
    sim.runFor(20)
    const appliedAtCut = paxos(sim, old).appliedIndex()
    const committedAtCut = sim.events(old).filter((e) => e._tag === "Committed").length
    watching = old
    sim.isolate(old)
    // both clients still reach the old leader (clients are never partitioned)
    sim.submit(0, put("x", "during"))
    sim.submit(1, get("x"), { readOnly: true })
    sim.runFor(300)
    expect(sim.events(old).filter((e) => e._tag === "Committed").length).toBe(committedAtCut)
    expect(paxos(sim, old).appliedIndex()).toBe(appliedAtCut)
    // the requests did reach it: it answered them, but never with a result
    expect(replies.length).toBeGreaterThan(0)
    expect(replies.filter((o) => o === "Committed")).toEqual([])
    expect(sim.events(old).some((e) => e._tag === "Custom" && e.name === "paxos/step-down" && (e.data as { cause: string }).cause === "lost-quorum")).toBe(true)
    const fresh = leader(sim)
    expect(fresh).toBeDefined()
    expect(fresh).not.toBe(old)
    expect(allCompleted(sim)).toBe(true) // the majority side served both, through the clients' retries
    expect(outcomes(sim).every((o) => o === "Committed")).toBe(true)
    watching = -1
    sim.heal()
    sim.runFor(200)
    // after healing the old leader follows the new one (pre-vote keeps it from deposing it) and catches up
    const leaders = [0, 1, 2].filter((r) => paxos(sim, r).isLeader())
    expect(leaders).toEqual([fresh])
    expect(paxos(sim, old).stateDigest()).toBe(paxos(sim, fresh!).stateDigest())
    expect(paxos(sim, old).appliedIndex()).toBeGreaterThan(appliedAtCut)
    expectClean(sim)
  })

  it("dueling proposers that keep preempting each other stay safe, and one leader emerges once they stop", () => {
    const sim = make(3, { config: { electionTimeoutMinTicks: 8, electionTimeoutMaxTicks: 16 } })
    electLeader(sim)
    for (let c = 0; c < 3; c++) sim.submit(c, put("k", `${c}`))
    for (let round = 0; round < 20; round++) {
      // replicas 1 and 2 both start phase 1 with ever higher ballots, every other tick
      Election.campaign(paxos(sim, 1 + (round % 2)).core.state, "forced")
      sim.runFor(2)
      if (round % 5 === 0) for (let c = 0; c < 3; c++) if (sim.operations().filter((o) => o.client === c && !o.outcome).length === 0) sim.submit(c, put("k", `${c}.${round}`))
    }
    const preempted = [0, 1, 2].flatMap((r) => sim.events(r)).filter((e) => e._tag === "Custom" && e.name === "paxos/step-down").length
    expect(preempted).toBeGreaterThan(3)
    expect(sim.runUntil(() => allCompleted(sim) && leader(sim) !== undefined, 3000)).toBe(true)
    sim.runFor(50)
    expect([0, 1, 2].filter((r) => paxos(sim, r).isLeader())).toHaveLength(1)
    expect(outcomes(sim).every((o) => o === "Committed")).toBe(true)
    expectClean(sim)
  })

  it("a replica restarts from storage mid-run and resumes from its disk, then catches up", () => {
    const sim = make(21, { config: { snapshotIntervalSlots: 8, logRetentionSlots: 2, maxBatchItems: 1 } })
    const l = electLeader(sim)
    const victim = (l + 1) % 3
    for (let i = 0; i < 12; i++) sim.submit(i % 3, put(`k${i % 4}`, `${i}`))
    expect(sim.runUntil(() => paxos(sim, victim).appliedIndex() >= 10, 500)).toBe(true)
    const applied = paxos(sim, victim).appliedIndex()
    const snapshot = paxos(sim, victim).snapshotIndex()
    expect(snapshot).toBeGreaterThan(0)
    sim.crash(victim)
    for (let i = 12; i < 24; i++) sim.submit(i % 3, put(`k${i % 4}`, `${i}`))
    sim.runFor(30)
    sim.restart(victim)
    // straight from disk: the snapshot and the chosen slots above it
    expect(paxos(sim, victim).snapshotIndex()).toBe(snapshot)
    expect(paxos(sim, victim).appliedIndex()).toBe(applied)
    expect(sim.runUntil(() => allCompleted(sim), 2000)).toBe(true)
    sim.runFor(50)
    expect(paxos(sim, victim).appliedIndex()).toBe(paxos(sim, leader(sim)!).appliedIndex())
    expect(paxos(sim, victim).stateDigest()).toBe(paxos(sim, leader(sim)!).stateDigest())
    expectClean(sim)
  })

  it("a lagging replica catches up through a snapshot once the log it missed is truncated", () => {
    const sim = make(8, { config: { snapshotIntervalSlots: 5, logRetentionSlots: 1, maxBatchItems: 1, catchUpBatchSlots: 4 } })
    const l = electLeader(sim)
    const lagging = (l + 2) % 3
    sim.partition([[lagging], [0, 1, 2].filter((r) => r !== lagging)])
    for (let round = 0; round < 10; round++) {
      for (let c = 0; c < 3; c++) sim.submit(c, put(`k${c}`, `${round}`))
      expect(sim.runUntil(() => allCompleted(sim), 500)).toBe(true)
    }
    const top = paxos(sim, l).appliedIndex()
    expect(paxos(sim, l).snapshotIndex()).toBeGreaterThan(paxos(sim, lagging).appliedIndex() + 5)
    sim.heal()
    expect(sim.runUntil(() => paxos(sim, lagging).appliedIndex() >= top, 500)).toBe(true)
    expect(sim.events(lagging).some((e) => e._tag === "StateTransferred")).toBe(true)
    expect(paxos(sim, lagging).stateDigest()).toBe(paxos(sim, l).stateDigest())
    expectClean(sim)
  })

  it("a duplicate client request executes once, even when the network duplicates it and the leader dies mid-way", () => {
    const sim = make(13)
    const l = electLeader(sim)
    sim.network.faults = { drop: 0, duplicate: 0.5, reorder: 0.2 }
    for (let c = 0; c < 3; c++) sim.submit(c, put("k", `${c}`))
    sim.runFor(3)
    sim.crash(l)
    for (let c = 0; c < 3; c++) sim.submit(c, put("j", `${c}`))
    expect(sim.runUntil(() => allCompleted(sim), 3000)).toBe(true)
    sim.runFor(50)
    expect(sim.stats.duplicates).toBeGreaterThan(0)
    expect(outcomes(sim).every((o) => o === "Committed")).toBe(true)
    for (const r of [0, 1, 2].filter((x) => x !== l)) {
      const executed = sim.events(r).filter((e) => e._tag === "Executed").map((e) => `${(e as { clientId: string }).clientId}#${(e as { seq: number }).seq}`)
      expect(new Set(executed).size).toBe(executed.length)
      expect(executed).toHaveLength(6)
    }
    expectClean(sim)
  })

  it("a replica is added and another removed under load, and the new membership alone keeps committing", () => {
    const sim = make(17, { initialMembers: [0, 1, 2], config: { pipelineWindow: 4 } }, { replicas: 4 })
    const l = electLeader(sim)
    expect(l).toBeLessThan(3)
    const removed = l === 0 ? 1 : 0
    const target = [0, 1, 2, 3].filter((r) => r !== removed)
    let i = 0
    const load = () => {
      for (let c = 0; c < 3; c++) if (sim.operations().every((o) => o.client !== c || o.outcome !== undefined)) sim.submit(c, put(`k${c}`, `${i++}`))
    }
    load()
    sim.runFor(5)
    expect(paxos(sim, l).reconfigure(target as never)).toBe(true)
    expect(paxos(sim, l).reconfigure([0, 1] as never)).toBe(false) // one change at a time
    expect(sim.runUntil(() => {
      load()
      return [0, 1, 2, 3].every((r) => paxos(sim, r).membership().current.join() === target.join())
    }, 2000)).toBe(true)
    expect(sim.runUntil(() => allCompleted(sim), 1000)).toBe(true)
    // the removed replica and one more: a majority of the new membership remains, not of the old one
    sim.crash(removed)
    const alsoDown = target.find((r) => r !== 3 && r !== leader(sim))!
    sim.crash(alsoDown)
    const before = sim.operations().length
    for (let c = 0; c < 3; c++) sim.submit(c, put("after", `${c}`))
    expect(sim.runUntil(() => allCompleted(sim), 3000)).toBe(true)
    expect(sim.operations().slice(before).every((o) => o.outcome?._tag === "Committed")).toBe(true)
    expect(paxos(sim, 3).isLeader() || paxos(sim, target.find((r) => r !== 3 && r !== alsoDown)!).isLeader()).toBe(true)
    expectClean(sim)
  })

  it("the leader removes itself: it finishes the slots of its membership, hands over, and nothing is lost", () => {
    const sim = make(23, { config: { pipelineWindow: 4 } }, { replicas: 4 })
    const l = electLeader(sim)
    const target = [0, 1, 2, 3].filter((r) => r !== l)
    for (let c = 0; c < 3; c++) sim.submit(c, put(`k${c}`, "before"))
    expect(paxos(sim, l).reconfigure(target as never)).toBe(true)
    for (let c = 0; c < 3; c++) sim.submit(c, put(`k${c}`, "during"))
    expect(sim.runUntil(() => allCompleted(sim) && leader(sim) !== undefined && leader(sim) !== l, 3000)).toBe(true)
    expect(sim.events(l).some((e) => e._tag === "Custom" && e.name === "paxos/step-down" && (e.data as { cause: string }).cause === "removed")).toBe(true)
    expect(outcomes(sim).every((o) => o === "Committed")).toBe(true)
    sim.crash(l) // no longer needed by anyone
    for (let c = 0; c < 3; c++) sim.submit(c, put(`k${c}`, "after"))
    expect(sim.runUntil(() => allCompleted(sim), 3000)).toBe(true)
    expect(outcomes(sim).every((o) => o === "Committed")).toBe(true)
    expectClean(sim)
  })

  it("serves linearizable reads from a leader lease without a heartbeat round, within the drift bound", () => {
    const lease: Config.LeaseConfig = { durationTicks: 8, driftTicks: 2 }
    const sim = make(4, { config: { lease, electionTimeoutMinTicks: 12, electionTimeoutMaxTicks: 24 } })
    const l = electLeader(sim)
    sim.submit(0, put("x", "1"))
    expect(sim.runUntil(() => allCompleted(sim), 500)).toBe(true)
    sim.runFor(10)
    const state = paxos(sim, l).core.state
    expect(state.reads.leaseValid(state.now)).toBe(true)
    const roundBefore = state.reads.round
    sim.submit(1, get("x"), { readOnly: true })
    expect(sim.runUntil(() => allCompleted(sim), 50)).toBe(true)
    expect(state.reads.round - roundBefore).toBeLessThanOrEqual(1) // at most the periodic heartbeat, not one per read
    expect(Kv.decodeResult((sim.operations().at(-1)!.outcome as { result: Uint8Array }).result)).toEqual({ _tag: "Got", value: "1" })
    expectClean(sim)
  })
})
