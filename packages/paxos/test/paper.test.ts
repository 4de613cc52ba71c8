/**
 * Claims of Lamport, "Paxos Made Simple" (ACM SIGACT News, 2001), checked on
 * one replica driven message by message (each sealed and opened as on the
 * wire). Section numbers refer to that paper.
 */
import { describe, expect, it } from "@effect/vitest"
import { Crypto, Envelope, type PeerId, type Protocol, type ReplicaId, Storage, TrustModel, clientPeer, replicaPeer } from "@synod/core"
import { Kv, KvStateMachine } from "@synod/core/testing"
import * as B from "../src/Ballot.js"
import * as Driver from "../src/Driver.js"
import * as Election from "../src/Election.js"
import * as M from "../src/Messages.js"

const peers = [0, 1, 2, 3, 4].map(replicaPeer).concat([clientPeer("c")])
const keys = Crypto.simulatedKeyRing("paper", peers)
const ctx = M.envelope("paper")
const quiet = { electionTimeoutMinTicks: 1000, electionTimeoutMaxTicks: 1000 }

const replica = (id: number, trust = TrustModel.crashMajority(3), disk = new Map<string, Uint8Array>(), config = {}) =>
  Driver.make({ id: id as ReplicaId, trust, stateMachine: KvStateMachine, disk, seed: id, config: { ...quiet, ...config } })

const receive = (d: Driver.PaxosDriver, from: PeerId, message: M.PaxosMessage) => {
  const opened = Envelope.open(ctx, keys, Envelope.seal(ctx, Crypto.simulatedSigner("paper", from), message), from)
  if (opened._tag === "Left") throw opened.left
  d.step({ _tag: "Receive", envelope: opened.right })
}

/** Take the driver's Ready (carried out into `disk` if given). */
const take = (d: Driver.PaxosDriver, disk?: Map<string, Uint8Array>): Protocol.Ready<M.PaxosMessage> => {
  const r = d.ready()
  if (disk !== undefined) Storage.applyBatch(disk, r.persist)
  d.advance()
  return r
}

const sent = (r: Protocol.Ready<M.PaxosMessage>) => [...r.send, ...r.sendAfterPersist].map((o) => o.message)
const ofTag = <T extends M.PaxosMessage["_tag"]>(r: Protocol.Ready<M.PaxosMessage>, tag: T) =>
  sent(r).filter((m): m is Extract<M.PaxosMessage, { _tag: T }> => m._tag === tag)

const ballot = (round: number, r: number) => B.make(round, r as ReplicaId)
const put = (clientId: string, seq: number, key: string, value: string) =>
  new M.Command({ clientId: clientId as never, seq: seq as never, ackedBelow: 0 as never, command: Kv.encodeCommand({ _tag: "Put", key, value }) })
const value = (b: B.Ballot, ...items: Array<M.Item>) => new M.Batch({ ballot: b, items })
const accept = (b: B.Ballot, slot: number, v: M.Batch) => new M.Accept({ ballot: b, slot: slot as never, value: v, chosenThrough: 0 as never })

/** Make replica `d` campaign now and return its ballot and prepare. */
const campaign = (d: Driver.PaxosDriver) => {
  Election.campaign(d.core.state, "test")
  const r = take(d)
  return { ballot: d.ballot(), prepares: ofTag(r, "Prepare") }
}

