import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { backoffDelay } from "../src/internal/Backoff.js"
import { Outbox } from "../src/internal/Outbox.js"
import { TokenBucket } from "../src/internal/TokenBucket.js"
import { DEFAULT_LIMITS, resolveLimits } from "../src/Limits.js"

const frameOf = (id: number, size: number) => {
  const f = new Uint8Array(Math.max(4, size))
  new DataView(f.buffer).setUint32(0, id)
  return f
}
const idOf = (f: Uint8Array) => new DataView(f.buffer, f.byteOffset).getUint32(0)

describe("Outbox (drop-oldest)", () => {
  it.prop(
    "keeps the newest frames within both bounds, and counts every eviction",
    [fc.array(fc.integer({ min: 4, max: 300 }), { maxLength: 400 }), fc.integer({ min: 1, max: 50 }), fc.integer({ min: 300, max: 3000 })],
    ([sizes, maxFrames, maxBytes]) => {
      const box = new Outbox(maxFrames, maxBytes)
      let evicted = 0
      sizes.forEach((s, i) => {
        evicted += box.push(frameOf(i, s))
        expect(box.length).toBeLessThanOrEqual(maxFrames)
        expect(box.bytes).toBeLessThanOrEqual(maxBytes)
      })
      const kept: Array<number> = []
      for (let f = box.shift(); f !== undefined; f = box.shift()) kept.push(idOf(f))
      expect(kept.length + evicted).toBe(sizes.length)
      // what is kept is a suffix of what was pushed, in order
      expect(kept).toEqual(sizes.map((_, i) => i).slice(sizes.length - kept.length))
      expect(box.bytes).toBe(0)
    }
  )

  it("stays O(length) in memory across many pushes and shifts", () => {
    const box = new Outbox(10, 1 << 20)
    for (let i = 0; i < 50_000; i++) {
      box.push(frameOf(i, 8))
      if (i % 3 === 0) box.shift()
    }
    expect(box.length).toBe(10)
    expect((box as unknown as { items: Array<unknown> }).items.length).toBeLessThan(3000)
  })

  it("refuses a frame larger than its byte bound (a caller bug)", () => {
    expect(() => new Outbox(4, 10).push(new Uint8Array(11))).toThrow(RangeError)
  })
})

describe("TokenBucket", () => {
  it("admits a burst, then the refill rate", () => {
    const b = new TokenBucket(10, 5)
    let admitted = 0
    for (let i = 0; i < 20; i++) if (b.take(0)) admitted++
    expect(admitted).toBe(5)
    expect(b.take(50)).toBe(false) // 0.5 token after 50 ms
    expect(b.take(100)).toBe(true) // 1 token after 100 ms
    expect(b.take(100)).toBe(false)
    // refill never exceeds the burst
    let later = 0
    for (let i = 0; i < 20; i++) if (b.take(60_000)) later++
    expect(later).toBe(5)
  })

  it.prop("never admits more than burst + rate * elapsed", [fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 300 })], ([gaps]) => {
    const rate = 100
    const burst = 20
    const b = new TokenBucket(rate, burst)
    let t = 0
    let admitted = 0
    for (const g of gaps) {
      t += g
      if (b.take(t)) admitted++
    }
    expect(admitted).toBeLessThanOrEqual(burst + (rate * t) / 1000 + 1e-9)
  })

  it("ignores a clock that goes backwards", () => {
    const b = new TokenBucket(1000, 1)
    expect(b.take(1000)).toBe(true)
    expect(b.take(0)).toBe(false)
  })
})

describe("backoffDelay", () => {
  it.prop(
    "is within [cap/2, cap] where cap = min(max, base * 2^attempt)",
    [fc.integer({ min: 0, max: 200 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })],
    ([attempt, u]) => {
      const d = backoffDelay(attempt, 100, 5000, u)
      const cap = Math.min(5000, 100 * 2 ** attempt)
      expect(d).toBeGreaterThanOrEqual(cap / 2)
      expect(d).toBeLessThanOrEqual(cap)
    }
  )

  it("doubles until the maximum", () => {
    expect([0, 1, 2, 3, 10].map((a) => backoffDelay(a, 100, 1000, 0))).toEqual([50, 100, 200, 400, 500])
  })
})

describe("Limits", () => {
  it("defaults are consistent", () => {
    expect(resolveLimits()).toEqual(DEFAULT_LIMITS)
  })

  it("refuses inconsistent overrides with a RangeError naming the limit", () => {
    expect(() => resolveLimits({ maxQueuedBytes: 10 })).toThrow(/maxQueuedBytes/)
    expect(() => resolveLimits({ heartbeatTimeoutMs: 500, heartbeatIntervalMs: 1000 })).toThrow(/heartbeatTimeoutMs/)
    expect(() => resolveLimits({ maxConnections: 0 })).toThrow(/maxConnections/)
    expect(() => resolveLimits({ backoffBaseMs: 10_000 })).toThrow(/backoffMaxMs/)
  })
})
