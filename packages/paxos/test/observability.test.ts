/**
 * What a Paxos replica tells operators: `status()` (role, ballot round,
 * leader, commit / applied / snapshot index, each peer's lag), the
 * `RequestPhase` events that become request spans, `ViewChanged` causes and
 * snapshots as stable checkpoints, on the deterministic simulator: status
 * checked after every Ready of seeded fault runs, phase order, a leader
 * change, a partitioned follower's lag. Metrics, gauges and spans through the
 * Effect shells: `observability-shell.test.ts`.
 */
import { describe, expect, it } from "@effect/vitest"
import { Protocol, type ReplicaId, Status, type TrustModel } from "@synod/core"
import { Kv, Simulator, type SimProtocol } from "@synod/core/testing"
import { Schema } from "effect"
import type * as Driver from "../src/Driver.js"
import { Progress } from "../src/internal/Progress.js"
import type * as M from "../src/Messages.js"
import { simProtocol, type SimOptions } from "../src/SimProtocol.js"

type Sim = Simulator.Simulation<M.PaxosMessage>
type PhaseEvent = Extract<Protocol.ProtocolEvent, { readonly _tag: "RequestPhase" }>

const PHASES = Protocol.REQUEST_PHASES
const allFaults = { drop: 0.02, duplicate: 0.02, reorder: true, partitions: true, crashes: true, clockSkew: true } as const

const put = (key: string, value: string) => Kv.encodeCommand({ _tag: "Put", key, value })
const paxos = (sim: Sim, r: number) => sim.replica(r) as Driver.PaxosDriver
const statusOf = (sim: Sim, r: number) => paxos(sim, r).status()
const isStatus = Schema.is(Status.ReplicaStatus)

const leaderOf = (sim: Sim): number | undefined => {
  let best: number | undefined
  for (let r = 0; r < sim.n; r++) {
    if (!sim.isUp(r) || !paxos(sim, r).isLeader()) continue
    if (best === undefined || paxos(sim, r).fencingToken() > paxos(sim, best).fencingToken()) best = r
  }
  return best
}

const electLeader = (sim: Sim): number => {
  expect(sim.runUntil(() => leaderOf(sim) !== undefined, 500)).toBe(true)
  return leaderOf(sim)!
}

const phasesOf = (events: ReadonlyArray<Protocol.ProtocolEvent>, clientId: string, seq: number) =>
  events.filter((e): e is PhaseEvent => e._tag === "RequestPhase" && e.clientId === clientId && e.seq === seq)

/**
 * What is wrong with one replica's phase events (all its incarnations): an
 * admission starts at `received` and ends at `replied`; inside one, phases come
 * once each, in order; a request is committed and executed at most once per
 * replica, at the index of the `Committed` entry holding it, and `executed`
 * pairs with the `Executed` event.
 */
const phaseProblems = (events: ReadonlyArray<Protocol.ProtocolEvent>): Array<string> => {
  const problems: Array<string> = []
  const open = new Map<string, { rank: number; admitted: boolean }>()
  const once = new Map<string, number>()
  const committedAt = new Map<number, Set<string>>()
  const executedEvents = new Set<string>()
  for (const e of events) {
    if (e._tag === "Committed") committedAt.set(e.index, new Set(e.requests.map((q) => `${q.clientId}#${q.seq}`)))
    if (e._tag === "Executed") executedEvents.add(`${e.clientId}#${e.seq}@${e.index}`)
    if (e._tag !== "RequestPhase") continue
    const key = `${e.clientId}#${e.seq}`
    const rank = PHASES.indexOf(e.phase)
    const cur = open.get(key) ?? { rank: -1, admitted: false }
    if (e.phase === "received") {
      if (cur.admitted) problems.push(`${key}: received twice in one admission`)
      cur.rank = rank
      cur.admitted = true
    } else if (rank <= cur.rank) {
      problems.push(`${key}: ${e.phase} after ${PHASES[cur.rank]}`)
    } else {
      cur.rank = rank
    }
    if (e.phase === "replied") {
      cur.rank = -1
      cur.admitted = false
    }
    open.set(key, cur)
    if (e.phase === "committed" || e.phase === "executed") {
      const k = `${key} ${e.phase}`
      once.set(k, (once.get(k) ?? 0) + 1)
      if (once.get(k)! > 1) problems.push(`${key}: ${e.phase} twice`)
      if (e.index === undefined) problems.push(`${key}: ${e.phase} without an index`)
    }
    if (e.phase === "committed" && !committedAt.get(e.index!)?.has(key)) problems.push(`${key}: committed at ${e.index}, not in that entry`)
    if (e.phase === "executed" && !executedEvents.has(`${key}@${e.index}`)) problems.push(`${key}: executed at ${e.index} without an Executed event`)
  }
  return problems
}

