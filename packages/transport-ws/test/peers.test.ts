/**
 * Transports talking to each other over 127.0.0.1: a full mesh, a peer that
 * goes away and comes back (reconnection, bounded queue, drop-oldest),
 * heartbeats, socket backpressure, clients that do not listen, and wss://.
 */
import { describe, expect, it } from "@effect/vitest"
import { Envelope, Keys, Metrics, type PeerId, Transport } from "@synod/core"
import { Effect, Either, Exit, Layer, Queue, Scope, Stream } from "effect"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import { WebSocketServer } from "ws"
import { responder } from "../src/Handshake.js"
import * as WsMetrics from "../src/WsMetrics.js"
import { alice, CLUSTER, eventually, metric, r, rawAuthenticated, ring, sealed, takeN, transport } from "./support.js"
import * as WebSocketTransport from "../src/WebSocketTransport.js"

type Received = { readonly from: PeerId; readonly bytes: Uint8Array }

const collect = (t: WebSocketTransport.WebSocketTransport) =>
  Effect.gen(function*() {
    const q = yield* Queue.unbounded<Received>()
    yield* Stream.runForEach(t.incoming, (m) => Queue.offer(q, m)).pipe(Effect.forkScoped)
    return q
  })

const nOf = (bytes: Uint8Array): number => {
  const header = Envelope.parseFrame(bytes)
  if (Either.isLeft(header)) throw new Error(header.left.message)
  return JSON.parse(new TextDecoder().decode(header.right.payload)).n
}

const dropped = (reason: string) => Effect.map(Metrics.counterValue(Metrics.transportDropped, { transport: "ws", reason }), (n) => n)

const fastLimits = { heartbeatIntervalMs: 50, heartbeatTimeoutMs: 400, backoffBaseMs: 20, backoffMaxMs: 200 }

