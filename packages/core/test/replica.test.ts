import { describe, expect, it } from "@effect/vitest"
import { Cause, Chunk, Deferred, Effect, Either, Exit, Fiber, Option, Queue, Schema, type Scope, Stream, TestClock } from "effect"
import * as Actor from "../src/Actor.js"
import { makeCodec } from "../src/Codec.js"
import { type KeyRing, sha256Hex, type Signer, simulatedKeyRing, simulatedSigner } from "../src/Crypto.js"
import * as Envelope from "../src/Envelope.js"
import { type PeerId, replicaPeer } from "../src/Ids.js"
import { KeyRingService, SignerService } from "../src/Keys.js"
import * as MemoryTransport from "../src/MemoryTransport.js"
import * as Metrics from "../src/Metrics.js"
import { type Core, driverOf, type Input, type ProtocolEvent, type ReadyBuffer } from "../src/Protocol.js"
import * as Replica from "../src/Replica.js"
import { makeMemory, Storage, StorageError, type StorageService } from "../src/Storage.js"
import { Transport, type TransportService } from "../src/Transport.js"
import { collectLogs } from "./support/Observe.js"

// --- a tiny protocol: Add is applied, persisted, announced (Note) and acknowledged (Ack) after persist

const Add = Schema.TaggedStruct("Add", { amount: Schema.Int })
const Ack = Schema.TaggedStruct("Ack", { count: Schema.Int })
const Note = Schema.TaggedStruct("Note", { count: Schema.Int })
const Msg = Schema.Union(Add, Ack, Note)
type Msg = typeof Msg.Type

class EchoCore implements Core<Msg> {
  count = 0
  applied = 0
  acks = 0
  ticks = 0
  readonly received: Array<Msg> = []
  constructor(
    readonly observers: ReadonlyArray<PeerId>,
    readonly ping: { readonly to: ReadonlyArray<PeerId>; readonly every: number } | undefined = undefined
  ) {}
  step(input: Input<Msg>, out: ReadyBuffer<Msg>): void {
    if (input._tag === "Tick") {
      this.ticks++
      if (this.ping !== undefined && this.ticks % this.ping.every === 0) out.send.push({ to: this.ping.to, message: { _tag: "Add", amount: 1 } })
      return
    }
    const { from, message } = input.envelope
    this.received.push(message)
    if (message._tag === "Add") {
      this.count += message.amount
      this.applied++
      out.persist.push({ key: "echo/count", value: new TextEncoder().encode(String(this.count)) })
      if (this.observers.length > 0) out.send.push({ to: this.observers, message: { _tag: "Note", count: this.count } })
      out.sendAfterPersist.push({ to: [from], message: { _tag: "Ack", count: this.count } })
      out.events.push({ _tag: "Committed", index: this.applied, entryDigest: sha256Hex(String(this.count)), requests: [] })
    } else if (message._tag === "Ack") {
      this.acks++
    }
  }
  appliedIndex() {
    return this.applied
  }
  stateDigest() {
    return sha256Hex(String(this.count))
  }
}

// --- fixtures

const seed = "replica-test"
const [r0, r1, r2] = [replicaPeer(0), replicaPeer(1), replicaPeer(2)]
const keys = simulatedKeyRing(seed, [r0, r1, r2])

let clusterCounter = 0
/** A fresh protocol name per test keeps metric series apart. */
const envelopeCtx = (): Envelope.EnvelopeContext<Msg> => ({
  clusterId: "test",
  protocol: `echo-${++clusterCounter}/1`,
  codec: makeCodec(Msg)
})

/** A Signer that counts signatures (one per sealed Outbound, whatever its fan-out). */
const countingSigner = (peer: PeerId) => {
  const inner = simulatedSigner(seed, peer)
  const counter = { signed: 0 }
  const signer: Signer = { peer, sign: (b) => (counter.signed++, inner.sign(b)) }
  return { signer, counter }
}

