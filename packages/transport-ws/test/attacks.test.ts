/**
 * A live transport on 127.0.0.1 under attack from raw sockets: every refused
 * handshake and every rejected data frame is closed or dropped with its stated
 * reason and counted, and the transport keeps serving honest peers.
 */
import { describe, expect, it } from "@effect/vitest"
import { Crypto, Envelope, Keys } from "@synod/core"
import { Effect, Queue, Stream } from "effect"
import * as WsMetrics from "../src/WsMetrics.js"
import { alice, closeOf, CLUSTER, eventually, mallory, metric, r, rawAuthenticated, rawConnect, rawHandshake, sealed, takeN, transport } from "./support.js"

const self = r(0).peer
const handshakeFailures = (reason: string) => metric(WsMetrics.handshakeFailures, { self, reason })
const rejected = (reason: string) => metric(WsMetrics.framesRejected, { self, reason })

/** A listening replica/0 whose incoming frames are collected into a queue. */
const target = (limits: Parameters<typeof transport>[1] = {}) =>
  Effect.gen(function*() {
    const t = yield* transport(r(0), limits)
    const got = yield* Queue.unbounded<{ readonly from: string; readonly bytes: Uint8Array }>()
    yield* Stream.runForEach(t.incoming, (m) => Queue.offer(got, m)).pipe(Effect.forkScoped)
    return { t, got, url: t.address! }
  })

/** The target still serves an honest client after the attack. */
const stillServes = (url: string, got: Queue.Queue<{ readonly from: string; readonly bytes: Uint8Array }>) =>
  Effect.gen(function*() {
    const honest = yield* rawAuthenticated(url, alice, self)
    yield* honest.send(sealed(alice, 42))
    const [m] = yield* takeN(got, 1)
    expect(m!.from).toBe(alice.peer)
    expect(m!.bytes).toEqual(sealed(alice, 42))
  })

