/**
 * Small sub-histories that cannot be linearized on their own terms: to find
 * violations fast (windows) and to explain them (witnesses).
 *
 * For a set W of definite operations of one key, `relaxed(W)` is W plus every
 * other write that had not returned when W's first operation was called (and
 * was called before W's last one returned) as an unknown write (may take
 * effect any time after its call, or never), with reads outside W dropped,
 * starting from any value when some operation of the key had returned by then
 * (else from "absent"). Cut any linearization of the whole key after the last
 * operation that returned before W's first call, keep what remains of
 * relaxed(W): that linearizes relaxed(W) from the value at the cut. So if
 * relaxed(W) cannot be linearized, neither can the key's history. (Writes
 * called after W's last return cannot precede any of W, so leaving them out
 * changes nothing.)
 *
 * "Any value" is checked by trying each start value that can matter: absent,
 * each value read or expected by a swapping cas in relaxed(W), and one value
 * nobody mentions (all such values behave alike).
 */
import type { CheckOp } from "./Partition.js"
import { compile } from "./Partition.js"
import { ABSENT, CAS_SWAPPED, GET, isReadOnly } from "./Register.js"
import { search } from "./Search.js"

export interface Trial {
  /** True when relaxed(W) was shown not linearizable. */
  readonly fails: boolean
  /** When it fails: the operation of W the search could not place. */
  readonly blocked: number
  readonly initial: "absent" | "unconstrained"
  readonly steps: number
  /** True when the step budget ended the trial (so `fails` is false without proof). */
  readonly exhausted: boolean
}

/**
 * Builds and checks relaxed(W) for sets W of one key's definite operations
 * (indices into `ops`). Times are ranked once, so a trial costs a pass over
 * numbers, not bigints.
 */
export class Relaxer {
  private readonly call: Float64Array
  private readonly ret: Float64Array // Infinity when unknown
  private readonly firstReturn: number
  private readonly member: Uint8Array
  private readonly writes: Int32Array // operations that may change the state, in call order
  private readonly fresh: number // a value id no operation mentions
  /** The definite operations, in call order. */
  readonly definite: ReadonlyArray<number>

  constructor(private readonly ops: ReadonlyArray<CheckOp>) {
    const ranks = compile(ops)
    this.call = new Float64Array(ops.length)
    this.ret = new Float64Array(ops.length)
    for (let k = 0; k < ranks.size; k++) {
      this.call[ranks.source[k]!] = ranks.callRank[k]!
      this.ret[ranks.source[k]!] = ranks.returnRank[k]!
    }
    this.firstReturn = this.ret.reduce((min, r) => Math.min(min, r), Infinity)
    this.member = new Uint8Array(ops.length)
    this.definite = this.byCall(ops.map((_, i) => i).filter((i) => !ops[i]!.unknown))
    this.writes = Int32Array.from(this.byCall(ops.map((_, i) => i).filter((i) => !isReadOnly(ops[i]!.kind))))
    this.fresh = ops.reduce((max, op) => Math.max(max, op.a1, op.a2), 0) + 1
  }

  /** Sorts operation indices by call. */
  byCall(witness: ReadonlyArray<number>): Array<number> {
    return [...witness].sort((x, y) => this.call[x]! - this.call[y]! || x - y)
  }

  /** Checks relaxed(W) with at most `maxSteps` steps. */
  trial(witness: ReadonlyArray<number>, maxSteps: number): Trial {
    const { call, member, ops, ret } = this
    let a = Infinity
    let b = -Infinity
    for (const i of witness) {
      member[i] = 1
      a = Math.min(a, call[i]!)
      b = Math.max(b, ret[i]!)
    }
    const relaxed: Array<CheckOp> = witness.map((i) => ({ ...ops[i]!, source: i }))
    for (const i of this.writes) {
      if (call[i]! > b) break
      if (member[i] === 0 && ret[i]! >= a) relaxed.push({ ...ops[i]!, unknown: true, ret: undefined, source: i })
    }
    for (const i of witness) member[i] = 0
    const cut = this.firstReturn < a
    const partition = compile(relaxed, this.fresh + 1)
    let steps = 0
    let blocked = -1
    let deepest = -1
    for (const start of cut ? this.startValues(relaxed) : [ABSENT]) {
      const outcome = search(partition, start, maxSteps - steps)
      steps += outcome.steps
      if (outcome._tag === "Linearizable") return { fails: false, blocked: -1, initial: cut ? "unconstrained" : "absent", steps, exhausted: false }
      if (outcome._tag === "Budget") return { fails: false, blocked: -1, initial: cut ? "unconstrained" : "absent", steps, exhausted: true }
      if (outcome.depth > deepest) {
        deepest = outcome.depth
        blocked = partition.source[outcome.blocked]!
      }
    }
    return { fails: true, blocked, initial: cut ? "unconstrained" : "absent", steps, exhausted: false }
  }

