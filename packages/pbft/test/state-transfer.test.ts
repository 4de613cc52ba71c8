/**
 * State transfer (TOCS'02 §5.3): a replica that fell behind the stable
 * checkpoint fetches the state, checks it against the certified digest, and
 * only then uses it.
 */
import { Prng } from "@synod/core/testing"
import { replicaPeer } from "@synod/core"
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { verifyEvidence } from "../src/Evidence.js"
import { simProtocol } from "../src/SimProtocol.js"
import { KvStateMachine } from "@synod/core/testing"
import { Cluster, type InFlight, put } from "./support/Cluster.js"

const small = { config: { checkpointInterval: 2, logWindow: 4, statusIntervalTicks: 3, viewChangeTimeoutTicks: 500 } }

const lagBehind = (c: Cluster, lagging: number, writes: number) => {
  c.isolate([lagging])
  for (let i = 0; i < writes; i++) {
    const seq = c.submit(0, put(`k${i % 3}`, `v${i}`))
    expect(c.runUntil(() => c.outcome(0, seq) !== undefined, 100)).toBe(true)
  }
}

describe("state transfer (TOCS'02 §5.3)", () => {
  it("a replica cut off for several checkpoints catches up by fetching the stable state", () => {
    const c = new Cluster(small)
    lagBehind(c, 3, 9)
    expect(c.replicas[3]!.appliedIndex()).toBe(0)
    expect(c.replicas[0]!.core.stableCheckpoint().seq).toBe(8)
    c.heal()
    expect(c.runUntil(() => c.replicas[3]!.appliedIndex() === 9, 300)).toBe(true)
    const transferred = c.ofTag(3, "StateTransferred")
    expect(transferred.map((e) => e.index)).toEqual([8])
    expect(transferred[0]!.stateDigest).toBe(c.replicas[0]!.core.stableCheckpoint().digest)
    expect(c.replicas[3]!.stateDigest()).toBe(c.replicas[0]!.stateDigest())
    // the reply table came along: a retry of an old request is answered, not executed again
    expect(c.replicas[3]!.core.state.replies.get("c0")?.seq).toBe(9)
  })

  it("a lying replica cannot make it install wrong state: its answer is rejected and kept as evidence", () => {
    const c = new Cluster(small)
    lagBehind(c, 3, 9)
    // replica 1 answers the fetch first, with state that is not the certified one
    const tamper = simProtocol().tamper
    let lied = false
    c.filter = (m: InFlight) => {
      if (m.from === replicaPeer(1) && m.message._tag === "StateReply" && !lied) {
        lied = true
        const lie = tamper.lie(m.message, Prng.derive(1, "lie"))!
        c.deliverFrame(m.from, m.to, c.seal(m.from, lie))
        return false
      }
      return true
    }
    expect(c.runUntil(() => c.replicas[3]!.appliedIndex() === 9, 300)).toBe(true)
    expect(lied).toBe(true)
    const evidence = c.replicas[3]!.evidence().filter((e) => e.kind === "bad-state")
    expect(evidence.length).toBe(1)
    expect(evidence[0]!.against).toBe(replicaPeer(1))
    expect(Either.isRight(verifyEvidence(evidence[0]!, c.keys, KvStateMachine))).toBe(true)
    expect(c.replicas[3]!.stateDigest()).toBe(c.replicas[0]!.stateDigest())
  })

  it("a restarted replica resumes from its disk and rejoins through retransmission and state transfer", () => {
    const c = new Cluster(small)
    const first = c.submit(0, put("a", "1"))
    c.runUntil(() => c.outcome(0, first) !== undefined)
    c.crash(2)
    for (let i = 0; i < 6; i++) {
      const seq = c.submit(1, put("b", `${i}`))
      expect(c.runUntil(() => c.outcome(1, seq) !== undefined, 100)).toBe(true)
    }
    c.restart(2)
    expect(c.replicas[2]!.appliedIndex()).toBe(0)
    const last = c.submit(0, put("a", "2"))
    expect(c.runUntil(() => c.outcome(0, last) !== undefined && c.replicas[2]!.appliedIndex() === 8, 300)).toBe(true)
    expect(c.replicas[2]!.stateDigest()).toBe(c.replicas[0]!.stateDigest())
  })
})
