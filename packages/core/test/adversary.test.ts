import { describe, expect, it } from "@effect/vitest"
import { simulatedKeyRing, simulatedSigner } from "../src/Crypto.js"
import { open, seal } from "../src/Envelope.js"
import { clientPeer, type PeerId, replicaPeer } from "../src/Ids.js"
import { Adversary, chooseStrategies, STRATEGIES, type Strategy } from "../src/testing/Adversary.js"
import { emptyStats } from "../src/testing/internal/Stats.js"
import { Prng } from "../src/testing/Prng.js"
import * as Reference from "../src/testing/ReferenceProtocol.js"
import * as Simulator from "../src/testing/Simulator.js"

const bft = Reference.simProtocol({ faultModel: "byzantine" })
const quick = { requestsPerClient: 6, safetyTicks: 600, livenessTicks: 3000 }

/** Where each strategy's effect must show up at correct replicas, beside its own action count. */
const evidence: Record<Strategy, (s: Simulator.SimStats) => number> = {
  silent: (s) => s.byzantineDetail["silent/suppressed"] ?? 0,
  "crash-then-return": (s) => Math.min(s.crashes, s.restarts),
  equivocate: (s) => s.coreRejections.invalid ?? 0, // the sequencer refuses acks whose chain is not its own
  forge: (s) => s.rejections["bad-signature"] ?? 0,
  replay: (s) => (s.byzantineDetail["replay/own"] ?? 0) + (s.byzantineDetail["replay/observed"] ?? 0),
  "shift-view": (s) => (s.coreRejections.stale ?? 0) + (s.coreRejections["wrong-view"] ?? 0),
  garbage: (s) => (s.rejections.malformed ?? 0) + (s.rejections["unknown-tag"] ?? 0) + (s.rejections["wrong-protocol"] ?? 0) + (s.rejections.truncated ?? 0),
  lie: (s) => s.coreRejections.invalid ?? 0
}

describe("Byzantine adversary in simulated runs", () => {
  for (const strategy of STRATEGIES) {
    it(`${strategy}: happens, is seen by correct replicas, and the run stays safe and live`, () => {
      let actions = 0
      let seen = 0
      for (const seed of [1, 2, 3]) {
        const r = Simulator.make({ protocol: bft, seed, byzantine: 1, strategies: [strategy], ...quick }).run()
        expect(r.violations).toEqual([])
        expect(r.stalled).toBeUndefined()
        actions += r.stats.byzantineActions[strategy] ?? 0
        seen += evidence[strategy](r.stats)
        // nothing but the chosen strategy ran
        expect(Object.keys(r.stats.byzantineActions).filter((s) => s !== strategy)).toEqual([])
      }
      expect(actions).toBeGreaterThan(0)
      expect(seen).toBeGreaterThan(0)
    })
  }

  it("reports what fails to open as Rejected events of the receiving replica", () => {
    const sim = Simulator.make({ protocol: bft, seed: 2, byzantine: 1, strategies: ["garbage", "forge"], adversaryIntensity: 0.6, ...quick })
    const r = sim.run()
    expect(r.ok).toBe(true)
    const wire = new Set(["malformed", "unknown-tag", "wrong-protocol", "truncated", "bad-signature"])
    const reported = [0, 1, 2, 3]
      .filter((rep) => !sim.byzantine.has(rep))
      .flatMap((rep) => sim.events(rep).flatMap((e) => (e._tag === "Rejected" && wire.has(e.rejection.reason) ? [e.rejection.reason] : [])))
    expect(reported.length).toBeGreaterThan(0)
    const counted = Object.entries(r.stats.rejections).filter(([k]) => wire.has(k)).reduce((a, [, v]) => a + v, 0)
    expect(reported.length).toBeLessThanOrEqual(counted) // clients' rejections are counted too
    expect(new Set(reported).size).toBeGreaterThanOrEqual(3)
  })

  it("combines strategies chosen by seed, and replays identically", () => {
    const run = (seed: number) => Simulator.make({ protocol: bft, seed, byzantine: 1, adversaryIntensity: 0.6, ...quick }).run()
    const seen = new Set<string>()
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const r = run(seed)
      expect(r.ok).toBe(true)
      for (const s of Object.keys(r.stats.byzantineActions)) seen.add(s)
    }
    expect(seen.size).toBeGreaterThanOrEqual(5)
    expect(run(4).traceDigest).toBe(run(4).traceDigest)
  })

  it("chooses a non-empty subset of strategies", () => {
    const rng = new Prng(1)
    for (let i = 0; i < 50; i++) {
      const s = chooseStrategies(rng)
      expect(s.length).toBeGreaterThan(0)
      expect(s.every((x) => STRATEGIES.includes(x))).toBe(true)
    }
  })
})