  /**
   * Start values worth trying for relaxed(W): the start is observed only by
   * gets and swapping cas operations (equal to what they read), including the
   * unknown ones of the background, and by failed cas operations (different
   * from what they expected), so absent, those values, and one value nobody
   * mentions cover every case. The likeliest first: in call order.
   */
  private startValues(relaxed: ReadonlyArray<CheckOp>): Array<number> {
    const values = [ABSENT]
    for (const i of this.byCall(relaxed.map((op) => op.source))) {
      const op = this.ops[i]!
      if ((op.kind === GET || op.kind === CAS_SWAPPED) && !values.includes(op.a1)) values.push(op.a1)
    }
    values.push(this.fresh)
    return values
  }
}

export const WINDOW = 64
/** Steps allowed per window: a window that needs more is skipped (it proves nothing either way). */
const WINDOW_STEPS = 100_000

/**
 * Looks for a failing window of WINDOW consecutive definite operations (in
 * call order; windows overlap by half). Most violations are local, and a
 * window is cheap to check, while refuting the whole history can mean
 * exhausting every configuration before the violation.
 */
export const findFailingWindow = (
  relaxer: Relaxer,
  budget: number
): { readonly window?: ReadonlyArray<number>; readonly trial?: Trial; readonly steps: number } => {
  const definite = relaxer.definite
  let steps = 0
  for (let start = 0; start < definite.length && steps < budget; start += WINDOW / 2) {
    const window = definite.slice(start, start + WINDOW)
    const trial = relaxer.trial(window, Math.min(budget - steps, WINDOW_STEPS))
    steps += trial.steps
    if (trial.fails) return { window, trial, steps }
    if (start + WINDOW >= definite.length) break
  }
  return { steps }
}

export interface MinimalWitness {
  /** Indices into the partition's operations, in call order. */
  readonly operations: ReadonlyArray<number>
  /** The operation of the witness that the search on it could not place. */
  readonly blocked: number
  readonly initial: "absent" | "unconstrained"
  /** False when the budget ran out before no single operation could be removed. */
  readonly minimal: boolean
}

/**
 * Shrinks `start`, a set of definite operations whose relaxation is known to
 * fail (`found` is that trial), to a 1-minimal one: first the shortest
 * failing suffix in call order (doubling, then bisecting), then delta
 * debugging (remove chunks, then single operations, while it still fails).
 */
export const minimizeWitness = (
  relaxer: Relaxer,
  start: ReadonlyArray<number>,
  found: Pick<Trial, "blocked" | "initial">,
  maxSteps: number,
  budget: number
): MinimalWitness => {
  let left = budget
  let exhausted = false
  let witness = relaxer.byCall(start)
  let best = found
  const accept = (candidate: ReadonlyArray<number>): boolean => {
    if (candidate.length === 0 || exhausted) return false
    if (left <= 0) {
      exhausted = true
      return false
    }
    const result = relaxer.trial(candidate, Math.min(maxSteps, left))
    left -= result.steps
    if (result.exhausted) exhausted = true
    if (!result.fails) return false
    witness = [...candidate]
    best = result
    return true
  }

  let passed = 0 // the largest suffix length known to pass
  for (let size = 2; size < witness.length; size *= 2) {
    if (accept(witness.slice(witness.length - size))) break
    passed = size
  }
  while (witness.length - passed > 1 && !exhausted) {
    const size = (passed + witness.length) >> 1
    if (!accept(witness.slice(witness.length - size))) passed = size
  }

  let chunks = 2
  while (witness.length >= 2 && !exhausted) {
    const size = Math.ceil(witness.length / chunks)
    let removed = false
    for (let from = 0; from < witness.length && !removed; from += size) {
      removed = accept([...witness.slice(0, from), ...witness.slice(from + size)])
    }
    if (removed) {
      chunks = Math.max(chunks - 1, 2)
      continue
    }
    if (size === 1) break
    chunks = Math.min(chunks * 2, witness.length)
  }
  return { operations: witness, blocked: best.blocked, initial: best.initial, minimal: !exhausted }
}
