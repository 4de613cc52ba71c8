/**
 * What a PBFT replica tells operators, on the deterministic simulator:
 * `status()` (role, view, primary, commit / applied / stable checkpoint, each
 * peer's lag) checked after every Ready of seeded fault runs with a Byzantine
 * replica, the `RequestPhase` events that become request spans, the `cause`
 * of `ViewChanged` for a silent and an equivocating primary, and a lagging
 * replica's lag in the primary's status across its state transfer.
 */
import { readFileSync } from "node:fs"
import { Protocol, type ReplicaId, Status } from "@synod/core"
import { Kv, Simulator, type SimProtocol } from "@synod/core/testing"
import { Schema } from "effect"
import { describe, expect, it } from "vitest"
import type { PbftDriver } from "../src/Driver.js"
import { RequestPhases } from "../src/internal/Phases.js"
import { Progress } from "../src/internal/Progress.js"
import type { PbftMessage } from "../src/Messages.js"
import { simProtocol, type SimOptions } from "../src/SimProtocol.js"
import { pbft, quiet, request, type Sim } from "./support/Sim.js"

type PhaseEvent = Extract<Protocol.ProtocolEvent, { readonly _tag: "RequestPhase" }>

const PHASES = Protocol.REQUEST_PHASES
const isStatus = Schema.is(Status.ReplicaStatus)
const put = (key: string, value: string): Kv.Command => ({ _tag: "Put", key, value })
const statusOf = (sim: Sim, r: number) => pbft(sim, r).status()
const lagOf = (sim: Sim, at: number, peer: number) => statusOf(sim, at).peers.find((p) => p.replica === peer)!.lag

/** The view-change causes GLOSSARY.md documents (the row of "view-change `cause`"). */
const documentedCauses = (): Set<string> => {
  const glossary = readFileSync(new URL("../GLOSSARY.md", import.meta.url), "utf8")
  const row = glossary.split("\n").find((l) => l.startsWith("| view-change `cause`"))!
  return new Set([...row.slice("| view-change `cause` |".length).matchAll(/`([a-z-]+)`/g)].map((m) => m[1]!))
}

/**
 * What is wrong with the phase events of one incarnation of a replica: each
 * phase at most once per request and in order; committed, executed and
 * replied carry the sequence number; `executed` pairs with the `Executed`
 * event and is followed by `replied` at the same sequence number.
 */
const phaseProblems = (events: ReadonlyArray<Protocol.ProtocolEvent>): Array<string> => {
  const problems: Array<string> = []
  const rank = new Map<string, number>()
  const executedEvents = new Set<string>()
  const executedPhases = new Map<string, number>()
  const replied = new Map<string, number>()
  for (const e of events) {
    if (e._tag === "Executed") executedEvents.add(`${e.clientId}#${e.seq}@${e.index}`)
    if (e._tag !== "RequestPhase") continue
    const key = `${e.clientId}#${e.seq}`
    const r = PHASES.indexOf(e.phase)
    const before = rank.get(key) ?? -1
    if (r <= before) problems.push(`${key}: ${e.phase} after ${PHASES[before]}`)
    rank.set(key, Math.max(r, before))
    if (e.phase !== "received" && e.index === undefined) problems.push(`${key}: ${e.phase} without a sequence number`)
    if (e.phase === "executed") {
      executedPhases.set(key, e.index!)
      if (!executedEvents.has(`${key}@${e.index}`)) problems.push(`${key}: executed at ${e.index} without an Executed event`)
    }
    if (e.phase === "replied") replied.set(key, e.index!)
  }
  for (const x of executedEvents) {
    const [key, index] = x.split("@") as [string, string]
    if (executedPhases.get(key) !== Number(index) || replied.get(key) !== Number(index)) problems.push(`${x}: no executed and replied phases`)
  }
  return problems
}

interface Incarnation {
  readonly replica: number
  readonly events: Array<Protocol.ProtocolEvent>
}

/**
 * Wraps the protocol so every replica's `status()` is checked after every
 * Ready it hands out (the shell's rhythm) against the driver, against the
 * events of the same incarnation so far, and against its own earlier answers;
 * each incarnation's events are kept for the phase checks.
 */
