/**
 * Scenarios on the deterministic simulator, named like the bug reports they
 * guard against. Each asserts outcomes: agreement (the simulator's checkers),
 * completed requests, and the protocol-level facts the scenario is about.
 */
import { Either } from "effect"
import { Kv, KvStateMachine, Simulator } from "@synod/core/testing"
import { replicaPeer } from "@synod/core"
import { describe, expect, it } from "vitest"
import { verifyEvidence } from "../src/Evidence.js"
import { verifyReplyCertificate } from "../src/ReplyCertificate.js"
import { simProtocol } from "../src/SimProtocol.js"
import { pbft, quiet, request, simKeys, views } from "./support/Sim.js"

const put = (key: string, value: string): Kv.Command => ({ _tag: "Put", key, value })
const get = (key: string): Kv.Command => ({ _tag: "Get", key })

describe("scenarios", () => {
  it("the primary equivocates: a backup holds both signed pre-prepares, a view change follows, nothing diverges", () => {
    const seed = 11
    const sim = Simulator.make({ protocol: simProtocol(), seed, byzantineReplicas: [0], strategies: ["equivocate"], adversaryIntensity: 0.6, faults: quiet })
    const result = sim.run()
    expect(result.violations).toEqual([])
    expect(result.stalled).toBeUndefined()
    expect(result.stats.byzantineActions.equivocate).toBeGreaterThan(0)
    const correct = [1, 2, 3]
    const evidence = correct.flatMap((r) => pbft(sim, r).evidence()).filter((e) => e.kind === "conflicting-pre-prepare")
    expect(evidence.length).toBeGreaterThan(0)
    expect(evidence.every((e) => e.against === replicaPeer(0))).toBe(true)
    const keys = simKeys(seed, 4, 3)
    for (const e of evidence) expect(Either.isRight(verifyEvidence(e, keys))).toBe(true)
    const causes = correct.flatMap((r) => sim.events(r)).flatMap((e) => (e._tag === "Custom" && e.name === "pbft.view-change" ? [(e.data as { cause: string }).cause] : []))
    expect(causes).toContain("evidence")
    expect(Math.min(...views(sim, correct))).toBeGreaterThanOrEqual(1)
  })

  it("the primary stays silent: the backups change view and every request completes", () => {
    const sim = Simulator.make({ protocol: simProtocol(), seed: 3, byzantineReplicas: [0], strategies: ["silent"], faults: quiet })
    const result = sim.run()
    expect(result.ok).toBe(true)
    expect(result.stats.byzantineActions.silent).toBeGreaterThan(0)
    expect(result.stats.outcomes.Committed).toBe(60)
    expect(Math.min(...views(sim, [1, 2, 3]))).toBeGreaterThanOrEqual(1)
  })

  it("a backup forges signatures: every forged frame is rejected and the cluster carries on", () => {
    const sim = Simulator.make({ protocol: simProtocol(), seed: 5, byzantineReplicas: [2], strategies: ["forge"], adversaryIntensity: 0.8, faults: quiet })
    const result = sim.run()
    expect(result.ok).toBe(true)
    const forged = (result.stats.rejections["bad-signature"] ?? 0) + (result.stats.rejections["sender-mismatch"] ?? 0)
    expect(forged).toBeGreaterThan(0)
    expect(forged).toBeLessThanOrEqual(result.stats.byzantineActions.forge!)
    expect(result.stats.outcomes.Committed).toBe(60)
  })

  it("a view change happens while a checkpoint is being formed: the checkpoint still becomes stable everywhere", () => {
    const sim = Simulator.make({ protocol: simProtocol({ config: { checkpointInterval: 4, logWindow: 8 } }), seed: 21, faults: quiet })
    const formed = () => sim.events(1).some((e) => e._tag === "Checkpoint" && e.index === 4 && !e.stable)
    let i = 0
    while (!formed()) {
      sim.submit(i++ % 3, Kv.encodeCommand(put(`k${i}`, `${i}`)))
      sim.step()
    }
    expect(pbft(sim, 1).core.stableCheckpoint().seq).toBe(0)
    sim.crash(0) // the primary, before the checkpoint is stable
    expect(sim.runUntil(() => sim.completions().length === sim.operations().length, 3000)).toBe(true)
    for (let n = 0; n < 9; n++) request(sim, n % 3, put("after", `${n}`))
    expect(Math.min(...views(sim, [1, 2, 3]))).toBeGreaterThanOrEqual(1)
    const stable = [1, 2, 3].map((r) => pbft(sim, r).core.stableCheckpoint())
    expect(Math.min(...stable.map((s) => s.seq))).toBeGreaterThanOrEqual(4)
    expect(new Set(stable.filter((s) => s.seq === stable[0]!.seq).map((s) => s.digest)).size).toBe(1)
    expect(sim.check()).toEqual([])
  })

  it("two view changes in a row: the primary fails, then the next one does", () => {
    const sim = Simulator.make({ protocol: simProtocol(), seed: 8, faults: quiet })
    request(sim, 0, put("a", "1"))
    sim.crash(0)
    request(sim, 1, put("a", "2"))
    expect(views(sim, [1, 2, 3])).toEqual([1, 1, 1])
    sim.restart(0)
    sim.crash(1)
    request(sim, 2, put("a", "3"))
    const installed = (r: number) => sim.events(r).flatMap((e) => (e._tag === "ViewChanged" ? [e.view] : []))
    for (const r of [2, 3]) expect(installed(r).slice(0, 2)).toEqual([1, 2])
    const read = request(sim, 0, get("a"))
    expect(read.outcome?._tag === "Committed" && Kv.decodeResult(read.outcome.result)).toEqual({ _tag: "Got", value: "3" })
    expect(sim.check()).toEqual([])
  })

  it("a lagging replica catches up by state transfer while a Byzantine replica serves it bad state", () => {
    const sim = Simulator.make({
      protocol: simProtocol({ config: { checkpointInterval: 4, logWindow: 8 } }),
      seed: 17,
      byzantineReplicas: [1],
      strategies: ["lie"],
      adversaryIntensity: 1,
      faults: quiet
    })
    sim.isolate(3)
    for (let n = 0; n < 14; n++) request(sim, n % 3, put(`k${n % 4}`, `${n}`))
    expect(pbft(sim, 3).appliedIndex()).toBe(0)
    sim.heal()
    request(sim, 0, put("after", "heal"))
    expect(sim.runUntil(() => pbft(sim, 3).appliedIndex() === pbft(sim, 0).appliedIndex(), 2000)).toBe(true)
    expect(sim.events(3).some((e) => e._tag === "StateTransferred")).toBe(true)
    expect(pbft(sim, 3).stateDigest()).toBe(pbft(sim, 0).stateDigest())
    // in this run the liar answered first: its state was rejected and kept as evidence
    const evidence = pbft(sim, 3).evidence().filter((e) => e.kind === "bad-state")
    expect(evidence.map((e) => e.against)).toEqual([replicaPeer(1)])
    expect(Either.isRight(verifyEvidence(evidence[0]!, simKeys(17, 4, 3), KvStateMachine))).toBe(true)
    expect(sim.check()).toEqual([])
  })

  it("a read-only request concurrent with a write returns the old or the new value, and the history stays linearizable", () => {
    for (const seed of [1, 2, 3, 4]) {
      const sim = Simulator.make({ protocol: simProtocol(), seed, faults: quiet })
      request(sim, 0, put("x", "old"))
      const write = sim.submit(1, Kv.encodeCommand(put("x", "new")))
      const read = sim.submit(2, Kv.encodeCommand(get("x")), { readOnly: true })
      expect(write).toBeDefined()
      expect(read).toBeDefined()
      expect(sim.runUntil(() => sim.completions().length === 3, 2000)).toBe(true)
      const answer = sim.completions().find((op) => op.clientId === "c2")!.outcome
      expect(answer?._tag).toBe("Committed")
      const value = answer?._tag === "Committed" ? Kv.decodeResult(answer.result) : undefined
      expect([{ _tag: "Got", value: "old" }, { _tag: "Got", value: "new" }]).toContainEqual(value)
      expect(sim.check()).toEqual([])
    }
  })

  it("a reply certificate verifies offline with the cluster's keys, and a tampered one does not", () => {
    const seed = 4
    const sim = Simulator.make({ protocol: simProtocol(), seed, byzantine: 1 })
    const result = sim.run()
    expect(result.ok).toBe(true)
    const keys = simKeys(seed, 4, 3)
    const committed = sim.completions().flatMap((op) => (op.outcome?._tag === "Committed" ? [op.outcome] : []))
    expect(committed.length).toBeGreaterThan(0)
    for (const outcome of committed) {
      const verified = verifyReplyCertificate(outcome.certificate ?? [], sim.trust, keys, { clusterId: "sim" })
      expect(Either.getOrThrow(verified).result).toEqual(outcome.result)
    }
    const cert = committed[0]!.certificate!
    const tampered = cert.map((f, i) => (i === 0 ? Uint8Array.from(f, (b, j) => (j === 60 ? b ^ 1 : b)) : f))
    expect(Either.isLeft(verifyReplyCertificate(tampered, sim.trust, keys))).toBe(true)
  })
})
