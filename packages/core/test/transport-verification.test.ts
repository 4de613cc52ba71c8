/**
 * `Replica.ReplicaConfig.trustTransportVerification`: a frame the transport
 * marks `verifiedWith` the replica's own key ring skips only the shell's
 * signature check; every other check still runs, and a frame marked with any
 * other key ring, or not marked, is verified as before. The transport here is
 * the in-memory one wrapped to mark frames as a verifying transport would.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Queue, Schema, type Scope, Stream } from "effect"
import * as Actor from "../src/Actor.js"
import { makeCodec } from "../src/Codec.js"
import { type KeyRing, simulatedKeyRing, simulatedSigner } from "../src/Crypto.js"
import * as Envelope from "../src/Envelope.js"
import { type PeerId, replicaPeer } from "../src/Ids.js"
import { KeyRingService, SignerService } from "../src/Keys.js"
import * as MemoryTransport from "../src/MemoryTransport.js"
import { type Core, driverOf, type Input } from "../src/Protocol.js"
import type { RejectionReason } from "../src/Rejection.js"
import * as Replica from "../src/Replica.js"
import { makeMemory, Storage } from "../src/Storage.js"
import { Transport, type TransportService } from "../src/Transport.js"

const Add = Schema.TaggedStruct("Add", { amount: Schema.Int })
type Add = typeof Add.Type

class SumCore implements Core<Add> {
  readonly received: Array<number> = []
  step(input: Input<Add>): void {
    if (input._tag === "Receive") this.received.push(input.envelope.message.amount)
  }
  appliedIndex() {
    return this.received.length
  }
  stateDigest() {
    return this.received.join(",")
  }
}

const seed = "transport-verification"
const [r0, r1, r2] = [replicaPeer(0), replicaPeer(1), replicaPeer(2)]

/** The shell's key ring, counting the signature checks made through it. */
const countingRing = () => {
  const inner = simulatedKeyRing(seed, [r0, r1, r2])
  const count = { verified: 0 }
  const ring: KeyRing = { ...inner, verify: (p, b, s) => (count.verified++, inner.verify(p, b, s)) }
  return { ring, count }
}

let protocols = 0
const envelopeCtx = (): Envelope.EnvelopeContext<Add> => ({ clusterId: "test", protocol: `sum-${++protocols}/1`, codec: makeCodec(Add) })

/** A transport whose every incoming frame claims `from` and `verifiedWith: marked`. */
const marking = (inner: TransportService, marked: KeyRing, from?: PeerId): TransportService => ({
  ...inner,
  incoming: Stream.map(inner.incoming, (m) => ({ from: from ?? m.from, bytes: m.bytes, verifiedWith: marked }))
})

const setup = (
  options: { readonly trust?: boolean; readonly mark: "own" | "other"; readonly claimFrom?: PeerId; readonly checkTransportSender?: boolean }
): Effect.Effect<
  {
    readonly core: SumCore
    readonly count: { verified: number }
    readonly ctx: Envelope.EnvelopeContext<Add>
    readonly send: (frame: Uint8Array) => Effect.Effect<void>
    readonly rejections: (n: number) => Effect.Effect<ReadonlyArray<RejectionReason>>
    readonly handle: Replica.ReplicaHandle
  },
  never,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const ctx = envelopeCtx()
    const { count, ring } = countingRing()
    // another object with the very same keys: still not the shell's key ring
    const other = simulatedKeyRing(seed, [r0, r1, r2])
    const net = yield* MemoryTransport.makeNetwork()
    const transport = marking(yield* net.connect(r0), options.mark === "own" ? ring : other, options.claimFrom)
    const core = new SumCore()
    const { supervisor } = yield* Actor.queueSupervisor()
    const config: Replica.ReplicaConfig<Add> = {
      envelope: ctx,
      supervisor,
      ...(options.trust === undefined ? {} : { trustTransportVerification: options.trust }),
      ...(options.checkTransportSender === undefined ? {} : { checkTransportSender: options.checkTransportSender })
    }
    const handle = yield* Replica.run(driverOf(core), config).pipe(
      Effect.provideService(Transport, transport),
      Effect.provideService(Storage, yield* makeMemory()),
      Effect.provideService(SignerService, simulatedSigner(seed, r0)),
      Effect.provideService(KeyRingService, ring)
    )
    const events = yield* handle.subscribe
    const peer = yield* net.connect(r1)
    return {
      core,
      count,
      ctx,
      handle,
      send: (frame) => Effect.orDie(peer.send(r0, frame)),
      rejections: (n) =>
        Effect.forEach(Array.from({ length: n }), () =>
          Effect.map(Queue.take(events), (e) => (e._tag === "Rejected" ? e.rejection.reason : (`not a rejection: ${e._tag}` as RejectionReason))))
    }
  })

