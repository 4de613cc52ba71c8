import { describe, expect, it } from "@effect/vitest"
import { Effect, Exit, TestClock } from "effect"
import * as Metrics from "../src/Metrics.js"
import type { ProtocolEvent, RequestPhase } from "../src/Protocol.js"
import { RequestTracker } from "../src/Tracing.js"
import { collectSpans } from "./support/Observe.js"

let counter = 0
const tracker = (maxOpenSpans?: number) =>
  new RequestTracker({
    protocol: `tracing-${++counter}/1`,
    replica: "replica/0",
    ...(maxOpenSpans !== undefined ? { maxOpenSpans } : {})
  })

const phase = (seq: number, p: RequestPhase, index?: number): ProtocolEvent => ({
  _tag: "RequestPhase",
  clientId: "alice",
  seq,
  phase: p,
  ...(index !== undefined ? { index } : {})
})

const ms = (n: number) => BigInt(n) * 1_000_000n

describe("RequestTracker", () => {
  it.effect("makes one span per request with its phases in order, ended at replied, and records commit latency", () => {
    const { install, spans } = collectSpans()
    return Effect.gen(function*() {
      const t = tracker()
      yield* t.observe([phase(7, "received")])
      yield* TestClock.adjust("3 millis")
      yield* t.observe([phase(7, "proposed", 12), { _tag: "Executed", index: 11, clientId: "bob", seq: 1 }])
      yield* TestClock.adjust("2 millis")
      yield* t.observe([phase(7, "prepared", 12)])
      yield* TestClock.adjust("4 millis")
      yield* t.observe([phase(7, "committed", 12), phase(7, "executed", 12), phase(7, "replied", 12)])
      expect(spans).toHaveLength(1)
      const span = spans[0]!
      expect(span.name).toBe("synod.request")
      expect(span.kind).toBe("server")
      expect(span.events.map((e) => [e.name, e.time])).toEqual([
        ["received", ms(0)],
        ["proposed", ms(3)],
        ["prepared", ms(5)],
        ["committed", ms(9)],
        ["executed", ms(9)],
        ["replied", ms(9)]
      ])
      expect(span.events[1]!.attributes).toEqual({ "synod.index": 12 })
      expect(Object.fromEntries(span.attributes)).toEqual({
        "synod.protocol": t.options.protocol,
        "synod.replica": "replica/0",
        "synod.client": "alice",
        "synod.seq": 7,
        "synod.index": 12,
        "synod.outcome": "replied"
      })
      expect(span.status).toEqual({ _tag: "Ended", startTime: ms(0), endTime: ms(9), exit: Exit.void })
      expect(t.openSpans).toBe(0)
      const committed = yield* Metrics.histogramValue(Metrics.commitLatency, { protocol: t.options.protocol, until: "committed" })
      const replied = yield* Metrics.histogramValue(Metrics.commitLatency, { protocol: t.options.protocol, until: "replied" })
      expect([committed.count, committed.sum]).toEqual([1, 0.009])
      expect([replied.count, replied.sum]).toEqual([1, 0.009])
      // 9 ms lies in the (8 ms, 16 ms] bucket
      expect(committed.buckets.find(([b]) => b === 0.008)![1]).toBe(0)
      expect(committed.buckets.find(([b]) => b === 0.016)![1]).toBe(1)
    }).pipe(install)
  })

  it.effect("ends a span at the end of the Ready that executed it when no reply follows (a follower)", () => {
    const { install, spans } = collectSpans()
    return Effect.gen(function*() {
      const t = tracker()
      yield* t.observe([phase(1, "proposed", 1), phase(2, "proposed", 2)])
      yield* TestClock.adjust("1 millis")
      yield* t.observe([phase(1, "committed", 1), phase(1, "executed", 1), phase(2, "committed", 2)])
      expect(spans.map((s) => [s.attributes.get("synod.seq"), s.ended, s.attributes.get("synod.outcome")])).toEqual([
        [1, true, "executed"],
        [2, false, undefined]
      ])
      expect(t.openSpans).toBe(1)
      // no `received` here, so no latency is recorded
      const committed = yield* Metrics.histogramValue(Metrics.commitLatency, { protocol: t.options.protocol, until: "committed" })
      expect(committed.count).toBe(0)
    }).pipe(install)
  })

  it.effect("opens no span for executed or replied alone, and a retransmission served again gets its own span", () => {
    const { install, spans } = collectSpans()
    return Effect.gen(function*() {
      const t = tracker()
      yield* t.observe([phase(1, "executed"), phase(1, "replied")])
      expect(spans).toHaveLength(0)
      yield* t.observe([phase(2, "received"), phase(2, "replied")])
      expect(spans).toHaveLength(1)
      expect(spans[0]!.events.map((e) => e.name)).toEqual(["received", "replied"])
      expect(spans[0]!.ended).toBe(true)
    }).pipe(install)
  })

  it.effect("keeps at most maxOpenSpans open, ending and counting the oldest", () => {
    const { install, spans } = collectSpans()
    return Effect.gen(function*() {
      const t = tracker(2)
      yield* t.observe([phase(1, "received"), phase(2, "received"), phase(3, "received")])
      expect(t.openSpans).toBe(2)
      expect(spans.map((s) => s.attributes.get("synod.outcome"))).toEqual(["evicted", undefined, undefined])
      expect(yield* Metrics.counterValue(Metrics.requestSpansEvicted, { protocol: t.options.protocol })).toBe(1)
      // the evicted request's later phases open nothing new once it is executed
      yield* t.observe([phase(1, "executed"), phase(2, "committed")])
      expect(spans).toHaveLength(3)
      expect(spans[1]!.events.map((e) => e.name)).toEqual(["received", "committed"])
    }).pipe(install)
  })

  it.effect("ends the spans still open as stopped", () => {
    const { install, spans } = collectSpans()
    return Effect.gen(function*() {
      const t = tracker()
      yield* t.observe([phase(1, "received"), phase(2, "proposed")])
      yield* TestClock.adjust("1 second")
      yield* t.abandonAll
      expect(spans.map((s) => [s.attributes.get("synod.outcome"), s.status._tag === "Ended" ? s.status.endTime : -1n])).toEqual([
        ["stopped", ms(1000)],
        ["stopped", ms(1000)]
      ])
      expect(t.openSpans).toBe(0)
    }).pipe(install)
  })

  it.effect("makes no spans when maxOpenSpans is 0", () => {
    const { install, spans } = collectSpans()
    return Effect.gen(function*() {
      const t = tracker(0)
      yield* t.observe([phase(1, "received"), phase(1, "committed"), phase(1, "replied")])
      expect(spans).toHaveLength(0)
    }).pipe(install)
  })

  it("refuses a negative or fractional limit", () => {
    expect(() => tracker(-1)).toThrow(RangeError)
    expect(() => tracker(1.5)).toThrow(RangeError)
  })
})
