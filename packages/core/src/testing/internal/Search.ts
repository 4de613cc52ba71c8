/**
 * Wing & Gong's linearizability search with Lowe's improvements (as in
 * Porcupine): a depth-first search over the call and return events of one
 * partition's definite operations, kept in a doubly linked list. At a call
 * event the search tries to linearize that operation now ("lift" its events
 * out of the list); at the return event of an operation not yet linearized,
 * this branch is dead and it backtracks ("unlift"). A cache of visited
 * configurations (ConfigCache) prunes the search.
 *
 * Reductions, each of which only skips configurations that an explored one
 * dominates, or that cannot lead to a linearization:
 * - Forced reads: a read-only operation that may be linearized now and holds
 *   in the current state is linearized first, with no alternatives: it
 *   changes nothing, and all that had to precede it is already linearized.
 * - Look-ahead: an operation waiting for state v (a get of v, a cas expecting
 *   v) that the current state is not needs a write of v, not linearized yet,
 *   called before the operation returns; without one the configuration is
 *   dead at once, instead of when that return is reached.
 * - Unknown operations have no events: nothing forces them, and the search
 *   succeeds once every definite operation is linearized. A configuration
 *   first tries one unknown operation per effect class (UnknownPool), then
 *   its definite candidates in list order.
 * - An unknown write linearized from state s must be followed directly by an
 *   operation that s rejects: otherwise it could be left out (next comes a
 *   write, or nothing) or moved later (next comes a read that s satisfies).
 *   So it is only tried when some waiting operation needs its new state.
 * - An unknown put or delete is not tried when a definite write that may be
 *   linearized now makes the same state: the two can swap places (the
 *   unknown one is valid anywhere after its call).
 * - The cache: a configuration is (definite operations linearized, state,
 *   that constraint, how many unknown operations of each class were used);
 *   see UsedCounts for why the counts stand for the set.
 */
import { ConfigCache } from "./ConfigCache.js"
import type { Partition } from "./Partition.js"
import { UnknownPool } from "./UnknownPool.js"
import { UsedCounts } from "./UsedCounts.js"
import { ABSENT, CAS_FAILED, CAS_SWAPPED, DELETE, GET, INVALID, isReadOnly, PUT, step } from "./Register.js"

export type SearchOutcome =
  | { readonly _tag: "Linearizable"; readonly steps: number }
  /**
   * `blocked`: the operation at which the deepest branch died (its return was
   * reached, or it could no longer be satisfied); `depth`: how many definite
   * operations that branch had linearized.
   */
  | { readonly _tag: "NotLinearizable"; readonly steps: number; readonly blocked: number; readonly depth: number }
  | { readonly _tag: "Budget"; readonly steps: number }

const NO_CONSTRAINT = -0x7ffffffe
const END = -1
const DEAD = -2

/**
 * Searches for a linearization from `initial` (a Register state below
 * `p.states`). A step is one candidate examined, one configuration scanned or
 * one backtrack, each costing at most a pass over the operations open at that
 * point; `maxSteps` bounds the work, and with it the cache (at most one entry
 * per step).
 */
