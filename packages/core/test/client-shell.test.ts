import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Either, Exit, Fiber, Option, Schema, Stream, TestClock } from "effect"
import * as Actor from "../src/Actor.js"
import type { ClientCompletion, ClientDriver, ClientOutcome } from "../src/Client.js"
import * as ClientShell from "../src/ClientShell.js"
import { makeCodec } from "../src/Codec.js"
import { sha256Hex, simulatedKeyRing, simulatedSigner } from "../src/Crypto.js"
import * as Envelope from "../src/Envelope.js"
import { clientPeer, makeClientId, type PeerId, type ReplicaId, replicaPeer } from "../src/Ids.js"
import { KeyRingService, SignerService } from "../src/Keys.js"
import * as MemoryTransport from "../src/MemoryTransport.js"
import * as Metrics from "../src/Metrics.js"
import { type Input, type Ready, ReadyBuffer } from "../src/Protocol.js"
import type { StateMachine } from "../src/StateMachine.js"
import { Transport, type TransportService } from "../src/Transport.js"
import { collectLogs, collectSpans } from "./support/Observe.js"

// --- a toy request/reply protocol and its client driver

const Request = Schema.TaggedStruct("Request", { seq: Schema.Int, readOnly: Schema.Boolean, command: Schema.Uint8ArrayFromBase64 })
const Reply = Schema.TaggedStruct("Reply", { seq: Schema.Int, index: Schema.Int, result: Schema.Uint8ArrayFromBase64 })
const Refuse = Schema.TaggedStruct("Refuse", { seq: Schema.Int, reason: Schema.String, leader: Schema.optional(Schema.Int) })
const Msg = Schema.Union(Request, Reply, Refuse)
type Msg = typeof Msg.Type

const replica = replicaPeer(0)
const client = clientPeer("alice")

/** Retransmits every `retryEvery` ticks and gives up after `maxTries` sends. */
const toyClient = (limits: { readonly maxInFlight: number; readonly retryEvery: number; readonly maxTries: number }): ClientDriver<Msg> => {
  const out = new ReadyBuffer<Msg>()
  let pending: Ready<Msg> | undefined
  let nextSeq = 0
  const inFlight = new Map<number, { request: Msg; ticks: number; tries: number; readOnly: boolean }>()
  const completions: Array<ClientCompletion> = []
  const clientId = makeClientId("alice")
  const complete = (seq: number, outcome: ClientOutcome) => {
    const r = inFlight.get(seq)
    if (r === undefined) return
    inFlight.delete(seq)
    completions.push({ clientId, seq, readOnly: r.readOnly, outcome })
  }
  return {
    clientId,
    submit: (command, options = {}) => {
      if (inFlight.size >= limits.maxInFlight) return undefined
      const seq = nextSeq++
      const request: Msg = { _tag: "Request", seq, readOnly: options.readOnly ?? false, command }
      inFlight.set(seq, { request, ticks: 0, tries: 1, readOnly: options.readOnly ?? false })
      out.send.push({ to: [replica], message: request })
      return seq
    },
    step: (input: Input<Msg>) => {
      if (input._tag === "Tick") {
        for (const [seq, r] of inFlight) {
          if (++r.ticks < limits.retryEvery) continue
          if (r.tries >= limits.maxTries) complete(seq, { _tag: "TimedOut" })
          else {
            r.ticks = 0
            r.tries++
            out.send.push({ to: [replica], message: r.request })
          }
        }
        return
      }
      const m = input.envelope.message
      if (m._tag === "Reply") complete(m.seq, { _tag: "Committed", result: m.result, index: m.index })
      else if (m._tag === "Refuse") {
        complete(m.seq, { _tag: "Rejected", reason: m.reason, ...(m.leader !== undefined ? { leaderHint: m.leader as ReplicaId } : {}) })
      }
    },
    hasReady: () => pending !== undefined || !out.isEmpty(),
    ready: () => (pending ??= out.take()),
    advance: () => {
      pending = undefined
    },
    takeCompletions: () => completions.splice(0),
    inFlight: () => inFlight.size
  }
}

// --- a counter state machine for the typed layer

const Add = Schema.TaggedStruct("Add", { amount: Schema.Int })
const Read = Schema.TaggedStruct("Read", {})
const Command = Schema.Union(Add, Read)
type Command = typeof Command.Type
const Value = Schema.Struct({ value: Schema.Int })
const Counter: StateMachine<Command, { readonly value: number }, number> = {
  name: "counter",
  command: Command,
  result: Value,
  snapshot: Schema.Int,
  make: () => {
    let v = 0
    return {
      apply: (c) => ({ value: c._tag === "Add" ? (v += c.amount) : v }),
      query: () => ({ value: v }),
      isReadOnly: (c) => c._tag === "Read",
      snapshot: () => v,
      restore: (s) => void (v = s),
      digest: () => sha256Hex(String(v))
    }
  }
}
const commandCodec = makeCodec(Command)
const resultCodec = makeCodec(Value)

// --- fixtures

const seed = "client-test"
const keys = simulatedKeyRing(seed, [replica, client])
let protocolCounter = 0