describe("WebSocket transport between peers", () => {
  it.scopedLive("three replicas in a full mesh deliver every frame with the right sender", () =>
    Effect.gen(function*() {
      const ts = [yield* transport(r(0)), yield* transport(r(1)), yield* transport(r(2))]
      for (const a of ts) for (const b of ts) if (a !== b) yield* a.addPeer(b.self, b.address!)
      const inboxes = [yield* collect(ts[0]!), yield* collect(ts[1]!), yield* collect(ts[2]!)]
      for (const [i, a] of ts.entries()) {
        for (const b of ts) if (b !== a) for (let k = 0; k < 20; k++) yield* a.send(b.self, sealed(r(i), i * 100 + k))
      }
      for (const [j, q] of inboxes.entries()) {
        const got = yield* takeN(q, 40)
        for (const m of got) expect(m.from).toBe(r(Math.floor(nOf(m.bytes) / 100)).peer)
        expect(got.map((m) => nOf(m.bytes)).sort((x, y) => x - y)).toEqual(
          [0, 1, 2].filter((i) => i !== j).flatMap((i) => Array.from({ length: 20 }, (_, k) => i * 100 + k))
        )
      }
    }))

  it.scopedLive("queues frames for a peer that is away, keeps the newest when the queue is full, and delivers them after it restarts", () =>
    Effect.gen(function*() {
      const a = yield* transport(r(0), { limits: { ...fastLimits, maxQueuedFrames: 10 } })
      // replica/1 runs in its own scope, so the test can kill it and start it again on the same port
      const scope1 = yield* Scope.make()
      const b1 = yield* transport(r(1), { limits: fastLimits }).pipe(Scope.extend(scope1))
      const port = new URL(b1.address!).port
      yield* a.addPeer(b1.self, b1.address!)
      yield* a.awaitPeer(b1.self)
      const up = yield* metric(WsMetrics.connections, { self: a.self, peer: b1.self, event: "up" })
      yield* Scope.close(scope1, Exit.void)
      yield* eventually(Effect.map(a.peerStatus(b1.self), (s) => s?.outbound === false && s.inbound === false))

      const droppedBefore = yield* dropped("queue-full")
      for (let k = 0; k < 25; k++) yield* a.send(r(1).peer, sealed(r(0), k))
      const status = yield* a.peerStatus(r(1).peer)
      expect(status?.queuedFrames).toBe(10)
      expect((yield* dropped("queue-full")) - droppedBefore).toBe(15)

      const b2 = yield* transport(r(1), { limits: fastLimits, listen: { port: Number(port) } })
      const inbox = yield* collect(b2)
      const got = yield* takeN(inbox, 10)
      expect(got.map((m) => nOf(m.bytes))).toEqual(Array.from({ length: 10 }, (_, k) => 15 + k))
      expect(yield* metric(WsMetrics.connections, { self: a.self, peer: b1.self, event: "up" })).toBeGreaterThan(up)
      yield* a.send(r(1).peer, sealed(r(0), 100))
      expect(nOf((yield* takeN(inbox, 1))[0]!.bytes)).toBe(100)
    }))

  it.scopedLive("closes an inbound connection whose peer stops answering heartbeats", () =>
    Effect.gen(function*() {
      const a = yield* transport(r(0), { limits: fastLimits })
      const before = yield* metric(WsMetrics.connectionsClosed, { self: a.self, reason: "heartbeat-timeout" })
      // an authenticated peer that never answers pings and never sends
      const silent = yield* rawAuthenticated(a.address!, alice, a.self, { autoPong: false })
      const close = yield* Effect.promise(() => new Promise<number>((resolve) => silent.ws.once("close", (code) => resolve(code))))
      expect(close).toBe(1008)
      expect(yield* metric(WsMetrics.connectionsClosed, { self: a.self, reason: "heartbeat-timeout" })).toBe(before + 1)
    }))

  it.scopedLive("a dialer detects a silent peer by heartbeat, closes and redials it", () =>
    Effect.gen(function*() {
      // a fake replica/1: completes the handshake, then never reads, writes or answers a ping again
      const connects = yield* Queue.unbounded<void>()
      const server = yield* Effect.acquireRelease(
        Effect.async<WebSocketServer>((resume) => {
          const wss: WebSocketServer = new WebSocketServer({ port: 0, host: "127.0.0.1", autoPong: false }, () => resume(Effect.succeed(wss)))
          wss.on("connection", (ws) => {
            Queue.unsafeOffer(connects, undefined)
            ws.on("error", () => {})
            const hs = responder({ clusterId: CLUSTER, signer: Keys.signerOf(r(1)), keys: ring, nonce: new Uint8Array(crypto.randomBytes(32)) })
            ws.on("message", (data: Buffer) => {
              const step = hs.receive(new Uint8Array(data))
              if (step._tag !== "Failed") for (const f of step.send) ws.send(f)
            })
          })
        }),
        (wss) => Effect.sync(() => wss.close())
      )
      const port = (server.address() as { port: number }).port
      const a = yield* transport(r(0), { limits: fastLimits, peers: [[r(1).peer, `ws://127.0.0.1:${port}`]] })
      const before = yield* metric(WsMetrics.connectionsClosed, { self: a.self, reason: "heartbeat-timeout" })
      yield* a.awaitPeer(r(1).peer)
      yield* takeN(connects, 2, "5 seconds") // the first connection and the redial after the heartbeat timeout
      expect(yield* metric(WsMetrics.connectionsClosed, { self: a.self, reason: "heartbeat-timeout" })).toBeGreaterThan(before)
    }))

  it.scopedLive("frames wait in the bounded queue while the socket buffer is full, and flow when the reader resumes", () =>
    Effect.gen(function*() {
      const a = yield* transport(r(0), { limits: { maxQueuedFrames: 40, maxBufferedBytes: 256 * 1024 } })
      const reader = yield* rawAuthenticated(a.address!, alice, a.self)
      yield* a.awaitPeer(alice.peer)
      reader.ws.pause() // stop reading: TCP fills, then the ws buffer, then our queue
      const big = (k: number) => {
        const f = new Uint8Array(64 * 1024)
        new DataView(f.buffer).setUint32(0, k)
        return f
      }
      const total = 1000
      let maxQueued = 0
      for (let k = 0; k < total; k++) {
        yield* a.send(alice.peer, big(k))
        maxQueued = Math.max(maxQueued, (yield* a.peerStatus(alice.peer))?.queuedFrames ?? 0)
      }
      expect(maxQueued).toBe(40) // backpressure reached the queue, which stayed at its bound
      reader.ws.resume()
      // the newest frame arrives, and what arrives is in send order (drop-oldest never reorders)
      const ids: Array<number> = []
      while (ids[ids.length - 1] !== total - 1) {
        const [m] = yield* takeN(reader.messages, 1, "10 seconds")
        ids.push(new DataView(m!.buffer, m!.byteOffset).getUint32(0))
      }
      expect(ids.length).toBeLessThan(total)
      expect([...ids].sort((x, y) => x - y)).toEqual(ids)
    }))

  it.scopedLive("a client that does not listen gets replies over its own connection; a known client that is away is dropped as peer-down", () =>
    Effect.gen(function*() {
      const replica = yield* transport(r(0))
      const client = yield* transport(alice, { listen: undefined as never, peers: [[replica.self, replica.address!]] })
      expect(client.address).toBeUndefined()
      const atReplica = yield* collect(replica)
      const atClient = yield* collect(client)
      yield* client.awaitPeer(replica.self)
      yield* client.send(replica.self, sealed(alice, 1))
      const [req] = yield* takeN(atReplica, 1)
      expect(req!.from).toBe(alice.peer)
      yield* replica.send(alice.peer, sealed(r(0), 2))
      const [rep] = yield* takeN(atClient, 1)
      expect(rep!.from).toBe(replica.self)
      const before = yield* dropped("peer-down")
      yield* replica.send(r(3).peer, sealed(r(0), 3)) // a replica we have no address for and no connection from
      expect((yield* dropped("peer-down")) - before).toBe(1)
    }))

  it.scopedLive("as a layer: layerFromServices takes the signer and key ring from their services", () =>
    Effect.gen(function*() {
      const receiver = yield* transport(r(0))
      const inbox = yield* collect(receiver)
      const layer = WebSocketTransport.layerFromServices({ clusterId: CLUSTER, peers: [[receiver.self, receiver.address!]] }).pipe(
        Layer.provide(Layer.mergeAll(Keys.layerSigner(Keys.signerOf(r(1))), Keys.layerKeyRing(ring)))
      )
      yield* Effect.gen(function*() {
        const t = yield* Transport.Transport
        expect(t.self).toBe(r(1).peer)
        yield* t.send(receiver.self, sealed(r(1), 11))
        const [m] = yield* takeN(inbox, 1)
        expect(m!.from).toBe(r(1).peer)
        expect(nOf(m!.bytes)).toBe(11)
      }).pipe(Effect.provide(layer))
    }))

  it.scopedLive("wss:// with a user-supplied certificate; a dialer that does not trust it never connects", () =>
    Effect.gen(function*() {
      const cert = fs.readFileSync(new URL("./fixtures/localhost.cert.pem", import.meta.url), "utf8")
      const key = fs.readFileSync(new URL("./fixtures/localhost.key.pem", import.meta.url), "utf8")
      const server = yield* transport(r(0), { listen: { port: 0, tls: { cert, key } } })
      expect(server.address).toMatch(/^wss:\/\/127\.0\.0\.1:\d+$/)
      const trusting = yield* transport(r(1), { listen: undefined as never, tls: { ca: cert }, peers: [[server.self, server.address!]] })
      const inbox = yield* collect(server)
      yield* trusting.send(server.self, sealed(r(1), 5))
      const [m] = yield* takeN(inbox, 1)
      expect(m!.from).toBe(r(1).peer)

      const failedBefore = yield* metric(WsMetrics.connections, { self: r(2).peer, peer: server.self, event: "dial-failed" })
      const untrusting = yield* transport(r(2), { listen: undefined as never, limits: fastLimits, peers: [[server.self, server.address!]] })
      yield* eventually(Effect.map(metric(WsMetrics.connections, { self: r(2).peer, peer: server.self, event: "dial-failed" }), (n) => n >= failedBefore + 2))
      expect(yield* untrusting.connectedPeers).toEqual([])
    }))
})
