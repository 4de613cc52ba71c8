/**
 * The leader's admission, batching and limits, on one replica driven message
 * by message.
 */
import { describe, expect, it } from "@effect/vitest"
import { clientPeer, Crypto, Envelope, type PeerId, type Protocol, type ReplicaId, replicaPeer, TrustModel } from "@synod/core"
import { Kv, KvStateMachine, Prng } from "@synod/core/testing"
import * as B from "../src/Ballot.js"
import type { PaxosConfig } from "../src/Config.js"
import * as Driver from "../src/Driver.js"
import * as Election from "../src/Election.js"
import * as M from "../src/Messages.js"
import { simProtocol } from "../src/SimProtocol.js"

const peers = [0, 1, 2].map(replicaPeer).concat(["a", "b"].map(clientPeer))
const keys = Crypto.simulatedKeyRing("leader", peers)
const ctx = M.envelope("leader")

const receive = (d: Driver.PaxosDriver, from: PeerId, message: M.PaxosMessage) => {
  const opened = Envelope.open(ctx, keys, Envelope.seal(ctx, Crypto.simulatedSigner("leader", from), message), from)
  if (opened._tag === "Left") throw opened.left
  d.step({ _tag: "Receive", envelope: opened.right })
}
const take = (d: Driver.PaxosDriver): Protocol.Ready<M.PaxosMessage> => {
  const r = d.ready()
  d.advance()
  return r
}
const messages = <T extends M.PaxosMessage["_tag"]>(r: Protocol.Ready<M.PaxosMessage>, tag: T) =>
  [...r.send, ...r.sendAfterPersist].map((o) => o.message).filter((m): m is Extract<M.PaxosMessage, { _tag: T }> => m._tag === tag)
const rejections = (r: Protocol.Ready<M.PaxosMessage>) => r.events.flatMap((e) => (e._tag === "Rejected" ? [e.rejection.reason] : []))

/** Replica 0, elected leader of a 3-replica cluster. */
const leader = (config: Partial<PaxosConfig> = {}) => {
  const d = Driver.make({
    id: 0 as ReplicaId,
    trust: TrustModel.crashMajority(3),
    stateMachine: KvStateMachine,
    disk: new Map(),
    seed: 1,
    config: { electionTimeoutMinTicks: 1000, electionTimeoutMaxTicks: 1000, heartbeatIntervalTicks: 500, ...config }
  })
  Election.campaign(d.core.state, "test")
  take(d)
  receive(d, replicaPeer(1), new M.Promise({ ballot: d.ballot(), fromSlot: 1 as never, chosenThrough: 0 as never, accepted: [] }))
  take(d)
  expect(d.isLeader()).toBe(true)
  return d
}

const write = (client: string, seq: number, value = "v", ackedBelow = 0) =>
  new M.Request({ clientId: client as never, seq: seq as never, ackedBelow: ackedBelow as never, op: { _tag: "Write", command: Kv.encodeCommand({ _tag: "Put", key: "k", value }) } })

