import { describe, expect, it } from "@effect/vitest"
import { Crypto, Envelope, type PeerId, type ReplicaId, clientPeer, replicaPeer } from "@synod/core"
import * as Client from "../src/Client.js"
import * as M from "../src/Messages.js"

const peers = [0, 1, 2].map(replicaPeer).concat([clientPeer("alice"), clientPeer("mallory")])
const keys = Crypto.simulatedKeyRing("client", peers)
const ctx = M.envelope("client")
const bytes = new TextEncoder().encode("{}")

const make = (config: Partial<Client.ClientConfig> = {}) =>
  Client.make({ clientId: "alice" as never, replicas: [0, 1, 2] as Array<ReplicaId>, seed: 0, config: { attemptTimeoutTicks: 5, deadlineTicks: 40, ...config } })

const deliver = (c: Client.PaxosClientDriver, from: PeerId, message: M.PaxosMessage) => {
  const opened = Envelope.open(ctx, keys, Envelope.seal(ctx, Crypto.simulatedSigner("client", from), message), from)
  if (opened._tag === "Left") throw opened.left
  c.step({ _tag: "Receive", envelope: opened.right })
}

const sends = (c: Client.PaxosClientDriver) => {
  const r = c.ready()
  c.advance()
  return r.send.map((o) => ({ to: o.to, request: o.message as M.Request }))
}

const reply = (seq: number, outcome: M.Outcome) => new M.Reply({ clientId: "alice" as never, seq: seq as never, outcome })
const ticks = (c: Client.PaxosClientDriver, n: number) => {
  for (let i = 0; i < n; i++) c.step({ _tag: "Tick" })
}