describe("handshake attacks on a live listener", () => {
  it.scopedLive("refuses a key it does not know (unknown-peer), closing with 1008 and the reason", () =>
    Effect.gen(function*() {
      const { url, got } = yield* target()
      const before = yield* handshakeFailures("unknown-peer")
      const raw = yield* rawConnect(url)
      const step = yield* rawHandshake(raw, Keys.signerOf(mallory), self).pipe(Effect.either)
      expect(step._tag).toBe("Left") // no answer: the listener never signs for a stranger
      expect(yield* closeOf(raw)).toEqual({ code: 1008, reason: "handshake-failed: unknown-peer" })
      expect(yield* handshakeFailures("unknown-peer")).toBe(before + 1)
      yield* stillServes(url, got)
    }))

  it.scopedLive("refuses an impostor claiming a replica's identity with the wrong key (bad-proof)", () =>
    Effect.gen(function*() {
      const { url } = yield* target()
      const before = yield* handshakeFailures("bad-proof")
      const raw = yield* rawConnect(url)
      const impostor: Crypto.Signer = { peer: r(2).peer, sign: Keys.signerOf(mallory).sign }
      yield* rawHandshake(raw, impostor, self)
      expect(yield* closeOf(raw)).toEqual({ code: 1008, reason: "handshake-failed: bad-proof" })
      expect(yield* handshakeFailures("bad-proof")).toBe(before + 1)
    }))

  it.scopedLive("refuses the replay of a recorded, once-valid handshake (bad-proof)", () =>
    Effect.gen(function*() {
      const { url, got } = yield* target()
      // an eavesdropper records everything replica/1 sent during a genuine handshake
      const genuine = yield* rawConnect(url)
      const step = yield* rawHandshake(genuine, Keys.signerOf(r(1)), self)
      expect(step._tag).toBe("Done")
      const recorded = [...genuine.sent]
      expect(recorded).toHaveLength(2)
      const before = yield* handshakeFailures("bad-proof")
      const replay = yield* rawConnect(url)
      for (const f of recorded) yield* replay.send(f)
      yield* replay.send(sealed(r(1), 1)) // a data frame the replayer hopes to slip in
      expect(yield* closeOf(replay)).toEqual({ code: 1008, reason: "handshake-failed: bad-proof" })
      expect(yield* handshakeFailures("bad-proof")).toBe(before + 1)
      // the genuine connection is unaffected
      yield* genuine.send(sealed(r(1), 7))
      const [m] = yield* takeN(got, 1)
      expect(m!.from).toBe(r(1).peer)
      expect(yield* Queue.size(got)).toBe(0)
    }))

  it.scopedLive("refuses a peer of another cluster (wrong-cluster)", () =>
    Effect.gen(function*() {
      const { url } = yield* target()
      const before = yield* handshakeFailures("wrong-cluster")
      const raw = yield* rawConnect(url)
      yield* rawHandshake(raw, Keys.signerOf(r(1)), self, "other-cluster").pipe(Effect.either)
      expect(yield* closeOf(raw)).toEqual({ code: 1008, reason: "handshake-failed: wrong-cluster" })
      expect(yield* handshakeFailures("wrong-cluster")).toBe(before + 1)
    }))

  it.scopedLive("refuses random bytes, a text message, and a data frame where the handshake belongs (malformed)", () =>
    Effect.gen(function*() {
      const { url, got } = yield* target()
      const before = yield* handshakeFailures("malformed")
      const attempts = [new Uint8Array([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]), "hello?", sealed(r(1), 1)]
      for (const bytes of attempts) {
        const raw = yield* rawConnect(url)
        yield* raw.send(bytes)
        expect(yield* closeOf(raw)).toEqual({ code: 1008, reason: "handshake-failed: malformed" })
      }
      expect(yield* handshakeFailures("malformed")).toBe(before + attempts.length)
      yield* stillServes(url, got)
    }))

  it.scopedLive("times out a connection that never finishes the handshake (timeout)", () =>
    Effect.gen(function*() {
      const { url } = yield* target({ limits: { handshakeTimeoutMs: 200, heartbeatIntervalMs: 50, heartbeatTimeoutMs: 1000 } })
      const before = yield* handshakeFailures("timeout")
      const raw = yield* rawConnect(url)
      expect(yield* closeOf(raw)).toEqual({ code: 1008, reason: "handshake-failed: timeout" })
      expect(yield* handshakeFailures("timeout")).toBe(before + 1)
    }))

  it.scopedLive("refuses connections beyond maxPendingHandshakes (capacity, 1013) and serves again once they go", () =>
    Effect.gen(function*() {
      const { url, got } = yield* target({ limits: { maxPendingHandshakes: 2 } })
      const before = yield* handshakeFailures("capacity")
      const idle = [yield* rawConnect(url), yield* rawConnect(url)]
      const third = yield* rawConnect(url)
      expect((yield* closeOf(third)).code).toBe(1013)
      expect(yield* handshakeFailures("capacity")).toBe(before + 1)
      for (const s of idle) s.ws.terminate()
      yield* eventually(Effect.suspend(() => Effect.succeed(true)).pipe(Effect.zipRight(stillServes(url, got)), Effect.as(true), Effect.catchAllDefect(() => Effect.succeed(false))))
    }))
})

