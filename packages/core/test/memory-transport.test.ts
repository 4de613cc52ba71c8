import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream } from "effect"
import { replicaPeer } from "../src/Ids.js"
import * as MemoryTransport from "../src/MemoryTransport.js"
import * as Metrics from "../src/Metrics.js"
import { transportSuite } from "../src/testing/TransportSuite.js"
import { Transport } from "../src/Transport.js"

const [p0, p1, p2] = [replicaPeer(0), replicaPeer(1), replicaPeer(2)]

transportSuite("memory", () =>
  Effect.gen(function*() {
    const net = yield* MemoryTransport.makeNetwork()
    return { a: yield* net.connect(p0), b: yield* net.connect(p1) }
  }), { inboxCapacity: MemoryTransport.DEFAULT_INBOX_CAPACITY })

transportSuite("memory, small inbox and frames", () =>
  Effect.gen(function*() {
    const net = yield* MemoryTransport.makeNetwork({ inboxCapacity: 64, maxFrameBytes: 16 * 1024 })
    return { a: yield* net.connect(p0), b: yield* net.connect(p1) }
  }), { inboxCapacity: 64 })

const frame = (n: number) => new Uint8Array([n])

describe("MemoryNetwork", () => {
  it.scoped("drops the newest frames when an inbox is full, and counts them", () =>
    Effect.gen(function*() {
      const net = yield* MemoryTransport.makeNetwork({ inboxCapacity: 3 })
      const a = yield* net.connect(p0)
      const b = yield* net.connect(p1)
      const before = yield* Metrics.counterValue(Metrics.transportDropped, { transport: "memory", reason: "inbox-full" })
      for (let i = 0; i < 5; i++) yield* a.send(p1, frame(i))
      const got = yield* b.incoming.pipe(Stream.take(3), Stream.runCollect)
      expect(Chunk.toReadonlyArray(got).map((m) => m.bytes[0])).toEqual([0, 1, 2])
      expect(yield* net.stats(p1)).toEqual({ delivered: 3, droppedInboxFull: 2, droppedLinkDown: 0, droppedPeerDown: 0 })
      const after = yield* Metrics.counterValue(Metrics.transportDropped, { transport: "memory", reason: "inbox-full" })
      expect(after - before).toBe(2)
    }))

  it.scoped("drops frames over a disconnected link in both directions until reconnected", () =>
    Effect.gen(function*() {
      const net = yield* MemoryTransport.makeNetwork()
      const a = yield* net.connect(p0)
      const b = yield* net.connect(p1)
      const c = yield* net.connect(p2)
      yield* net.disconnect(p0, p1)
      yield* a.send(p1, frame(1))
      yield* b.send(p0, frame(2))
      yield* a.send(p2, frame(3))
      expect((yield* net.stats(p1)).droppedLinkDown).toBe(1)
      expect((yield* net.stats(p0)).droppedLinkDown).toBe(1)
      yield* net.reconnect(p1, p0)
      yield* a.send(p1, frame(4))
      const atB = yield* b.incoming.pipe(Stream.take(1), Stream.runCollect)
      expect(Chunk.unsafeHead(atB).bytes[0]).toBe(4)
      const atC = yield* c.incoming.pipe(Stream.take(1), Stream.runCollect)
      expect(Chunk.unsafeHead(atC).bytes[0]).toBe(3)
    }))

  it.scoped("drops frames to a known peer that is down, and errors for a peer never known", () =>
    Effect.gen(function*() {
      const net = yield* MemoryTransport.makeNetwork({ peers: [p2] })
      const a = yield* net.connect(p0)
      yield* Effect.scoped(net.connect(p1))
      yield* a.send(p1, frame(1))
      yield* a.send(p2, frame(2))
      expect((yield* net.stats(p1)).droppedPeerDown).toBe(1)
      expect((yield* net.stats(p2)).droppedPeerDown).toBe(1)
      const error = yield* Effect.flip(a.send(replicaPeer(9), frame(3)))
      expect(error.reason).toBe("unknown-peer")
    }))

  it.scoped("lets a peer reconnect after it left, with an empty inbox", () =>
    Effect.gen(function*() {
      const net = yield* MemoryTransport.makeNetwork()
      const a = yield* net.connect(p0)
      yield* Effect.scoped(Effect.flatMap(net.connect(p1), () => a.send(p1, frame(1))))
      const b = yield* net.connect(p1)
      yield* a.send(p1, frame(2))
      const got = yield* b.incoming.pipe(Stream.take(1), Stream.runCollect)
      expect(Chunk.unsafeHead(got).bytes[0]).toBe(2)
    }))

  it.scoped("refuses to connect the same peer twice at once", () =>
    Effect.gen(function*() {
      const net = yield* MemoryTransport.makeNetwork()
      yield* net.connect(p0)
      const exit = yield* Effect.exit(net.connect(p0))
      expect(exit._tag).toBe("Failure")
    }))

  it.scoped("copies frames, so the sender cannot alter what the receiver got", () =>
    Effect.gen(function*() {
      const net = yield* MemoryTransport.makeNetwork()
      const a = yield* net.connect(p0)
      const b = yield* net.connect(p1)
      const bytes = new Uint8Array([1, 2, 3])
      yield* a.send(p1, bytes)
      bytes[0] = 9
      const got = yield* b.incoming.pipe(Stream.take(1), Stream.runCollect)
      expect(Chunk.unsafeHead(got).bytes).toEqual(new Uint8Array([1, 2, 3]))
    }))

  it.scoped("provides the Transport service through layerMemory", () =>
    Effect.gen(function*() {
      const net = yield* MemoryTransport.makeNetwork()
      const b = yield* net.connect(p1)
      yield* Effect.flatMap(Transport, (t) => t.send(p1, frame(5))).pipe(Effect.provide(MemoryTransport.layerMemory(net, p0)))
      const got = yield* b.incoming.pipe(Stream.take(1), Stream.runCollect)
      expect(Chunk.unsafeHead(got).from).toBe(p0)
    }))

  it("rejects a bad configuration", () => {
    expect(() => Effect.runSync(MemoryTransport.makeNetwork({ inboxCapacity: 0 }))).toThrow()
  })
})
