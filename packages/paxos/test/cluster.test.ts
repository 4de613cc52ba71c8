/**
 * Three (or more) Paxos drivers wired by the deterministic test harness:
 * every message is sealed, carried and opened; every Ready is persisted to
 * the replica's disk map before its sendAfterPersist leaves.
 */
import { describe, expect, it } from "@effect/vitest"
import { Envelope, type StateMachine } from "@synod/core"
import { Kv, KvStateMachine } from "@synod/core/testing"
import type { PaxosApplyContext } from "../src/Learner.js"
import { createHash } from "node:crypto"
import * as B from "../src/Ballot.js"
import * as M from "../src/Messages.js"
import { Cluster, get, put } from "./harness.js"

const committedAll = (c: Cluster, name: string, seqs: ReadonlyArray<number>) =>
  seqs.every((s) => c.completion(name, s)?.outcome._tag === "Committed")

describe("a three-replica cluster", () => {
  it("elects one leader, commits writes in order on every replica, and answers reads linearizably", () => {
    const c = new Cluster()
    const leader = c.electLeader()
    expect(c.leaders()).toEqual([leader])
    const seqs = [c.submit("alice", put("x", "1")), c.submit("alice", put("x", "2")), c.submit("alice", put("y", "3"))]
    c.runUntil(() => committedAll(c, "alice", seqs))
    expect(c.result("alice", seqs[1]!)).toEqual({ _tag: "Stored", previous: "1" })
    const read = c.submit("alice", get("x"))
    c.runUntil(() => c.completion("alice", read) !== undefined)
    expect(c.result("alice", read)).toEqual({ _tag: "Got", value: "2" })
    c.run(10)
    for (let r = 0; r < 3; r++) {
      // every replica applied the same three writes once each
      const executed = c.eventsOf(r, "Executed").map((e) => `${e.clientId}#${e.seq}`)
      expect(executed).toEqual(seqs.map((s) => `alice#${s}`))
    }
    expect(new Set(c.drivers.map((d) => d.stateDigest())).size).toBe(1)
    c.assertConsistent()
  })

  it("reports Committed with the slot, the entry digest and each command's digest", () => {
    const c = new Cluster()
    c.electLeader()
    const seq = c.submit("alice", put("k", "v"))
    c.runUntil(() => c.completion("alice", seq) !== undefined)
    const withRequests = c.committed(0).filter((e) => e.requests.length > 0)
    expect(withRequests).toHaveLength(1)
    const e = withRequests[0]!
    expect(e.requests[0]).toEqual({ clientId: "alice", seq, commandDigest: expect.stringMatching(/^[0-9a-f]{64}$/) })
    expect(e.requests[0]!.commandDigest).toBe(createHash("sha256").update(Kv.encodeCommand(put("k", "v"))).digest("hex"))
    expect(c.completion("alice", seq)!.outcome).toMatchObject({ _tag: "Committed", index: e.index })
  })

  it("never lets a promise, vote, commit, catch-up answer or reply leave before the Ready that holds its state", () => {
    const c = new Cluster()
    c.electLeader()
    for (let i = 0; i < 5; i++) c.submit("alice", put(`k${i}`, "v"))
    c.run(30)
    const dependent = new Set(["Promise", "Accepted", "Accept", "Commit", "Decided", "InstallSnapshot", "Reply", "Heartbeat"])
    let promises = 0
    for (const readys of c.readys) {
      for (const ready of readys) {
        for (const o of ready.send) expect(dependent.has(o.message._tag)).toBe(false)
        for (const o of ready.sendAfterPersist) {
          if (o.message._tag === "Promise") {
            promises++
            // the promise's ballot is durable in this Ready or an earlier one
            expect(ready.persist.some((w) => w.key === "paxos/promised") || readys.indexOf(ready) > 0).toBe(true)
          }
        }
      }
    }
    expect(promises).toBeGreaterThan(0)
  })

  it("survives a leader crash: a new leader with a higher ballot finishes the work, and a retry gets the original result", () => {
    const c = new Cluster({ clients: ["alice", "bob"] })
    const first = c.electLeader()
    const token = c.driver(first).fencingToken()
    const a = c.submit("alice", put("x", "a"))
    c.runUntil(() => c.completion("alice", a) !== undefined)
    // bob's write reaches the leader, which proposes it and dies before anyone hears the outcome
    const b = c.submit("bob", put("x", "b"))
    c.deliverAll()
    c.crash(first)
    const second = c.electLeader()
    expect(second).not.toBe(first)
    expect(c.driver(second).fencingToken()).toBeGreaterThan(token)
    c.runUntil(() => c.completion("bob", b) !== undefined, 500)
    expect(c.completion("bob", b)!.outcome._tag).toBe("Committed")
    const read = c.submit("alice", get("x"))
    c.runUntil(() => c.completion("alice", read) !== undefined)
    expect(c.result("alice", read)).toEqual({ _tag: "Got", value: "b" })
    for (const r of [0, 1, 2].filter((r) => r !== first)) {
      expect(c.eventsOf(r, "Executed").filter((e) => e.clientId === "bob")).toHaveLength(1)
    }
    c.assertConsistent()
  })

  it("answers a retry whose first reply was lost from the session: the original result, no second execution", () => {
    const c = new Cluster({ client: { attemptTimeoutTicks: 10 } })
    const leader = c.electLeader()
    c.cut.add(`replica/${leader}>client/alice`)
    const s = c.submit("alice", put("n", "1"))
    c.run(8)
    expect(c.completion("alice", s)).toBeUndefined()
    for (let r = 0; r < 3; r++) expect(c.eventsOf(r, "Executed").map((e) => e.seq)).toEqual([s])
    c.heal()
    c.runUntil(() => c.completion("alice", s) !== undefined)
    expect(c.result("alice", s)).toEqual({ _tag: "Stored" }) // the result of the first (and only) execution
    const next = c.submit("alice", put("n", "2"))
    c.runUntil(() => c.completion("alice", next) !== undefined)
    expect(c.result("alice", next)).toEqual({ _tag: "Stored", previous: "1" })
    c.run(3)
    for (let r = 0; r < 3; r++) expect(c.eventsOf(r, "Executed").map((e) => e.seq)).toEqual([s, next])
  })

  it("restarts a replica from its disk: promise, log and applied state come back without replaying events", () => {
    const c = new Cluster()
    c.electLeader()
    const seqs = [0, 1, 2, 3].map((i) => c.submit("alice", put(`k${i}`, `${i}`)))
    c.runUntil(() => committedAll(c, "alice", seqs))
    c.run(5)
    const follower = [0, 1, 2].find((r) => !c.driver(r).isLeader())!
    const before = { applied: c.driver(follower).appliedIndex(), digest: c.driver(follower).stateDigest(), promised: c.driver(follower).promised() }
    const eventsBefore = c.events[follower]!.length
    c.crash(follower)
    c.restart(follower)
    const d = c.driver(follower)
    expect(d.appliedIndex()).toBe(before.applied)
    expect(d.stateDigest()).toBe(before.digest)
    expect(d.promised()).toEqual(before.promised)
    expect(c.events[follower]!.slice(eventsBefore).filter((e) => e._tag === "Committed" || e._tag === "Executed")).toEqual([])
    const more = c.submit("alice", put("after", "restart"))
    c.runUntil(() => c.completion("alice", more) !== undefined)
    c.run(5)
    expect(d.appliedIndex()).toBe(c.driver(c.leader()!).appliedIndex())
    c.assertConsistent()
  })

  it("loses a Ready that was not persisted at a crash, and the cluster stays consistent", () => {
    const c = new Cluster()
    const leader = c.electLeader()
    const s = c.submit("alice", put("x", "1"))
    // the leader takes the request; its Ready (own vote, Accepts) dies with it
    c.hold.add(leader)
    c.deliverAll()
    const lost = c.crashBeforePersist(leader)
    expect(lost?.persist.length).toBeGreaterThan(0)
    expect(lost?.sendAfterPersist.some((o) => o.message._tag === "Accept")).toBe(true)
    c.restart(leader)
    c.runUntil(() => c.completion("alice", s) !== undefined, 800)
    expect(c.completion("alice", s)!.outcome._tag).toBe("Committed")
    c.run(10)
    for (let r = 0; r < 3; r++) expect(c.eventsOf(r, "Executed").filter((e) => e.seq === s)).toHaveLength(1)
    c.assertConsistent()
  })

  it("catches up a replica that missed commits, from its peers' chosen values", () => {
    const c = new Cluster({ config: { snapshotIntervalSlots: 1000 } })
    c.electLeader()
    const lagging = [0, 1, 2].find((r) => !c.driver(r).isLeader())!
    c.isolate(lagging)
    const seqs = Array.from({ length: 12 }, (_, i) => c.submit("alice", put(`k${i}`, `${i}`)))
    c.runUntil(() => committedAll(c, "alice", seqs), 400)
    const top = c.driver(c.leader()!).appliedIndex()
    expect(c.driver(lagging).appliedIndex()).toBeLessThan(top)
    c.heal()
    c.runUntil(() => c.driver(lagging).appliedIndex() >= top, 200)
    expect(c.driver(lagging).stateDigest()).toBe(c.driver(c.leader()!).stateDigest())
    expect(c.eventsOf(lagging, "StateTransferred")).toEqual([])
    c.assertConsistent()
  })

  it("snapshots every interval, truncates the log, and brings a far-behind replica back with a snapshot", () => {
    const c = new Cluster({ config: { snapshotIntervalSlots: 4, logRetentionSlots: 1, maxBatchItems: 1, catchUpBatchSlots: 2 }, client: { maxInFlight: 32 } })
    c.electLeader()
    const lagging = [0, 1, 2].find((r) => !c.driver(r).isLeader())!
    c.isolate(lagging)
    const seqs = Array.from({ length: 20 }, (_, i) => c.submit("alice", put(`k${i % 3}`, `${i}`)))
    c.runUntil(() => committedAll(c, "alice", seqs), 600)
    const leader = c.driver(c.leader()!)
    expect(leader.snapshotIndex()).toBeGreaterThanOrEqual(16)
    expect(leader.logSize()).toBeLessThanOrEqual(leader.appliedIndex() - leader.snapshotIndex() + 1 + 4)
    expect(c.eventsOf(c.leader()!, "Checkpoint").map((e) => e.index).slice(0, 3)).toEqual([4, 8, 12])
    c.heal()
    c.runUntil(() => c.driver(lagging).appliedIndex() >= leader.appliedIndex(), 200)
    expect(c.eventsOf(lagging, "StateTransferred").length).toBeGreaterThan(0)
    expect(c.driver(lagging).stateDigest()).toBe(leader.stateDigest())
    expect(c.eventsOf(lagging, "Executed")).toEqual([]) // it never executed them itself: the state came whole
    c.assertConsistent()
  })

  it("restarts from a snapshot plus the log above it", () => {
    const c = new Cluster({ config: { snapshotIntervalSlots: 3, logRetentionSlots: 0, maxBatchItems: 1 } })
    c.electLeader()
    const seqs = Array.from({ length: 8 }, (_, i) => c.submit("alice", put(`k${i}`, `${i}`)))
    c.runUntil(() => committedAll(c, "alice", seqs), 400)
    c.run(5)
    const r = [0, 1, 2].find((x) => !c.driver(x).isLeader())!
    const before = { applied: c.driver(r).appliedIndex(), digest: c.driver(r).stateDigest(), snap: c.driver(r).snapshotIndex() }
    expect(before.snap).toBeGreaterThan(0)
    expect(before.applied).toBeGreaterThan(before.snap)
    c.crash(r)
    c.restart(r)
    expect(c.driver(r).snapshotIndex()).toBe(before.snap)
    expect(c.driver(r).appliedIndex()).toBe(before.applied)
    expect(c.driver(r).stateDigest()).toBe(before.digest)
  })

  it("answers a stale read from a follower's own (older) state; a linearizable read goes to the leader", () => {
    const c = new Cluster({ clients: ["alice", "bob"] })
    const leader = c.electLeader()
    const [lagging, other] = [0, 1, 2].filter((r) => r !== leader) as [number, number]
    c.retarget("bob", [lagging, leader, other])
    const w1 = c.submit("alice", put("x", "1"))
    c.runUntil(() => c.completion("alice", w1) !== undefined)
    c.run(3)
    // one follower stops hearing the leader; the other keeps the quorum
    c.cut.add(`replica/${leader}>replica/${lagging}`)
    const w2 = c.submit("alice", put("x", "2"))
    c.runUntil(() => c.completion("alice", w2) !== undefined)
    const stale = c.submit("bob", get("x"), { consistency: "stale" })
    c.runUntil(() => c.completion("bob", stale) !== undefined)
    expect(c.result("bob", stale)).toEqual({ _tag: "Got", value: "1" })
    const linearizable = c.submit("bob", get("x"))
    c.runUntil(() => c.completion("bob", linearizable) !== undefined)
    expect(c.result("bob", linearizable)).toEqual({ _tag: "Got", value: "2" })
    expect(c.eventsOf(lagging, "Rejected").some((e) => e.rejection.reason === "not-leader")).toBe(true)
  })

  it("rejects peer input that breaks the rules, with typed reasons", () => {
    const c = new Cluster()
    const leader = c.electLeader()
    const follower = [0, 1, 2].find((r) => r !== leader)!
    const ballot = c.driver(leader).ballot()
    const inject = (from: string, to: number, message: M.PaxosMessage) => {
      c.queue.push({ from: from as never, to: `replica/${to}` as never, frame: sealAs(c, from, message) })
      c.deliverAll()
    }
    // an accept from a ballot below the promise: stale, answered with a Nack
    inject(`replica/${leader}`, follower, new M.Accept({ ballot: B.make(0, ballot.replica), slot: 1 as never, value: new M.Batch({ ballot, items: [] }), chosenThrough: 0 as never }))
    // a prepare signed by someone other than the ballot's proposer
    inject(`replica/${follower === 1 ? 2 : 1}`, follower, new M.Prepare({ ballot: B.make(ballot.round + 5, ballot.replica), fromSlot: 1 as never }))
    // an accept far beyond the acceptor's window
    inject(`replica/${leader}`, follower, new M.Accept({ ballot, slot: 100_000 as never, value: new M.Batch({ ballot, items: [] }), chosenThrough: 0 as never }))
    // replica traffic from a client
    inject("client/alice", follower, new M.Heartbeat({ ballot, chosenThrough: 0 as never, round: 1 }))
    const reasons = c.eventsOf(follower, "Rejected").map((e) => e.rejection.reason)
    expect(reasons).toEqual(expect.arrayContaining(["stale", "invalid", "out-of-window", "not-member"]))
    expect(c.driver(follower).promised()).toEqual(ballot)
    c.assertConsistent()
  })
})

