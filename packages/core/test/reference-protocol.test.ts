import { describe, expect, it } from "@effect/vitest"
import { type Signer, simulatedKeyRing, simulatedSigner } from "../src/Crypto.js"
import { open, seal } from "../src/Envelope.js"
import { type ClientId, clientPeer, type PeerId, replicaPeer, type ReplicaId } from "../src/Ids.js"
import type { Driver, Input, Ready } from "../src/Protocol.js"
import { applyBatch } from "../src/Storage.js"
import { byzantine, crashMajority, type QuorumSystem } from "../src/TrustModel.js"
import * as Kv from "../src/testing/KvStateMachine.js"
import * as Reference from "../src/testing/ReferenceProtocol.js"
import * as Simulator from "../src/testing/Simulator.js"

type Message = Reference.Message
const protocol = Reference.simProtocol()
const peers: Array<PeerId> = [replicaPeer(0), replicaPeer(1), replicaPeer(2), replicaPeer(3), clientPeer("c0"), clientPeer("c1")]
const keys = simulatedKeyRing("t", peers)
const signers = new Map(peers.map((p) => [p, simulatedSigner("t", p)] as const))
const envelope = { ...protocol.envelope, clusterId: "t" }
const enc = new TextEncoder()

/** A message from `from`, sealed and opened as the simulator would. */
const receive = (from: PeerId, message: Message): Input<Message> => {
  const opened = open(envelope, keys, seal(envelope, signers.get(from)!, message), from)
  if (opened._tag === "Left") throw new Error(opened.left.message)
  return { _tag: "Receive", envelope: opened.right }
}

const replica = (id: number, trust: QuorumSystem = crashMajority(3), disk = new Map<string, Uint8Array>(), p = protocol) =>
  p.makeReplica({ id: id as ReplicaId, trust, signer: signers.get(replicaPeer(id))! as Signer, keys, stateMachine: Kv.KvStateMachine, disk, seed: 1 })

/** Take a Ready, persist it into `disk`, advance. */
const take = (d: Driver<Message>, disk?: Map<string, Uint8Array>): Ready<Message> => {
  const r = d.ready()
  if (disk !== undefined) applyBatch(disk, r.persist)
  d.advance()
  return r
}

const put = (value: string) => Kv.encodeCommand({ _tag: "Put", key: "k", value })
const request = (seq: number, value: string, clientId = "c0"): Message => ({
  _tag: "Request",
  view: Reference.VIEW,
  clientId,
  seq,
  command: Buffer.from(put(value)).toString("base64")
})
const rejections = (r: Ready<Message>) => r.events.flatMap((e) => (e._tag === "Rejected" ? [e.rejection.reason] : []))

