/**
 * Deadlines follow the Effect Clock: under `TestClock` a handshake that never
 * finishes and a peer that goes silent are cut off exactly when the test
 * moves the clock past their deadline, and not before. Sockets are real; only
 * time is simulated.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Option, TestClock } from "effect"
import * as WsMetrics from "../src/WsMetrics.js"
import { alice, closeOf, metric, r, rawAuthenticated, rawConnect, transport } from "./support.js"

const limits = { handshakeTimeoutMs: 2000, heartbeatIntervalMs: 500, heartbeatTimeoutMs: 3000 }

/** Let real socket I/O happen (a real timer, not the test clock). */
const settle = Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, 150)))

describe("deadlines on the Effect clock", () => {
  it.scoped("a handshake that never finishes is refused once the clock passes handshakeTimeoutMs, not before", () =>
    Effect.gen(function*() {
      const t = yield* transport(r(0), { limits })
      const raw = yield* rawConnect(t.address!)
      yield* settle
      yield* TestClock.adjust("1500 millis")
      yield* settle
      expect(Option.isNone(yield* Deferred.poll(raw.closed))).toBe(true)
      yield* TestClock.adjust("1000 millis") // past 2000 ms, at a sweep
      expect(yield* closeOf(raw)).toEqual({ code: 1008, reason: "handshake-failed: timeout" })
    }))

  it.scoped("a silent authenticated peer is closed once nothing was received for heartbeatTimeoutMs, not before", () =>
    Effect.gen(function*() {
      const t = yield* transport(r(0), { limits })
      const before = yield* metric(WsMetrics.connectionsClosed, { self: t.self, reason: "heartbeat-timeout" })
      const silent = yield* rawAuthenticated(t.address!, alice, t.self, { autoPong: false })
      yield* settle
      yield* TestClock.adjust("2500 millis")
      yield* settle
      expect(Option.isNone(yield* Deferred.poll(silent.closed))).toBe(true)
      yield* TestClock.adjust("1000 millis")
      expect(yield* closeOf(silent)).toEqual({ code: 1008, reason: "heartbeat-timeout" })
      expect(yield* metric(WsMetrics.connectionsClosed, { self: t.self, reason: "heartbeat-timeout" })).toBe(before + 1)
    }))

  it.scoped("a peer that answers pings stays connected however far the clock moves", () =>
    Effect.gen(function*() {
      const t = yield* transport(r(0), { limits })
      const peer = yield* rawAuthenticated(t.address!, alice, t.self)
      for (let i = 0; i < 10; i++) {
        yield* TestClock.adjust("500 millis") // one sweep: a ping goes out
        yield* settle // ... and its pong comes back
      }
      expect(Option.isNone(yield* Deferred.poll(peer.closed))).toBe(true)
    }))
})
