/**
 * A fast necessary condition: every completed read (a get, or a cas that
 * swapped and so read its expected value) needs a write of that value it can
 * have seen.
 *
 * Let g read v. Evidence that the value changed before g: a definite write w
 * that returned before g was called (after w the state was w's value), or a
 * completed read r of another value that returned before g was called (the
 * state was r's value at a point after r's call). Let e be such evidence
 * called latest (e.call = M). A write p of v can explain g only if p was
 * called by g's return and p had not returned before M: otherwise p took
 * effect before e, and e before g. (If e is a write of v, e itself is such a
 * p.) Unknown writes never return, and "absent" at the start explains a read
 * of absent when there is no evidence. A read with no such p cannot be
 * linearized, and {e, g} is a witness (or g with what came before it, when
 * there is no evidence).
 *
 * This catches reads of values never written, stale reads and read
 * inversions in one pass, where a search would first exhaust every order of
 * what came before.
 */
import type { Partition } from "./Partition.js"
import { ABSENT, CAS_SWAPPED, GET, isReadOnly } from "./Register.js"

/** Partition indices: the impossible read, and the evidence that its value was gone (-1 when none). */
export interface ImpossibleRead {
  readonly read: number
  readonly evidence: number
}

export const findImpossibleRead = (p: Partition): ImpossibleRead | undefined => {
  const { a1, a2, callRank, kind, returnRank, unknown } = p
  const indices = Array.from({ length: p.size }, (_, i) => i)
  const writes = indices.filter((i) => unknown[i] === 0 && !isReadOnly(kind[i]!)).sort((x, y) => returnRank[x]! - returnRank[y]!)
  const reads = indices.filter((i) => unknown[i] === 0 && (kind[i] === GET || kind[i] === CAS_SWAPPED))
  // Per value: the producers' latest return so far, in call order.
  const latestReturn = p.producers.map((list) => {
    const out = new Float64Array(list.length)
    let max = -Infinity
    list.forEach((i, k) => (out[k] = max = Math.max(max, returnRank[i]!)))
    return out
  })
  // Evidence so far, for the reads in call order: the write called latest,
  // and the two reads called latest with different values.
  let w = 0
  let r = 0
  let write = -1
  let read1 = -1
  let read2 = -1 // the latest among reads of a value other than read1's
  const completedReads = [...reads].sort((x, y) => returnRank[x]! - returnRank[y]!)
  const later = (x: number, y: number) => (y === -1 || callRank[x]! > callRank[y]! ? x : y)
  for (const g of reads) { // in call order, as partition indices are
    while (w < writes.length && returnRank[writes[w]!]! < callRank[g]!) write = later(writes[w++]!, write)
    while (r < completedReads.length && returnRank[completedReads[r]!]! < callRank[g]!) {
      const seen = completedReads[r++]!
      if (read1 !== -1 && a1[seen] === a1[read1]) read1 = later(seen, read1)
      else if (later(seen, read1) === seen) [read1, read2] = [seen, read1]
      else read2 = later(seen, read2)
    }
    const v = a1[g]!
    if (kind[g] === CAS_SWAPPED && a2[g] === v) continue // it writes what it reads: not worth the special case
    const otherRead = read1 !== -1 && a1[read1] !== v ? read1 : read2
    const evidence = otherRead === -1 ? write : later(otherRead, write)
    if (v === ABSENT && evidence === -1) continue
    const since = evidence === -1 ? -Infinity : callRank[evidence]!
    const list = p.producers[v]!
    let lo = 0
    let hi = list.length
    while (lo < hi) { // the producers called by g's return are list[0..lo)
      const mid = (lo + hi) >> 1
      if (callRank[list[mid]!]! <= returnRank[g]!) lo = mid + 1
      else hi = mid
    }
    if (lo === 0 || latestReturn[v]![lo - 1]! < since) return { read: g, evidence }
  }
  return undefined
}
