/**
 * Compliance suite for `StateMachine` implementations. Every replica runs its
 * own instance, so a state machine that is not deterministic, or whose
 * snapshots do not reproduce its state, makes correct replicas diverge; these
 * properties catch that before a protocol does.
 *
 *   import { stateMachineSuite } from "@synod/core/testing"
 *   stateMachineSuite("ledger", LedgerStateMachine, { commands: FastCheck.array(commandArb, { maxLength: 40 }) })
 *
 * Checked, for random command sequences from `options.commands`:
 * - determinism: two instances fed the same commands (one of them the commands
 *   after a round trip through the command Schema, as replicas receive them)
 *   return the same results and reach the same digests; genesis digests agree;
 * - snapshots: snapshot -> Schema encode -> JSON -> decode -> restore into a
 *   fresh instance gives the same digest and then the same future; a snapshot
 *   is a value (later commands do not change it); restore replaces the state;
 * - reads: `query` of a read-only command leaves the digest unchanged, and
 *   applying a read-only command changes nothing and answers like `query`;
 * - results (of `apply` and `query`) survive a round trip through the result Schema;
 * - `invariants()`, when defined, reports nothing after any command.
 *
 * Commands whose `isReadOnly` is true exercise the read checks: include some
 * in the arbitrary when the state machine has reads.
 */
import { FastCheck, Schema } from "effect"
import type { ApplyContext, StateMachine, StateMachineInstance } from "../StateMachine.js"

// `@synod/core/testing` is also imported outside vitest (the simulator CLI), where
// loading vitest throws; it is loaded only inside a vitest run.
const vitest = process.env.VITEST !== undefined ? await import("@effect/vitest") : undefined

export interface StateMachineSuiteOptions<C> {
  /** Random command sequences. Keep them short (tens of commands): every property replays them several times. */
  readonly commands: FastCheck.Arbitrary<ReadonlyArray<C>>
  /** Runs per property (default 50). */
  readonly numRuns?: number
}

const ctxAt = (i: number): ApplyContext => ({ index: i + 1, clientId: "suite-client", seq: i })

/** Schema-encode then JSON round trip: what a value looks like after the wire or the disk. */
const wire = <A>(schema: Schema.Schema<A, any, never>) => {
  const encode = Schema.encodeSync(schema)
  const decode = Schema.decodeUnknownSync(schema)
  return {
    encode: (a: A): unknown => JSON.parse(JSON.stringify(encode(a))),
    roundTrip: (a: A): A => decode(JSON.parse(JSON.stringify(encode(a))))
  }
}

export const stateMachineSuite = <C, R, S>(
  name: string,
  stateMachine: StateMachine<C, R, S>,
  options: StateMachineSuiteOptions<C>
): void => {
  if (vitest === undefined) throw new Error("stateMachineSuite must be called from a vitest test file")
  const { describe, expect, it } = vitest
  const params = { fastCheck: { numRuns: options.numRuns ?? 50 } }
  const command = wire(stateMachine.command)
  const result = wire(stateMachine.result)
  const snapshot = wire(stateMachine.snapshot)
  /** A sequence and a cut point inside it. */
  const withCut = options.commands.chain((cs) => FastCheck.tuple(FastCheck.constant(cs), FastCheck.nat({ max: cs.length })))

  const applyAll = (sm: StateMachineInstance<C, R, S>, cs: ReadonlyArray<C>, from = 0) =>
    cs.map((c, i) => {
      const r = sm.apply(c, ctxAt(from + i))
      return { result: result.encode(r), digest: sm.digest() }
    })

  describe(`StateMachine compliance: ${name}`, () => {
    it("starts every instance in the same genesis state", () => {
      expect(stateMachine.make().digest()).toBe(stateMachine.make().digest())
    })

    it.prop("is deterministic: the same commands give the same results and digests", [options.commands], ([cs]) => {
      const a = stateMachine.make()
      const b = stateMachine.make()
      expect(applyAll(b, cs.map(command.roundTrip))).toEqual(applyAll(a, cs))
    }, params)

    it.prop("restores a snapshot (through its Schema) to the same digest and the same future", [withCut], ([[cs, k]]) => {
      const a = stateMachine.make()
      applyAll(a, cs.slice(0, k))
      const b = stateMachine.make()
      b.restore(snapshot.roundTrip(a.snapshot()))
      expect(b.digest()).toBe(a.digest())
      const rest = cs.slice(k)
      expect(applyAll(b, rest, k)).toEqual(applyAll(a, rest, k))
    }, params)

    it.prop("takes snapshots that later commands do not change", [withCut], ([[cs, k]]) => {
      const a = stateMachine.make()
      applyAll(a, cs.slice(0, k))
      const digestAtCut = a.digest()
      const snap = a.snapshot()
      const encodedAtCut = snapshot.encode(snap)
      applyAll(a, cs.slice(k), k)
      expect(snapshot.encode(snap)).toEqual(encodedAtCut)
      const b = stateMachine.make()
      b.restore(snap)
      expect(b.digest()).toBe(digestAtCut)
    }, params)

    it.prop("replaces the whole state on restore", [options.commands], ([cs]) => {
      const genesis = stateMachine.make()
      const a = stateMachine.make()
      applyAll(a, cs)
      a.restore(snapshot.roundTrip(genesis.snapshot()))
      expect(a.digest()).toBe(genesis.digest())
    }, params)

    it.prop("answers reads without changing state, and the log path agrees with query", [withCut], ([[cs, k]]) => {
      const a = stateMachine.make()
      applyAll(a, cs.slice(0, k))
      const reads = cs.filter((c) => a.isReadOnly(c))
      for (const c of reads) {
        const before = a.digest()
        const answered = result.encode(a.query(c))
        expect(a.digest()).toBe(before)
        expect(result.encode(a.apply(c, ctxAt(k)))).toEqual(answered)
        expect(a.digest()).toBe(before)
      }
    }, params)

    it.prop("returns results that round-trip through the result Schema", [options.commands], ([cs]) => {
      const a = stateMachine.make()
      cs.forEach((c, i) => {
        const queried = a.isReadOnly(c) ? [a.query(c)] : []
        for (const r of [...queried, a.apply(c, ctxAt(i))]) {
          expect(result.encode(result.roundTrip(r))).toEqual(result.encode(r))
        }
      })
    }, params)

    it.prop("keeps its invariants after every command", [options.commands], ([cs]) => {
      const a = stateMachine.make()
      expect(a.invariants?.() ?? []).toEqual([])
      cs.forEach((c, i) => {
        a.apply(c, ctxAt(i))
        expect(a.invariants?.() ?? []).toEqual([])
      })
    }, params)
  })
}