describe("Adversary frames", () => {
  const peers: Array<PeerId> = [replicaPeer(0), replicaPeer(1), replicaPeer(2), replicaPeer(3), clientPeer("c0")]
  const envelope = { ...bft.envelope, clusterId: "sim" }
  const keys = simulatedKeyRing("k", peers)
  const ack: Reference.Message = { _tag: "Ack", view: 1, upTo: 3, chain: "a".repeat(64) }

  const harness = (strategy: Strategy, seed = 1) => {
    const sent: Array<{ from: number; to: number; frame: Uint8Array }> = []
    const stats = emptyStats()
    const adversary = new Adversary({
      protocol: bft,
      envelope,
      signers: new Map([[3, simulatedSigner("k", peers[3]!)]]),
      strategies: new Map([[3, [strategy]]]),
      rng: new Prng(seed),
      stats,
      intensity: 1,
      host: {
        emit: (from, to, frame) => sent.push({ from, to, frame }),
        isUp: () => true,
        crash: () => {},
        restart: () => {},
        nodeOf: (peer) => {
          const i = peers.indexOf(peer as PeerId)
          return i < 0 ? undefined : i
        },
        peers
      }
    })
    const honest = seal(envelope, simulatedSigner("k", peers[3]!), ack)
    const opened = (f: { from: number; frame: Uint8Array }) => open(envelope, keys, f.frame, peers[f.from])
    return { adversary, sent, stats, honest, opened }
  }

  it("equivocates: some peers get one message, the others a conflicting one, both validly signed", () => {
    const h = harness("equivocate")
    h.adversary.outbound(3, ack, h.honest, [0, 1, 2])
    expect(h.sent).toHaveLength(3)
    const messages = h.sent.map((f) => h.opened(f))
    expect(messages.every((m) => m._tag === "Right")).toBe(true)
    const chains = new Set(messages.map((m) => (m._tag === "Right" && m.right.message._tag === "Ack" ? m.right.message.chain : "")))
    expect(chains.size).toBe(2)
    expect(h.stats.byzantineActions.equivocate).toBe(1)
  })

  it("forges: every forged frame fails authentication; the honest frame still goes out", () => {
    const reasons = new Set<string>()
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const h = harness("forge", seed)
      h.adversary.outbound(3, ack, h.honest, [0, 1])
      const results = h.sent.map((f) => h.opened(f))
      const bad = results.filter((r) => r._tag === "Left")
      expect(bad).toHaveLength(1)
      for (const b of bad) if (b._tag === "Left") reasons.add(b.left.reason)
      expect(results.filter((r) => r._tag === "Right")).toHaveLength(2)
    }
    expect(reasons).toEqual(new Set(["bad-signature"]))
  })

  it("sends garbage that never opens", () => {
    const reasons = new Set<string>()
    for (let seed = 1; seed <= 40; seed++) {
      const h = harness("garbage", seed)
      h.adversary.outbound(3, ack, h.honest, [0])
      const [junk, honest] = h.sent
      const r = h.opened(junk!)
      expect(r._tag).toBe("Left")
      if (r._tag === "Left") reasons.add(r.left.reason)
      expect(h.opened(honest!)._tag).toBe("Right")
    }
    expect(reasons.has("malformed") || reasons.has("unknown-tag")).toBe(true)
    expect(reasons.size).toBeGreaterThanOrEqual(3)
  })

  it("shifts views both ways and lies, as the protocol's tamper functions allow", () => {
    const details = new Set<string>()
    for (let seed = 1; seed <= 10; seed++) {
      const h = harness("shift-view", seed)
      h.adversary.outbound(3, ack, h.honest, [0])
      for (const d of Object.keys(h.stats.byzantineDetail)) details.add(d)
    }
    expect(details).toEqual(new Set(["shift-view/stale", "shift-view/future"]))
    const h = harness("lie")
    h.adversary.outbound(3, ack, h.honest, [0])
    const lied = h.opened(h.sent[0]!)
    expect(lied._tag === "Right" && lied.right.message._tag === "Ack" && lied.right.message.upTo > 3).toBe(true)
    // nothing to lie about in a Commit: the honest frame goes out unchanged
    const commit: Reference.Message = { _tag: "Commit", view: 1, commitIndex: 1, lastIndex: 1 }
    const c = harness("lie")
    const honest = seal(envelope, simulatedSigner("k", peers[3]!), commit)
    c.adversary.outbound(3, commit, honest, [0])
    expect(c.sent.map((s) => s.frame)).toEqual([honest])
    expect(c.stats.byzantineActions).toEqual({})
  })
})