describe("reference protocol: sequencer", () => {
  it("orders a request only after persisting it, and commits once a majority acknowledged", () => {
    const disk = new Map<string, Uint8Array>()
    const seq = replica(0, crashMajority(3), disk)
    seq.step(receive(clientPeer("c0"), request(1, "a")))
    const r = take(seq, disk)
    expect(r.persist).toHaveLength(1)
    expect(r.send).toEqual([])
    expect(r.sendAfterPersist.map((o) => [o.message._tag, o.to])).toEqual([["Order", [replicaPeer(1), replicaPeer(2)]]])
    expect(seq.appliedIndex()).toBe(0)
    // a follower acknowledges with its hash chain
    const follower = replica(1)
    follower.step(receive(replicaPeer(0), r.sendAfterPersist[0]!.message))
    const ack = take(follower).sendAfterPersist[0]!.message
    seq.step(receive(replicaPeer(1), ack))
    const committed = take(seq, disk)
    expect(committed.events.map((e) => e._tag)).toEqual(["Committed", "Executed"])
    expect(committed.sendAfterPersist.map((o) => o.message._tag)).toEqual(["Commit"])
    expect(committed.send.map((o) => [o.message._tag, o.to])).toEqual([["Reply", [clientPeer("c0")]]])
    expect(seq.appliedIndex()).toBe(1)
  })

  it("answers a retry of an executed request from its session table, without executing it again", () => {
    const seq = replica(0, crashMajority(1))
    seq.step(receive(clientPeer("c0"), request(1, "a")))
    expect(take(seq).events.filter((e) => e._tag === "Executed")).toHaveLength(1)
    seq.step(receive(clientPeer("c0"), request(1, "a")))
    const retry = take(seq)
    expect(retry.events).toEqual([])
    expect(retry.persist).toEqual([])
    expect(retry.send.map((o) => o.message._tag)).toEqual(["Reply"])
    seq.step(receive(clientPeer("c0"), request(0, "old")))
    expect(rejections(take(seq))).toEqual(["stale"])
  })

  it("after a crash that lost an unpersisted Order, orders the retried request at the same index", () => {
    const disk = new Map<string, Uint8Array>()
    const before = replica(0, crashMajority(3), disk)
    before.step(receive(clientPeer("c0"), request(1, "a")))
    before.ready() // the crash strikes here: nothing persisted, nothing sent after persist
    const after = replica(0, crashMajority(3), disk)
    after.step(receive(clientPeer("c1"), request(1, "b", "c1")))
    const r = take(after, disk)
    const order = r.sendAfterPersist[0]!.message
    expect(order._tag === "Order" && order.index === 1 && order.clientId === "c1").toBe(true)
  })

  it("restarts from its disk: the log survives, nothing is ordered twice", () => {
    const disk = new Map<string, Uint8Array>()
    const first = replica(0, crashMajority(3), disk)
    first.step(receive(clientPeer("c0"), request(1, "a")))
    take(first, disk)
    const again = replica(0, crashMajority(3), disk)
    again.step(receive(clientPeer("c0"), request(1, "a")))
    expect(again.hasReady()).toBe(false)
    // its heartbeat announces the entry it still has to commit
    for (let i = 0; i < 5; i++) again.step({ _tag: "Tick" })
    const hb = take(again).sendAfterPersist.map((o) => o.message)
    expect(hb).toContainEqual({ _tag: "Commit", view: Reference.VIEW, commitIndex: 0, lastIndex: 1 })
  })

  it("refuses what it must not believe, with typed reasons", () => {
    const seq = replica(0)
    seq.step(receive(replicaPeer(1), { _tag: "Ack", view: Reference.VIEW, upTo: 5, chain: "x" }))
    seq.step(receive(replicaPeer(1), { _tag: "Ack", view: Reference.VIEW, upTo: 0, chain: "not-genesis" }))
    seq.step(receive(clientPeer("c1"), request(1, "a", "c0")))
    seq.step(receive(replicaPeer(1), { _tag: "Reply", view: Reference.VIEW, clientId: "c0", seq: 1, index: 1, ok: true, result: "" }))
    seq.step(receive(replicaPeer(2), { ...request(1, "a"), view: 0 }))
    seq.step(receive(replicaPeer(2), { ...request(1, "a"), view: 7 }))
    expect(rejections(take(seq))).toEqual(["invalid", "invalid", "invalid", "invalid", "stale", "wrong-view"])
  })
})

describe("reference protocol: followers", () => {
  it("take orders only from the sequencer and only within their window", () => {
    const f = replica(1)
    const order = (index: number): Message => ({ _tag: "Order", view: Reference.VIEW, index, clientId: "c0", seq: index, command: "" })
    f.step(receive(replicaPeer(2), order(1)))
    f.step(receive(replicaPeer(0), order(1000)))
    expect(rejections(take(f))).toEqual(["not-leader", "out-of-window"])
  })

  it("hold out-of-order entries until the gap fills, acknowledging only the contiguous prefix", () => {
    const f = replica(1)
    const order = (index: number): Message => ({ _tag: "Order", view: Reference.VIEW, index, clientId: "c0", seq: index, command: Buffer.from(put(`v${index}`)).toString("base64") })
    f.step(receive(replicaPeer(0), order(2)))
    const early = take(f)
    expect(early.persist).toEqual([])
    expect(early.sendAfterPersist.map((o) => o.message)).toMatchObject([{ _tag: "Ack", upTo: 0 }])
    f.step(receive(replicaPeer(0), order(1)))
    const filled = take(f)
    expect(filled.persist.map((w) => w.key)).toEqual(["ref/entry/0000000001", "ref/entry/0000000002"])
    expect(filled.sendAfterPersist.map((o) => o.message)).toMatchObject([{ _tag: "Ack", upTo: 2 }])
    f.step(receive(replicaPeer(0), { _tag: "Commit", view: Reference.VIEW, commitIndex: 2, lastIndex: 2 }))
    expect(take(f).events.filter((e) => e._tag === "Executed")).toHaveLength(2)
    expect(f.appliedIndex()).toBe(2)
  })
})

