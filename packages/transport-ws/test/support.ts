/**
 * Shared test plumbing: identities, transports on 127.0.0.1 port 0, and a raw
 * `ws` socket that can speak the handshake (or not) and send arbitrary bytes,
 * to play the attacker. Every socket is closed by its scope's finalizer.
 */
import { clientPeer, Codec, Crypto, Envelope, Keys, type PeerId, replicaPeer } from "@synod/core"
import { Chunk, Deferred, Duration, Effect, Queue, Schedule, Schema, type Scope } from "effect"
import * as crypto from "node:crypto"
import { WebSocket } from "ws"
import { type HandshakeStep, initiator } from "../src/Handshake.js"
import * as WebSocketTransport from "../src/WebSocketTransport.js"
import * as WsMetrics from "../src/WsMetrics.js"

export const CLUSTER = "ws-test"

export const replicas = [0, 1, 2, 3].map((i) => Keys.generateKeyPair(replicaPeer(i)))
export const alice = Keys.generateKeyPair(clientPeer("alice"))
export const mallory = Keys.generateKeyPair(clientPeer("mallory")) // not in the ring
export const ring = Crypto.ed25519KeyRing(new Map([...replicas, alice].map((k) => [k.peer, k.publicKey] as const)))

export const r = (i: number) => replicas[i]!

/** A test payload message: the envelope codec of the tests. */
export const TestMessage = Schema.Struct({ _tag: Schema.Literal("Test"), n: Schema.Number })
export const envelope: Envelope.EnvelopeContext<typeof TestMessage.Type> = {
  clusterId: CLUSTER,
  protocol: "test/1",
  codec: Codec.makeCodec(TestMessage)
}
export const sealed = (pair: Keys.PeerKeyPair, n: number, clusterId = CLUSTER): Uint8Array =>
  Envelope.seal({ ...envelope, clusterId }, Keys.signerOf(pair), { _tag: "Test", n })

export const transport = (
  pair: Keys.PeerKeyPair,
  options: Partial<WebSocketTransport.WebSocketTransportOptions> = {}
): Effect.Effect<WebSocketTransport.WebSocketTransport, never, Scope.Scope> =>
  WebSocketTransport.make({
    clusterId: CLUSTER,
    signer: Keys.signerOf(pair),
    keys: ring,
    listen: { port: 0 },
    ...options
  }).pipe(Effect.orDie)

export interface RawSocket {
  readonly ws: WebSocket
  readonly messages: Queue.Queue<Uint8Array>
  readonly closed: Deferred.Deferred<{ readonly code: number; readonly reason: string }>
  readonly send: (bytes: Uint8Array | string) => Effect.Effect<void>
  /** Frames we sent, in order (to replay them). */
  readonly sent: Array<Uint8Array>
}

/** A plain `ws` client: no handshake, no checks, sends what it is told. */
export const rawConnect = (url: string, options: { readonly autoPong?: boolean; readonly ca?: string } = {}) =>
  Effect.acquireRelease(
    Effect.async<RawSocket>((resume) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, autoPong: options.autoPong ?? true, ...(options.ca === undefined ? {} : { ca: options.ca }) })
      const messages = Effect.runSync(Queue.unbounded<Uint8Array>())
      const closed = Effect.runSync(Deferred.make<{ readonly code: number; readonly reason: string }>())
      const sent: Array<Uint8Array> = []
      const raw: RawSocket = {
        ws,
        messages,
        closed,
        sent,
        send: (bytes) =>
          Effect.async<void>((done) => {
            if (typeof bytes !== "string") sent.push(bytes)
            if (ws.readyState !== ws.OPEN) return done(Effect.void)
            ws.send(bytes, { binary: typeof bytes !== "string" }, () => done(Effect.void))
          })
      }
      ws.binaryType = "nodebuffer"
      ws.on("message", (data: Buffer) => Queue.unsafeOffer(messages, new Uint8Array(data)))
      ws.on("error", () => {})
      ws.on("close", (code, reason) => Deferred.unsafeDone(closed, Effect.succeed({ code, reason: reason.toString() })))
      ws.on("open", () => resume(Effect.succeed(raw)))
      ws.on("close", () => resume(Effect.succeed(raw)))
    }),
    (raw) => Effect.sync(() => raw.ws.terminate())
  )

/** Run the initiator side of the handshake over a raw socket as `signer`. */
export const rawHandshake = (raw: RawSocket, signer: Crypto.Signer, expected: PeerId, clusterId = CLUSTER, keys: Crypto.KeyRing = ring) =>
  Effect.gen(function*() {
    const hs = initiator({ clusterId, signer, keys, nonce: new Uint8Array(crypto.randomBytes(32)), expected })
    for (const f of hs.start()) yield* raw.send(f)
    let step: HandshakeStep = { _tag: "Continue", send: [] }
    while (step._tag === "Continue") {
      const frame = yield* Queue.take(raw.messages).pipe(
        Effect.raceFirst(Effect.flatMap(Deferred.await(raw.closed), (c) => Effect.fail(new Error(`closed ${c.code} ${c.reason}`)))),
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("handshake stalled") })
      )
      step = hs.receive(frame)
      if (step._tag !== "Failed") for (const f of step.send) yield* raw.send(f)
    }
    return step
  })

/** An authenticated raw connection of `pair` to `target`. */
export const rawAuthenticated = (
  url: string,
  pair: Keys.PeerKeyPair,
  expected: PeerId,
  options: { readonly autoPong?: boolean; readonly clusterId?: string; readonly keys?: Crypto.KeyRing } = {}
) =>
  Effect.gen(function*() {
    const raw = yield* rawConnect(url, options)
    const step = yield* rawHandshake(raw, Keys.signerOf(pair), expected, options.clusterId, options.keys).pipe(Effect.orDie)
    if (step._tag !== "Done") return yield* Effect.dieMessage(`handshake failed: ${JSON.stringify(step)}`)
    return raw
  })

export const closeOf = (raw: RawSocket) =>
  Deferred.await(raw.closed).pipe(Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new Error("socket not closed") }), Effect.orDie)

/** Take `n` frames from a transport's incoming stream collected into a queue. */
export const takeN = <A>(q: Queue.Dequeue<A>, n: number, within: Duration.DurationInput = "5 seconds") =>
  Queue.takeBetween(q, n, n).pipe(
    Effect.map(Chunk.toReadonlyArray),
    Effect.timeoutFail({ duration: within, onTimeout: () => new Error(`expected ${n} items within ${Duration.format(Duration.decode(within))}`) }),
    Effect.orDie
  )

export const metric = WsMetrics.value

/** Poll `check` every 20 ms until it holds (or fail after `within`). */
export const eventually = <E, R>(check: Effect.Effect<boolean, E, R>, within: Duration.DurationInput = "5 seconds") =>
  check.pipe(
    Effect.filterOrFail((ok) => ok, () => new Error("not yet")),
    Effect.retry({ schedule: Schedule.spaced("20 millis") }),
    Effect.timeoutFail({ duration: within, onTimeout: () => new Error("condition never held") }),
    Effect.orDie,
    Effect.asVoid
  )
