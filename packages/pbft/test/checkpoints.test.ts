/**
 * Checkpoints, stable checkpoints, watermarks and garbage collection
 * (OSDI'99 §4.3), on four replicas moved by hand.
 */
import { type LogIndex, replicaPeer, type ViewNumber } from "@synod/core"
import { describe, expect, it } from "vitest"
import { NULL_DIGEST } from "../src/Digest.js"
import { Prepare } from "../src/Messages.js"
import { Cluster, put } from "./support/Cluster.js"

const small = { config: { checkpointInterval: 2, logWindow: 4, maxInFlightBatches: 4 } }

const writes = (c: Cluster, count: number) => {
  for (let i = 0; i < count; i++) {
    c.submit(0, put("k", `v${i}`))
    c.deliverAll()
  }
}

describe("checkpoints and garbage collection (OSDI'99 §4.3)", () => {
  it("a checkpoint becomes stable with 2f+1 matching checkpoint messages, and the log below it is discarded", () => {
    const c = new Cluster(small)
    writes(c, 5)
    for (let r = 0; r < 4; r++) {
      const d = c.replicas[r]!
      expect(d.appliedIndex()).toBe(5)
      const stable = d.core.stableCheckpoint()
      expect(stable.seq).toBe(4)
      expect(stable.proof.length).toBeGreaterThanOrEqual(3)
      expect(c.ofTag(r, "Checkpoint").map((e) => [e.index, e.stable])).toEqual([[2, false], [2, true], [4, false], [4, true]])
      expect(d.core.state.log.low).toBe(4)
      expect(d.core.state.log.size()).toBeLessThanOrEqual(1)
      // nothing at or below the stable checkpoint stays on disk
      const logKeys = [...c.disks[r]!.keys()].filter((k) => k.startsWith("pbft/log/"))
      expect(logKeys.every((k) => Number(k.slice(9, 21)) > 4)).toBe(true)
      expect(c.disks[r]!.has("pbft/stable")).toBe(true)
    }
    const digests = new Set([0, 1, 2, 3].map((r) => c.replicas[r]!.core.stableCheckpoint().digest))
    expect(digests.size).toBe(1)
  })

  it("messages outside the watermarks (h, h+L] are rejected: below as stale, above as out-of-window", () => {
    const c = new Cluster(small)
    writes(c, 5)
    const frame = (seq: number) => c.seal(replicaPeer(2), new Prepare({ view: 0 as ViewNumber, seq: seq as LogIndex, digest: NULL_DIGEST }))
    c.deliverFrame(replicaPeer(2), replicaPeer(1), frame(3))
    c.deliverFrame(replicaPeer(2), replicaPeer(1), frame(9))
    const reasons = c.ofTag(1, "Rejected").map((e) => e.rejection.reason)
    expect(reasons.slice(-2)).toEqual(["stale", "out-of-window"])
  })

  it("the primary assigns nothing above the high watermark until a checkpoint becomes stable", () => {
    const c = new Cluster({ ...small, clients: 2 })
    c.filter = (m) => m.message._tag !== "Checkpoint"
    writes(c, 4)
    const a = c.submit(0, put("a", "5"))
    const b = c.submit(1, put("b", "6"))
    c.deliverAll()
    expect(c.replicas[0]!.appliedIndex()).toBe(4)
    expect(c.replicas[0]!.core.state.nextSeq).toBe(4)
    c.heal()
    // the status exchange retransmits the missing checkpoint messages
    expect(c.runUntil(() => c.outcome(0, a) !== undefined && c.outcome(1, b) !== undefined, 300)).toBe(true)
    expect(c.replicas[1]!.core.stableCheckpoint().seq).toBe(4)
    expect(c.replicas[1]!.appliedIndex()).toBe(5)
  })
})
