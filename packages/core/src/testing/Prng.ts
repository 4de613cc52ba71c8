/**
 * The simulator's one source of randomness: a small, fast, seeded generator
 * (sfc32, seeded through splitmix32). Every decision of a run — delivery
 * order, delays, drops, faults, adversary moves, workload — draws from a
 * `Prng` derived from the run seed, so a seed replays the identical run.
 *
 * Independent concerns draw from independent streams (`Prng.derive(seed,
 * "network")`), so adding a draw in one concern does not shift the others.
 */
import type { Rng } from "./SimProtocol.js"

const U32 = 0x1_0000_0000

/** splitmix32 step: a good 32-bit mixer for turning seeds into generator state. */
const mix32 = (x: number): number => {
  let z = (x + 0x9e3779b9) | 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/** FNV-1a over a label, so streams can be named. */
const hashLabel = (label: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/** A run seed must be a non-negative safe integer: it is printed in replay commands. */
export const isSeed = (seed: unknown): seed is number =>
  typeof seed === "number" && Number.isSafeInteger(seed) && seed >= 0

export class Prng implements Rng {
  private a: number
  private b: number
  private c: number
  private d: number

  /** A generator for `seed` (a non-negative safe integer) and an optional numeric stream. */
  constructor(seed: number, stream = 0) {
    if (!isSeed(seed)) throw new RangeError(`Prng: seed must be a non-negative safe integer, got ${seed}`)
    const lo = seed >>> 0
    const hi = Math.floor(seed / U32) >>> 0
    this.a = mix32(lo ^ 0x243f6a88)
    this.b = mix32(hi ^ mix32(stream >>> 0))
    this.c = mix32(this.a ^ this.b ^ 0x13198a2e)
    this.d = 1
    // discard the first outputs: sfc32 needs a few rounds to decorrelate close seeds
    for (let i = 0; i < 12; i++) this.u32()
  }

  /** A generator for a named stream of `seed`. */
  static derive(seed: number, label: string): Prng {
    return new Prng(seed, hashLabel(label))
  }

  /** An integer seed for a named sub-component (e.g. a replica's own election randomness). */
  static seedFor(seed: number, label: string): number {
    const p = Prng.derive(seed, label)
    // 53-bit result so derived seeds are as wide as run seeds
    return p.u32() * 0x20_0000 + (p.u32() >>> 11)
  }

  /** Uniform unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  next(): number {
    return this.u32() / U32
  }

  int(n: number): number {
    if (!(n >= 1) || !Number.isInteger(n)) throw new RangeError(`Prng.int: n must be a positive integer, got ${n}`)
    return Math.floor(this.next() * n)
  }

  /** Uniform integer in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo)
  }

  chance(p: number): boolean {
    if (p <= 0) return false
    if (p >= 1) return true
    return this.next() < p
  }

  pick<A>(items: ReadonlyArray<A>): A {
    if (items.length === 0) throw new RangeError("Prng.pick: no items")
    return items[this.int(items.length)]!
  }

  /** Fisher–Yates, in place. */
  shuffle<A>(items: Array<A>): Array<A> {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1)
      const t = items[i]!
      items[i] = items[j]!
      items[j] = t
    }
    return items
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n)
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff
    return out
  }
}