const observed = (base: SimProtocol<PbftMessage>, problems: Array<string>, incarnations: Array<Incarnation>): SimProtocol<PbftMessage> => ({
  ...base,
  makeReplica: (params) => {
    const d = base.makeReplica(params) as PbftDriver
    const id = params.id
    const n = params.trust.replicas.length
    const mine: Incarnation = { replica: id, events: [] }
    incarnations.push(mine)
    let highestCommitted = 0
    let lastView: { readonly view: number; readonly leader: number } | undefined
    let votedView: number | undefined
    let lastStable: number | undefined
    let before: Status.ReplicaStatus | undefined
    // the view it starts in: 0, or the one a restarted replica recovered from its disk
    const initialView = d.view()
    const fail = (what: string, st: unknown) => problems.push(`replica ${id}: ${what}: ${JSON.stringify(st)}`)
    const check = () => {
      const st = d.status()
      if (!isStatus(st)) return fail("not a ReplicaStatus", st)
      const x = st.extra!
      const normal = d.core.isNormal()
      const role = !normal ? "view-changing" : d.isPrimary() ? "primary" : "backup"
      if (st.role !== role) fail(`role, driver says ${role}`, st)
      if (st.view !== d.view()) fail("view differs from the driver's", st)
      if (st.appliedIndex !== d.appliedIndex()) fail("applied index differs from the driver's", st)
      if (st.commitIndex < st.appliedIndex || st.commitIndex < highestCommitted) fail(`commit index below applied or a Committed event (${highestCommitted})`, st)
      if (st.stableCheckpoint !== d.core.stableCheckpoint().seq || st.stableCheckpoint !== x["lowWatermark"]) fail("stable checkpoint", st)
      if (lastStable !== undefined && st.stableCheckpoint !== lastStable) fail(`stable checkpoint is not the last stable Checkpoint event (${lastStable})`, st)
      if (x["transferring"] === 0 && st.stableCheckpoint! > st.appliedIndex) fail("stable checkpoint ahead of execution without a transfer", st)
      if (x["highWatermark"]! - x["lowWatermark"]! !== d.core.state.config.logWindow) fail("watermarks", st)
      if (before !== undefined && (st.commitIndex < before.commitIndex || st.appliedIndex < before.appliedIndex || st.view < before.view)) fail("went back", st)
      if (st.peers.length !== n - 1 || st.peers.some((p) => p.replica === id || p.lag < 0)) fail("peers", st)
      if (normal) {
        if (st.leader !== st.view % n) fail("leader is not the primary of the view", st)
        // the view a replica reports is the one its latest ViewChanged installed (or the one it started in)
        if (lastView !== undefined ? lastView.view !== st.view || lastView.leader !== st.leader : st.view !== initialView) {
          fail(`view without a matching ViewChanged (${JSON.stringify(lastView)})`, st)
        }
      } else {
        if (st.leader !== undefined) fail("a view-changing replica names a leader", st)
        if (votedView !== undefined && votedView !== st.view) fail(`view-changing to another view than it voted for (${votedView})`, st)
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
          if (e._tag === "Custom" && e.name === "pbft.view-change") votedView = (e.data as { view: number }).view
          if (e._tag === "Checkpoint" && e.stable) lastStable = e.index
        }
        return r
      },
      advance: () => {
        const r = d.ready()
        mine.events.push(...r.events)
        d.advance()
        check()
      }
    }
  }
})

