/**
 * Claims of the PBFT papers, each checked on four replicas moved by hand.
 * Sections refer to Castro & Liskov, "Practical Byzantine Fault Tolerance",
 * OSDI 1999, unless marked TOCS (the 2002 journal version).
 */
import { type ClientId, clientPeer, type LogIndex, type PeerId, replicaPeer, type RequestSeq, type ViewNumber } from "@synod/core"
import { Kv } from "@synod/core/testing"
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { batchDigestOfFrames } from "../src/Digest.js"
import { verifyEvidence } from "../src/Evidence.js"
import { Batch, PrePrepare, Request } from "../src/Messages.js"
import { verifyReplyCertificate } from "../src/ReplyCertificate.js"
import { Cluster, get, put, resultOf } from "./support/Cluster.js"

const fast = { config: { viewChangeTimeoutTicks: 20, statusIntervalTicks: 5 }, client: { requestTimeoutTicks: 10, readTimeoutTicks: 5 } }

const signedRequest = (c: Cluster, client: string, seq: number, command: Kv.Command, signer: PeerId = clientPeer(client)) =>
  c.seal(signer, new Request({ clientId: client as ClientId, seq: seq as RequestSeq, command: Kv.encodeCommand(command), readOnly: false }))

/** The primary's batch and pre-prepare for (view 0, seq), as frames it signed. */
const proposal = (c: Cluster, seq: number, requests: ReadonlyArray<Uint8Array>) => {
  const digest = batchDigestOfFrames(requests)
  return {
    digest,
    batch: c.seal(replicaPeer(0), new Batch({ digest, requests })),
    prePrepare: c.seal(replicaPeer(0), new PrePrepare({ view: 0 as ViewNumber, seq: seq as LogIndex, digest }))
  }
}

describe("OSDI'99 §4.2 normal-case operation", () => {
  it("a faulty primary cannot get two requests prepared at one sequence number of one view; the one that prepared survives", () => {
    const c = new Cluster(fast)
    c.filter = (m) => m.from !== replicaPeer(0) // the real primary is replaced by our forgeries below
    const one = proposal(c, 1, [signedRequest(c, "c0", 1, put("x", "one"))])
    const two = proposal(c, 1, [signedRequest(c, "c1", 1, put("x", "two"))])
    for (const r of [1, 2]) for (const f of [one.batch, one.prePrepare]) c.deliverFrame(replicaPeer(0), replicaPeer(r), f)
    for (const f of [two.batch, two.prePrepare]) c.deliverFrame(replicaPeer(0), replicaPeer(3), f)
    expect(c.runUntil(() => [1, 2, 3].every((r) => c.committed(r).has(1)), 500)).toBe(true)
    // a replica commits only what it prepared: every commit of view 0 is for the same batch
    const commitsInView0 = c.readies.flatMap((x) => x.ready.sendAfterPersist).map((o) => o.message)
      .filter((m) => m._tag === "Commit" && m.view === 0)
    expect(commitsInView0.length).toBeGreaterThan(0)
    expect(new Set(commitsInView0.map((m) => (m._tag === "Commit" ? m.digest : "")))).toEqual(new Set([one.digest]))
    for (const r of [1, 2, 3]) expect(c.committed(r).get(1)).toBe(one.digest)
    // the replicas that saw both of the primary's pre-prepares kept them as evidence and moved on
    const evidence = [1, 2, 3].flatMap((r) => c.replicas[r]!.evidence()).filter((e) => e.kind === "conflicting-pre-prepare")
    expect(evidence.length).toBeGreaterThan(0)
    for (const e of evidence) expect(Either.isRight(verifyEvidence(e, c.keys))).toBe(true)
    expect([1, 2, 3].map((r) => c.replicas[r]!.view())).toEqual([1, 1, 1])
  })

  it("a request executes only with 2f+1 matching commits (committed-local)", () => {
    const c = new Cluster(fast)
    // replica 3 gets a commit from replica 0 only: with its own that is 2, not 2f+1
    c.filter = (m) => !(m.to === replicaPeer(3) && m.message._tag === "Commit" && m.from !== replicaPeer(0))
    c.submit(0, put("x", "1"))
    c.deliverAll()
    expect(c.replicas[3]!.core.state.log.peek(1)?.prepared).toBeDefined()
    expect(c.replicas[3]!.appliedIndex()).toBe(0)
    expect([0, 1, 2].map((r) => c.replicas[r]!.appliedIndex())).toEqual([1, 1, 1])
  })

  it("backups verify the client signature of every request in a batch", () => {
    const c = new Cluster(fast)
    c.filter = (m) => m.from !== replicaPeer(0)
    // a request "from c0" signed with c1's key
    const forged = proposal(c, 1, [signedRequest(c, "c0", 1, put("x", "stolen"), clientPeer("c1"))])
    for (const r of [1, 2, 3]) for (const f of [forged.batch, forged.prePrepare]) c.deliverFrame(replicaPeer(0), replicaPeer(r), f)
    c.deliverAll()
    for (const r of [1, 2, 3]) {
      expect(c.ofTag(r, "Rejected").some((e) => e.rejection.reason === "invalid" && e.rejection.detail.startsWith("batch request 0"))).toBe(true)
      expect(c.replicas[r]!.core.state.log.peek(1)?.prePrepare).toBeUndefined()
    }
  })

  it("a command that does not decode is rejected the same way by every replica, and the client learns it", () => {
    const c = new Cluster(fast)
    const seq = c.clients[0]!.submit(new Uint8Array([0x7b, 0x7d]))!
    c.deliverAll()
    expect(c.outcome(0, seq)).toMatchObject({ _tag: "Rejected" })
    expect(new Set([0, 1, 2, 3].map((r) => c.replicas[r]!.core.state.replies.get("c0")?.rejected)).size).toBe(1)
  })
})

