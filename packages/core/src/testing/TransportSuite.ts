/**
 * Compliance suite for `Transport` implementations (in-memory, WebSocket, a
 * user's). The factory builds two connected peers, `a` and `b`, inside the
 * test's scope; the suite runs on the live clock, since real transports do
 * real I/O.
 *
 *   transportSuite("memory", () => Effect.gen(function*() {
 *     const net = yield* MemoryTransport.makeNetwork()
 *     return { a: yield* net.connect(replicaPeer(0)), b: yield* net.connect(replicaPeer(1)) }
 *   }), { inboxCapacity: 1024 })
 *
 * Checked: delivery with the sender's identity and exact bytes; delivery of
 * every frame when the receiver keeps up (order not required); `unknown-peer`
 * and `oversized` errors; a receiver that does not read keeps a bounded number
 * of frames, the sender never waits for it, and the link works again once it
 * reads; many frames of mixed sizes both ways at once; after the scope closes,
 * `send` fails with `closed` and `incoming` ends.
 */
import { Chunk, Duration, Effect, Option, Queue, type Scope, Stream } from "effect"
import { type PeerId, replicaPeer } from "../Ids.js"
import { type Incoming, TransportError, type TransportService } from "../Transport.js"

// `@synod/core/testing` is also imported outside vitest (the simulator CLI), where
// loading vitest throws; it is loaded only inside a vitest run.
const vitest = process.env.VITEST !== undefined ? await import("@effect/vitest") : undefined

export interface TwoPeers {
  readonly a: TransportService
  readonly b: TransportService
}

export interface TransportSuiteOptions {
  /** A peer neither side knows (default `replica/1023`). */
  readonly unknownPeer?: PeerId
  /**
   * When the receiver's inbox holds exactly this many frames before dropping,
   * the suite checks that a receiver that does not read keeps at most this many.
   */
  readonly inboxCapacity?: number
  /** How long to wait for a frame before failing (default 5 s). */
  readonly timeout?: Duration.DurationInput
  /** How long the receiver must stay quiet to count as drained (default 200 ms). */
  readonly quiet?: Duration.DurationInput
}

/** Frames are `id:u32 | byte pattern of id`, so a receiver can check content and identity. */
const frame = (id: number, size = 64): Uint8Array => {
  const bytes = new Uint8Array(Math.max(4, size))
  new DataView(bytes.buffer).setUint32(0, id)
  for (let i = 4; i < bytes.length; i++) bytes[i] = (id * 31 + i) & 0xff
  return bytes
}

const idOf = (bytes: Uint8Array): number => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0)

const intact = (bytes: Uint8Array): boolean => {
  const id = idOf(bytes)
  for (let i = 4; i < bytes.length; i++) if (bytes[i] !== ((id * 31 + i) & 0xff)) return false
  return true
}

/** The largest frame the suite will allocate for the size checks. */
const MAX_ALLOCATION = 64 * 1024 * 1024
/** Frames in flight per window when checking lossless delivery; below any sane inbox limit. */
const WINDOW = 50
/** Bound of the test-side queue that collects received frames. */
const COLLECTED_LIMIT = 100_000