describe("status and request phases on the simulator", () => {
  it("status() agrees with the driver and the events after every Ready of seeded fault runs with a Byzantine replica, and changes nothing", () => {
    const problems: Array<string> = []
    let crashes = 0
    for (const seed of [1, 2, 3]) {
      const incarnations: Array<Incarnation> = []
      const plain = Simulator.make({ protocol: simProtocol(), seed, byzantine: 1 }).run()
      const checked = Simulator.make({ protocol: observed(simProtocol(), problems, incarnations), seed, byzantine: 1 }).run()
      expect(checked.ok).toBe(true)
      // calling status() after every Ready did not change a single delivery
      expect(checked.traceDigest).toBe(plain.traceDigest)
      crashes += checked.stats.crashes
      let phases = 0
      for (const inc of incarnations) {
        expect(phaseProblems(inc.events), `seed ${seed} replica ${inc.replica}`).toEqual([])
        phases += inc.events.filter((e) => e._tag === "RequestPhase").length
      }
      // every committed request went through at least committed, executed, replied at the 3 correct replicas
      expect(phases).toBeGreaterThan(3 * 3 * checked.stats.outcomes.Committed!)
    }
    expect(crashes).toBeGreaterThan(0)
    expect(problems.slice(0, 5)).toEqual([])
  })

  it("one request: received, proposed, prepared, committed, executed, replied at the primary; backups skip received; same sequence number", () => {
    const sim = Simulator.make({ protocol: simProtocol(), seed: 7, clients: 1, faults: quiet })
    const op = request(sim, 0, put("a", "1"))
    expect(sim.runUntil(() => [0, 1, 2, 3].every((r) => pbft(sim, r).appliedIndex() === 1), 100)).toBe(true)
    const phases = (r: number) =>
      sim.events(r).filter((e): e is PhaseEvent => e._tag === "RequestPhase" && e.clientId === op.clientId && e.seq === op.seq)
    expect(phases(0).map((e) => [e.phase, e.index])).toEqual([
      ["received", undefined],
      ["proposed", 1],
      ["prepared", 1],
      ["committed", 1],
      ["executed", 1],
      ["replied", 1]
    ])
    // the client sent it to the primary only: backups learn it from the batch
    for (const r of [1, 2, 3]) expect(phases(r).map((e) => e.phase)).toEqual(PHASES.slice(1))
    expect(statusOf(sim, 0)).toMatchObject({ role: "primary", view: 0, leader: 0, commitIndex: 1, appliedIndex: 1 })
    expect(statusOf(sim, 2)).toMatchObject({ role: "backup", view: 0, leader: 0, commitIndex: 1, appliedIndex: 1 })
  })

  it("a silent primary: the backups report timeout (or join), install view 1, and their status names replica 1", () => {
    const sim = Simulator.make({ protocol: simProtocol(), seed: 3, byzantineReplicas: [0], strategies: ["silent"], faults: quiet })
    expect(sim.run().ok).toBe(true)
    const causes = documentedCauses()
    const changes = [1, 2, 3].map((r) => sim.events(r).filter((e) => e._tag === "ViewChanged"))
    for (const c of changes) {
      expect(c[0]).toMatchObject({ view: 1, leader: 1 })
      expect(["timeout", "join"]).toContain((c[0] as { cause: string }).cause)
      for (const e of c) expect(causes).toContain((e as { cause: string }).cause)
    }
    // someone's own timer ran out: the others may have joined it
    expect(changes.map((c) => (c[0] as { cause: string }).cause)).toContain("timeout")
    for (const r of [1, 2, 3]) {
      const last = changes[r - 1]!.at(-1) as { view: number; leader: number }
      expect(statusOf(sim, r)).toMatchObject({ view: last.view, leader: last.leader, role: last.leader === r ? "primary" : "backup" })
    }
  })

  it("an equivocating primary: a view change with cause evidence, and every cause is one GLOSSARY.md documents", () => {
    const sim = Simulator.make({ protocol: simProtocol(), seed: 11, byzantineReplicas: [0], strategies: ["equivocate"], adversaryIntensity: 0.6, faults: quiet })
    expect(sim.run().violations).toEqual([])
    const changes = [1, 2, 3].flatMap((r) => sim.events(r).filter((e) => e._tag === "ViewChanged")) as Array<{ cause: string; view: number }>
    expect(changes.map((e) => e.cause)).toContain("evidence")
    const causes = documentedCauses()
    expect(causes).toEqual(new Set(["timeout", "evidence", "join", "new-view-timeout", "new-view", "restart"]))
    for (const e of changes) expect(causes).toContain(e.cause)
    expect(Math.min(...[1, 2, 3].map((r) => statusOf(sim, r).view))).toBeGreaterThanOrEqual(1)
  })

  it("a lagging replica's lag grows in the primary's status and returns to 0 once state transfer has caught it up", () => {
    const options: SimOptions = { config: { checkpointInterval: 4, logWindow: 8 } }
    const sim = Simulator.make({ protocol: simProtocol(options), seed: 17, faults: quiet })
    request(sim, 0, put("k", "0"))
    sim.runFor(10)
    expect([lagOf(sim, 0, 1), lagOf(sim, 0, 2), lagOf(sim, 0, 3)]).toEqual([0, 0, 0])
    sim.isolate(3)
    const lags: Array<number> = []
    for (let n = 1; n <= 14; n++) {
      request(sim, n % 3, put(`k${n % 4}`, `${n}`))
      sim.runFor(3)
      lags.push(lagOf(sim, 0, 3))
      expect([lagOf(sim, 0, 1), lagOf(sim, 0, 2)]).toEqual([0, 0])
    }
    // one more behind with every request the others commit without it
    expect(lags).toEqual(lags.map((_, i) => i + 1))
    expect(pbft(sim, 3).appliedIndex()).toBe(1)
    sim.heal()
    request(sim, 0, put("after", "heal"))
    // while it catches up, what the primary claims about replica 3 is true: it holds every sequence number up to matchIndex
    const unheld: Array<number> = []
    const caughtUp = () => {
      const match = statusOf(sim, 0).peers.find((p) => p.replica === 3)!.matchIndex
      const s = pbft(sim, 3).core.state
      for (let seq = s.lastExecuted + 1; seq <= match; seq++) {
        const slot = s.log.peek(seq)
        if (slot?.prePrepare === undefined && slot?.prepared === undefined) unheld.push(seq)
      }
      return lagOf(sim, 0, 3) === 0
    }
    expect(sim.runUntil(caughtUp, 2000)).toBe(true)
    expect(unheld).toEqual([])
    expect(sim.events(3).some((e) => e._tag === "StateTransferred")).toBe(true)
    expect(sim.runUntil(() => pbft(sim, 3).appliedIndex() === pbft(sim, 0).appliedIndex(), 200)).toBe(true)
    expect(statusOf(sim, 3)).toMatchObject({ role: "backup", leader: 0, appliedIndex: statusOf(sim, 0).appliedIndex })
    expect(sim.check()).toEqual([])
  })
})