const setup = (limits = { maxInFlight: 4, retryEvery: 5, maxTries: 3 }) =>
  Effect.gen(function*() {
    const ctx: Envelope.EnvelopeContext<Msg> = { clusterId: "test", protocol: `toy-${++protocolCounter}/1`, codec: makeCodec(Msg) }
    const net = yield* MemoryTransport.makeNetwork()
    const server = yield* net.connect(replica)
    const { supervisor } = yield* Actor.queueSupervisor()
    const shell = yield* ClientShell.make(toyClient(limits), { envelope: ctx, supervisor }).pipe(
      Effect.provideService(Transport, yield* net.connect(client)),
      Effect.provideService(SignerService, simulatedSigner(seed, client)),
      Effect.provideService(KeyRingService, keys)
    )
    return { ctx, server, shell, typed: ClientShell.typed(shell, Counter) }
  })

/** The fake replica: the next Request it receives. */
const nextRequest = (ctx: Envelope.EnvelopeContext<Msg>, server: TransportService) =>
  Effect.map(Stream.runCollect(Stream.take(server.incoming, 1)), (c) => {
    const m = Either.getOrThrow(Envelope.open(ctx, keys, Chunk.unsafeHead(c).bytes, client)).message
    if (m._tag !== "Request") throw new Error(`expected a Request, got ${m._tag}`)
    return m
  })

const answer = (ctx: Envelope.EnvelopeContext<Msg>, server: TransportService, message: Msg, signedBy: PeerId = replica, signerSeed = seed) =>
  server.send(client, Envelope.seal(ctx, simulatedSigner(signerSeed, signedBy), message))

