import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { isSeed, Prng } from "../src/testing/Prng.js"

const draws = (p: Prng, n: number) => Array.from({ length: n }, () => p.u32())

describe("Prng", () => {
  it("replays the same sequence for the same seed and stream", () => {
    expect(draws(new Prng(42), 100)).toEqual(draws(new Prng(42), 100))
    expect(draws(Prng.derive(42, "network"), 100)).toEqual(draws(Prng.derive(42, "network"), 100))
  })

  it("gives different sequences for neighbouring seeds, streams and labels", () => {
    const a = draws(new Prng(1), 16)
    expect(draws(new Prng(2), 16)).not.toEqual(a)
    expect(draws(new Prng(1, 1), 16)).not.toEqual(a)
    expect(draws(Prng.derive(1, "network"), 16)).not.toEqual(draws(Prng.derive(1, "faults"), 16))
    // seeds above 2^32 use their high bits
    expect(draws(new Prng(2 ** 40), 16)).not.toEqual(draws(new Prng(0), 16))
  })

  it("rejects seeds that cannot be printed in a replay command", () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(isSeed(bad)).toBe(false)
      expect(() => new Prng(bad)).toThrow(RangeError)
    }
    expect(isSeed(0)).toBe(true)
  })

  it.prop("int(n) stays in [0, n) and range(lo, hi) in [lo, hi)", [fc.nat(), fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: -50, max: 50 })], ([seed, n, lo]) => {
    const p = new Prng(seed)
    for (let i = 0; i < 50; i++) {
      const x = p.int(n)
      expect(Number.isInteger(x) && x >= 0 && x < n).toBe(true)
      const y = p.range(lo, lo + n)
      expect(y >= lo && y < lo + n).toBe(true)
    }
  })

  it("is roughly uniform: chance(p) hits about p of the time, every value of int(6) appears", () => {
    const p = new Prng(7)
    let hits = 0
    const counts = [0, 0, 0, 0, 0, 0]
    for (let i = 0; i < 60_000; i++) {
      if (p.chance(0.25)) hits++
      counts[p.int(6)]!++
    }
    expect(hits / 60_000).toBeGreaterThan(0.24)
    expect(hits / 60_000).toBeLessThan(0.26)
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500)
    expect(p.chance(0)).toBe(false)
    expect(p.chance(1)).toBe(true)
  })

  it("shuffles as a permutation and picks from the items", () => {
    const p = new Prng(3)
    const items = Array.from({ length: 20 }, (_, i) => i)
    const shuffled = p.shuffle([...items])
    expect([...shuffled].sort((a, b) => a - b)).toEqual(items)
    expect(shuffled).not.toEqual(items)
    expect(items).toContain(p.pick(items))
    expect(() => p.pick([])).toThrow(RangeError)
    expect(() => p.int(0)).toThrow(RangeError)
  })

  it("derives wide, distinct seeds for components", () => {
    const a = Prng.seedFor(5, "replica/0/0")
    expect(isSeed(a)).toBe(true)
    expect(Prng.seedFor(5, "replica/0/0")).toBe(a)
    expect(Prng.seedFor(5, "replica/0/1")).not.toBe(a)
  })
})