const genuine = (ctx: Envelope.EnvelopeContext<Add>, amount: number) => Envelope.seal(ctx, simulatedSigner(seed, r1), { _tag: "Add", amount })
/** Claims to be r1's, signed with a key that is not r1's. */
const forged = (ctx: Envelope.EnvelopeContext<Add>, amount: number) => Envelope.seal(ctx, simulatedSigner("a forger's secret", r1), { _tag: "Add", amount })

describe("trustTransportVerification", () => {
  it.scoped("on (the default): a frame the transport verified with the replica's own key ring is not verified again", () =>
    Effect.gen(function*() {
      const { core, count, ctx, handle, send } = yield* setup({ mark: "own" })
      for (const amount of [1, 2, 3]) yield* send(genuine(ctx, amount))
      yield* handle.awaitApplied(3)
      expect(core.received).toEqual([1, 2, 3])
      expect(count.verified).toBe(0)
    }))

  it.scoped("on: a frame marked with another key ring (even with the same keys) is verified, and a forgery rejected", () =>
    Effect.gen(function*() {
      const { core, count, ctx, handle, rejections, send } = yield* setup({ mark: "other" })
      yield* send(forged(ctx, 9))
      expect(yield* rejections(1)).toEqual(["bad-signature"])
      yield* send(genuine(ctx, 4))
      yield* handle.awaitApplied(1)
      expect(core.received).toEqual([4])
      expect(count.verified).toBe(2)
    }))

  it.scoped("off: every frame is verified, so a forgery is rejected even if the transport vouched for it", () =>
    Effect.gen(function*() {
      const { core, count, ctx, handle, rejections, send } = yield* setup({ trust: false, mark: "own" })
      yield* send(forged(ctx, 9))
      expect(yield* rejections(1)).toEqual(["bad-signature"])
      yield* send(genuine(ctx, 5))
      yield* handle.awaitApplied(1)
      expect(core.received).toEqual([5])
      expect(count.verified).toBe(2)
    }))

  it.scoped("on: the skip needs the signed sender to be the transport's `from`, even with checkTransportSender off", () =>
    Effect.gen(function*() {
      // the transport says r2 sent (and verified) a frame that r1 signed
      const { core, count, ctx, rejections, send } = yield* setup({ mark: "own", claimFrom: r2, checkTransportSender: false })
      yield* send(genuine(ctx, 1))
      expect(yield* rejections(1)).toEqual(["sender-mismatch"])
      expect(core.received).toEqual([])
      expect(count.verified).toBe(0)
    }))

  it.scoped("on: the header is still checked and the payload still decoded", () =>
    Effect.gen(function*() {
      const { core, ctx, rejections, send } = yield* setup({ mark: "own" })
      const r1Signer = simulatedSigner(seed, r1)
      yield* send(Envelope.seal({ ...ctx, protocol: "another/1" }, r1Signer, { _tag: "Add", amount: 1 }))
      yield* send(Envelope.seal({ ...ctx, clusterId: "another" }, r1Signer, { _tag: "Add", amount: 1 }))
      yield* send(Envelope.sealPayload(ctx, r1Signer, "Add", new TextEncoder().encode("{not json")))
      yield* send(Envelope.sealPayload(ctx, r1Signer, "Remove", new TextEncoder().encode("{}")))
      yield* send(new Uint8Array([1, 2, 3]))
      expect(yield* rejections(5)).toEqual(["wrong-protocol", "wrong-cluster", "malformed", "unknown-tag", "truncated"])
      expect(core.received).toEqual([])
    }))

  it.scoped("on: frames not marked at all (the in-memory transport) are verified as before", () =>
    Effect.gen(function*() {
      const ctx = envelopeCtx()
      const { count, ring } = countingRing()
      const net = yield* MemoryTransport.makeNetwork()
      const core = new SumCore()
      const { supervisor } = yield* Actor.queueSupervisor()
      const handle = yield* Replica.run(driverOf(core), { envelope: ctx, supervisor }).pipe(
        Effect.provideService(Transport, yield* net.connect(r0)),
        Effect.provideService(Storage, yield* makeMemory()),
        Effect.provideService(SignerService, simulatedSigner(seed, r0)),
        Effect.provideService(KeyRingService, ring)
      )
      const events = yield* handle.subscribe
      const peer = yield* net.connect(r1)
      yield* Effect.orDie(peer.send(r0, forged(ctx, 9)))
      const rejected = yield* Queue.take(events)
      expect(rejected._tag === "Rejected" && rejected.rejection.reason).toBe("bad-signature")
      yield* Effect.orDie(peer.send(r0, genuine(ctx, 6)))
      yield* handle.awaitApplied(1)
      expect(core.received).toEqual([6])
      expect(count.verified).toBe(2)
    }))
})
