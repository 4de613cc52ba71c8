/**
 * Fuzzing a live replica: a WebSocket transport and the generic Replica shell
 * of @synod/core around a tiny echo core, on 127.0.0.1. While an honest client
 * keeps submitting requests, fuzzers throw more than 10,000 malformed frames
 * at it (every kind in `fuzzFrames.ts`, garbage handshakes, oversized frames
 * and floods). The replica must stay up, keep committing, and account for
 * every counted frame with exactly one typed rejection.
 *
 * Seeded: set SYNOD_FUZZ_SEED to replay a run.
 */
import { describe, expect, it } from "@effect/vitest"
import { clientPeer, Codec, Crypto, Envelope, Keys, Metrics, Protocol, Replica, RejectionReason, replicaPeer, Storage, Transport } from "@synod/core"
import { Prng } from "@synod/core/testing"
import { Duration, Effect, Layer, Option, Queue, Schedule, Schema, Stream } from "effect"
import * as net from "node:net"
import * as WsMetrics from "../src/WsMetrics.js"
import { HandshakeFailureReason } from "../src/HandshakeFailure.js"
import * as WebSocketTransport from "../src/WebSocketTransport.js"
import { COUNTED_KINDS, type FuzzContext, garbage, makeFuzzer } from "./fuzzFrames.js"
import { closeOf, eventually, rawAuthenticated, rawConnect } from "./support.js"

const SEED = Number(process.env.SYNOD_FUZZ_SEED ?? Date.now() % 1_000_000)
const CLUSTER = "fuzz"
const MAX_FRAME = 64 * 1024

const replica = Keys.generateKeyPair(replicaPeer(0))
const other = Keys.generateKeyPair(replicaPeer(1))
const alice = Keys.generateKeyPair(clientPeer("alice"))
const fuzzer = Keys.generateKeyPair(clientPeer("fuzzer"))
const ring = Crypto.ed25519KeyRing(new Map([replica, other, alice, fuzzer].map((k) => [k.peer, k.publicKey] as const)))

const Echo = Schema.Struct({ _tag: Schema.Literal("Echo"), n: Schema.Number })
type Echo = typeof Echo.Type
const envelope: Envelope.EnvelopeContext<Echo> = { clusterId: CLUSTER, protocol: "echo/1", codec: Codec.makeCodec(Echo), maxFrameBytes: MAX_FRAME }

/** The tiny test core: commits every request from alice (persisting it) and echoes it back after the write. */
const echoCore = (): Protocol.Core<Echo> => {
  let applied = 0
  return {
    step: (input, out) => {
      if (input._tag !== "Receive" || input.envelope.from !== alice.peer) return
      applied++
      out.persist.push({ key: `echo/${applied}`, value: new TextEncoder().encode(String(input.envelope.message.n)) })
      out.sendAfterPersist.push({ to: [alice.peer], message: { _tag: "Echo", n: input.envelope.message.n } })
      out.events.push({ _tag: "Committed", index: applied, entryDigest: String(input.envelope.message.n), requests: [] })
    },
    appliedIndex: () => applied,
    stateDigest: () => String(applied)
  }
}

const fuzzContext: FuzzContext = {
  clusterId: CLUSTER,
  protocol: envelope.protocol,
  validTag: "Echo",
  validPayload: (rng) => JSON.stringify({ _tag: "Echo", n: rng.int(1000) }),
  self: Keys.signerOf(fuzzer),
  victim: Keys.signerOf(alice),
  claimed: other.peer
}

const self = replica.peer
const sum = (values: ReadonlyArray<number>) => values.reduce((a, b) => a + b, 0)
/** Every typed rejection of the replica: its transport's frame rejections and refused handshakes, and its shell's. */
const totalRejections = Effect.map(
  Effect.all([
    ...RejectionReason.literals.map((reason) => WsMetrics.value(WsMetrics.framesRejected, { self, reason })),
    ...HandshakeFailureReason.literals.map((reason) => WsMetrics.value(WsMetrics.handshakeFailures, { self, reason })),
    ...RejectionReason.literals.map((reason) => Metrics.counterValue(Metrics.messagesRejected, { protocol: envelope.protocol, reason }))
  ]),
  sum
)

/** Raw TCP bytes that are not even HTTP. */
const tcpGarbage = (port: number, bytes: Uint8Array) =>
  Effect.async<void>((resume) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.end(bytes))
    socket.on("error", () => resume(Effect.void))
    socket.on("close", () => resume(Effect.void))
    socket.resume()
  })