describe("Paxos client driver", () => {
  it("follows a leader hint with the same (clientId, seq) and completes once with the result", () => {
    const c = make()
    const seq = c.submit(bytes)!
    expect(sends(c)).toEqual([{ to: [replicaPeer(0)], request: expect.objectContaining({ seq, ackedBelow: seq }) }])
    deliver(c, replicaPeer(0), reply(seq, { _tag: "NotLeader", leaderHint: 2 as ReplicaId }))
    const retry = sends(c)
    expect(retry.map((s) => [s.to, s.request.seq])).toEqual([[[replicaPeer(2)], seq]])
    deliver(c, replicaPeer(2), reply(seq, { _tag: "Committed", result: bytes, index: 7 as never }))
    deliver(c, replicaPeer(2), reply(seq, { _tag: "Committed", result: bytes, index: 7 as never })) // duplicate answer
    expect(c.takeCompletions()).toEqual([{ clientId: "alice", seq, readOnly: false, outcome: { _tag: "Committed", result: bytes, index: 7 } }])
    expect(c.takeCompletions()).toEqual([])
    expect(c.inFlight()).toBe(0)
    expect(c.leaderGuess()).toBe(2)
  })

  it("retries a request dropped by a leader change and, out of time, reports it as TimedOut (it may have run)", () => {
    const c = make()
    const seq = c.submit(bytes)!
    sends(c)
    deliver(c, replicaPeer(0), reply(seq, { _tag: "Dropped" }))
    expect(sends(c).map((s) => [s.to, s.request.seq])).toEqual([[[replicaPeer(1)], seq]])
    deliver(c, replicaPeer(1), reply(seq, { _tag: "NotLeader" }))
    ticks(c, 40)
    expect(c.takeCompletions().map((x) => x.outcome)).toEqual([{ _tag: "TimedOut" }])
  })

  it("reports Rejected when every attempt was turned away before reaching a leader's queue", () => {
    const c = make({ deadlineTicks: 9 })
    const seq = c.submit(bytes)!
    sends(c)
    deliver(c, replicaPeer(0), reply(seq, { _tag: "NotLeader" }))
    ticks(c, 5) // attempt timer: next replica
    expect(sends(c).map((s) => s.to)).toEqual([[replicaPeer(1)]])
    deliver(c, replicaPeer(1), reply(seq, { _tag: "Overloaded" }))
    ticks(c, 4) // the deadline comes before another attempt could have left
    expect(c.takeCompletions().map((x) => x.outcome)).toEqual([{ _tag: "Rejected", reason: "overloaded", leaderHint: 1 }])
  })

  it("passes a replica's refusal at ordering through as Rejected, and an expired session as TimedOut", () => {
    const c = make()
    const a = c.submit(bytes)!
    const b = c.submit(bytes)!
    deliver(c, replicaPeer(0), reply(a, { _tag: "Rejected", reason: "invalid-command" }))
    deliver(c, replicaPeer(0), reply(b, { _tag: "Expired" }))
    expect(c.takeCompletions().map((x) => x.outcome)).toEqual([{ _tag: "Rejected", reason: "invalid-command" }, { _tag: "TimedOut" }])
  })

  it("bounds requests in flight and tells replicas what it has completed", () => {
    const c = make({ maxInFlight: 2 })
    const a = c.submit(bytes)!
    const b = c.submit(bytes)!
    expect(c.submit(bytes)).toBeUndefined()
    deliver(c, replicaPeer(0), reply(a, { _tag: "Committed", result: bytes, index: 1 as never }))
    const d = c.submit(bytes)!
    const requests = sends(c).map((s) => s.request)
    expect(requests.map((r) => [r.seq, r.ackedBelow])).toEqual([[a, 0], [b, 0], [d, b]])
  })

  it("numbers from firstSeq, and never runs more than sessionWindow past its oldest pending request", () => {
    const c = Client.make({ clientId: "alice" as never, replicas: [0, 1, 2] as Array<ReplicaId>, seed: 0, firstSeq: 1_000, config: { sessionWindow: 3, maxInFlight: 10 } })
    const slow = c.submit(bytes)!
    expect(slow).toBe(1_000)
    const b = c.submit(bytes)!
    deliver(c, replicaPeer(0), reply(b, { _tag: "Committed", result: bytes, index: 1 as never }))
    const d = c.submit(bytes)!
    deliver(c, replicaPeer(0), reply(d, { _tag: "Committed", result: bytes, index: 2 as never }))
    expect(c.submit(bytes)).toBeUndefined() // 1003 would be 3 above the pending 1000
    deliver(c, replicaPeer(0), reply(slow, { _tag: "Committed", result: bytes, index: 3 as never }))
    expect(c.submit(bytes)).toBe(1_003)
    expect(sends(c).map((x) => [x.request.seq, x.request.ackedBelow])).toEqual([[1000, 1000], [1001, 1000], [1002, 1000], [1003, 1003]])
    expect(() => Client.make({ clientId: "alice" as never, replicas: [0] as Array<ReplicaId>, seed: 0, firstSeq: -1 })).toThrow(RangeError)
  })

  it("sends reads on the read path with the chosen consistency, and membership changes as Reconfigure", () => {
    const c = make({ readConsistency: "linearizable" })
    c.submit(bytes, { readOnly: true })
    c.submit(bytes, { readOnly: true, consistency: "stale" })
    c.reconfigure([2, 1, 1] as Array<ReplicaId>)
    const ops = sends(c).map((s) => s.request.op)
    expect(ops).toEqual([
      { _tag: "Read", command: bytes, consistency: "linearizable" },
      { _tag: "Read", command: bytes, consistency: "stale" },
      { _tag: "Reconfigure", members: [1, 2] }
    ])
  })

  it("rejects replies from non-replicas, for other clients, and messages that are not replies", () => {
    const c = make()
    const seq = c.submit(bytes)!
    sends(c)
    deliver(c, clientPeer("mallory"), reply(seq, { _tag: "Committed", result: bytes, index: 1 as never }))
    deliver(c, replicaPeer(0), new M.Reply({ clientId: "mallory" as never, seq: seq as never, outcome: { _tag: "Committed", result: bytes, index: 1 as never } }))
    deliver(c, replicaPeer(0), new M.CatchUp({ fromSlot: 1 as never }))
    expect(c.takeCompletions()).toEqual([])
    const reasons = c.ready().events.map((e) => (e._tag === "Rejected" ? e.rejection.reason : e._tag))
    expect(reasons).toEqual(["not-member", "invalid", "invalid"])
  })
})