const sealAs = (c: Cluster, from: string, message: M.PaxosMessage) => Envelope.seal(c.ctx, c.signers.get(from as never)!, message)

describe("pre-vote", () => {
  it("a follower cut off from the leader polls in vain, and does not depose the leader when it comes back", () => {
    const c = new Cluster()
    const leader = c.electLeader()
    const ballot = c.driver(leader).ballot()
    const cutOff = [0, 1, 2].find((r) => r !== leader)!
    c.isolate(cutOff)
    c.run(100) // several election timeouts
    expect(c.driver(cutOff).role()).toBe("follower")
    expect(c.custom(cutOff, "paxos/campaign")).toEqual([])
    expect(c.driver(cutOff).promised()).toEqual(ballot)
    c.heal()
    const s = c.submit("alice", put("x", "1"))
    c.runUntil(() => c.completion("alice", s) !== undefined)
    c.run(20)
    expect(c.leader()).toBe(leader)
    expect(c.driver(leader).ballot()).toEqual(ballot)
    expect(c.driver(cutOff).appliedIndex()).toBe(c.driver(leader).appliedIndex())
  })

  it("without pre-vote, the same follower campaigns and its higher ballot deposes the leader", () => {
    const c = new Cluster({ config: { preVote: false } })
    const leader = c.electLeader()
    const ballot = c.driver(leader).ballot()
    const cutOff = [0, 1, 2].find((r) => r !== leader)!
    c.isolate(cutOff)
    c.run(100)
    expect(c.custom(cutOff, "paxos/campaign").length).toBeGreaterThan(1)
    c.heal()
    c.run(60)
    expect(B.greaterThan(c.driver(c.leader()!).ballot(), ballot)).toBe(true)
  })
})