describe("OSDI'99 §4.4 view changes", () => {
  it("a request committed at one correct replica in view 0 is committed at the same sequence number in view 1", () => {
    const c = new Cluster(fast)
    // only replica 1 hears the commits; then the primary goes silent
    c.filter = (m) => m.message._tag !== "Commit" || m.to === replicaPeer(1)
    const seq = c.submit(0, put("x", "1"))
    c.deliverAll()
    const inView0 = c.committed(1)
    expect([...inView0.keys()]).toEqual([1])
    expect([0, 2, 3].map((r) => c.replicas[r]!.appliedIndex())).toEqual([0, 0, 0])
    // the primary goes silent, and nothing is retransmitted: only a view change can commit it elsewhere
    c.filter = (m) => m.from !== replicaPeer(0) && m.message._tag !== "Status" && m.message._tag !== "Relay"
    expect(c.runUntil(() => c.outcome(0, seq) !== undefined && [2, 3].every((r) => c.replicas[r]!.appliedIndex() === 1), 1000)).toBe(true)
    for (const r of [1, 2, 3]) expect(c.committed(r)).toEqual(inView0)
    expect([1, 2, 3].map((r) => c.replicas[r]!.view())).toEqual([1, 1, 1])
  })
})

describe("OSDI'99 §5.1.3 read-only requests", () => {
  it("a replica that prepared a write answers no read until the write executed; a read that cannot get 2f+1 matching answers is ordered", () => {
    const c = new Cluster(fast)
    c.submit(0, put("x", "old"))
    c.deliverAll()
    // the write commits at replicas 0 and 1 only; 2 and 3 have prepared it but not executed it
    c.filter = (m) => m.message._tag !== "Commit" || m.to === replicaPeer(0) || m.to === replicaPeer(1)
    c.submit(0, put("x", "new"))
    c.deliverAll()
    expect([0, 1, 2, 3].map((r) => c.replicas[r]!.appliedIndex())).toEqual([2, 2, 1, 1])
    const read = c.submit(1, get("x"), true)
    c.deliverAll()
    const readReplies = c.readies.flatMap((x) => x.ready.send.map((o) => ({ r: x.replica, m: o.message })))
      .filter(({ m }) => m._tag === "Reply" && m.readOnly)
    expect(readReplies.map(({ r }) => r).sort()).toEqual([0, 1])
    expect(c.outcome(1, read)).toBeUndefined()
    c.heal()
    expect(c.runUntil(() => c.outcome(1, read) !== undefined, 500)).toBe(true)
    expect(resultOf(c.outcome(1, read))).toEqual({ _tag: "Got", value: "new" })
    const outcome = c.outcome(1, read)
    const cert = Either.getOrThrow(verifyReplyCertificate(outcome?._tag === "Committed" ? outcome.certificate! : [], c.trust, c.keys))
    expect(cert.readOnly).toBe(false)
  })
})
