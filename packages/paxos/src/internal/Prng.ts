/**
 * The replica's own seeded randomness (election timeouts). A pure generator
 * (mulberry32 over a splitmix-mixed seed): the same seed gives the same
 * sequence, so a run replays exactly. Never `Math.random()` in the core.
 */
export class Prng {
  private state: number

  constructor(seed: number) {
    // fold a 53-bit seed into 32 bits, then mix so that close seeds diverge at once
    let z = ((seed >>> 0) ^ Math.floor(seed / 0x1_0000_0000)) + 0x9e3779b9
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
    this.state = (z ^ (z >>> 16)) >>> 0
  }

  /** Uniform unsigned 32-bit integer. */
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) | 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  between(lo: number, hi: number): number {
    return lo + Math.floor((this.u32() / 0x1_0000_0000) * (hi - lo + 1))
  }
}
