/**
 * How many unknown operations of each effect class a configuration has used.
 *
 * This is all that the set of used unknown operations contributes to a
 * configuration: a used operation had been called by the time it was used,
 * the search only goes forward in time along a path, and the called
 * operations of one class are interchangeable. So two configurations with the
 * same definite operations, state and counts have the same futures.
 *
 * Count vectors are interned: `id()` names the current vector with a small
 * integer (0 for "none used"), kept exact by comparing vectors whose
 * incrementally maintained hashes agree.
 */

const mix = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}
/** A pseudo-random word for "class c has count k", for an XOR-combined hash of the vector. */
const term = (c: number, k: number): number => mix(Math.imul(c + 1, 0x9e3779b1) ^ Math.imul(k, 0x7feb352d))

export class UsedCounts {
  private readonly counts: Int32Array
  private hash = 0
  private nonZero = 0
  /** The id of each interned vector, with its nonzero entries as (class, count) pairs. */
  private readonly interned = new Map<number, Array<{ readonly pairs: Int32Array; readonly id: number }>>()
  private nextId = 1

  constructor(classes: number) {
    this.counts = new Int32Array(classes)
  }

  increment(c: number): void {
    const k = this.counts[c]!
    this.hash ^= term(c, k) ^ term(c, k + 1)
    if (k === 0) this.nonZero++
    this.counts[c] = k + 1
  }

  decrement(c: number): void {
    const k = this.counts[c]!
    this.hash ^= term(c, k) ^ term(c, k - 1)
    if (k === 1) this.nonZero--
    this.counts[c] = k - 1
  }

  /** The id of the current vector. */
  id(): number {
    if (this.nonZero === 0) return 0
    let bucket = this.interned.get(this.hash)
    if (bucket === undefined) this.interned.set(this.hash, (bucket = []))
    for (const entry of bucket) if (this.matches(entry.pairs)) return entry.id
    const id = this.nextId++
    bucket.push({ pairs: this.pairs(), id })
    return id
  }

  /** Whether the current vector has exactly these nonzero entries. */
  private matches(pairs: Int32Array): boolean {
    if (pairs.length !== 2 * this.nonZero) return false
    for (let k = 0; k < pairs.length; k += 2) if (this.counts[pairs[k]!] !== pairs[k + 1]) return false
    return true
  }

  private pairs(): Int32Array {
    const pairs = new Int32Array(2 * this.nonZero)
    let k = 0
    this.counts.forEach((count, c) => {
      if (count === 0) return
      pairs[k++] = c
      pairs[k++] = count
    })
    return pairs
  }
}