describe("ClientShell", () => {
  it.scoped("submits a typed command and decodes the replica's result", () =>
    Effect.gen(function*() {
      const { ctx, server, typed } = yield* setup()
      const fiber = yield* Effect.fork(typed.submit({ _tag: "Add", amount: 3 }))
      const request = yield* nextRequest(ctx, server)
      expect(request.readOnly).toBe(false)
      expect(Either.getOrThrow(commandCodec.decode(request.command))).toEqual({ _tag: "Add", amount: 3 })
      yield* answer(ctx, server, { _tag: "Reply", seq: request.seq, index: 1, result: resultCodec.encode({ value: 3 }) })
      expect(yield* Fiber.join(fiber)).toEqual({ value: 3 })
    }))

  it.scoped("rejects a command that does not encode with its Schema, without sending it", () =>
    Effect.gen(function*() {
      const { shell, typed } = yield* setup()
      const error = yield* Effect.flip(typed.submit({ _tag: "Add", amount: 1.5 }))
      expect(error._tag === "ClientRejected" && error.reason.startsWith("invalid-command")).toBe(true)
      expect(yield* shell.inFlight).toBe(0)
    }))

  it.scoped("marks read-only commands as reads", () =>
    Effect.gen(function*() {
      const { ctx, server, typed } = yield* setup()
      const fiber = yield* Effect.fork(typed.submit({ _tag: "Read" }))
      const request = yield* nextRequest(ctx, server)
      expect(request.readOnly).toBe(true)
      yield* answer(ctx, server, { _tag: "Reply", seq: request.seq, index: 0, result: resultCodec.encode({ value: 0 }) })
      expect(yield* Fiber.join(fiber)).toEqual({ value: 0 })
    }))

  it.scoped("fails with ClientRejected carrying the reason and leader hint", () =>
    Effect.gen(function*() {
      const { ctx, server, typed } = yield* setup()
      const fiber = yield* Effect.fork(Effect.flip(typed.submit({ _tag: "Add", amount: 1 })))
      const request = yield* nextRequest(ctx, server)
      yield* answer(ctx, server, { _tag: "Refuse", seq: request.seq, reason: "not-leader", leader: 2 })
      expect(yield* Fiber.join(fiber)).toEqual(new ClientShell.ClientRejected({ reason: "not-leader", leaderHint: 2 as ReplicaId }))
    }))

  it.scoped("retransmits on ticks and fails with ClientTimedOut when the driver gives up", () =>
    Effect.gen(function*() {
      const { ctx, server, typed } = yield* setup({ maxInFlight: 4, retryEvery: 5, maxTries: 3 })
      const fiber = yield* Effect.fork(Effect.flip(typed.submit({ _tag: "Add", amount: 1 })))
      const first = yield* nextRequest(ctx, server)
      const retries = yield* Effect.fork(Effect.all([nextRequest(ctx, server), nextRequest(ctx, server)]))
      // 10 ms ticks: a retry every 5 ticks, gives up at the 15th
      yield* TestClock.adjust("100 millis")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust("50 millis")
      expect((yield* Fiber.join(fiber))._tag).toBe("ClientTimedOut")
      expect((yield* Fiber.join(retries)).map((r) => r.seq)).toEqual([first.seq, first.seq])
      expect(yield* Metrics.counterValue(Metrics.clientCompletions, { protocol: ctx.protocol, outcome: "TimedOut" })).toBe(1)
    }))

  it.scoped("fails with ClientUndecodableResult when the result does not match the Schema", () =>
    Effect.gen(function*() {
      const { ctx, server, typed } = yield* setup()
      const fiber = yield* Effect.fork(Effect.flip(typed.submit({ _tag: "Add", amount: 1 })))
      const request = yield* nextRequest(ctx, server)
      yield* answer(ctx, server, { _tag: "Reply", seq: request.seq, index: 7, result: new TextEncoder().encode("{\"value\":\"x\"}") })
      const error = yield* Fiber.join(fiber)
      expect(error._tag).toBe("ClientUndecodableResult")
      expect(error._tag === "ClientUndecodableResult" && error.index).toBe(7)
    }))

  it.scoped("refuses a submission beyond the in-flight limit with ClientOverloaded", () =>
    Effect.gen(function*() {
      const { shell } = yield* setup({ maxInFlight: 2, retryEvery: 100, maxTries: 1 })
      const bytes = commandCodec.encode({ _tag: "Read" })
      yield* Effect.fork(shell.submit(bytes))
      yield* Effect.fork(shell.submit(bytes))
      while ((yield* shell.inFlight) < 2) yield* Effect.yieldNow()
      const error = yield* Effect.flip(shell.submit(bytes))
      expect(error).toEqual(new ClientShell.ClientOverloaded({ reason: "in-flight-limit", detail: "2 requests in flight" }))
    }))

  it.scoped("ignores a forged reply and completes on the genuine one", () =>
    Effect.gen(function*() {
      const { ctx, server, shell, typed } = yield* setup()
      const events = yield* Stream.take(shell.events, 1).pipe(Stream.runCollect, Effect.fork)
      const fiber = yield* Effect.fork(typed.submit({ _tag: "Add", amount: 2 }))
      const request = yield* nextRequest(ctx, server)
      yield* answer(ctx, server, { _tag: "Reply", seq: request.seq, index: 1, result: resultCodec.encode({ value: 666 }) }, replica, "forger")
      const [rejected] = yield* Fiber.join(events)
      expect(rejected?._tag === "Rejected" && rejected.rejection.reason).toBe("bad-signature")
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* answer(ctx, server, { _tag: "Reply", seq: request.seq, index: 1, result: resultCodec.encode({ value: 2 }) })
      expect(yield* Fiber.join(fiber)).toEqual({ value: 2 })
      expect(yield* Metrics.counterValue(Metrics.signatureFailures, { protocol: ctx.protocol })).toBe(1)
    }))

  it.scoped("fails with ClientClosed after the shell stopped", () =>
    Effect.gen(function*() {
      const { shell, typed } = yield* setup()
      yield* shell.stop
      expect(Exit.isInterrupted(yield* shell.await)).toBe(true)
      expect((yield* Effect.flip(typed.submit({ _tag: "Read" })))._tag).toBe("ClientClosed")
    }))

  it.scoped("runs each submission in a client span and records its latency by outcome", () => {
    const { install, spans } = collectSpans()
    return Effect.gen(function*() {
      const { ctx, server, typed } = yield* setup()
      const fiber = yield* Effect.fork(typed.submit({ _tag: "Add", amount: 3 }))
      const request = yield* nextRequest(ctx, server)
      yield* TestClock.adjust("30 millis")
      yield* answer(ctx, server, { _tag: "Reply", seq: request.seq, index: 1, result: resultCodec.encode({ value: 3 }) })
      expect(yield* Fiber.join(fiber)).toEqual({ value: 3 })
      const latency = yield* Metrics.histogramValue(Metrics.clientLatency, { protocol: ctx.protocol, outcome: "Committed" })
      expect([latency.count, latency.sum]).toEqual([1, 0.03])
      const span = spans.find((s) => s.name === "synod.client.request")!
      expect(span.kind).toBe("client")
      expect(span.status._tag === "Ended" && span.status.endTime - span.status.startTime).toBe(30_000_000n)
      expect(Object.fromEntries(span.attributes)).toMatchObject({
        "synod.protocol": ctx.protocol,
        "synod.client": "alice",
        "synod.read_only": false,
        "synod.seq": request.seq,
        "synod.outcome": "Committed"
      })
    }).pipe(install)
  })

  it.scoped("logs a dropped reply at Debug with its reason, annotated with the client", () => {
    const logs = collectLogs()
    return Effect.gen(function*() {
      const { ctx, server, shell, typed } = yield* setup()
      const events = yield* Stream.take(shell.events, 1).pipe(Stream.runCollect, Effect.fork)
      yield* Effect.fork(typed.submit({ _tag: "Read" }))
      const request = yield* nextRequest(ctx, server)
      yield* answer(ctx, server, { _tag: "Reply", seq: request.seq, index: 1, result: resultCodec.encode({ value: 1 }) }, replica, "forger")
      yield* Fiber.join(events)
      const dropped = logs.lines.filter((l) => l.message === "dropped message")
      expect(dropped.map((l) => [l.level, l.annotations.reason, l.annotations.from, l.annotations.client, l.annotations.protocol])).toEqual([
        ["DEBUG", "bad-signature", replica, "alice", ctx.protocol]
      ])
    }).pipe(Effect.provide(logs.layer))
  })
})