export const transportSuite = <E>(
  name: string,
  makeTwoPeers: () => Effect.Effect<TwoPeers, E, Scope.Scope>,
  options: TransportSuiteOptions = {}
): void => {
  if (vitest === undefined) throw new Error("transportSuite must be called from a vitest test file")
  const { describe, expect, it } = vitest
  const timeout = Duration.decode(options.timeout ?? Duration.seconds(5))
  const quiet = Duration.decode(options.quiet ?? Duration.millis(200))
  const unknownPeer = options.unknownPeer ?? replicaPeer(1023)

  /** Start reading `t.incoming` into a queue the test takes from. */
  const collect = (t: TransportService) =>
    Effect.gen(function*() {
      const q = yield* Queue.bounded<Incoming>(COLLECTED_LIMIT)
      yield* Stream.runForEach(t.incoming, (m) => Queue.offer(q, m)).pipe(Effect.forkScoped)
      return q
    })

  const takeN = (q: Queue.Dequeue<Incoming>, n: number) =>
    Queue.takeBetween(q, n, n).pipe(
      Effect.map(Chunk.toReadonlyArray),
      Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error(`expected ${n} frames within ${Duration.format(timeout)}`) })
    )

  /** Everything that arrives until the receiver has been quiet for `quiet`. */
  const drain = (q: Queue.Dequeue<Incoming>) =>
    Effect.gen(function*() {
      const got: Array<Incoming> = []
      while (true) {
        const next = yield* Queue.take(q).pipe(Effect.timeoutOption(quiet))
        if (Option.isNone(next)) return got
        got.push(next.value)
      }
    })

  /** Send `ids` in windows of `WINDOW`, waiting for each window before the next, so nothing overflows. */
  const sendAll = (from: TransportService, to: TransportService, inbox: Queue.Dequeue<Incoming>, ids: ReadonlyArray<number>) =>
    Effect.gen(function*() {
      const received: Array<Incoming> = []
      for (let at = 0; at < ids.length; at += WINDOW) {
        const window = ids.slice(at, at + WINDOW)
        yield* Effect.forEach(window, (id) => from.send(to.self, frame(id, 16 + (id % 7) * 1000)), { discard: true })
        received.push(...(yield* takeN(inbox, window.length)))
      }
      return received
    })

  describe(`Transport compliance: ${name}`, () => {
    it.scopedLive("has two distinct identities and a positive frame limit", () =>
      Effect.gen(function*() {
        const { a, b } = yield* makeTwoPeers()
        expect(a.self).not.toBe(b.self)
        expect(a.maxFrameBytes).toBeGreaterThan(0)
        expect(b.maxFrameBytes).toBeGreaterThan(0)
      }))

    it.scopedLive("delivers a frame with the sender's identity and exact bytes, both ways", () =>
      Effect.gen(function*() {
        const { a, b } = yield* makeTwoPeers()
        const [inA, inB] = [yield* collect(a), yield* collect(b)]
        yield* a.send(b.self, frame(7, 300))
        yield* b.send(a.self, frame(8, 5))
        const [atB] = yield* takeN(inB, 1)
        const [atA] = yield* takeN(inA, 1)
        expect(atB!.from).toBe(a.self)
        expect(atB!.bytes).toEqual(frame(7, 300))
        expect(atA!.from).toBe(b.self)
        expect(atA!.bytes).toEqual(frame(8, 5))
      }))

    it.scopedLive("delivers every frame when the receiver keeps up (in any order)", () =>
      Effect.gen(function*() {
        const { a, b } = yield* makeTwoPeers()
        const inB = yield* collect(b)
        const ids = Array.from({ length: 500 }, (_, i) => i)
        const received = yield* sendAll(a, b, inB, ids)
        expect(received.every((m) => m.from === a.self && intact(m.bytes))).toBe(true)
        expect(received.map((m) => idOf(m.bytes)).sort((x, y) => x - y)).toEqual(ids)
      }))

    it.scopedLive("fails with unknown-peer for a peer it does not know", () =>
      Effect.gen(function*() {
        const { a } = yield* makeTwoPeers()
        const error = yield* Effect.flip(a.send(unknownPeer, frame(1)))
        expect(error).toBeInstanceOf(TransportError)
        expect(error.reason).toBe("unknown-peer")
      }))

    it.scopedLive("refuses a frame over maxFrameBytes with oversized and carries one of exactly maxFrameBytes", () =>
      Effect.gen(function*() {
        const { a, b } = yield* makeTwoPeers()
        if (a.maxFrameBytes >= MAX_ALLOCATION) return
        const inB = yield* collect(b)
        const error = yield* Effect.flip(a.send(b.self, frame(1, a.maxFrameBytes + 1)))
        expect(error.reason).toBe("oversized")
        yield* a.send(b.self, frame(2, a.maxFrameBytes))
        const [m] = yield* takeN(inB, 1)
        expect(idOf(m!.bytes)).toBe(2)
        expect(m!.bytes.byteLength).toBe(a.maxFrameBytes)
        expect(intact(m!.bytes)).toBe(true)
      }))

    it.scopedLive("keeps a bounded inbox for a receiver that does not read, and recovers when it reads", () =>
      Effect.gen(function*() {
        const { a, b } = yield* makeTwoPeers()
        const burst = (options.inboxCapacity ?? 1024) * 2 + 10
        // the sender must never wait for the receiver: every send completes (or fails as overloaded)
        yield* Effect.forEach(Array.from({ length: burst }, (_, i) => i), (id) =>
          a.send(b.self, frame(id)).pipe(
            Effect.catchIf((e) => e.reason === "overloaded", () => Effect.void)
          ), { discard: true }).pipe(
            Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error("send blocked on a receiver that does not read") })
          )
        const inB = yield* collect(b)
        const kept = yield* drain(inB)
        expect(kept.length).toBeGreaterThan(0)
        expect(kept.length).toBeLessThanOrEqual(burst)
        if (options.inboxCapacity !== undefined) expect(kept.length).toBeLessThanOrEqual(options.inboxCapacity)
        expect(kept.every((m) => intact(m.bytes) && idOf(m.bytes) < burst)).toBe(true)
        yield* a.send(b.self, frame(burst + 1))
        const [after] = yield* takeN(inB, 1)
        expect(idOf(after!.bytes)).toBe(burst + 1)
      }))

    it.scopedLive("carries many frames of mixed sizes in both directions at once", () =>
      Effect.gen(function*() {
        const { a, b } = yield* makeTwoPeers()
        const [inA, inB] = [yield* collect(a), yield* collect(b)]
        const toB = Array.from({ length: 1000 }, (_, i) => i)
        const toA = Array.from({ length: 1000 }, (_, i) => 10_000 + i)
        const [atB, atA] = yield* Effect.all([sendAll(a, b, inB, toB), sendAll(b, a, inA, toA)], { concurrency: 2 })
        expect(atB.map((m) => idOf(m.bytes)).sort((x, y) => x - y)).toEqual(toB)
        expect(atA.map((m) => idOf(m.bytes)).sort((x, y) => x - y)).toEqual(toA)
        expect([...atA, ...atB].every((m) => intact(m.bytes))).toBe(true)
      }))

    it.scopedLive("fails sends with closed and ends incoming once its scope has closed", () =>
      Effect.gen(function*() {
        const { a, b } = yield* Effect.scoped(makeTwoPeers())
        const error = yield* Effect.flip(a.send(b.self, frame(1)))
        expect(error.reason).toBe("closed")
        const rest = yield* Stream.runCollect(b.incoming).pipe(
          Effect.timeoutFail({ duration: timeout, onTimeout: () => new Error("incoming did not end after close") })
        )
        expect(Chunk.size(rest)).toBe(0)
      }))
  })
}