describe("leader fencing", () => {
  it("hands the state machine a fencing token that never decreases, grows with a new leader, and agrees across replicas", () => {
    const seen = new Map<number, Array<number>>()
    let instance = 0
    // the KV machine, recording the fencing token of every apply per instance
    const Fenced: StateMachine.StateMachine<Kv.Command, Kv.Result, Kv.Snapshot> = {
      ...KvStateMachine,
      make: () => {
        const inner = KvStateMachine.make()
        const id = instance++
        seen.set(id, [])
        return { ...inner, apply: (c, ctx) => (seen.get(id)!.push((ctx as PaxosApplyContext).fencingToken), inner.apply(c, ctx)) }
      }
    }
    const c = new Cluster({ stateMachine: Fenced })
    const first = c.electLeader()
    const a = c.submit("alice", put("x", "1"))
    c.runUntil(() => c.completion("alice", a) !== undefined)
    c.crash(first)
    c.electLeader()
    const b = c.submit("alice", put("x", "2"))
    c.runUntil(() => c.completion("alice", b) !== undefined, 500)
    c.run(5)
    const live = [0, 1, 2].filter((r) => r !== first)
    const tokens = live.map((r) => seen.get(r)!)
    expect(tokens[0]).toEqual(tokens[1])
    expect(tokens[0]).toHaveLength(2)
    expect(tokens[0]![1]!).toBeGreaterThan(tokens[0]![0]!)
    expect(tokens[0]![1]).toBe(c.driver(c.leader()!).fencingToken())
  })
})
