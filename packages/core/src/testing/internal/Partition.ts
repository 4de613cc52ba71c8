/**
 * One key's operations, compiled into flat arrays for the search: operations
 * indexed in call order, and the sorted call/return events that form the
 * search's linked list.
 */
import type { Time } from "../History.js"
import { ABSENT, CAS_SWAPPED, DELETE, PUT } from "./Register.js"

/** An operation as the search sees it (values already interned, see Register.ts). */
export interface CheckOp {
  readonly kind: number
  readonly a1: number
  readonly a2: number
  /** Unknown operations have no return: they may take effect any time after their call, or never. */
  readonly unknown: boolean
  readonly call: Time
  /** Undefined exactly when `unknown`. */
  readonly ret: Time | undefined
  /** Caller's index of the operation (into its own list). */
  readonly source: number
}

export interface Partition {
  readonly size: number
  readonly definite: number
  readonly kind: Uint8Array
  readonly a1: Int32Array
  readonly a2: Int32Array
  readonly unknown: Uint8Array
  /** Rank of the call time among all event times. */
  readonly callRank: Float64Array
  /** Rank of the return time; Infinity for unknown operations. */
  readonly returnRank: Float64Array
  readonly source: Int32Array
  /** Number of concrete states: value ids are below it (0 is "absent"). */
  readonly states: number
  /**
   * By state: the operations that may produce it (puts of the value, cas
   * operations that swap to it, deletes for "absent"), in call order.
   */
  readonly producers: ReadonlyArray<Int32Array>
  /** An operation's position in its `producers` list, or -1 for reads. */
  readonly producerPosition: Int32Array
  /**
   * Unknown operations grouped by effect (kind and arguments), each group in
   * call order. Operations of one group are interchangeable, so the search
   * only tries the latest-called one it may linearize.
   */
  readonly unknownClasses: ReadonlyArray<Int32Array>
  /**
   * Events of the definite operations in order: entry 2i is the call of
   * operation i, 2i+1 its return. Sorted by time; at equal times calls come
   * first, because intervals are closed and operations that touch are
   * concurrent. Unknown operations have no events: nothing forces them.
   */
  readonly events: Int32Array
}

const compareTimes = (a: Time, b: Time): number => (a < b ? -1 : a > b ? 1 : 0)

/** Compiles operations (any order) into a partition with at least `minStates` states. */
export const compile = (ops: ReadonlyArray<CheckOp>, minStates = 1): Partition => {
  // Ranks of event times, so the search compares small numbers, not bigints.
  const times: Array<Time> = []
  for (const op of ops) {
    times.push(op.call)
    if (op.ret !== undefined) times.push(op.ret)
  }
  times.sort(compareTimes)
  const rankOf = new Map<Time, number>()
  let rank = -1
  let previous: Time | undefined
  for (const time of times) {
    if (previous === undefined || compareTimes(previous, time) !== 0) rank++
    previous = time
    rankOf.set(time, rank)
  }
  // bigint 5n and number 5 are different Map keys but the same rank.
  const rankFor = (time: Time): number => rankOf.get(time)!

  const order = ops.map((_, i) => i).sort((x, y) => compareTimes(ops[x]!.call, ops[y]!.call) || x - y)
  const n = ops.length
  const partition = {
    size: n,
    definite: 0,
    kind: new Uint8Array(n),
    a1: new Int32Array(n),
    a2: new Int32Array(n),
    unknown: new Uint8Array(n),
    callRank: new Float64Array(n),
    returnRank: new Float64Array(n),
    source: new Int32Array(n),
    states: minStates,
    producers: [] as Array<Int32Array>,
    producerPosition: new Int32Array(n).fill(-1),
    unknownClasses: [] as Array<Int32Array>,
    events: new Int32Array(0)
  }
  const classes = new Map<string, Array<number>>()
  const events: Array<number> = []
  for (let i = 0; i < n; i++) {
    const op = ops[order[i]!]!
    partition.kind[i] = op.kind
    partition.a1[i] = op.a1
    partition.a2[i] = op.a2
    partition.states = Math.max(partition.states, op.a1 + 1, op.a2 + 1)
    partition.unknown[i] = op.unknown ? 1 : 0
    partition.callRank[i] = rankFor(op.call)
    partition.returnRank[i] = op.ret === undefined ? Infinity : rankFor(op.ret)
    partition.source[i] = op.source
    if (op.unknown) {
      const effect = `${op.kind},${op.a1},${op.a2}`
      const members = classes.get(effect)
      if (members === undefined) classes.set(effect, [i])
      else members.push(i)
    } else {
      partition.definite++
      events.push(2 * i, 2 * i + 1)
    }
  }
  for (const members of classes.values()) partition.unknownClasses.push(Int32Array.from(members))
  const producers: Array<Array<number>> = Array.from({ length: partition.states }, () => [])
  for (let i = 0; i < n; i++) {
    const kind = partition.kind[i]
    const produced = kind === PUT ? partition.a1[i]! : kind === DELETE ? ABSENT : kind === CAS_SWAPPED ? partition.a2[i]! : -1
    if (produced === -1) continue
    partition.producerPosition[i] = producers[produced]!.length
    producers[produced]!.push(i)
  }
  partition.producers = producers.map((list) => Int32Array.from(list))

  const timeOf = (e: number) => ((e & 1) === 0 ? partition.callRank[e >> 1]! : partition.returnRank[e >> 1]!)
  events.sort((x, y) => timeOf(x) - timeOf(y) || (x & 1) - (y & 1) || x - y)
  partition.events = Int32Array.from(events)
  return partition
}
