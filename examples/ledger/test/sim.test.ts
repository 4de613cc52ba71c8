import { describe, expect, it } from "@effect/vitest"
import type { Checkers, SimProtocol } from "@synod/core/testing"
import { Prng, Simulator, Workload } from "@synod/core/testing"
import { type PbftMessage, simProtocol } from "@synod/pbft"
import { byzantine, type ByzantineDriver, STRATEGIES } from "../src/Byzantine.js"
import { Applied, GetTotals, Totals } from "../src/Commands.js"
import * as Ledger from "../src/index.js"
import { ledgerHistoryCheck, ledgerSimStateMachine, ledgerWorkload } from "../src/Sim.js"

const quiet = { drop: 0, duplicate: 0, reorder: false, partitions: false, crashes: false, clockSkew: false }

describe("the ledger in the simulator", () => {
  it("PBFT with a seeded Byzantine replica and faults keeps every ledger check", () => {
    for (const seed of [1, 2, 3]) {
      const result = Simulator.make({
        protocol: simProtocol(),
        seed,
        byzantine: 1,
        stateMachine: ledgerSimStateMachine,
        workload: ledgerWorkload(),
        history: ledgerHistoryCheck,
        requestsPerClient: 15
      }).run()
      expect(result.violations, result.replay).toEqual([])
      expect(result.stalled, result.replay).toBeUndefined()
      expect(result.stats.commits).toBeGreaterThan(0)
    }
  })

  it("the package exports what tools/sim.ts loads: a fresh workload per run", () => {
    const entry = Ledger.simStateMachine()
    expect(entry.stateMachine).toBe(ledgerSimStateMachine)
    expect(entry.history).toBe(ledgerHistoryCheck)
    expect(entry.workload()).not.toBe(entry.workload())
  })

  it("the workload signs transfers, mints, retries, forgeries and reads", () => {
    const w = ledgerWorkload()
    const codec = Workload.commandCodec(ledgerSimStateMachine)
    const rng = new Prng(7)
    const tags = new Map<string, number>()
    for (let i = 0; i < 400; i++) {
      const c = codec.decodeCommand(w.next(i % 3, rng).command)
      expect(c).toBeDefined()
      tags.set(c!._tag, (tags.get(c!._tag) ?? 0) + 1)
    }
    expect([...tags.keys()].sort()).toEqual(["GetBalance", "GetTotals", "Mint", "Transfer"])
    // on a fresh ledger, the ops apply without breaking its invariants
    const sm = ledgerSimStateMachine.make()
    const w2 = ledgerWorkload()
    const rng2 = new Prng(8)
    const outcomes = new Map<string, number>()
    for (let i = 1; i <= 400; i++) {
      const r = sm.apply(codec.decodeCommand(w2.next(0, rng2).command)!, { index: i, clientId: "c", seq: i })
      const tag = r._tag === "Failed" ? r.error._tag : r._tag === "Applied" && r.replayed ? "Replayed" : r._tag
      outcomes.set(tag, (outcomes.get(tag) ?? 0) + 1)
      expect(sm.invariants?.()).toEqual([])
    }
    expect(outcomes.get("Applied")).toBeGreaterThan(100)
    expect(outcomes.get("Replayed")).toBeGreaterThan(0)
    expect(outcomes.get("NotOwner")).toBeGreaterThan(0)
  })

  /** PBFT whose replica 0 runs the Byzantine decorator (the simulator believes every replica correct). */
  const decorated = (strategy: (typeof STRATEGIES)[number], made: Array<ByzantineDriver<PbftMessage>>): SimProtocol<PbftMessage> => {
    const base = simProtocol()
    return {
      ...base,
      makeReplica: (p) => {
        const driver = base.makeReplica(p)
        if (p.id !== 0) return driver
        const b = byzantine(driver, { strategy, tamper: base.tamper, seed: p.seed })
        made.push(b)
        return b
      }
    }
  }

  /**
   * Replica 0 (the first primary) runs the decorator. Some requests, then
   * replica 0 is cut off long enough for a view change, the network heals,
   * more requests: every strategy gets to act (stale-view once there is an
   * older view to claim) and every request must complete with every check held.
   */
  for (const strategy of STRATEGIES) {
    it(`replica 0 running the ${strategy} decorator: the others still agree and finish every request`, () => {
      const made: Array<ByzantineDriver<PbftMessage>> = []
      const sim = Simulator.make({
        protocol: decorated(strategy, made),
        seed: 11,
        clients: 3,
        stateMachine: ledgerSimStateMachine,
        history: ledgerHistoryCheck,
        faults: quiet
      })
      const workload = ledgerWorkload()
      const rng = new Prng(5)
      let submitted = 0
      const submitRound = () => {
        for (let c = 0; c < 3; c++) {
          const op = workload.next(c, rng)
          if (sim.submit(c, op.command, { readOnly: op.readOnly }) !== undefined) submitted++
        }
      }
      const allDone = () => sim.completions().length === submitted
      for (let round = 0; round < 4; round++) {
        submitRound()
        expect(sim.runUntil(allDone, 3000), `round ${round}`).toBe(true)
      }
      sim.isolate(0)
      submitRound()
      expect(sim.runUntil(allDone, 3000)).toBe(true)
      sim.heal()
      for (let round = 0; round < 4; round++) {
        submitRound()
        expect(sim.runUntil(allDone, 3000), `round ${round} after healing`).toBe(true)
      }
      sim.runFor(200)
      expect(sim.check()).toEqual([])
      expect(sim.completions().every((c) => c.outcome._tag === "Committed")).toBe(true)
      const actions = made.reduce((n, b) => n + Object.values(b.actions()).reduce((a, c) => a + c, 0), 0)
      expect(actions, `${strategy} never acted`).toBeGreaterThan(0)
    })
  }
})

describe("ledgerHistoryCheck", () => {
  const codec = Workload.commandCodec(ledgerSimStateMachine)
  const op = (seq: number, result: Uint8Array, command = codec.encodeCommand(new GetTotals())): Checkers.ClientOp => ({
    client: 0,
    clientId: "c0",
    seq,
    command,
    commandDigest: "",
    readOnly: false,
    invokedAt: 0,
    completedAt: 1,
    outcome: { _tag: "Committed", result, index: seq },
    afterHeal: false
  })

  it("accepts replays and finds an operation applied twice or a supply that does not add up", () => {
    const applied = (replayed: boolean) => codec.encodeResult(new Applied({ id: "x1", balance: 5n, replayed }))
    expect(ledgerHistoryCheck([op(1, applied(false)), op(2, applied(true))])).toEqual([])
    expect(ledgerHistoryCheck([op(1, applied(false)), op(2, applied(false))])).toEqual(["operation x1 applied twice (c0#1 and c0#2)"])
    const totals = codec.encodeResult(new Totals({ accounts: 4, supply: 10n, minted: 11n, operations: 1 }))
    expect(ledgerHistoryCheck([op(3, totals)])).toEqual(["c0#3: supply 10 differs from minted 11"])
  })
})