describe("reference protocol: client", () => {
  const client = (trust: QuorumSystem) =>
    protocol.makeClient({ clientId: "c0" as ClientId, trust, signer: signers.get(clientPeer("c0"))!, keys, seed: 3 })
  const reply = (from: number, result: string): Input<Message> =>
    receive(replicaPeer(from), { _tag: "Reply", view: Reference.VIEW, clientId: "c0", seq: 1, index: 1, ok: true, result })

  it("with Byzantine replicas, completes only on f+1 equal replies", () => {
    const c = client(byzantine(4))
    expect(c.submit(put("a"))).toBe(1)
    expect(c.submit(put("b"))).toBeUndefined() // one request in flight
    expect(c.ready().send[0]!.to).toEqual([replicaPeer(0), replicaPeer(1), replicaPeer(2), replicaPeer(3)])
    c.advance()
    c.step(reply(3, "bGll")) // a lie
    c.step(reply(1, "b2s="))
    expect(c.takeCompletions()).toEqual([])
    c.step(reply(2, "b2s="))
    const [done] = c.takeCompletions()
    expect(done?.outcome).toEqual({ _tag: "Committed", result: new Uint8Array(Buffer.from("ok")), index: 1 })
    expect(c.inFlight()).toBe(0)
  })

  it("retries, then gives up with TimedOut (outcome unknown)", () => {
    const c = client(crashMajority(3))
    c.submit(put("a"), { readOnly: true })
    c.advance()
    let sends = 0
    for (let t = 0; t < 1000 && c.inFlight() > 0; t++) {
      c.step({ _tag: "Tick" })
      if (c.hasReady()) {
        sends += c.ready().send.length
        c.advance()
      }
    }
    expect(sends).toBeGreaterThan(10)
    expect(c.takeCompletions()).toEqual([{ clientId: "c0", seq: 1, readOnly: true, outcome: { _tag: "TimedOut" } }])
  })
})

describe("reference protocol: codec", () => {
  it("decodes exactly the declared fields and refuses everything else with a reason", () => {
    const ok = Reference.codec.encode({ _tag: "Commit", view: 1, commitIndex: 2, lastIndex: 3 })
    expect(Reference.codec.decode(ok)).toMatchObject({ _tag: "Right" })
    const reason = (text: string) => {
      const r = Reference.codec.decode(enc.encode(text))
      return r._tag === "Left" ? r.left.reason : "accepted"
    }
    expect(reason(`{"_tag":"Commit","view":1,"commitIndex":2,"lastIndex":3,"extra":1}`)).toBe("malformed")
    expect(reason(`{"_tag":"Commit","view":1,"commitIndex":-2,"lastIndex":3}`)).toBe("malformed")
    expect(reason(`{"_tag":"Commit","view":1,"commitIndex":2}`)).toBe("malformed")
    expect(reason(`{"_tag":"Order","view":1,"index":0,"clientId":"c","seq":1,"command":""}`)).toBe("malformed")
    expect(reason(`{"_tag":"Nope"}`)).toBe("unknown-tag")
    expect(reason(`[1]`)).toBe("malformed")
    expect(reason(`{`)).toBe("malformed")
    expect(Reference.codec.decode(new Uint8Array(300 * 1024))).toMatchObject({ _tag: "Left", left: { reason: "oversized" } })
    expect([...Reference.codec.tags].sort()).toEqual(["Ack", "Commit", "Order", "Reply", "Request"])
  })
})

describe("reference protocol: broken variant", () => {
  it("sends two different commands for one index to different followers", () => {
    const broken = Reference.simProtocol({ broken: true })
    const seq = replica(0, crashMajority(3), new Map(), broken)
    for (let i = 1; i <= 5; i++) seq.step(receive(clientPeer("c0"), request(i, `v${i}`)))
    const orders = take(seq).sendAfterPersist.flatMap((o) => (o.message._tag === "Order" && o.message.index === 5 ? [[o.to, o.message.seq]] : []))
    expect(orders).toEqual([[[replicaPeer(1)], 5], [[replicaPeer(2)], 4]])
  })

  it("runs clean over seeds in the simulator when not broken, with every request committed once per replica", () => {
    for (const seed of [31, 32]) {
      const sim = Simulator.make({ protocol, seed, requestsPerClient: 6, safetyTicks: 600, livenessTicks: 3000, faults: { crashes: false } })
      const r = sim.run()
      expect(r.ok).toBe(true)
      expect(r.stats.commits).toBe(18)
      expect(r.stats.outcomes.Committed + r.stats.outcomes.TimedOut).toBe(18)
      // the run ends when clients have their answers; followers converge with the next heartbeats
      sim.runFor(50)
      for (const rep of [0, 1, 2]) expect(sim.events(rep).filter((e) => e._tag === "Executed").length).toBe(18)
      expect(new Set([0, 1, 2].map((rep) => sim.replica(rep).stateDigest())).size).toBe(1)
      expect(sim.check()).toEqual([])
    }
  })
})
