/**
 * A small seeded PRNG (sfc32 seeded through splitmix32) implementing the
 * simulator's `Rng` interface, so the Byzantine decorator can hand the PBFT
 * package's `tamper` functions the randomness they expect without pulling the
 * simulator into a replica process. Deterministic for a seed: a test can
 * replay exactly what a Byzantine replica did.
 */
import type { Rng } from "@synod/core/testing"

const mix32 = (x: number): number => {
  let z = (x + 0x9e3779b9) | 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

export class SeededRng implements Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor(seed: number) {
    this.a = mix32(seed)
    this.b = mix32(this.a)
    this.c = mix32(this.b)
    this.d = 1
    for (let i = 0; i < 12; i++) this.u32()
  }

  private u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  next(): number {
    return this.u32() / 0x1_0000_0000
  }

  int(n: number): number {
    return Math.floor(this.next() * n)
  }

  chance(p: number): boolean {
    return this.next() < p
  }

  pick<A>(items: ReadonlyArray<A>): A {
    if (items.length === 0) throw new RangeError("pick from an empty list")
    return items[this.int(items.length)]!
  }

  /** Fisher-Yates, in place. */
  shuffle<A>(items: Array<A>): Array<A> {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = items[i]!
      items[i] = items[j]!
      items[j] = t
    }
    return items
  }
}
