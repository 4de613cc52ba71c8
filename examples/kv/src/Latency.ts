/**
 * A latency histogram of bounded size: exact below 1024 µs, then 512
 * sub-buckets per power of two (relative error under 0.2%), up to about 2^40 µs.
 * Quantiles report the upper edge of the bucket that holds them.
 */
const LINEAR = 1024
const SUB_BITS = 9
const SUB = 1 << SUB_BITS
const OCTAVES = 32

export class Latency {
  private readonly counts = new Float64Array(LINEAR + OCTAVES * SUB)
  private n = 0
  private maxMicros = 0

  get count(): number {
    return this.n
  }

  /** Record one latency in nanoseconds. */
  record(nanos: bigint | number): void {
    const micros = Math.max(0, Math.round(Number(nanos) / 1000))
    this.counts[bucketOf(micros)]! += 1
    this.n++
    if (micros > this.maxMicros) this.maxMicros = micros
  }

  /** The q-quantile (0 < q <= 1) in milliseconds; NaN when empty. */
  quantileMs(q: number): number {
    if (this.n === 0) return NaN
    const rank = Math.max(1, Math.ceil(q * this.n))
    let seen = 0
    for (let b = 0; b < this.counts.length; b++) {
      seen += this.counts[b]!
      if (seen >= rank) return Math.min(upperEdge(b), this.maxMicros) / 1000
    }
    return this.maxMicros / 1000
  }

  get maxMs(): number {
    return this.n === 0 ? NaN : this.maxMicros / 1000
  }
}

const bucketOf = (micros: number): number => {
  if (micros < LINEAR) return micros
  const octave = Math.floor(Math.log2(micros)) - 10 // 0 for [1024, 2048)
  if (octave >= OCTAVES) return LINEAR + OCTAVES * SUB - 1
  const sub = Math.floor(micros / 2 ** (octave + 10 - SUB_BITS)) - SUB
  return LINEAR + octave * SUB + Math.min(SUB - 1, Math.max(0, sub))
}

const upperEdge = (bucket: number): number => {
  if (bucket < LINEAR) return bucket
  const octave = Math.floor((bucket - LINEAR) / SUB)
  const sub = (bucket - LINEAR) % SUB
  const width = 2 ** (octave + 10 - SUB_BITS)
  return (SUB + sub + 1) * width - 1
}
