/**
 * How network input ends: the in-memory inbox is shut down when its peer
 * leaves (ending `incoming`), and a replica's input pump is interrupted when
 * its actor stops, so a dead replica takes nothing more from its transport.
 * Neither uses `Stream.interruptWhen`, which races every pull of a stream.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Effect, Exit, Fiber, Option, Queue, Schema, Scope, Stream, TestClock } from "effect"
import * as Actor from "../src/Actor.js"
import { makeCodec } from "../src/Codec.js"
import { simulatedKeyRing, simulatedSigner } from "../src/Crypto.js"
import * as Envelope from "../src/Envelope.js"
import { replicaPeer } from "../src/Ids.js"
import { KeyRingService, SignerService } from "../src/Keys.js"
import * as MemoryTransport from "../src/MemoryTransport.js"
import { type Core, driverOf, type Input, type ReadyBuffer } from "../src/Protocol.js"
import * as Replica from "../src/Replica.js"
import { makeMemory, Storage, StorageError } from "../src/Storage.js"
import { Transport, type TransportService } from "../src/Transport.js"

const [r0, r1] = [replicaPeer(0), replicaPeer(1)]
const seed = "shell-shutdown"

describe("MemoryNetwork: leaving the network", () => {
  it.scoped("ends incoming for a consumer waiting on it, and later sends count as peer-down", () =>
    Effect.gen(function*() {
      const net = yield* MemoryTransport.makeNetwork()
      const a = yield* net.connect(r0)
      const scope = yield* Scope.make()
      const b = yield* Scope.extend(net.connect(r1), scope)
      yield* a.send(r1, new Uint8Array([1]))
      const consumer = yield* Effect.fork(Stream.runCollect(b.incoming))
      // let the consumer take the first frame and wait for more
      while ((yield* net.stats(r1)).delivered < 1) yield* Effect.yieldNow()
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow()
      yield* Scope.close(scope, Exit.void)
      const got = yield* Fiber.join(consumer)
      expect(Chunk.toReadonlyArray(got).map((m) => m.bytes[0])).toEqual([1])
      yield* a.send(r1, new Uint8Array([2]))
      expect(yield* net.stats(r1)).toMatchObject({ delivered: 1, droppedPeerDown: 1 })
    }))

  it.scoped("never interrupts a sender racing with the receiver leaving", () =>
    Effect.gen(function*() {
      const net = yield* MemoryTransport.makeNetwork({ inboxCapacity: 8 })
      const a = yield* net.connect(r0)
      const scope = yield* Scope.make()
      yield* Scope.extend(net.connect(r1), scope)
      const sender = yield* Effect.fork(Effect.forEach(Array.from({ length: 2000 }, (_, i) => i), (i) =>
        Effect.zipRight(a.send(r1, new Uint8Array([i & 0xff])), Effect.yieldNow()), { discard: true }))
      while ((yield* net.stats(r1)).delivered + (yield* net.stats(r1)).droppedInboxFull < 100) yield* Effect.yieldNow()
      yield* Scope.close(scope, Exit.void)
      const exit = yield* Fiber.await(sender)
      expect(Exit.isSuccess(exit)).toBe(true)
      const stats = yield* net.stats(r1)
      expect(stats.delivered + stats.droppedInboxFull + stats.droppedPeerDown).toBe(2000)
      expect(stats.droppedPeerDown).toBeGreaterThan(0)
    }))
})

const Add = Schema.TaggedStruct("Add", { amount: Schema.Int })
type Add = typeof Add.Type

/** Persists every Add, so a failing storage kills the replica on its first frame. */
class PersistingCore implements Core<Add> {
  applied = 0
  step(input: Input<Add>, out: ReadyBuffer<Add>): void {
    if (input._tag !== "Receive") return
    this.applied++
    out.persist.push({ key: "n", value: new Uint8Array([this.applied]) })
  }
  appliedIndex() {
    return this.applied
  }
  stateDigest() {
    return String(this.applied)
  }
}

describe("Replica shell: the input pump ends with the actor", () => {
  it.scoped("a replica that died takes no more frames from its transport", () =>
    Effect.gen(function*() {
      const ctx: Envelope.EnvelopeContext<Add> = { clusterId: "test", protocol: "shutdown/1", codec: makeCodec(Add) }
      const net = yield* MemoryTransport.makeNetwork()
      const inner = yield* net.connect(r0)
      let pulled = 0
      const counting: TransportService = { ...inner, incoming: Stream.tap(inner.incoming, () => Effect.sync(() => void pulled++)) }
      const broken = { ...(yield* makeMemory()), write: () => Effect.fail(new StorageError({ reason: "io", detail: "disk gone" })) }
      const { failures, supervisor } = yield* Actor.queueSupervisor()
      const handle = yield* Replica.run(driverOf(new PersistingCore()), { envelope: ctx, supervisor }).pipe(
        Effect.provideService(Transport, counting),
        Effect.provideService(Storage, broken),
        Effect.provideService(SignerService, simulatedSigner(seed, r0)),
        Effect.provideService(KeyRingService, simulatedKeyRing(seed, [r0, r1]))
      )
      const peer = yield* net.connect(r1)
      const frame = Envelope.seal(ctx, simulatedSigner(seed, r1), { _tag: "Add", amount: 1 })
      yield* Effect.orDie(peer.send(r0, frame))
      const failure = yield* Queue.take(failures)
      expect(Option.isSome(Cause.dieOption(failure.cause))).toBe(true)
      expect(Exit.isFailure(yield* handle.await)).toBe(true)
      // give the pump every chance to run: it must have been interrupted
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
      const before = pulled
      expect(before).toBe(1)
      for (let i = 0; i < 3; i++) yield* Effect.orDie(peer.send(r0, frame))
      yield* TestClock.adjust("1 second")
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
      expect(pulled).toBe(before)
    }))
})
