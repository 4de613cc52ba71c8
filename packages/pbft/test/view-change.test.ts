/**
 * View changes on four replicas moved by hand (OSDI'99 §4.4, §4.5.2).
 */
import { type ClientId, clientPeer, replicaPeer, type RequestSeq } from "@synod/core"
import { Kv } from "@synod/core/testing"
import { describe, expect, it } from "vitest"
import { Request } from "../src/Messages.js"
import { Cluster, put, resultOf } from "./support/Cluster.js"

const fast = { config: { viewChangeTimeoutTicks: 20, statusIntervalTicks: 5 }, client: { requestTimeoutTicks: 10 } }

describe("view change (OSDI'99 §4.4, §4.5.2)", () => {
  it("a silent primary is replaced: backups time out, view 1 is installed and the request executes", () => {
    const c = new Cluster(fast)
    c.filter = (m) => m.from !== replicaPeer(0)
    const seq = c.submit(0, put("x", "1"))
    expect(c.runUntil(() => c.outcome(0, seq) !== undefined, 500)).toBe(true)
    expect(resultOf(c.outcome(0, seq))).toEqual({ _tag: "Stored" })
    for (const r of [1, 2, 3]) {
      expect(c.replicas[r]!.view()).toBe(1)
      expect(c.ofTag(r, "ViewChanged")[0]).toMatchObject({ view: 1, leader: 1 })
      expect(["timeout", "join"]).toContain(c.ofTag(r, "ViewChanged")[0]!.cause)
    }
  })

  it("a request prepared in the old view keeps its sequence number in the new view", () => {
    const c = new Cluster(fast)
    const seq = c.submit(0, put("x", "1"))
    // everything but commits: the request prepares everywhere, and nobody can commit it in view 0
    c.filter = (m) => m.message._tag !== "Commit"
    c.deliverAll()
    expect(c.ofTag(1, "Committed")).toEqual([])
    c.filter = (m) => m.from !== replicaPeer(0)
    expect(c.runUntil(() => c.outcome(0, seq) !== undefined, 500)).toBe(true)
    for (const r of [1, 2, 3]) expect(c.ofTag(r, "Committed").map((e) => [e.index, e.requests.length])).toEqual([[1, 1]])
  })

  it("a primary that serves other clients but ignores one is replaced (the timer runs per request, §4.5.2)", () => {
    const c = new Cluster(fast)
    // the primary never sees client 1's request, directly or relayed
    c.filter = (m) => !(m.to === replicaPeer(0) && ((m.message._tag === "Request" && m.message.clientId === "c1") || m.message._tag === "Relay"))
    const starved = c.submit(1, put("y", "1"))
    for (let i = 0; i < 40 && c.outcome(1, starved) === undefined; i++) {
      const seq = c.submit(0, put("x", `${i}`))
      expect(c.runUntil(() => c.outcome(0, seq) !== undefined, 200)).toBe(true)
      c.run(3)
    }
    expect(c.outcome(1, starved)?._tag).toBe("Committed")
    expect([1, 2, 3].map((r) => c.replicas[r]!.view())).toEqual([1, 1, 1])
  })

  it("two view changes in a row (the next primary is silent too) still reach agreement", () => {
    const c = new Cluster({ n: 7, ...fast })
    c.filter = (m) => m.from !== replicaPeer(0) && m.from !== replicaPeer(1)
    const seq = c.submit(0, put("x", "1"))
    expect(c.runUntil(() => c.outcome(0, seq) !== undefined, 2000)).toBe(true)
    for (const r of [2, 3, 4, 5, 6]) {
      expect(c.replicas[r]!.view()).toBe(2)
      expect(c.ofTag(r, "Committed").length).toBe(1)
    }
  })

  it("the view-change timeout doubles with each view change that does not complete (§4.5.2)", () => {
    const c = new Cluster({ config: { viewChangeTimeoutTicks: 10, maxViewChangeTimeoutTicks: 1000, statusIntervalTicks: 1000 } })
    // replica 3 alone: it starts a view change and never hears a new-view
    c.isolate([3])
    const vc = c.replicas[3]!.core
    vc.state.vcDeadline = 0
    const starts: Array<number> = []
    for (let t = 0; t < 200; t++) {
      const before = vc.view()
      c.tick()
      c.deliverAll()
      if (vc.view() !== before) starts.push(vc.state.now)
    }
    const gaps = starts.slice(1).map((t, i) => t - starts[i]!)
    expect(gaps.slice(0, 3)).toEqual([10, 20, 40])
  })

  it("f view-changes for a higher view do not move a replica; f+1 make it join (§4.5.2)", () => {
    const c = new Cluster({ config: { viewChangeTimeoutTicks: 20 }, client: { requestTimeoutTicks: 100_000 } })
    // the primary hears nothing, and backups cannot pass requests on to it
    c.filter = (m) => m.from !== replicaPeer(0) && m.to !== replicaPeer(0)
    const request = c.seal(clientPeer("c0"), new Request({ clientId: "c0" as ClientId, seq: 1 as RequestSeq, command: Kv.encodeCommand(put("x", "1")), readOnly: false }))
    c.deliverFrame(clientPeer("c0"), replicaPeer(3), request)
    expect(c.runUntil(() => c.replicas[3]!.view() === 1, 100)).toBe(true)
    c.run(5)
    expect([c.replicas[1]!.view(), c.replicas[2]!.view()]).toEqual([0, 0])
    c.deliverFrame(clientPeer("c0"), replicaPeer(2), request)
    expect(c.runUntil(() => c.replicas[1]!.view() === 1, 100)).toBe(true)
    // replica 1 never saw the request, so its own timer never ran: it joined
    expect(c.ofTag(1, "Custom")).toContainEqual({ _tag: "Custom", name: "pbft.view-change", data: { view: 1, cause: "join" } })
    expect(c.runUntil(() => c.ofTag(1, "Executed").length === 1, 200)).toBe(true)
  })
})
