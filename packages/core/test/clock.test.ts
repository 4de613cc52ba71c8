import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, Fiber, Ref, Stream, TestClock } from "effect"
import * as Clock from "../src/Clock.js"

describe("Ticker", () => {
  it.scoped("emits one Tick per interval of the (test) clock, the first after one interval", () =>
    Effect.gen(function*() {
      const count = yield* Ref.make(0)
      const ticker = Clock.make("10 millis")
      yield* Clock.drive(ticker, Ref.update(count, (n) => n + 1))
      yield* TestClock.adjust("9 millis")
      expect(yield* Ref.get(count)).toBe(0)
      yield* TestClock.adjust("1 millis")
      expect(yield* Ref.get(count)).toBe(1)
      yield* TestClock.adjust("100 millis")
      expect(yield* Ref.get(count)).toBe(11)
    }))

  it.effect("emits Tick inputs", () =>
    Effect.gen(function*() {
      const fiber = yield* Clock.make("5 millis").ticks.pipe(Stream.take(3), Stream.runCollect, Effect.fork)
      yield* TestClock.adjust("15 millis")
      const ticks = yield* Fiber.join(fiber)
      expect([...ticks]).toEqual([Clock.Tick, Clock.Tick, Clock.Tick])
      expect(Clock.Tick._tag).toBe("Tick")
    }))

  it.scoped("stops driving when the tick handler fails", () =>
    Effect.gen(function*() {
      const count = yield* Ref.make(0)
      const fiber = yield* Clock.drive(
        Clock.make("10 millis"),
        Effect.flatMap(Ref.updateAndGet(count, (n) => n + 1), (n) => (n === 2 ? Effect.fail("stop" as const) : Effect.void))
      )
      yield* TestClock.adjust("100 millis")
      expect(yield* Ref.get(count)).toBe(2)
      const exit = yield* Fiber.await(fiber)
      expect(exit._tag).toBe("Failure")
    }))

  it("defaults to 10 ms and refuses a non-positive interval", () => {
    expect(Duration.toMillis(Clock.make().interval)).toBe(10)
    expect(Duration.toMillis(Clock.DEFAULT_TICK_INTERVAL)).toBe(10)
    expect(() => Clock.make(0)).toThrow(RangeError)
    expect(() => Clock.make(Duration.infinity)).toThrow(RangeError)
  })

  it.effect("reads the interval from SYNOD_TICK_INTERVAL, defaulting to 10 ms", () =>
    Effect.gen(function*() {
      const fallback = yield* Clock.tickIntervalConfig.pipe(Effect.withConfigProvider(ConfigProvider.fromMap(new Map())))
      expect(Duration.toMillis(fallback)).toBe(10)
      const set = yield* Clock.tickIntervalConfig.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["SYNOD_TICK_INTERVAL", "25 millis"]])))
      )
      expect(Duration.toMillis(set)).toBe(25)
    }))
})