/**
 * Wraps the protocol so every replica's `status()` is checked after every
 * Ready it hands out (the shell's rhythm): against the driver, against the
 * events of that Ready and earlier ones of the same incarnation, and against
 * its own earlier answers.
 */
const statusChecked = (base: SimProtocol<M.PaxosMessage>, problems: Array<string>): SimProtocol<M.PaxosMessage> => ({
  ...base,
  makeReplica: (params) => {
    const d = base.makeReplica(params) as Driver.PaxosDriver
    const id = params.id
    let highestCommitted = 0
    let lastView: { readonly view: number; readonly leader: number } | undefined
    let before: Status.ReplicaStatus | undefined
    const fail = (what: string, st: Status.ReplicaStatus) => problems.push(`replica ${id}: ${what}: ${JSON.stringify(st)}`)
    const check = () => {
      const st = d.status()
      if (!isStatus(st)) return fail("not a ReplicaStatus", st)
      if (st.role !== d.role()) fail(`role, driver says ${d.role()}`, st)
      if (st.appliedIndex !== d.appliedIndex()) fail("applied index differs from the driver's", st)
      if (st.commitIndex < st.appliedIndex || st.commitIndex < highestCommitted) fail(`commit index below applied or a Committed event (${highestCommitted})`, st)
      if (st.stableCheckpoint !== d.snapshotIndex() || st.stableCheckpoint! > st.appliedIndex) fail("stable checkpoint", st)
      if (before !== undefined && (st.commitIndex < before.commitIndex || st.appliedIndex < before.appliedIndex)) fail("an index went back", st)
      if (st.extra!["inFlight"]! > st.extra!["pipelineWindow"]!) fail("more in flight than the window", st)
      if (st.peers.some((p) => p.replica === id || p.lag < 0)) fail("peers", st)
      if (st.role === "leader" && (st.leader !== id || st.view !== d.ballot().round || st.peers.length !== othersIn(params))) fail("leader fields", st)
      if (st.role === "candidate" && st.leader !== undefined) fail("a candidate names a leader", st)
      if (st.role === "follower" && (st.leader === id || st.peers.length > 1)) fail("follower fields", st)
      // the leader a replica reports is the one its latest ViewChanged named
      if (st.leader !== undefined && (lastView?.view !== st.view || lastView.leader !== st.leader)) {
        fail(`leader without a matching ViewChanged (${JSON.stringify(lastView)})`, st)
      }
      before = st
    }
    return {
      ...d,
      ready: () => {
        const r = d.ready()
        for (const e of r.events) {
          if (e._tag === "Committed") highestCommitted = Math.max(highestCommitted, e.index)
          if (e._tag === "ViewChanged") lastView = { view: e.view, leader: e.leader }
        }
        return r
      },
      advance: () => {
        d.advance()
        check()
      }
    }
  }
})
/** Peers a leader reports in the simulator: every other replica (all of them follow the log). */
const othersIn = (params: { readonly trust: TrustModel.QuorumSystem }) => params.trust.replicas.length - 1

describe("Progress (what a leader knows of each peer's log)", () => {
  const r1 = 1 as ReplicaId

  it("votes extend the match only without a gap; an acknowledged prefix closes the gap and absorbs the votes above it", () => {
    const p = new Progress(8)
    p.accepted(r1, 1)
    p.accepted(r1, 2)
    expect(p.match(r1)).toBe(2)
    // back from a partition: votes for 7 and 8, while 3..6 are still missing
    p.accepted(r1, 7)
    p.accepted(r1, 8)
    expect(p.match(r1)).toBe(2)
    p.accepted(r1, 4)
    expect(p.match(r1)).toBe(2)
    // catch-up filled through 5: the votes for 7 and 8 still wait for 6
    p.acknowledged(r1, 5)
    expect(p.match(r1)).toBe(5)
    p.accepted(r1, 6)
    expect(p.match(r1)).toBe(8)
    // an older acknowledgement never lowers it
    p.acknowledged(r1, 3)
    expect(p.match(r1)).toBe(8)
    p.reset()
    expect(p.match(r1)).toBe(0)
  })

  it("keeps at most maxAbove votes aside, so it can only under-report until the next acknowledgement", () => {
    const p = new Progress(2)
    for (const slot of [3, 4, 5, 6]) p.accepted(r1, slot)
    p.accepted(r1, 1)
    p.accepted(r1, 2)
    // 3 and 4 were kept, 5 and 6 were not
    expect(p.match(r1)).toBe(4)
    p.acknowledged(r1, 6)
    expect(p.match(r1)).toBe(6)
  })
})