describe("data frames from an authenticated connection", () => {
  it.scopedLive("delivers a valid envelope with the handshake's PeerId as from", () =>
    Effect.gen(function*() {
      const { url, got } = yield* target()
      yield* stillServes(url, got)
    }))

  it.scopedLive("rejects each kind of bad frame with its reason and a metric, delivering none of them", () =>
    Effect.gen(function*() {
      const { url, got } = yield* target()
      const raw = yield* rawAuthenticated(url, alice, self)
      const good = sealed(alice, 1)
      const forged = good.slice()
      forged[forged.length - 1] = forged[forged.length - 1]! ^ 1
      const cases: ReadonlyArray<readonly [string, Uint8Array | string]> = [
        ["wrong-protocol", new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])],               // random bytes: bad magic
        ["truncated", good.subarray(0, good.byteLength - 20)],                       // cut short
        ["malformed", "a text message"],                                              // not binary
        ["sender-mismatch", sealed(r(1), 2)],                                         // a genuine frame of another sender
        ["wrong-cluster", sealed(alice, 3, "other-cluster")],                         // signed for another cluster
        ["bad-signature", forged],                                                    // one bit of the signature flipped
        ["sender-mismatch", Envelope.sealPayload(
          { clusterId: CLUSTER, protocol: "test/1", codec: undefined as never },
          Keys.signerOf(alice), "Test", new Uint8Array([123, 125]), r(1).peer)]       // claims replica/1, signed by alice
      ]
      const before = new Map<string, number>()
      for (const [reason] of cases) before.set(reason, yield* rejected(reason))
      for (const [, bytes] of cases) yield* raw.send(bytes)
      yield* raw.send(sealed(alice, 99)) // a good frame after all of them: proves they were processed in order
      const [m] = yield* takeN(got, 1)
      expect(m!.bytes).toEqual(sealed(alice, 99))
      const expected = new Map<string, number>()
      for (const [reason] of cases) expected.set(reason, (expected.get(reason) ?? 0) + 1)
      for (const [reason, n] of expected) expect(yield* rejected(reason), reason).toBe(before.get(reason)! + n)
      expect(yield* Queue.size(got)).toBe(0)
    }))

  it.scopedLive("an oversized message fails the socket before it is buffered (1009) and counts as oversized", () =>
    Effect.gen(function*() {
      const { url, got } = yield* target({ limits: { maxFrameBytes: 64 * 1024 } })
      const before = yield* rejected("oversized")
      const raw = yield* rawAuthenticated(url, alice, self)
      yield* raw.send(new Uint8Array(64 * 1024 + 1))
      expect((yield* closeOf(raw)).code).toBe(1009)
      yield* eventually(Effect.map(rejected("oversized"), (n) => n === before + 1))
      yield* stillServes(url, got)
    }))

  it.scopedLive("closes a connection whose rejected frames exceed the per-second budget (abuse)", () =>
    Effect.gen(function*() {
      const { url, got } = yield* target({ limits: { maxRejectedPerSecond: 20 } })
      const closedBefore = yield* metric(WsMetrics.connectionsClosed, { self, reason: "abuse" })
      const raw = yield* rawAuthenticated(url, alice, self)
      for (let i = 0; i < 100; i++) yield* raw.send(sealed(r(1), i))
      const close = yield* closeOf(raw)
      expect(close).toEqual({ code: 1008, reason: "abuse" })
      expect(yield* metric(WsMetrics.connectionsClosed, { self, reason: "abuse" })).toBe(closedBefore + 1)
      yield* stillServes(url, got)
    }))

  it.scopedLive("drops a flood of valid frames beyond the rate limit as overloaded, and closes the flooder", () =>
    Effect.gen(function*() {
      const { url, got } = yield* target({ limits: { maxFramesPerSecond: 50, maxRejectedPerSecond: 50 } })
      const overloadedBefore = yield* rejected("overloaded")
      const raw = yield* rawAuthenticated(url, alice, self)
      const frames = Array.from({ length: 400 }, (_, i) => sealed(alice, i))
      for (const f of frames) yield* raw.send(f)
      expect((yield* closeOf(raw)).reason).toBe("abuse")
      const delivered = yield* Queue.takeAll(got)
      // the burst (50 frames) and what refilled while sending got through; the flood did not
      expect(delivered.length).toBeGreaterThanOrEqual(50)
      expect(delivered.length).toBeLessThan(150)
      expect((yield* rejected("overloaded")) - overloadedBefore).toBeGreaterThanOrEqual(50)
    }))
})