describe("Paxos Made Simple", () => {
  it("§2.2 P1a: an acceptor accepts ballot n unless it has promised a ballot greater than n", () => {
    const d = replica(1)
    receive(d, replicaPeer(0), new M.Prepare({ ballot: ballot(5, 0), fromSlot: 1 as never }))
    expect(ofTag(take(d), "Promise")).toHaveLength(1)
    receive(d, replicaPeer(2), accept(ballot(4, 2), 1, value(ballot(4, 2))))
    const refused = take(d)
    expect(ofTag(refused, "Accepted")).toEqual([])
    expect(ofTag(refused, "Nack")).toEqual([new M.Nack({ ballot: ballot(4, 2), promised: ballot(5, 0) })])
    expect(refused.events).toContainEqual(expect.objectContaining({ _tag: "Rejected", rejection: expect.objectContaining({ reason: "stale" }) }))
    receive(d, replicaPeer(0), accept(ballot(5, 0), 1, value(ballot(5, 0))))
    expect(ofTag(take(d), "Accepted")).toEqual([new M.Accepted({ ballot: ballot(5, 0), slot: 1 as never })])
    // a higher ballot needs no prepare of its own to be accepted
    receive(d, replicaPeer(2), accept(ballot(6, 2), 2, value(ballot(6, 2))))
    expect(ofTag(take(d), "Accepted")).toHaveLength(1)
    expect(d.promised()).toEqual(ballot(6, 2))
  })

  it("§2.2 phase 1(b): a promise carries the highest-numbered proposal accepted in each slot, and binds the acceptor", () => {
    const d = replica(1)
    const a = value(ballot(1, 0), put("c", 0, "x", "A"))
    const b = value(ballot(2, 2), put("c", 1, "x", "B"))
    receive(d, replicaPeer(0), accept(ballot(1, 0), 1, a))
    receive(d, replicaPeer(2), accept(ballot(2, 2), 1, b))
    receive(d, replicaPeer(2), accept(ballot(2, 2), 2, value(ballot(2, 2))))
    take(d)
    receive(d, replicaPeer(0), new M.Prepare({ ballot: ballot(3, 0), fromSlot: 1 as never }))
    const [promise] = ofTag(take(d), "Promise")
    expect(promise!.accepted.map((e) => [e.slot, e.ballot.toString()])).toEqual([[1, "2.2"], [2, "2.2"]])
    expect(promise!.accepted[0]!.value).toEqual(b)
    receive(d, replicaPeer(2), accept(ballot(2, 2), 3, value(ballot(2, 2))))
    expect(ofTag(take(d), "Accepted")).toEqual([]) // "not to accept any more proposals numbered less than n"
  })

  it("§2.2: a promise reporting a proposal above its own ballot is impossible and is rejected as invalid", () => {
    const d = replica(0)
    const { ballot: b } = campaign(d)
    const bogus = new M.AcceptedEntry({ slot: 1 as never, ballot: B.make(b.round + 1, 1 as ReplicaId), value: value(ballot(1, 1)) })
    receive(d, replicaPeer(1), new M.Promise({ ballot: b, fromSlot: 1 as never, chosenThrough: 0 as never, accepted: [bogus] }))
    const r = take(d)
    expect(d.isLeader()).toBe(false)
    expect(r.events).toContainEqual(expect.objectContaining({ _tag: "Rejected", rejection: expect.objectContaining({ reason: "invalid" }) }))
  })

  it("§2.2 P2c: the leader proposes, in each open slot, the value of the highest-numbered proposal among a majority's promises", () => {
    const d = replica(0)
    // replica 0 itself accepted X at (1,1); replica 2 reports Y at (1,2) for the same slot
    const x = value(ballot(1, 1), put("c", 0, "k", "X"))
    const y = value(ballot(1, 2), put("c", 1, "k", "Y"))
    receive(d, replicaPeer(1), accept(ballot(1, 1), 1, x))
    take(d)
    const { ballot: b, prepares } = campaign(d)
    expect(prepares).toEqual([new M.Prepare({ ballot: b, fromSlot: 1 as never })])
    receive(d, replicaPeer(2), new M.Promise({ ballot: b, fromSlot: 1 as never, chosenThrough: 0 as never, accepted: [new M.AcceptedEntry({ slot: 1 as never, ballot: ballot(1, 2), value: y })] }))
    const r = take(d)
    expect(d.isLeader()).toBe(true)
    const accepts = ofTag(r, "Accept")
    expect(accepts).toHaveLength(1)
    expect(accepts[0]!.slot).toBe(1)
    expect(accepts[0]!.ballot).toEqual(b) // proposed in the new ballot ...
    expect(accepts[0]!.value).toEqual(y) // ... with the highest-numbered value reported
  })

  it("§3: slots below the highest reported one that no promise mentions are filled with no-ops", () => {
    const d = replica(0)
    receive(d, replicaPeer(1), new M.Prepare({ ballot: ballot(3, 1), fromSlot: 1 as never }))
    take(d)
    const { ballot: b } = campaign(d)
    expect(b).toEqual(ballot(4, 0))
    const z = value(ballot(3, 1), put("c", 0, "k", "Z"))
    receive(d, replicaPeer(1), new M.Promise({ ballot: b, fromSlot: 1 as never, chosenThrough: 0 as never, accepted: [new M.AcceptedEntry({ slot: 3 as never, ballot: ballot(3, 1), value: z })] }))
    const accepts = ofTag(take(d), "Accept").sort((p, q) => p.slot - q.slot)
    expect(accepts.map((a) => a.slot)).toEqual([1, 2, 3])
    expect(accepts[0]!.value.items).toEqual([])
    expect(accepts[1]!.value.items).toEqual([])
    expect(accepts[2]!.value).toEqual(z)
  })

  it("§2.3: a value is chosen only once a majority of acceptors accepted it, and then learners are told", () => {
    const d = replica(0, TrustModel.crashMajority(5))
    const { ballot: b } = campaign(d)
    receive(d, replicaPeer(1), new M.Promise({ ballot: b, fromSlot: 1 as never, chosenThrough: 0 as never, accepted: [] }))
    receive(d, replicaPeer(2), new M.Promise({ ballot: b, fromSlot: 1 as never, chosenThrough: 0 as never, accepted: [] }))
    take(d)
    expect(d.isLeader()).toBe(true)
    receive(d, clientPeer("c"), new M.Request({ clientId: "c" as never, seq: 0 as never, ackedBelow: 0 as never, op: { _tag: "Write", command: Kv.encodeCommand({ _tag: "Put", key: "k", value: "v" }) } }))
    const [acc] = ofTag(take(d), "Accept")
    receive(d, replicaPeer(1), new M.Accepted({ ballot: b, slot: acc!.slot }))
    receive(d, replicaPeer(1), new M.Accepted({ ballot: b, slot: acc!.slot })) // a duplicate vote counts once
    let r = take(d)
    expect(r.events.filter((e) => e._tag === "Committed")).toEqual([])
    expect(ofTag(r, "Commit")).toEqual([])
    receive(d, replicaPeer(3), new M.Accepted({ ballot: b, slot: acc!.slot }))
    r = take(d)
    expect(r.events.filter((e) => e._tag === "Committed").map((e) => (e as { index: number }).index)).toEqual([acc!.slot])
    expect(ofTag(r, "Commit")).toEqual([new M.Commit({ ballot: b, from: acc!.slot, to: acc!.slot })])
    expect(ofTag(r, "Reply")[0]!.outcome._tag).toBe("Committed")
  })

  it("§3: a stable leader skips phase 1 for new commands", () => {
    const d = replica(0)
    const { ballot: b } = campaign(d)
    receive(d, replicaPeer(1), new M.Promise({ ballot: b, fromSlot: 1 as never, chosenThrough: 0 as never, accepted: [] }))
    take(d)
    for (let seq = 0; seq < 3; seq++) {
      receive(d, clientPeer("c"), new M.Request({ clientId: "c" as never, seq: seq as never, ackedBelow: 0 as never, op: { _tag: "Write", command: Kv.encodeCommand({ _tag: "Put", key: "k", value: `${seq}` }) } }))
      const r = take(d)
      expect(ofTag(r, "Prepare")).toEqual([])
      expect(ofTag(r, "Accept").map((a) => a.ballot)).toEqual([b])
    }
  })

  it("§2.2: an acceptor remembers its promise and its accepted proposals across a restart", () => {
    const disk = new Map<string, Uint8Array>()
    const d = replica(1, TrustModel.crashMajority(3), disk)
    receive(d, replicaPeer(2), accept(ballot(2, 2), 1, value(ballot(2, 2), put("c", 0, "k", "v"))))
    take(d, disk)
    receive(d, replicaPeer(0), new M.Prepare({ ballot: ballot(7, 0), fromSlot: 1 as never }))
    take(d, disk)
    const again = replica(1, TrustModel.crashMajority(3), disk)
    expect(again.promised()).toEqual(ballot(7, 0))
    receive(again, replicaPeer(2), accept(ballot(3, 2), 2, value(ballot(3, 2))))
    expect(ofTag(take(again), "Accepted")).toEqual([])
    receive(again, replicaPeer(0), new M.Prepare({ ballot: ballot(7, 0), fromSlot: 1 as never }))
    const [promise] = ofTag(take(again), "Promise")
    expect(promise!.accepted.map((e) => [e.slot, e.ballot.toString()])).toEqual([[1, "2.2"]])
  })

  it("§3: the leader keeps at most pipelineWindow slots in flight beyond what it has applied", () => {
    const d = replica(0, TrustModel.crashMajority(3), new Map(), { pipelineWindow: 4, maxBatchItems: 1 })
    const { ballot: b } = campaign(d)
    receive(d, replicaPeer(1), new M.Promise({ ballot: b, fromSlot: 1 as never, chosenThrough: 0 as never, accepted: [] }))
    take(d)
    for (let seq = 0; seq < 10; seq++) {
      receive(d, clientPeer("c"), new M.Request({ clientId: "c" as never, seq: seq as never, ackedBelow: 0 as never, op: { _tag: "Write", command: Kv.encodeCommand({ _tag: "Put", key: "k", value: `${seq}` }) } }))
    }
    expect(ofTag(take(d), "Accept").map((a) => a.slot)).toEqual([1, 2, 3, 4])
    expect(d.inFlight()).toBe(4)
    receive(d, replicaPeer(1), new M.Accepted({ ballot: b, slot: 1 as never }))
    expect(ofTag(take(d), "Accept").map((a) => a.slot)).toEqual([5]) // one chosen and applied: one more slot opens
  })

  it("Flexible Paxos (Howard et al. 2016): phase 2 needs only |Q2| votes, phase 1 needs |Q1| promises", () => {
    const d = replica(0, TrustModel.flexible(4, 3, 2))
    const { ballot: b } = campaign(d)
    receive(d, replicaPeer(1), new M.Promise({ ballot: b, fromSlot: 1 as never, chosenThrough: 0 as never, accepted: [] }))
    take(d)
    expect(d.isLeader()).toBe(false) // 2 of the 3 phase-1 promises needed
    receive(d, replicaPeer(2), new M.Promise({ ballot: b, fromSlot: 1 as never, chosenThrough: 0 as never, accepted: [] }))
    take(d)
    expect(d.isLeader()).toBe(true)
    receive(d, clientPeer("c"), new M.Request({ clientId: "c" as never, seq: 0 as never, ackedBelow: 0 as never, op: { _tag: "Write", command: Kv.encodeCommand({ _tag: "Put", key: "k", value: "v" }) } }))
    const [acc] = ofTag(take(d), "Accept")
    receive(d, replicaPeer(3), new M.Accepted({ ballot: b, slot: acc!.slot }))
    expect(take(d).events.some((e) => e._tag === "Committed")).toBe(true) // self + one vote = |Q2|
  })
})
