/**
 * The normal case on four replicas moved by hand (OSDI'99 §4.2): a request is
 * pre-prepared, prepared, committed and executed in order on every replica,
 * and the client accepts it with a verifiable reply certificate.
 */
import { replicaPeer } from "@synod/core"
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { Request } from "../src/Messages.js"
import { verifyReplyCertificate } from "../src/ReplyCertificate.js"
import { Cluster, get, put, resultOf } from "./support/Cluster.js"

describe("normal case (OSDI'99 §4.2)", () => {
  it("a write commits and executes on every replica, and the client gets a reply certificate", () => {
    const c = new Cluster()
    const seq = c.submit(0, put("x", "1"))
    c.deliverAll()
    const outcome = c.outcome(0, seq)
    expect(outcome?._tag).toBe("Committed")
    expect(resultOf(outcome)).toEqual({ _tag: "Stored" })
    for (let r = 0; r < 4; r++) {
      expect(c.replicas[r]!.appliedIndex()).toBe(1)
      expect(c.ofTag(r, "Executed")).toEqual([{ _tag: "Executed", index: 1, clientId: "c0", seq }])
    }
    const digests = new Set([0, 1, 2, 3].map((r) => c.replicas[r]!.stateDigest()))
    expect(digests.size).toBe(1)
    const cert = outcome?._tag === "Committed" ? outcome.certificate! : []
    const verified = verifyReplyCertificate(cert, c.trust, c.keys)
    expect(Either.isRight(verified)).toBe(true)
    expect(Either.getOrThrow(verified).replicas.length).toBeGreaterThanOrEqual(2)
  })

  it("requests execute in sequence-number order with one batch digest per index everywhere", () => {
    const c = new Cluster({ clients: 2 })
    for (let i = 0; i < 5; i++) {
      c.submit(0, put("a", `v${i}`))
      c.submit(1, put("b", `w${i}`))
      c.deliverAll()
    }
    const reference = c.committed(0)
    expect(reference.size).toBeGreaterThanOrEqual(5)
    for (let r = 1; r < 4; r++) expect(c.committed(r)).toEqual(reference)
    for (let r = 0; r < 4; r++) {
      const indexes = c.ofTag(r, "Committed").map((e) => e.index)
      expect(indexes).toEqual(indexes.map((_, i) => i + 1))
    }
  })

  it("requests that queue while the window is full go out together in one pre-prepare (one signature per batch)", () => {
    const c = new Cluster({ clients: 3, config: { maxInFlightBatches: 1 } })
    c.submit(0, put("a", "1"))
    c.submit(1, put("b", "2"))
    c.submit(2, put("c", "3"))
    // the first request opens the window; the next two arrive while its batch is in flight
    for (let i = 0; i < 3; i++) c.deliverOne((m) => m.to === replicaPeer(0) && m.message._tag === "Request")
    c.deliverAll()
    const prePrepares = c.readies
      .filter((x) => x.replica === 0)
      .flatMap((x) => x.ready.sendAfterPersist)
      .filter((o) => o.message._tag === "PrePrepare")
    expect(c.ofTag(0, "Executed").length).toBe(3)
    expect(prePrepares.length).toBe(2)
    expect(c.ofTag(0, "Committed").map((e) => e.requests.length)).toEqual([1, 2])
  })

  it("with a batching delay the primary waits for more requests, up to the delay", () => {
    const c = new Cluster({ clients: 2, config: { batchDelayTicks: 5 } })
    c.submit(0, put("a", "1"))
    c.deliverAll()
    expect(c.ofTag(0, "Committed")).toEqual([])
    c.tick(2)
    c.submit(1, put("b", "2"))
    c.deliverAll()
    expect(c.ofTag(0, "Committed")).toEqual([])
    c.tick(3)
    c.deliverAll()
    expect(c.ofTag(0, "Committed").map((e) => e.requests.length)).toEqual([2])
  })

  it("a prepare or commit never leaves before the state it vouches for is persisted", () => {
    const c = new Cluster()
    c.submit(0, put("x", "1"))
    c.deliverAll()
    for (const { ready } of c.readies) {
      for (const { message: m } of ready.sendAfterPersist) {
        const persisted = (seq: number, kind: string) =>
          ready.persist.some((w) => w.key.endsWith(`${String(seq).padStart(12, "0")}/${kind}`) && w.value !== null)
        if (m._tag === "Prepare") expect(persisted(m.seq, "pre-prepare")).toBe(true)
        if (m._tag === "Commit") expect(persisted(m.seq, "prepared")).toBe(true)
      }
      for (const o of ready.send) expect(["Prepare", "Commit", "ViewChange", "NewView", "PrePrepare"]).not.toContain(o.message._tag)
    }
  })

  it("a retransmitted request gets the cached reply and executes once (exactly-once per client and seq)", () => {
    const c = new Cluster()
    const seq = c.submit(0, put("k", "v"))
    c.deliverAll()
    // the client's retransmission of the same (client, seq) to every replica
    const frame = c.seal("client/c0" as never, new Request({ clientId: "c0" as never, seq: seq as never, command: new TextEncoder().encode(JSON.stringify(put("k", "v"))), readOnly: false }))
    for (let r = 0; r < 4; r++) c.deliverFrame("client/c0" as never, replicaPeer(r), frame)
    c.deliverAll()
    for (let r = 0; r < 4; r++) expect(c.ofTag(r, "Executed").length).toBe(1)
    const replies = c.readies.flatMap((x) => x.ready.send).filter((o) => o.message._tag === "Reply")
    expect(replies.length).toBe(8)
  })

  it("a read-only request is answered in one round trip by 2f+1 matching replies", () => {
    const c = new Cluster()
    c.submit(0, put("k", "v"))
    c.deliverAll()
    const before = c.ofTag(0, "Committed").length
    const seq = c.submit(1, get("k"), true)
    c.deliverAll()
    expect(resultOf(c.outcome(1, seq))).toEqual({ _tag: "Got", value: "v" })
    expect(c.ofTag(0, "Committed").length).toBe(before)
    const outcome = c.outcome(1, seq)
    const cert = outcome?._tag === "Committed" ? outcome.certificate! : []
    expect(cert.length).toBeGreaterThanOrEqual(3)
    expect(Either.isRight(verifyReplyCertificate(cert, c.trust, c.keys))).toBe(true)
  })
})