/** Storage and transport wrappers that append to one log, so the test can check their order. */
const recordingStorage = (log: Array<string>, inner: StorageService): StorageService => ({
  ...inner,
  write: (batch) => Effect.zipRight(Effect.sync(() => log.push(`persist:${batch.map((w) => w.key).join(",")}`)), inner.write(batch))
})
const recordingTransport = (log: Array<string>, inner: TransportService): TransportService => ({
  ...inner,
  send: (to, bytes) =>
    Effect.zipRight(
      Effect.sync(() => log.push(`send:${Either.getOrThrow(Envelope.parseFrame(bytes)).type}->${to}`)),
      inner.send(to, bytes)
    )
})

interface Started {
  readonly handle: Replica.ReplicaHandle
  readonly core: EchoCore
  readonly failures: Queue.Dequeue<Actor.ActorFailure>
}

const start = (
  ctx: Envelope.EnvelopeContext<Msg>,
  ports: { transport: TransportService; storage: StorageService; signer?: Signer; keyRing?: KeyRing },
  core: EchoCore,
  config: Partial<Replica.ReplicaConfig<Msg>> = {}
): Effect.Effect<Started, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { failures, supervisor } = yield* Actor.queueSupervisor()
    const handle = yield* Replica.run(driverOf(core), { envelope: ctx, supervisor, ...config }).pipe(
      Effect.provideService(Transport, ports.transport),
      Effect.provideService(Storage, ports.storage),
      Effect.provideService(SignerService, ports.signer ?? simulatedSigner(seed, ports.transport.self)),
      Effect.provideService(KeyRingService, ports.keyRing ?? keys)
    )
    return { handle, core, failures }
  })

const take = (t: TransportService, n: number) => Effect.map(Stream.runCollect(Stream.take(t.incoming, n)), Chunk.toReadonlyArray)

