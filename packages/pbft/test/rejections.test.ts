/**
 * Bad input from peers and clients is dropped with a typed reason (a
 * `Rejected` event), never a crash and never a state change.
 */
import { type ClientId, clientPeer, type LogIndex, type PeerId, replicaPeer, type RequestSeq, type ViewNumber } from "@synod/core"
import { Kv } from "@synod/core/testing"
import { describe, expect, it } from "vitest"
import { NULL_DIGEST } from "../src/Digest.js"
import { Checkpoint, Commit, FetchState, type PbftMessage, Prepare, PrePrepare, Relay, Reply, Request, Status, ViewChange } from "../src/Messages.js"
import { Cluster, put } from "./support/Cluster.js"

const v = (n: number) => n as ViewNumber
const s = (n: number) => n as LogIndex
const request = (clientId: string) =>
  new Request({ clientId: clientId as ClientId, seq: 1 as RequestSeq, command: Kv.encodeCommand(put("x", "1")), readOnly: false })

/** Replace a silent primary: the cluster ends in view 1. */
const toView1 = (c: Cluster) => {
  c.filter = (m) => m.from !== replicaPeer(0)
  const seq = c.submit(0, put("x", "1"))
  if (!c.runUntil(() => c.outcome(0, seq) !== undefined && c.replicas[1]!.view() === 1, 1000)) throw new Error("no view change")
  c.heal()
}

describe("rejections", () => {
  const cases: Array<[string, PeerId, (c: Cluster) => PbftMessage, string]> = [
    ["a pre-prepare from a backup", replicaPeer(2), () => new PrePrepare({ view: v(0), seq: s(1), digest: NULL_DIGEST }), "invalid"],
    ["a prepare from the primary", replicaPeer(0), () => new Prepare({ view: v(0), seq: s(1), digest: NULL_DIGEST }), "invalid"],
    ["a commit for an old view", replicaPeer(2), (c) => (toView1(c), new Commit({ view: v(0), seq: s(1), digest: NULL_DIGEST })), "wrong-view"],
    ["a commit for a view far ahead", replicaPeer(2), () => new Commit({ view: v(7), seq: s(1), digest: NULL_DIGEST }), "wrong-view"],
    ["a prepare above the high watermark", replicaPeer(2), () => new Prepare({ view: v(0), seq: s(10_000), digest: NULL_DIGEST }), "out-of-window"],
    ["a checkpoint that is not at a multiple of K", replicaPeer(2), () => new Checkpoint({ seq: s(3), stateDigest: NULL_DIGEST }), "invalid"],
    ["a prepare sent by a client", clientPeer("c0"), () => new Prepare({ view: v(0), seq: s(1), digest: NULL_DIGEST }), "not-member"],
    ["a status sent by a client", clientPeer("c0"), () => new Status({ view: v(0), normal: true, stableSeq: s(0), lastExecuted: s(0) }), "not-member"],
    ["a state request sent by a client", clientPeer("c0"), () => new FetchState({ seq: s(64) }), "not-member"],
    ["a request signed by another client", clientPeer("c1"), () => request("c0"), "invalid"],
    ["a request signed by a replica", replicaPeer(2), () => request("c0"), "invalid"],
    ["a reply sent to a replica", replicaPeer(2), () => new Reply({ view: v(0), clientId: "c0" as ClientId, seq: 1 as RequestSeq, index: s(1), readOnly: false, result: new Uint8Array() }), "invalid"],
    ["a relay inside a relay", replicaPeer(2), (c) => new Relay({ frames: [c.seal(replicaPeer(3), new Relay({ frames: [] }))] }), "invalid"],
    ["a relayed status", replicaPeer(2), (c) => new Relay({ frames: [c.seal(replicaPeer(3), new Status({ view: v(0), normal: true, stableSeq: s(0), lastExecuted: s(0) }))] }), "invalid"],
    ["a view-change whose checkpoint proof is missing", replicaPeer(2), () => new ViewChange({ view: v(1), stableSeq: s(64), stableDigest: NULL_DIGEST, checkpointProof: [], prepared: [] }), "invalid"]
  ]

  it.each(cases)("%s is rejected", (_name, from, make, reason) => {
    const c = new Cluster({ config: { viewChangeTimeoutTicks: 20 }, client: { requestTimeoutTicks: 10 } })
    const message = make(c)
    const before = c.replicas[1]!.appliedIndex()
    c.deliverFrame(from, replicaPeer(1), c.seal(from, message))
    const rejected = c.ofTag(1, "Rejected")
    expect(rejected.length).toBeGreaterThan(0)
    expect(rejected.at(-1)!.rejection.reason).toBe(reason)
    expect(c.replicas[1]!.appliedIndex()).toBe(before)
  })

  it("a relayed frame with a broken signature is rejected as such, the rest of the relay still counts", () => {
    const c = new Cluster()
    const good = c.seal(replicaPeer(3), new Prepare({ view: v(0), seq: s(1), digest: NULL_DIGEST }))
    const bad = good.slice()
    bad[bad.length - 3] = bad[bad.length - 3]! ^ 1
    c.deliverFrame(replicaPeer(2), replicaPeer(1), c.seal(replicaPeer(2), new Relay({ frames: [bad, good] })))
    expect(c.ofTag(1, "Rejected").map((e) => e.rejection.reason)).toEqual(["bad-signature"])
    expect(c.replicas[1]!.core.state.log.peek(1)?.prepares.size).toBe(1)
  })
})
