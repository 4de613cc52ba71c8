/**
 * Which unknown operations the search should try in a configuration.
 *
 * Unknown operations of one effect class (same kind and arguments) are
 * interchangeable, so only the latest-called one that may be linearized now
 * is a candidate: an earlier one stays usable in more places.
 *
 * And an unknown write is only worth linearizing if the operation right after
 * it needs its new state (see Search.ts), so candidates are looked up by the
 * states that waiting operations need: a put of that value, a delete for
 * "absent", or a cas from the current state to it. An unknown cas needed
 * that way needs its own expected value in turn (chains), which a fixpoint
 * over the needed states covers.
 */
import type { Partition } from "./Partition.js"
import { CAS_SWAPPED, DELETE, PUT } from "./Register.js"

export class UnknownPool {
  private readonly classes: ReadonlyArray<Int32Array>
  private readonly putClass: Int32Array // by value: class index or -1
  private deleteClass = -1
  private readonly casByPair = new Map<number, number>() // expected * states + value -> class
  private readonly casByValue: Array<Array<number>> // by new value: classes of cas
  private readonly needStamp: Int32Array
  private readonly madeStamp: Int32Array // states a definite write that may be linearized now makes
  private readonly listed: Int32Array // stamp per class, to list each once
  private stamp = 0
  private needs: Array<number> = []
  private anyOther = false
  /** The candidate classes of the prepared configuration, in order. */
  readonly list: Int32Array
  length = 0

  constructor(private readonly p: Partition, private readonly linearized: Uint8Array) {
    this.classes = p.unknownClasses
    this.putClass = new Int32Array(p.states).fill(-1)
    this.casByValue = Array.from({ length: p.states }, () => [])
    this.needStamp = new Int32Array(p.states)
    this.madeStamp = new Int32Array(p.states)
    this.listed = new Int32Array(this.classes.length)
    this.list = new Int32Array(this.classes.length)
    this.classes.forEach((members, c) => {
      const first = members[0]!
      const kind = p.kind[first]
      if (kind === PUT) this.putClass[p.a1[first]!] = c
      else if (kind === DELETE) this.deleteClass = c
      else if (kind === CAS_SWAPPED) {
        this.casByPair.set(p.a1[first]! * p.states + p.a2[first]!, c)
        this.casByValue[p.a2[first]!]!.push(c)
      }
    })
  }

  /** The latest-called operation of class `c` not linearized and called by `limit`, or -1. */
  candidateOf(c: number, limit: number): number {
    const members = this.classes[c]!
    let lo = 0
    let hi = members.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.p.callRank[members[mid]!]! <= limit) lo = mid + 1
      else hi = mid
    }
    for (let m = lo - 1; m >= 0; m--) if (this.linearized[members[m]!] === 0) return members[m]!
    return -1
  }

  /** Starts preparing the candidates of a configuration. */
  begin(): void {
    this.stamp++
    this.needs.length = 0
    this.anyOther = false
  }

  /** A waiting operation, rejected by the current state, would accept `state`. */
  need(state: number): void {
    if (this.needStamp[state] === this.stamp) return
    this.needStamp[state] = this.stamp
    this.needs.push(state)
  }

  /** A definite write that may be linearized now makes `state` from the current one. */
  madeByDefinite(state: number): void {
    this.madeStamp[state] = this.stamp
  }

  /** A waiting failed cas saw the current value: any other state would do. */
  needOther(): void {
    this.anyOther = true
  }

  /** Lists the candidate classes for `state`. Returns the list length. */
  finish(state: number): number {
    this.length = 0
    if (this.anyOther) {
      for (let c = 0; c < this.classes.length; c++) this.add(c)
      return this.length
    }
    // Chains: a cas from e to a needed state needs e first.
    for (let k = 0; k < this.needs.length; k++) {
      for (const c of this.casByValue[this.needs[k]!]!) this.need(this.p.a1[this.classes[c]![0]!]!)
    }
    for (const wanted of this.needs) {
      if (wanted === state) continue
      if (wanted === 0) this.add(this.deleteClass)
      else this.add(this.putClass[wanted]!)
      this.add(this.casByPair.get(state * this.p.states + wanted) ?? -1)
    }
    return this.length
  }

  /** Whether linearizing a candidate of `kind` that turns `state` into `newState` can help. */
  useful(state: number, newState: number, kind: number): boolean {
    if (kind !== CAS_SWAPPED && this.madeStamp[newState] === this.stamp) return false
    return newState !== state && (this.anyOther || this.needStamp[newState] === this.stamp)
  }

  private add(c: number): void {
    if (c === -1 || this.listed[c] === this.stamp) return
    this.listed[c] = this.stamp
    this.list[this.length++] = c
  }
}
