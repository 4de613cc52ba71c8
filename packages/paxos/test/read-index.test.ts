import { describe, expect, it } from "@effect/vitest"
import { clientPeer, type ReplicaId, TrustModel } from "@synod/core"
import { ReadIndex } from "../src/ReadIndex.js"

const q = TrustModel.crashMajority(3)
const isQuorum = (ackers: ReadonlyArray<ReplicaId>) => q.isQuorum("replication", ackers)
const me = 0 as ReplicaId
const read = (seq: number, horizon: number) => ({ peer: clientPeer("c"), clientId: "c", seq, command: {}, horizon })

describe("ReadIndex", () => {
  it("answers a read only after a quorum acked a heartbeat sent after it arrived, and after applying its horizon", () => {
    const r = new ReadIndex()
    const early = r.nextRound(0) // a heartbeat sent before the read
    r.register(read(1, 5), false)
    expect(r.needRound).toBe(true)
    r.onAck(1 as ReplicaId, early)
    r.confirm(me, isQuorum)
    expect(r.takeReady(10, 1)).toEqual([]) // the ack predates the read
    const round = r.nextRound(1)
    expect(r.needRound).toBe(false)
    r.onAck(2 as ReplicaId, round)
    r.confirm(me, isQuorum)
    expect(r.takeReady(4, 2)).toEqual([]) // confirmed, but slot 5 is not applied yet
    expect(r.takeReady(5, 2).map((x) => x.seq)).toEqual([1])
  })

  it("ignores acks for rounds never sent and forgets everything on reset", () => {
    const r = new ReadIndex()
    r.register(read(1, 0), false)
    r.onAck(1 as ReplicaId, 7)
    r.confirm(me, isQuorum)
    expect(r.takeReady(0, 0)).toEqual([])
    expect(r.reset().map((x) => x.seq)).toEqual([1])
    expect(r.pending).toEqual([])
  })

  it("with a lease, answers at once until the lease (minus the drift bound) runs out, then falls back to a round", () => {
    const r = new ReadIndex()
    const lease = { duration: 10, drift: 2 }
    const round = r.nextRound(100)
    r.onAck(1 as ReplicaId, round)
    r.confirm(me, isQuorum, lease)
    expect(r.leaseUntil).toBe(108)
    expect(r.leaseValid(107)).toBe(true)
    r.register(read(1, 3), r.leaseValid(105))
    expect(r.needRound).toBe(false)
    expect(r.takeReady(3, 105).map((x) => x.seq)).toEqual([1])
    r.register(read(2, 9), r.leaseValid(106))
    expect(r.takeReady(3, 108)).toEqual([]) // lease over before its horizon was applied
    expect(r.needRound).toBe(true)
    expect(r.pending[0]!.round).toBe(round + 1)
  })
})