describe("Paxos status and request phases on the simulator", () => {
  it("status() agrees with the driver and with the events after every Ready of seeded fault runs, and changes nothing", () => {
    const problems: Array<string> = []
    for (const [seed, options] of [[1, {}], [3, { config: { snapshotIntervalSlots: 4, logRetentionSlots: 1 } }]] as const) {
      const plain = Simulator.make({ protocol: simProtocol(options as SimOptions), seed, faults: allFaults }).run()
      const checked = Simulator.make({ protocol: statusChecked(simProtocol(options as SimOptions), problems), seed, faults: allFaults }).run()
      expect(checked.ok).toBe(true)
      // calling status() after every Ready did not change a single delivery
      expect(checked.traceDigest).toBe(plain.traceDigest)
      expect(checked.stats.crashes + checked.stats.partitions).toBeGreaterThan(0)
    }
    expect(problems.slice(0, 5)).toEqual([])
  })

  it("one request at the leader: received, proposed, committed, executed, replied; at followers committed, executed; same slot", () => {
    const sim = Simulator.make({ protocol: simProtocol(), seed: 7, replicas: 3, clients: 1 })
    electLeader(sim)
    sim.runFor(30) // two candidates at start-up: let one of them win
    const l = leaderOf(sim)!
    const seq = sim.submit(0, put("a", "1"))!
    const clientId = sim.operations()[0]!.clientId
    const done = () => sim.operations().every((o) => o.outcome !== undefined)
    expect(sim.runUntil(() => done() && [0, 1, 2].every((r) => paxos(sim, r).appliedIndex() === paxos(sim, l).appliedIndex()), 300)).toBe(true)
    expect(leaderOf(sim)).toBe(l)
    const atLeader = phasesOf(sim.events(l), clientId, seq)
    expect(atLeader.map((e) => e.phase)).toEqual(["received", "proposed", "committed", "executed", "replied"])
    const slot = sim.events(l).find((e) => e._tag === "Committed" && e.requests.some((q) => q.clientId === clientId && q.seq === seq))
    expect(slot?._tag).toBe("Committed")
    const index = (slot as { index: number }).index
    expect(atLeader.map((e) => e.index)).toEqual([undefined, index, index, index, index])
    for (const f of [0, 1, 2].filter((r) => r !== l)) {
      expect(phasesOf(sim.events(f), clientId, seq).map((e) => [e.phase, e.index])).toEqual([["committed", index], ["executed", index]])
    }
    expect(sim.check()).toEqual([])
  })

  it("over seeded fault runs, phases keep their order, once per admission, and agree with Committed and Executed", () => {
    let phases = 0
    for (const seed of [11, 12, 13, 14]) {
      const sim = Simulator.make({ protocol: simProtocol(), seed, faults: allFaults })
      const r = sim.run()
      expect(r.ok).toBe(true)
      for (let i = 0; i < sim.n; i++) {
        expect(phaseProblems(sim.events(i))).toEqual([])
        phases += sim.events(i).filter((e) => e._tag === "RequestPhase").length
      }
    }
    expect(phases).toBeGreaterThan(4 * 60 * 5)
  })

  it("a leader change: the new leader reports election-timeout, the follower higher-ballot, and status names the new leader", () => {
    const sim = Simulator.make({ protocol: simProtocol(), seed: 21, replicas: 3, clients: 1 })
    const old = electLeader(sim)
    sim.submit(0, put("k", "v"))
    expect(sim.runUntil(() => sim.operations().every((o) => o.outcome !== undefined), 200)).toBe(true)
    const oldView = statusOf(sim, old).view
    sim.crash(old)
    expect(sim.runUntil(() => leaderOf(sim) !== undefined, 500)).toBe(true)
    const fresh = leaderOf(sim)!
    const other = [0, 1, 2].find((r) => r !== old && r !== fresh)!
    const views = (r: number) => sim.events(r).filter((e) => e._tag === "ViewChanged")
    expect(views(fresh).at(-1)).toMatchObject({ leader: fresh, cause: "election-timeout" })
    sim.runFor(10)
    expect(views(other).at(-1)).toMatchObject({ leader: fresh, cause: "higher-ballot" })
    const st = statusOf(sim, fresh)
    expect(st).toMatchObject({ role: "leader", leader: fresh })
    expect(st.view).toBeGreaterThan(oldView)
    expect(statusOf(sim, other)).toMatchObject({ role: "follower", leader: fresh, view: st.view })
    // the crashed leader was never heard from at the new ballot: the new leader vouches for none of its log
    const after = statusOf(sim, fresh)
    expect(after.peers.find((p) => p.replica === old)).toEqual({ replica: old, matchIndex: 0, lag: after.appliedIndex })
    expect(after.appliedIndex).toBeGreaterThanOrEqual(1)
    expect(after.peers.find((p) => p.replica === other)?.lag).toBe(0)
  })

  it("a partitioned follower's lag grows in the leader's status and returns to zero once it has caught up", () => {
    const sim = Simulator.make({ protocol: simProtocol(), seed: 31, replicas: 3, clients: 1 })
    const l = electLeader(sim)
    sim.submit(0, put("k", "0"))
    expect(sim.runUntil(() => sim.operations().every((o) => o.outcome !== undefined), 200)).toBe(true)
    sim.runFor(10)
    const f = [0, 1, 2].find((r) => r !== l)!
    const healthy = [0, 1, 2].find((r) => r !== l && r !== f)!
    const lag = (r: number) => statusOf(sim, l).peers.find((p) => p.replica === r)!.lag
    expect([lag(f), lag(healthy)]).toEqual([0, 0])
    sim.partition([[f], [l, healthy]])
    const lags: Array<number> = []
    for (let i = 1; i <= 8; i++) {
      sim.submit(0, put("k", `${i}`))
      expect(sim.runUntil(() => sim.operations().every((o) => o.outcome !== undefined), 200)).toBe(true)
      lags.push(lag(f))
      expect(lag(healthy)).toBe(0)
    }
    // one more slot behind with every write the leader commits without it
    expect(lags).toEqual([...lags].sort((a, b) => a - b))
    expect(lags.at(-1)).toBeGreaterThanOrEqual(8)
    expect(statusOf(sim, l).appliedIndex - paxos(sim, f).appliedIndex()).toBeGreaterThanOrEqual(8)
    sim.heal()
    // during catch-up, what the leader claims about f is true: f holds every slot up to its matchIndex
    const unheld: Array<number> = []
    const claimHolds = () => {
      const match = statusOf(sim, l).peers.find((p) => p.replica === f)!.matchIndex
      const state = paxos(sim, f).core.state
      for (let slot = state.applied + 1; slot <= match; slot++) {
        const e = state.log.get(slot)
        if (e?.accepted === undefined && e?.chosen === undefined) unheld.push(slot)
      }
      return lag(f) === 0
    }
    expect(sim.runUntil(claimHolds, 300)).toBe(true)
    expect(unheld).toEqual([])
    // zero means caught up: the follower holds every slot the leader proposed
    expect(paxos(sim, f).appliedIndex()).toBe(statusOf(sim, l).appliedIndex)
    expect(statusOf(sim, f)).toMatchObject({ role: "follower", leader: l, appliedIndex: statusOf(sim, l).appliedIndex })
    expect(sim.check()).toEqual([])
  })

  it("snapshots are stable checkpoints, in the events and as the status' stable checkpoint", () => {
    const sim = Simulator.make({ protocol: simProtocol({ config: { snapshotIntervalSlots: 4, logRetentionSlots: 1 } }), seed: 51, replicas: 3, clients: 1 })
    electLeader(sim)
    for (let i = 0; i < 10; i++) {
      sim.submit(0, put("k", `${i}`))
      expect(sim.runUntil(() => sim.operations().every((o) => o.outcome !== undefined), 200)).toBe(true)
    }
    sim.runFor(20)
    for (let r = 0; r < 3; r++) {
      const checkpoints = sim.events(r).filter((e) => e._tag === "Checkpoint")
      expect(checkpoints.length).toBeGreaterThanOrEqual(2)
      expect(checkpoints.every((c) => c._tag === "Checkpoint" && c.stable && c.index % 4 === 0)).toBe(true)
      const st = statusOf(sim, r)
      expect(st.stableCheckpoint).toBe((checkpoints.at(-1) as { index: number }).index)
      expect(st.appliedIndex - st.stableCheckpoint!).toBeLessThan(4)
    }
  })
})