describe("Progress (how far a peer's log reaches)", () => {
  const p1 = 1 as ReplicaId

  it("votes move the match only without a gap; an executed prefix closes the gap and absorbs the votes above it", () => {
    const p = new Progress(8)
    p.voted(p1, 1)
    p.voted(p1, 2)
    expect(p.match(p1)).toBe(2)
    p.voted(p1, 7)
    p.voted(p1, 8)
    expect(p.match(p1)).toBe(2)
    p.executed(p1, 5)
    expect(p.match(p1)).toBe(5)
    p.voted(p1, 6)
    expect(p.match(p1)).toBe(8)
    // an older checkpoint or status never lowers it
    p.executed(p1, 3)
    expect(p.match(p1)).toBe(8)
    expect(p.match(2 as ReplicaId)).toBe(0)
  })

  it("keeps at most maxAbove votes aside, so it can only under-report until the next checkpoint or status", () => {
    const p = new Progress(2)
    for (const seq of [3, 4, 5, 6]) p.voted(p1, seq)
    p.voted(p1, 1)
    p.voted(p1, 2)
    expect(p.match(p1)).toBe(4)
    p.executed(p1, 6)
    expect(p.match(p1)).toBe(6)
  })
})

describe("RequestPhases (each phase once, in order)", () => {
  const none = new Map()

  it("reports a phase once, drops one that comes after a later phase, and forgets a request at replied", () => {
    const t = new RequestPhases(16)
    expect(t.advance(none, "c", 1, "received")).toBe(true)
    expect(t.advance(none, "c", 1, "proposed")).toBe(true)
    // re-proposed in a new view, at another sequence number
    expect(t.advance(none, "c", 1, "proposed")).toBe(false)
    expect(t.advance(none, "c", 1, "committed")).toBe(true)
    expect(t.advance(none, "c", 1, "prepared")).toBe(false)
    expect(t.advance(none, "c", 1, "executed")).toBe(true)
    expect(t.advance(none, "c", 1, "replied")).toBe(true)
    expect(t.size).toBe(0)
  })

  it("an executed request reports nothing before executed; a state transfer forgets what it covers; the table is bounded", () => {
    const t = new RequestPhases(2)
    const replies = new Map([["c", { seq: 3, index: 9, result: new Uint8Array() }]])
    expect(t.advance(replies, "c", 3, "committed")).toBe(false)
    expect(t.advance(replies, "c", 4, "proposed")).toBe(true)
    expect(t.advance(replies, "d", 1, "proposed")).toBe(true)
    // full: the oldest (c#4) goes
    expect(t.advance(replies, "e", 1, "proposed")).toBe(true)
    expect(t.size).toBe(2)
    expect(t.advance(replies, "c", 4, "proposed")).toBe(true)
    t.forgetExecuted(new Map([["c", { seq: 4, index: 10, result: new Uint8Array() }], ["e", { seq: 1, index: 10, result: new Uint8Array() }]]))
    expect(t.size).toBe(0)
  })
})