describe("fuzzing a live replica", () => {
  it.scopedLive(`stays up, keeps committing, and rejects each of 10,000+ malformed frames with a reason (seed ${SEED})`, () =>
    Effect.gen(function*() {
      const rng = Prng.derive(SEED, "fuzz")
      const fuzz = makeFuzzer(fuzzContext, rng)
      // the replica: WebSocket transport + generic shell + echo core
      const transport = yield* WebSocketTransport.make({
        clusterId: CLUSTER, signer: Keys.signerOf(replica), keys: ring, listen: { port: 0 }, limits: { maxFrameBytes: MAX_FRAME }
      }).pipe(Effect.orDie)
      const url = transport.address!
      const handle = yield* Replica.run(Protocol.driverOf(echoCore()), { envelope, supervisor: () => Effect.void }).pipe(
        Effect.provide(Layer.mergeAll(
          Layer.succeed(Transport.Transport, transport),
          Storage.layerMemory(),
          Keys.layerSigner(Keys.signerOf(replica)),
          Keys.layerKeyRing(ring)
        ))
      )

      // the honest client: one request every 5 ms, counting echoes
      const client = yield* WebSocketTransport.make({ clusterId: CLUSTER, signer: Keys.signerOf(alice), keys: ring, peers: [[self, url]] }).pipe(Effect.orDie)
      const echoes = yield* Queue.unbounded<number>()
      yield* Stream.runForEach(client.incoming, (m) =>
        Effect.sync(() => Envelope.open(envelope, ring, m.bytes, m.from)).pipe(
          Effect.flatMap((opened) => opened._tag === "Right" ? Queue.offer(echoes, opened.right.message.n) : Effect.void)
        )).pipe(Effect.forkScoped)
      yield* client.awaitPeer(self)
      let n = 0
      yield* Effect.suspend(() => client.send(self, Envelope.seal(envelope, Keys.signerOf(alice), { _tag: "Echo", n: n++ }))).pipe(
        Effect.ignore,
        Effect.repeat(Schedule.spaced(Duration.millis(5))),
        Effect.forkScoped
      )
      yield* eventually(Effect.map(Queue.size(echoes), (s) => s >= 5))

      const rejectionsBefore = yield* totalRejections
      const appliedBefore = yield* handle.appliedIndex
      let counted = 0

      // 1. counted frames over authenticated connections, 80 per connection: under the per-connection
      //    rejection budget, so each is processed and rejected exactly once
      const PER_CONNECTION = 80
      while (counted < 10_000) {
        const raw = yield* rawAuthenticated(url, fuzzer, self, { clusterId: CLUSTER, keys: ring })
        for (let i = 0; i < PER_CONNECTION; i++) {
          raw.ws.send(fuzz.frame(rng.pick(COUNTED_KINDS)))
          counted++
        }
        // an oversized frame ends some connections (ws fails the socket with 1009: one more rejection)
        if (rng.chance(0.1)) {
          raw.ws.send(new Uint8Array(MAX_FRAME + 1 + rng.int(1000)))
          counted++
          expect((yield* closeOf(raw)).code).toBe(1009)
        } else {
          raw.ws.close()
          yield* closeOf(raw)
        }
      }
      // 2. garbage where a handshake belongs: one refused handshake each
      for (let i = 0; i < 100; i++) {
        const raw = yield* rawConnect(url)
        yield* raw.send(garbage(rng))
        counted++
        yield* closeOf(raw)
      }
      // every counted frame has exactly one rejection
      yield* eventually(Effect.map(totalRejections, (t) => t - rejectionsBefore >= counted), "20 seconds")
      yield* Effect.sleep("200 millis")
      expect((yield* totalRejections) - rejectionsBefore).toBe(counted)
      // 3. uncounted abuse: floods of rejected frames (closed as abusive) and TCP garbage
      const abuseBefore = yield* WsMetrics.value(WsMetrics.connectionsClosed, { self, reason: "abuse" })
      for (let i = 0; i < 5; i++) {
        const raw = yield* rawAuthenticated(url, fuzzer, self, { clusterId: CLUSTER, keys: ring })
        const burst = Array.from({ length: 500 }, () => fuzz.frame("claims-other"))
        for (const f of burst) raw.ws.send(f)
        expect((yield* closeOf(raw)).reason).toBe("abuse")
      }
      expect((yield* WsMetrics.value(WsMetrics.connectionsClosed, { self, reason: "abuse" })) - abuseBefore).toBe(5)
      const port = Number(new URL(url).port)
      for (let i = 0; i < 20; i++) yield* tcpGarbage(port, garbage(rng))
      // the replica is still up and still commits alice's requests
      expect(Option.isNone(yield* handle.await.pipe(Effect.timeoutOption(0)))).toBe(true)
      const appliedAfterFuzz = yield* handle.appliedIndex
      expect(appliedAfterFuzz).toBeGreaterThan(appliedBefore) // committed while under fire
      yield* handle.awaitApplied(appliedAfterFuzz + 20).pipe(Effect.timeout("10 seconds"))
      const seen = yield* Queue.takeAll(echoes)
      expect(seen.length).toBeGreaterThan(20)
      yield* Effect.log(`fuzz seed ${SEED}: ${counted} counted malformed frames, ${appliedAfterFuzz + 20 - appliedBefore}+ commits during and after`)
    }), 120_000)
})
