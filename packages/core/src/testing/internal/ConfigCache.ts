/**
 * The search's set of visited configurations, each an exact key of a few
 * int32 words: an open-addressing hash table over typed arrays (a JavaScript
 * Map of millions of small arrays spends most of its time hashing and
 * collecting garbage).
 */

/** Murmur3's finalizer, so that open addressing sees well-spread slots. */
const mix = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

export class ConfigCache {
  private slots = new Int32Array(1 << 12) // entry + 1, or 0 when free
  private hashes = new Int32Array(1 << 11)
  private starts = new Int32Array(1 << 11)
  private lengths = new Int32Array(1 << 11)
  private words = new Int32Array(1 << 14)
  private wordCount = 0
  private count = 0

  get size(): number {
    return this.count
  }

  /** Records key[0..length) (whose hash is `hash`); false if it was already recorded. */
  admit(key: Int32Array, length: number, hash: number): boolean {
    const h = mix(hash)
    const mask = this.slots.length - 1
    let slot = h & mask
    for (;;) {
      const entry = this.slots[slot]! - 1
      if (entry < 0) break
      if (this.hashes[entry] === h && this.equals(entry, key, length)) return false
      slot = (slot + 1) & mask
    }
    const entry = this.append(key, length, h)
    this.slots[slot] = entry + 1
    if (this.count * 2 > this.slots.length) this.rehash()
    return true
  }

  private equals(entry: number, key: Int32Array, length: number): boolean {
    if (this.lengths[entry] !== length) return false
    const start = this.starts[entry]!
    for (let k = 0; k < length; k++) if (this.words[start + k] !== key[k]) return false
    return true
  }

  private append(key: Int32Array, length: number, h: number): number {
    const entry = this.count++
    if (entry === this.hashes.length) {
      this.hashes = grow(this.hashes, entry * 2)
      this.starts = grow(this.starts, entry * 2)
      this.lengths = grow(this.lengths, entry * 2)
    }
    if (this.wordCount + length > this.words.length) {
      this.words = grow(this.words, Math.max(this.words.length * 2, this.wordCount + length))
    }
    this.words.set(key.subarray(0, length), this.wordCount)
    this.hashes[entry] = h
    this.starts[entry] = this.wordCount
    this.lengths[entry] = length
    this.wordCount += length
    return entry
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2)
    const mask = slots.length - 1
    for (let entry = 0; entry < this.count; entry++) {
      let slot = this.hashes[entry]! & mask
      while (slots[slot] !== 0) slot = (slot + 1) & mask
      slots[slot] = entry + 1
    }
    this.slots = slots
  }
}

const grow = (array: Int32Array, size: number): Int32Array<ArrayBuffer> => {
  const bigger = new Int32Array(size)
  bigger.set(array)
  return bigger
}