describe("the leader", () => {
  it("batches commands that arrive while the window is full into one slot, up to maxBatchItems", () => {
    const d = leader({ pipelineWindow: 1, maxBatchItems: 3 })
    receive(d, clientPeer("a"), write("a", 0))
    expect(messages(take(d), "Accept").map((a) => a.value.items.length)).toEqual([1])
    for (let seq = 1; seq <= 5; seq++) receive(d, clientPeer("a"), write("a", seq))
    expect(messages(take(d), "Accept")).toEqual([]) // the window of one slot is full
    receive(d, replicaPeer(1), new M.Accepted({ ballot: d.ballot(), slot: 1 as never }))
    expect(messages(take(d), "Accept").map((a) => a.value.items.map((i) => i.seq))).toEqual([[1, 2, 3]])
  })

  it("holds a partial batch for batchDelayTicks, then proposes it", () => {
    const d = leader({ batchDelayTicks: 3, maxBatchItems: 4 })
    receive(d, clientPeer("a"), write("a", 0))
    receive(d, clientPeer("b"), write("b", 0))
    expect(messages(take(d), "Accept")).toEqual([])
    d.step({ _tag: "Tick" })
    d.step({ _tag: "Tick" })
    expect(messages(take(d), "Accept")).toEqual([])
    d.step({ _tag: "Tick" })
    expect(messages(take(d), "Accept").map((a) => a.value.items.map((i) => i.clientId))).toEqual([["a", "b"]])
    for (let seq = 1; seq <= 4; seq++) receive(d, clientPeer("a"), write("a", seq))
    expect(messages(take(d), "Accept").map((a) => a.value.items.length)).toEqual([4]) // a full batch does not wait
  })

  it("caps a batch's bytes", () => {
    const big = "x".repeat(2000)
    const d = leader({ pipelineWindow: 1, maxBatchBytes: 5000 })
    receive(d, clientPeer("a"), write("a", 0))
    take(d)
    for (let seq = 1; seq <= 4; seq++) receive(d, clientPeer("a"), write("a", seq, big))
    receive(d, replicaPeer(1), new M.Accepted({ ballot: d.ballot(), slot: 1 as never }))
    expect(messages(take(d), "Accept").map((a) => a.value.items.length)).toEqual([2])
  })

  it("answers Overloaded when its request queue is full, and refuses oversized, undecodable or misattributed requests", () => {
    const d = leader({ pipelineWindow: 1, maxBatchItems: 1, maxPendingRequests: 2, maxCommandBytes: 100 })
    // requests of one batch of input are proposed together when the Ready is taken, so the
    // queue holds all of them until then: 0 and 1 fit, 2 and 3 are refused
    for (let seq = 0; seq < 4; seq++) receive(d, clientPeer("a"), write("a", seq))
    let r = take(d)
    expect(messages(r, "Reply").map((x) => [x.seq, x.outcome._tag])).toEqual([[2, "Overloaded"], [3, "Overloaded"]])
    expect(rejections(r)).toEqual(["overloaded", "overloaded"])
    receive(d, clientPeer("b"), write("b", 0, "y".repeat(200)))
    receive(d, clientPeer("b"), new M.Request({ clientId: "b" as never, seq: 1 as never, ackedBelow: 0 as never, op: { _tag: "Write", command: new TextEncoder().encode("{\"_tag\":\"Launch\"}") } }))
    receive(d, clientPeer("b"), write("a", 9)) // b signs a request of a
    receive(d, clientPeer("b"), new M.Request({ clientId: "b" as never, seq: 2 as never, ackedBelow: 0 as never, op: { _tag: "Read", command: Kv.encodeCommand({ _tag: "Put", key: "k", value: "v" }), consistency: "linearizable" } }))
    r = take(d)
    expect(messages(r, "Reply").map((x) => x.outcome)).toEqual([
      { _tag: "Rejected", reason: "command-too-large" },
      { _tag: "Rejected", reason: "invalid-command" },
      { _tag: "Rejected", reason: "not-read-only" }
    ])
    expect(rejections(r)).toEqual(["invalid", "invalid", "invalid", "invalid"])
  })

  it("answers a retry of an executed request from the session and takes a retry of a queued one without proposing it twice", () => {
    // one request per slot, so seq 1 is still queued when its retry arrives
    const d = leader({ pipelineWindow: 1, maxBatchItems: 1 })
    receive(d, clientPeer("a"), write("a", 0))
    receive(d, clientPeer("a"), write("a", 1))
    receive(d, clientPeer("a"), write("a", 1)) // retry while queued
    const first = take(d)
    expect(rejections(first)).toEqual(["duplicate"])
    receive(d, replicaPeer(1), new M.Accepted({ ballot: d.ballot(), slot: 1 as never }))
    const second = take(d)
    expect(messages(second, "Reply").map((x) => [x.seq, x.outcome._tag])).toEqual([[0, "Committed"]])
    receive(d, replicaPeer(1), new M.Accepted({ ballot: d.ballot(), slot: 2 as never }))
    take(d)
    receive(d, clientPeer("a"), write("a", 0, "v", 0)) // a retry after the answer was lost
    const retry = take(d)
    expect(messages(retry, "Reply").map((x) => x.outcome)).toEqual([{ _tag: "Committed", result: expect.any(Uint8Array), index: 1 }])
    expect(messages(retry, "Accept")).toEqual([])
    // the client moves on, acknowledging 0 (ackedBelow 1); the session forgets 0's result
    receive(d, clientPeer("a"), write("a", 2, "w", 1))
    take(d)
    receive(d, replicaPeer(1), new M.Accepted({ ballot: d.ballot(), slot: 3 as never }))
    take(d)
    receive(d, clientPeer("a"), write("a", 0))
    expect(messages(take(d), "Reply").map((x) => x.outcome._tag)).toEqual(["Expired"])
    receive(d, clientPeer("a"), write("a", 3, "v", 4)) // claims its own seq is acknowledged
    expect(messages(take(d), "Reply").map((x) => x.outcome)).toEqual([{ _tag: "Rejected", reason: "acked-below-exceeds-seq" }])
  })

  it("steps down at a higher ballot and answers everyone waiting: Dropped when in flight, NotLeader when only queued", () => {
    const d = leader({ pipelineWindow: 1, maxBatchItems: 1 })
    receive(d, clientPeer("a"), write("a", 0))
    receive(d, clientPeer("b"), write("b", 0))
    take(d)
    receive(d, replicaPeer(2), new M.Prepare({ ballot: B.make(d.ballot().round + 1, 2 as ReplicaId), fromSlot: 1 as never }))
    const r = take(d)
    expect(d.isLeader()).toBe(false)
    const outcomes = Object.fromEntries(messages(r, "Reply").map((x) => [x.clientId, x.outcome._tag]))
    expect(outcomes).toEqual({ a: "Dropped", b: "NotLeader" })
    expect(messages(r, "Promise")).toHaveLength(1)
  })
})

describe("the simulator adapter's tampering", () => {
  const p = simProtocol()
  const rng = new Prng(1)
  const ballot = B.make(4, 1 as ReplicaId)
  const batch = new M.Batch({ ballot, items: [new M.Command({ clientId: "a" as never, seq: 0 as never, ackedBelow: 0 as never, command: new Uint8Array([1]) })] })

  it("equivocates with a different value for the same ballot and slot", () => {
    const m = new M.Accept({ ballot, slot: 3 as never, value: batch, chosenThrough: 0 as never })
    const e = p.tamper.equivocate(m, rng) as M.Accept
    expect([e.ballot, e.slot]).toEqual([m.ballot, m.slot])
    expect(e.value).not.toEqual(m.value)
    expect(p.tamper.equivocate(new M.CatchUp({ fromSlot: 1 as never }), rng)).toBeUndefined()
  })

  it("shifts a message's ballot and lies in catch-up answers", () => {
    const shifted = p.tamper.shiftView(new M.Heartbeat({ ballot, chosenThrough: 0 as never, round: 1 }), -2) as M.Heartbeat
    expect(shifted.ballot).toEqual(B.make(2, 1 as ReplicaId))
    const lie = p.tamper.lie(new M.Decided({ entries: [new M.DecidedEntry({ slot: 1 as never, value: batch })], chosenThrough: 1 as never }), rng) as M.Decided
    expect(lie.entries[0]!.value.items).toEqual([])
    expect(p.faultModel).toBe("crash")
  })
})