export const search = (p: Partition, initial: number, maxSteps: number): SearchOutcome => {
  const n = p.size
  const { a1, a2, callRank, kind, returnRank, unknown, unknownClasses } = p
  const HEAD = 2 * n
  const next = new Int32Array(2 * n + 1)
  const prev = new Int32Array(2 * n + 1)
  let last = HEAD
  for (const e of p.events) {
    next[last] = e
    prev[e] = last
    last = e
  }
  next[last] = END
  const classOf = new Int32Array(n).fill(-1)
  unknownClasses.forEach((members, c) => members.forEach((i) => (classOf[i] = c)))

  const linearized = new Uint8Array(n)
  const frames = {
    op: new Int32Array(n),
    state: new Int32Array(n),
    constraint: new Int32Array(n),
    max: new Int32Array(n),
    /** 1 when the frame had no alternatives (a forced read). */
    forced: new Uint8Array(n)
  }
  const used = new UsedCounts(unknownClasses.length)
  const cache = new ConfigCache()
  let depth = 0
  let state = initial
  let constraint = NO_CONSTRAINT // after an unknown write: the state the next operation must be rejected from
  let maxDefinite = -1 // highest index of a linearized definite operation
  let remaining = p.definite
  let best = -1
  let blocked = -1

  const unlink = (e: number) => {
    next[prev[e]!] = next[e]!
    if (next[e] !== END) prev[next[e]!] = prev[e]!
  }
  const relink = (e: number) => {
    next[prev[e]!] = e
    if (next[e] !== END) prev[next[e]!] = e
  }
  /** Whether `i`, taking the state to `newState`, may come next (valid, and meeting the constraint). */
  const allowed = (i: number, newState: number): boolean =>
    newState !== INVALID && (constraint === NO_CONSTRAINT || step(constraint, kind[i]!, a1[i]!, a2[i]!) === INVALID)

  // The cache key of a configuration: state, constraint, used counts, max,
  // then the "holes": definite operations with index <= max not linearized.
  // Holes are still in the list before every return event, so a short scan
  // finds them.
  const key = new Int32Array(n + 4)
  let keyLength = 0
  const keyOf = (newState: number, newConstraint: number, max: number): number => {
    const usedId = used.id()
    key[0] = newState
    key[1] = newConstraint
    key[2] = usedId
    key[3] = max
    let length = 4
    let hash = Math.imul(Math.imul(Math.imul(0x811c9dc5 ^ newState, 0x01000193) ^ newConstraint, 0x01000193) ^ usedId, 0x01000193) ^ max
    for (let e = next[HEAD]!; e !== END && (e & 1) === 0; e = next[e]!) {
      const j = e >> 1
      if (j > max) break
      if (linearized[j] === 0) {
        key[length++] = j
        hash = Math.imul(hash, 0x01000193) ^ j
      }
    }
    keyLength = length
    return hash
  }

  /** Linearizes `i` into `newState` unless the resulting configuration is dominated. */
  const lift = (i: number, newState: number, forced: boolean): boolean => {
    const isUnknown = unknown[i] === 1
    linearized[i] = 1
    if (isUnknown) used.increment(classOf[i]!)
    const newMax = isUnknown ? maxDefinite : Math.max(maxDefinite, i)
    const newConstraint = isUnknown ? state : NO_CONSTRAINT
    if (!cache.admit(key, keyLength, keyOf(newState, newConstraint, newMax))) {
      linearized[i] = 0
      if (isUnknown) used.decrement(classOf[i]!)
      return false
    }
    frames.op[depth] = i
    frames.state[depth] = state
    frames.constraint[depth] = constraint
    frames.max[depth] = maxDefinite
    frames.forced[depth] = forced ? 1 : 0
    depth++
    state = newState
    constraint = newConstraint
    maxDefinite = newMax
    if (isUnknown) return true
    remaining--
    unlink(2 * i)
    unlink(2 * i + 1)
    return true
  }
  /** Undoes linearizations up to the latest one that had alternatives; returns its operation, or -1. */
  const backtrack = (): number => {
    while (depth > 0) {
      depth--
      const i = frames.op[depth]!
      state = frames.state[depth]!
      constraint = frames.constraint[depth]!
      maxDefinite = frames.max[depth]!
      linearized[i] = 0
      unproduce(i)
      if (unknown[i] === 1) {
        used.decrement(classOf[i]!)
      } else {
        remaining++
        relink(2 * i + 1)
        relink(2 * i)
      }
      if (frames.forced[depth] === 0) return i
    }
    return -1
  }
  // Look-ahead: a waiting operation that needs state v, which the current
  // state is not, needs some write of v not linearized yet that is called
  // before it returns. Without one the configuration is dead. `firstFree[v]`
  // lags behind the first unlinearized producer of v; queries catch it up.
  const { producerPosition, producers } = p
  const firstFree = new Int32Array(p.states)
  const producible = (v: number, until: number): boolean => {
    const list = producers[v]!
    let k = firstFree[v]!
    while (k < list.length && linearized[list[k]!] === 1) k++
    firstFree[v] = k
    return k < list.length && callRank[list[k]!]! <= until
  }
  const unproduce = (i: number) => {
    const k = producerPosition[i]!
    if (k === -1) return
    const v = kind[i] === PUT ? a1[i]! : kind[i] === DELETE ? ABSENT : a2[i]!
    if (k < firstFree[v]!) firstFree[v] = k
  }

  const pool = new UnknownPool(p, linearized)
  const hasUnknown = unknownClasses.length > 0
  let dead = -1 // the operation that made scan() return DEAD
  let unknownLimit = 0 // rank of the first return: unknown operations called by then may be linearized
  /**
   * Scans the definite operations that may be linearized now. Returns a
   * forced read if there is one; otherwise lists the unknown candidates
   * (those producing a state that a waiting operation needs) and returns -1.
   */
  const scan = (): number => {
    pool.begin()
    let e = next[HEAD]!
    for (; e !== END && (e & 1) === 0; e = next[e]!) {
      const i = e >> 1
      const after = step(state, kind[i]!, a1[i]!, a2[i]!)
      if (after !== INVALID) {
        if (constraint === NO_CONSTRAINT && isReadOnly(kind[i]!)) return i
        if (hasUnknown) pool.madeByDefinite(after)
      } else if (kind[i] === CAS_FAILED) {
        if (hasUnknown) pool.needOther()
      } else if (kind[i] === GET || kind[i] === CAS_SWAPPED) {
        if (!producible(a1[i]!, returnRank[i]!)) {
          dead = i
          return DEAD
        }
        if (hasUnknown) pool.need(a1[i]!)
      }
    }
    if (hasUnknown) pool.finish(state)
    unknownLimit = e === END ? Infinity : returnRank[e >> 1]!
    return -1
  }

  // A configuration is scanned once (forced read, look-ahead, unknown
  // candidates), then tries its unknown candidates, then its definite ones.
  let entry = next[HEAD]!
  let fresh = true // the configuration has not been scanned yet
  let nextUnknown = -1 // position in pool.list to try next, or -1 once at the definite candidates
  let steps = 0
  /** A dead end at operation `i`: the deepest one is reported as blocked. */
  const reached = (i: number) => {
    const done = p.definite - remaining
    if (done > best) {
      best = done
      blocked = i
    }
  }
  /** Resumes the configuration that the last backtrack returned to, after `undone`. */
  const resumeAfter = (undone: number) => {
    entry = next[HEAD]!
    if (unknown[undone] === 1) {
      scan()
      nextUnknown = pool.list.subarray(0, pool.length).indexOf(classOf[undone]!) + 1
      if (nextUnknown === 0) throw new Error("linearizability search: lost an unknown candidate")
    } else {
      nextUnknown = -1
      entry = next[2 * undone]!
    }
  }
  while (remaining > 0) {
    if (steps++ >= maxSteps) return { _tag: "Budget", steps }
    if (fresh) {
      fresh = false
      entry = next[HEAD]!
      nextUnknown = hasUnknown ? 0 : -1
      const read = scan()
      if (read === DEAD) {
        reached(dead)
        const undone = backtrack()
        if (undone === -1) return { _tag: "NotLinearizable", steps, blocked, depth: best }
        resumeAfter(undone)
        continue
      }
      if (read !== -1) {
        if (lift(read, state, true)) {
          fresh = true
          continue
        }
        // Everything from here was explored from the configuration after the read.
        const undone = backtrack()
        if (undone === -1) return { _tag: "NotLinearizable", steps, blocked, depth: best }
        resumeAfter(undone)
        continue
      }
    }
    if (nextUnknown !== -1) {
      if (nextUnknown === pool.length) {
        nextUnknown = -1
        continue
      }
      const u = pool.candidateOf(pool.list[nextUnknown++]!, unknownLimit)
      if (u === -1) continue
      const newState = step(state, kind[u]!, a1[u]!, a2[u]!)
      if (allowed(u, newState) && pool.useful(state, newState, kind[u]!) && lift(u, newState, false)) fresh = true
      continue
    }
    if (entry === END) throw new Error("linearizability search: list ended before every definite operation")
    if ((entry & 1) === 0) {
      const i = entry >> 1
      const newState = step(state, kind[i]!, a1[i]!, a2[i]!)
      if (allowed(i, newState) && lift(i, newState, false)) {
        fresh = true
        continue
      }
      entry = next[entry]!
      continue
    }
    // The return of an operation not linearized yet: this configuration is exhausted.
    reached(entry >> 1)
    const undone = backtrack()
    if (undone === -1) return { _tag: "NotLinearizable", steps, blocked, depth: best }
    resumeAfter(undone)
  }
  return { _tag: "Linearizable", steps }
}
