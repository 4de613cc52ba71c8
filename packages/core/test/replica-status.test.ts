/**
 * The replica's status (applied index and state digest) is computed on
 * demand: a state machine's digest can cost as much as its state is large
 * (the ledger hashes every account), so the shell computes it only when
 * someone asks, between two batches, at most once per applied index.
 */
import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Fiber, Schema, Stream } from "effect"
import * as Actor from "../src/Actor.js"
import { makeCodec } from "../src/Codec.js"
import { sha256Hex, simulatedKeyRing, simulatedSigner } from "../src/Crypto.js"
import * as Envelope from "../src/Envelope.js"
import { replicaPeer } from "../src/Ids.js"
import { KeyRingService, SignerService } from "../src/Keys.js"
import * as MemoryTransport from "../src/MemoryTransport.js"
import { type Core, driverOf, type Input } from "../src/Protocol.js"
import * as Replica from "../src/Replica.js"
import { makeMemory, Storage } from "../src/Storage.js"
import { Transport } from "../src/Transport.js"

const Add = Schema.TaggedStruct("Add", { amount: Schema.Int })
type Add = typeof Add.Type

/** Applies every Add; counts how often its digest is computed. */
class DigestCountingCore implements Core<Add> {
  sum = 0
  applied = 0
  digests = 0
  step(input: Input<Add>): void {
    if (input._tag !== "Receive") return
    this.sum += input.envelope.message.amount
    this.applied++
  }
  appliedIndex() {
    return this.applied
  }
  stateDigest() {
    this.digests++
    return sha256Hex(String(this.sum))
  }
}

const seed = "replica-status"
const [r0, r1] = [replicaPeer(0), replicaPeer(1)]
const ctx: Envelope.EnvelopeContext<Add> = { clusterId: "test", protocol: "status/1", codec: makeCodec(Add) }

const start = Effect.gen(function*() {
  const net = yield* MemoryTransport.makeNetwork()
  const core = new DigestCountingCore()
  const { supervisor } = yield* Actor.queueSupervisor()
  const handle = yield* Replica.run(driverOf(core), { envelope: ctx, supervisor }).pipe(
    Effect.provideService(Transport, yield* net.connect(r0)),
    Effect.provideService(Storage, yield* makeMemory()),
    Effect.provideService(SignerService, simulatedSigner(seed, r0)),
    Effect.provideService(KeyRingService, simulatedKeyRing(seed, [r0, r1]))
  )
  const peer = yield* net.connect(r1)
  const send = (amount: number) => Effect.orDie(peer.send(r0, Envelope.seal(ctx, simulatedSigner(seed, r1), { _tag: "Add", amount })))
  return { core, handle, send }
})

describe("Replica status", () => {
  it.scoped("computes no digest while nobody asks, however many entries are applied", () =>
    Effect.gen(function*() {
      const { core, handle, send } = yield* start
      const atStart = core.digests
      for (let i = 1; i <= 50; i++) yield* send(i)
      while ((yield* handle.appliedIndex) < 50) yield* Effect.yieldNow()
      expect(core.digests).toBe(atStart)
      expect(yield* handle.appliedIndex).toBe(50)
    }))

  it.scoped("computes the digest once per applied index when asked, matching the state it names", () =>
    Effect.gen(function*() {
      const { core, handle, send } = yield* start
      for (const amount of [3, 4]) yield* send(amount)
      const status = yield* handle.awaitApplied(2)
      expect(status).toEqual({ appliedIndex: 2, stateDigest: sha256Hex("7") })
      const before = core.digests
      expect(yield* handle.stateDigest).toBe(sha256Hex("7"))
      expect(yield* handle.status).toEqual(status)
      expect(core.digests).toBe(before)
      yield* send(5)
      yield* handle.awaitApplied(3)
      expect(yield* handle.stateDigest).toBe(sha256Hex("12"))
      expect(core.digests).toBe(before + 1)
    }))

  it.scoped("statusChanges carries a status for each applied index it sees, digest included", () =>
    Effect.gen(function*() {
      const { handle, send } = yield* start
      const changes = yield* Effect.fork(Stream.runCollect(handle.statusChanges.pipe(Stream.takeUntil((s) => s.appliedIndex >= 2))))
      yield* send(1)
      yield* handle.awaitApplied(1)
      yield* send(2)
      const seen = Chunk.toReadonlyArray(yield* Fiber.join(changes))
      expect(seen.at(-1)).toEqual({ appliedIndex: 2, stateDigest: sha256Hex("3") })
      for (const s of seen) expect(s.stateDigest).toBe(sha256Hex(String([0, 1, 3][s.appliedIndex])))
    }))

  it.scoped("still answers once the replica has stopped, from the driver", () =>
    Effect.gen(function*() {
      const { handle, send } = yield* start
      yield* send(9)
      yield* handle.awaitApplied(1)
      yield* handle.stop
      expect(yield* handle.status).toEqual({ appliedIndex: 1, stateDigest: sha256Hex("9") })
      expect((yield* Effect.flip(handle.awaitApplied(2)))._tag).toBe("ActorStopped")
    }))
})