describe("Replica shell", () => {
  it.scoped("persists, then sends `send`, then `sendAfterPersist`, sealing each message once", () =>
    Effect.gen(function*() {
      const ctx = envelopeCtx()
      const net = yield* MemoryTransport.makeNetwork()
      const log: Array<string> = []
      const { counter, signer } = countingSigner(r0)
      const disk = new Map<string, Uint8Array>()
      const storage = recordingStorage(log, yield* makeMemory(disk))
      const transport = recordingTransport(log, yield* net.connect(r0))
      const { handle } = yield* start(ctx, { transport, storage, signer }, new EchoCore([r1, r2]))
      const peer = yield* net.connect(r2)
      const observer = yield* net.connect(r1)
      yield* peer.send(r0, Envelope.seal(ctx, simulatedSigner(seed, r2), { _tag: "Add", amount: 5 }))
      const [ack] = yield* take(peer, 2).pipe(Effect.map((ms) => ms.filter((m) => Envelope.parseFrame(m.bytes).pipe(Either.getOrThrow).type === "Ack")))
      const opened = Either.getOrThrow(Envelope.open(ctx, keys, ack!.bytes, r0))
      expect(opened.message).toEqual({ _tag: "Ack", count: 5 })
      const [note] = yield* take(observer, 1)
      expect(Either.getOrThrow(Envelope.open(ctx, keys, note!.bytes, r0)).message).toEqual({ _tag: "Note", count: 5 })
      expect(log).toEqual([`persist:echo/count`, `send:Note->${r1}`, `send:Note->${r2}`, `send:Ack->${r2}`])
      expect(new TextDecoder().decode(disk.get("echo/count"))).toBe("5")
      expect(counter.signed).toBe(2)
      expect(yield* handle.appliedIndex).toBe(1)
      expect(yield* handle.stateDigest).toBe(sha256Hex("5"))
      expect(yield* Metrics.counterValue(Metrics.messagesReceived, { protocol: ctx.protocol, type: "Add" })).toBe(1)
      expect(yield* Metrics.counterValue(Metrics.messagesSent, { protocol: ctx.protocol, type: "Note" })).toBe(2)
      expect(yield* Metrics.counterValue(Metrics.commits, { protocol: ctx.protocol })).toBe(1)
    }))

  it.scoped("drives two shells with ticks from the clock", () =>
    Effect.gen(function*() {
      const ctx = envelopeCtx()
      const net = yield* MemoryTransport.makeNetwork()
      const a = yield* start(ctx, { transport: yield* net.connect(r0), storage: yield* makeMemory() }, new EchoCore([], { to: [r1], every: 3 }))
      const b = yield* start(ctx, { transport: yield* net.connect(r1), storage: yield* makeMemory() }, new EchoCore([]))
      // 10 ms ticks: 30 ticks of A, so 10 pings
      yield* TestClock.adjust("300 millis")
      const status = yield* b.handle.awaitApplied(10)
      expect(status).toEqual({ appliedIndex: 10, stateDigest: sha256Hex("10") })
      expect(a.core.ticks).toBe(30)
      while (a.core.acks < 10) yield* Effect.yieldNow()
      expect(a.core.received).toHaveLength(10)
    }))

  it.scoped("rejects forged, undecodable and misdirected frames before the core, with metrics and events", () =>
    Effect.gen(function*() {
      const ctx = envelopeCtx()
      const net = yield* MemoryTransport.makeNetwork()
      const { core, handle } = yield* start(ctx, { transport: yield* net.connect(r0), storage: yield* makeMemory() }, new EchoCore([]))
      const events = yield* handle.subscribe
      const peer = yield* net.connect(r2)
      const forger = simulatedSigner("another-seed", r2)
      yield* peer.send(r0, Envelope.seal(ctx, forger, { _tag: "Add", amount: 1 }))
      yield* peer.send(r0, Envelope.sealPayload(ctx, simulatedSigner(seed, r2), "Add", new TextEncoder().encode("{not json")))
      yield* peer.send(r0, Envelope.seal(ctx, simulatedSigner(seed, r1), { _tag: "Add", amount: 1 }))
      yield* peer.send(r0, new Uint8Array([1, 2, 3]))
      const rejected = yield* Effect.forEach([1, 2, 3, 4], () => Queue.take(events))
      expect(rejected.map((e) => e._tag === "Rejected" ? e.rejection.reason : e._tag)).toEqual([
        "bad-signature",
        "malformed",
        "sender-mismatch",
        "truncated"
      ])
      expect(rejected.every((e) => e._tag === "Rejected" && e.from === r2)).toBe(true)
      expect(core.received).toEqual([])
      const count = (reason: string) => Metrics.counterValue(Metrics.messagesRejected, { protocol: ctx.protocol, reason })
      expect(yield* count("bad-signature")).toBe(1)
      expect(yield* count("malformed")).toBe(1)
      expect(yield* count("sender-mismatch")).toBe(1)
      expect(yield* Metrics.counterValue(Metrics.signatureFailures, { protocol: ctx.protocol })).toBe(1)
      // and a genuine frame still goes through
      yield* peer.send(r0, Envelope.seal(ctx, simulatedSigner(seed, r2), { _tag: "Add", amount: 1 }))
      yield* handle.awaitApplied(1)
      expect(core.received).toEqual([{ _tag: "Add", amount: 1 }])
    }))

  it.scoped("dies with PersistFailed when storage fails, reports it, and sends nothing that depends on it", () =>
    Effect.gen(function*() {
      const ctx = envelopeCtx()
      const net = yield* MemoryTransport.makeNetwork()
      const broken: StorageService = {
        ...(yield* makeMemory()),
        write: () => Effect.fail(new StorageError({ reason: "io", detail: "disk full" }))
      }
      const { core, failures, handle } = yield* start(ctx, { transport: yield* net.connect(r0), storage: broken }, new EchoCore([r1]))
      const peer = yield* net.connect(r2)
      yield* net.connect(r1)
      yield* peer.send(r0, Envelope.seal(ctx, simulatedSigner(seed, r2), { _tag: "Add", amount: 1 }))
      const failure = yield* Queue.take(failures)
      expect(failure.actor).toBe(r0)
      const defect = Option.getOrThrow(Cause.dieOption(failure.cause))
      expect(defect).toBeInstanceOf(Replica.PersistFailed)
      expect((defect as Replica.PersistFailed).error.detail).toBe("disk full")
      expect(Exit.isFailure(yield* handle.await)).toBe(true)
      expect((yield* net.stats(r2)).delivered).toBe(0)
      expect((yield* net.stats(r1)).delivered).toBe(0)
      // a stopped replica takes no more input
      yield* peer.send(r0, Envelope.seal(ctx, simulatedSigner(seed, r2), { _tag: "Add", amount: 1 }))
      yield* TestClock.adjust("100 millis")
      expect(core.received).toHaveLength(1)
      expect((yield* Effect.flip(handle.awaitApplied(1)))._tag).toBe("ActorStopped")
    }))

  it.scoped("counts and drops a frame the transport cannot send, and carries on", () =>
    Effect.gen(function*() {
      const ctx = envelopeCtx()
      const net = yield* MemoryTransport.makeNetwork()
      const nowhere = replicaPeer(9)
      const { failures, handle } = yield* start(ctx, { transport: yield* net.connect(r0), storage: yield* makeMemory() }, new EchoCore([nowhere]))
      const peer = yield* net.connect(r2)
      yield* peer.send(r0, Envelope.seal(ctx, simulatedSigner(seed, r2), { _tag: "Add", amount: 1 }))
      const [ack] = yield* take(peer, 1)
      expect(Either.getOrThrow(Envelope.open(ctx, keys, ack!.bytes, r0)).message).toEqual({ _tag: "Ack", count: 1 })
      expect(yield* Metrics.counterValue(Metrics.sendFailures, { protocol: ctx.protocol, reason: "unknown-peer" })).toBe(1)
      expect(yield* Queue.size(failures)).toBe(0)
      expect(yield* handle.appliedIndex).toBe(1)
    }))

  it.scoped("rejects input as overloaded when the mailbox is full", () =>
    Effect.gen(function*() {
      const ctx = envelopeCtx()
      const net = yield* MemoryTransport.makeNetwork()
      const gate = yield* Deferred.make<void>()
      const slow: StorageService = { ...(yield* makeMemory()), write: () => Deferred.await(gate) }
      const { core, handle } = yield* start(ctx, { transport: yield* net.connect(r0), storage: slow }, new EchoCore([]), {
        mailboxCapacity: 2,
        maxBatch: 1
      })
      const events = yield* handle.subscribe
      const peer = yield* net.connect(r2)
      const add = Envelope.seal(ctx, simulatedSigner(seed, r2), { _tag: "Add", amount: 1 })
      // the first Add blocks in storage; then two more fill the mailbox and the rest are refused
      yield* peer.send(r0, add)
      while (core.received.length < 1) yield* Effect.yieldNow()
      for (let i = 0; i < 5; i++) yield* peer.send(r0, add)
      const overloaded = yield* Effect.forEach([1, 2, 3], () => Queue.take(events))
      expect(overloaded.map((e) => (e._tag === "Rejected" ? e.rejection.reason : e._tag))).toEqual(["overloaded", "overloaded", "overloaded"])
      expect(yield* Metrics.counterValue(Metrics.messagesRejected, { protocol: ctx.protocol, reason: "overloaded" })).toBe(3)
      yield* Deferred.succeed(gate, undefined)
      yield* handle.awaitApplied(3)
      expect(core.applied).toBe(3)
    }))

  it.scoped("publishes core events to subscribers and stops on request", () =>
    Effect.gen(function*() {
      const ctx = envelopeCtx()
      const net = yield* MemoryTransport.makeNetwork()
      const { failures, handle } = yield* start(ctx, { transport: yield* net.connect(r0), storage: yield* makeMemory() }, new EchoCore([]))
      const events = yield* handle.subscribe
      const peer = yield* net.connect(r2)
      yield* peer.send(r0, Envelope.seal(ctx, simulatedSigner(seed, r2), { _tag: "Add", amount: 4 }))
      const event: ProtocolEvent = yield* Queue.take(events)
      expect(event).toEqual({ _tag: "Committed", index: 1, entryDigest: sha256Hex("4"), requests: [] })
      const stream = yield* Effect.fork(Stream.runCollect(handle.events))
      yield* handle.stop
      // the event stream ends with the replica
      expect(Chunk.size(yield* Fiber.join(stream))).toBe(0)
      expect(Exit.isInterrupted(yield* handle.await)).toBe(true)
      expect(yield* Queue.size(failures)).toBe(0)
    }))

  it.scoped("recovers the driver from storage", () =>
    Effect.gen(function*() {
      const ctx = envelopeCtx()
      const net = yield* MemoryTransport.makeNetwork()
      const disk = new Map([["echo/count", new TextEncoder().encode("41")]])
      const { supervisor } = yield* Actor.queueSupervisor()
      const handle = yield* Replica.recover((loaded) => {
        const core = new EchoCore([])
        core.count = Number(new TextDecoder().decode(loaded.get("echo/count")))
        return driverOf(core)
      }, { envelope: ctx, supervisor }).pipe(
        Effect.provideService(Transport, yield* net.connect(r0)),
        Effect.provideService(Storage, yield* makeMemory(disk)),
        Effect.provideService(SignerService, simulatedSigner(seed, r0)),
        Effect.provideService(KeyRingService, keys)
      )
      expect(yield* handle.stateDigest).toBe(sha256Hex("41"))
    }))

  it.scoped("reports a fallback status for a driver without status(), from its events", () =>
    Effect.gen(function*() {
      const ctx = envelopeCtx()
      const net = yield* MemoryTransport.makeNetwork()
      const { handle } = yield* start(ctx, { transport: yield* net.connect(r0), storage: yield* makeMemory() }, new EchoCore([]))
      expect(yield* handle.replicaStatus).toEqual({ role: "unknown", view: 0, commitIndex: 0, appliedIndex: 0, peers: [] })
      const peer = yield* net.connect(r2)
      for (const amount of [1, 2]) yield* peer.send(r0, Envelope.seal(ctx, simulatedSigner(seed, r2), { _tag: "Add", amount }))
      yield* handle.awaitApplied(2)
      expect(yield* handle.replicaStatus).toEqual({ role: "unknown", view: 0, commitIndex: 2, appliedIndex: 2, peers: [] })
      expect(yield* Metrics.gaugeValue(Metrics.appliedIndex, { protocol: ctx.protocol, replica: r0 })).toBe(2)
    }))

  it.scoped("logs every dropped input at Debug with its reason, annotated with replica, protocol and view", () => {
    const logs = collectLogs()
    return Effect.gen(function*() {
      const ctx = envelopeCtx()
      const net = yield* MemoryTransport.makeNetwork()
      const { handle } = yield* start(ctx, { transport: yield* net.connect(r0), storage: yield* makeMemory() }, new EchoCore([]))
      const events = yield* handle.subscribe
      const peer = yield* net.connect(r2)
      yield* peer.send(r0, Envelope.seal(ctx, simulatedSigner("forger", r2), { _tag: "Add", amount: 1 }))
      yield* peer.send(r0, new Uint8Array([9]))
      yield* Effect.forEach([1, 2], () => Queue.take(events))
      const dropped = logs.lines.filter((l) => l.message === "dropped message")
      expect(dropped.map((l) => [l.level, l.annotations.reason, l.annotations.from])).toEqual([
        ["DEBUG", "bad-signature", r2],
        ["DEBUG", "truncated", r2]
      ])
      for (const l of dropped) {
        expect(l.annotations).toMatchObject({ replica: r0, protocol: ctx.protocol, view: 0 })
        expect(typeof l.annotations.detail).toBe("string")
      }
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("counts the bytes it hands to the transport, per destination", () =>
    Effect.gen(function*() {
      const ctx = envelopeCtx()
      const net = yield* MemoryTransport.makeNetwork()
      const inner = yield* net.connect(r0)
      let bytes = 0
      const counting: TransportService = { ...inner, send: (to, b) => Effect.zipRight(Effect.sync(() => void (bytes += b.byteLength)), inner.send(to, b)) }
      const { handle } = yield* start(ctx, { transport: counting, storage: yield* makeMemory() }, new EchoCore([r1]))
      yield* net.connect(r1)
      const peer = yield* net.connect(r2)
      yield* peer.send(r0, Envelope.seal(ctx, simulatedSigner(seed, r2), { _tag: "Add", amount: 3 }))
      yield* handle.awaitApplied(1)
      yield* take(peer, 1)
      expect(bytes).toBeGreaterThan(0)
      expect(yield* Metrics.counterValue(Metrics.bytesSent, { protocol: ctx.protocol })).toBe(bytes)
    }))
})
