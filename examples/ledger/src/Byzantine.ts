/**
 * A Byzantine replica for real processes: a `Driver` decorator that lets the
 * honest protocol driver run (so it knows what plausible messages look like)
 * and rewrites what leaves it. It is protocol-agnostic: the rewriting uses the
 * protocol package's `simProtocol().tamper` functions, the same ones the
 * simulator's adversary uses, and the shell seals every rewritten message with
 * this replica's own key — a Byzantine replica is authenticated, just lying.
 *
 * Strategies (one per replica):
 *   equivocate  each message goes out in conflicting variants: one destination
 *               gets the honest message, every other destination its own
 *               tampered variant (`tamper.equivocate`); a single destination
 *               gets a variant
 *   silent      nothing leaves the replica (it keeps persisting and executing:
 *               up, but mute)
 *   stale-view  every message claims an older view (`tamper.shiftView` with a
 *               negative delta); messages of view 0 have no older view and go
 *               out honestly
 *   lie         state-transfer answers carry wrong state (`tamper.lie`);
 *               everything else is honest, so the lie hits a replica that
 *               catches up (after a restart, or when it fell behind)
 *
 * The decorator keeps the driver contract: `ready()` returns the same
 * rewritten work until `advance()`; persistence and events pass unchanged.
 */
import type { PeerId, Protocol } from "@synod/core"
import type { Rng, SimProtocol } from "@synod/core/testing"
import { Prng } from "@synod/core/prng"

type Driver<M> = Protocol.Driver<M>
type Outbound<M> = Protocol.Outbound<M>
type Ready<M> = Protocol.Ready<M>

export const STRATEGIES = ["equivocate", "silent", "stale-view", "lie"] as const
export type Strategy = typeof STRATEGIES[number]

export const DEFAULT_STRATEGY: Strategy = "equivocate"

export const isStrategy = (s: string): s is Strategy => (STRATEGIES as ReadonlyArray<string>).includes(s)

export const describeStrategy: Record<Strategy, string> = {
  equivocate: "sends conflicting signed variants of its messages to different peers",
  silent: "stays up but sends nothing",
  "stale-view": "claims an older view in every message",
  lie: "answers state-transfer requests with wrong state"
}

export type Tamper<M> = SimProtocol<M>["tamper"]

export interface ByzantineOptions<M> {
  readonly strategy: Strategy
  /** The protocol's tampering functions (`simProtocol().tamper`). */
  readonly tamper: Tamper<M>
  /** Seed of the decorator's randomness (destinations, variants). */
  readonly seed: number
}

export interface ByzantineDriver<M> extends Driver<M> {
  readonly strategy: Strategy
  /** How often each kind of misbehaviour happened, e.g. `equivocate/split: 42`. */
  actions(): Readonly<Record<string, number>>
}

/** Olders views a stale-view replica claims, tried in order until one is well-formed. */
const STALE_DELTAS = [-1, -2] as const

export const byzantine = <M>(inner: Driver<M>, options: ByzantineOptions<M>): ByzantineDriver<M> => {
  const rng = new Prng(options.seed)
  const { tamper, strategy } = options
  const actions: Record<string, number> = {}
  const act = (kind: string) => {
    actions[kind] = (actions[kind] ?? 0) + 1
  }
  let rewritten: Ready<M> | undefined

  const equivocate = (out: Outbound<M>): Array<Outbound<M>> => {
    const variant = (): M | undefined => tamper.equivocate(out.message, rng as Rng)
    if (out.to.length === 1) {
      const alt = variant()
      if (alt === undefined) return [out]
      act("equivocate/single")
      return [{ to: out.to, message: alt }]
    }
    const order: Array<PeerId> = rng.shuffle([...out.to])
    const result: Array<Outbound<M>> = [{ to: [order[0]!], message: out.message }]
    let tampered = 0
    for (const peer of order.slice(1)) {
      const alt = variant()
      if (alt !== undefined) tampered++
      result.push({ to: [peer], message: alt ?? out.message })
    }
    if (tampered === 0) return [out]
    act("equivocate/split")
    return result
  }

  const staleView = (out: Outbound<M>): Outbound<M> => {
    for (const delta of STALE_DELTAS) {
      const alt = tamper.shiftView(out.message, delta)
      if (alt !== undefined) {
        act("stale-view/shifted")
        return { to: out.to, message: alt }
      }
    }
    return out
  }

  const lie = (out: Outbound<M>): Outbound<M> => {
    const alt = tamper.lie(out.message, rng as Rng)
    if (alt === undefined) return out
    act("lie/state")
    return { to: out.to, message: alt }
  }

  const rewrite = (outs: ReadonlyArray<Outbound<M>>): ReadonlyArray<Outbound<M>> => {
    switch (strategy) {
      case "silent":
        if (outs.length > 0) actions["silent/suppressed"] = (actions["silent/suppressed"] ?? 0) + outs.length
        return []
      case "equivocate":
        return outs.flatMap(equivocate)
      case "stale-view":
        return outs.map(staleView)
      case "lie":
        return outs.map(lie)
    }
  }

  const decorated: ByzantineDriver<M> = {
    strategy,
    actions: () => ({ ...actions }),
    step: (input) => inner.step(input),
    hasReady: () => rewritten !== undefined || inner.hasReady(),
    ready: () => {
      if (rewritten === undefined) {
        const honest = inner.ready()
        rewritten = {
          persist: honest.persist,
          send: rewrite(honest.send),
          sendAfterPersist: rewrite(honest.sendAfterPersist),
          events: honest.events
        }
      }
      return rewritten
    },
    advance: () => {
      rewritten = undefined
      inner.advance()
    },
    appliedIndex: () => inner.appliedIndex(),
    stateDigest: () => inner.stateDigest()
  }
  return inner.invariants === undefined ? decorated : { ...decorated, invariants: () => inner.invariants!() }
}
