/**
 * Suite `ws`: the WebSocket transport over loopback (127.0.0.1), beside a raw
 * `ws` baseline measured in the same run, so the ratios show what the
 * transport's layers cost:
 *
 *   raw ws            a `ws` client and server, binary messages, no checks
 *   synod opaque      the transport carrying opaque bytes (handshake, queues, backpressure, metrics)
 *   synod envelope    + every frame parsed and checked against the authenticated sender
 *   synod verified    + every frame's Ed25519 signature verified (the default)
 *
 * One-way: the sender keeps `WINDOW` messages in flight (sends a window, waits
 * until the receiver's consumer has taken all of it); figures in messages/s.
 * Round trip: one message to the peer and its answer back, one at a time.
 * Payloads of 256 B and 16 KiB; for the envelope modes the frame is a sealed
 * envelope of that payload, sealed once (sealing is not measured here; see the
 * `core` suite). The flood limits are lifted for the bench (the default of
 * 20,000 frames/s per connection would otherwise cap one-way throughput).
 */
import { Crypto, Envelope, Keys, replicaPeer } from "@synod/core"
import { WebSocketTransport } from "@synod/transport-ws"
import { Effect, Exit, Scope, Stream } from "effect"
import type { AddressInfo } from "node:net"
import { WebSocket, WebSocketServer } from "ws"
import { type Figure, measureAsync } from "./harness.js"

export const name = "ws"
export const description = "WebSocket transport over loopback: one-way throughput and round trips, beside raw ws"

const WINDOW = 500
const ONE_WAY_MS = 1500
const SIZES = [256, 16 * 1024] as const

interface Pair {
  /** Send one message from A to B. */
  send(): void
  /** Resolves once B has received `n` messages since the last reset. */
  received(n: number): Promise<void>
  /** One message A -> B and B's answer back to A. */
  roundTrip(): Promise<void>
  close(): Promise<void>
}

/** A counter the receiver bumps; `until(n)` resolves when it reaches n, then resets it. */
const counter = () => {
  let count = 0
  let waiting: { n: number; resolve: () => void } | undefined
  return {
    bump: () => {
      count++
      if (waiting !== undefined && count >= waiting.n) {
        const w = waiting
        waiting = undefined
        count -= w.n
        w.resolve()
      }
    },
    until: (n: number) =>
      new Promise<void>((resolve) => {
        if (count >= n) {
          count -= n
          resolve()
        } else waiting = { n, resolve }
      })
  }
}

const rawPair = async (size: number): Promise<Pair> => {
  const payload = new Uint8Array(size).fill(7)
  const server = await new Promise<WebSocketServer>((resolve) => {
    const wss: WebSocketServer = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false }, () => resolve(wss))
  })
  const atB = counter()
  let answer: (() => void) | undefined
  server.on("connection", (ws) => {
    ws.on("message", (data: Buffer) => {
      if (data.byteLength === size + 1) ws.send(data)
      else atB.bump()
    })
  })
  const port = (server.address() as AddressInfo).port
  const client = await new Promise<WebSocket>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false })
    ws.on("open", () => resolve(ws))
  })
  client.on("message", () => answer?.())
  const ping = new Uint8Array(size + 1).fill(1)
  return {
    send: () => client.send(payload),
    received: atB.until,
    roundTrip: () =>
      new Promise<void>((resolve) => {
        answer = resolve
        client.send(ping)
      }),
    close: async () => {
      client.terminate()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

const synodPair = async (size: number, mode: "opaque" | "envelope" | "verified"): Promise<Pair> => {
  const a = Keys.generateKeyPair(replicaPeer(0))
  const b = Keys.generateKeyPair(replicaPeer(1))
  const keys = Crypto.ed25519KeyRing(new Map([[a.peer, a.publicKey], [b.peer, b.publicKey]]))
  const clusterId = "bench"
  const ctx = { clusterId, protocol: "bench/1", codec: undefined as never }
  const frameOf = (pair: Keys.PeerKeyPair, bytes: number) => {
    const body = new Uint8Array(bytes).fill(7)
    return mode === "opaque" ? body : Envelope.sealPayload(ctx, Keys.signerOf(pair), "Bench", body)
  }
  // a ping is one byte longer than a one-way message, so the receiver tells them apart by length alone
  const oneWay = frameOf(a, size)
  const ping = frameOf(a, size + 1)
  const pong = frameOf(b, size)
  const isPing = (bytes: Uint8Array) => bytes.byteLength === ping.byteLength

  const scope = Effect.runSync(Scope.make())
  const limits = { maxFramesPerSecond: 10_000_000, maxBytesPerSecond: 1024 ** 4 }
  const common = { clusterId, keys, listen: { port: 0 }, limits, frames: mode === "opaque" ? "opaque" : "envelope", verifySignatures: mode === "verified" } as const
  const make = (pair: Keys.PeerKeyPair) => Effect.runPromise(Scope.extend(WebSocketTransport.make({ ...common, signer: Keys.signerOf(pair) }), scope))
  const ta = await make(a)
  const tb = await make(b)
  await Effect.runPromise(Effect.zipRight(ta.addPeer(tb.self, tb.address!), tb.addPeer(ta.self, ta.address!)))
  await Effect.runPromise(Effect.zipRight(ta.awaitPeer(tb.self), tb.awaitPeer(ta.self)))

  const atB = counter()
  let answer: (() => void) | undefined
  Effect.runFork(Scope.extend(Effect.forkScoped(Stream.runForEach(tb.incoming, (m) =>
    isPing(m.bytes) ? tb.send(ta.self, pong).pipe(Effect.orDie) : Effect.sync(atB.bump))), scope))
  Effect.runFork(Scope.extend(Effect.forkScoped(Stream.runForEach(ta.incoming, () => Effect.sync(() => answer?.()))), scope))
  const sendOneWay = ta.send(tb.self, oneWay).pipe(Effect.orDie)
  const sendPing = ta.send(tb.self, ping).pipe(Effect.orDie)
  return {
    send: () => Effect.runSync(sendOneWay),
    received: atB.until,
    roundTrip: () =>
      new Promise<void>((resolve) => {
        answer = resolve
        Effect.runSync(sendPing)
      }),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const oneWay = async (label: string, pair: Pair, size: number): Promise<Array<Figure>> => {
  const window = async () => {
    for (let i = 0; i < WINDOW; i++) pair.send()
    await pair.received(WINDOW)
  }
  for (let i = 0; i < 4; i++) await window() // warm-up
  const rates: Array<number> = []
  let sent = 0
  const start = performance.now()
  while (performance.now() - start < ONE_WAY_MS) {
    const t0 = performance.now()
    await window()
    rates.push((WINDOW * 1000) / (performance.now() - t0))
    sent += WINDOW
  }
  const elapsed = performance.now() - start
  const perSecond = (sent * 1000) / elapsed
  const mean = rates.reduce((x, y) => x + y, 0) / rates.length
  const sd = Math.sqrt(rates.reduce((x, r) => x + (r - mean) ** 2, 0) / Math.max(1, rates.length - 1))
  return [
    { name: `${label} one-way ${size} B`, value: Math.round(perSecond), unit: "msgs/s", note: `±${((100 * sd) / mean).toFixed(1)}% over ${rates.length} windows of ${WINDOW}` },
    { name: `${label} one-way ${size} B bytes`, value: (perSecond * size) / (1024 * 1024), unit: "MiB/s" }
  ]
}

export const run = async (): Promise<ReadonlyArray<Figure>> => {
  const figures: Array<Figure> = []
  const setups: ReadonlyArray<readonly [string, (size: number) => Promise<Pair>]> = [
    ["raw ws", rawPair],
    ["synod opaque", (s) => synodPair(s, "opaque")],
    ["synod envelope", (s) => synodPair(s, "envelope")],
    ["synod verified", (s) => synodPair(s, "verified")]
  ]
  for (const size of SIZES) {
    for (const [label, make] of setups) {
      const pair = await make(size)
      try {
        figures.push(...(await oneWay(label, pair, size)))
        figures.push(await measureAsync(`${label} round trip ${size} B`, pair.roundTrip, { durationMs: 1000 }))
      } finally {
        await pair.close()
      }
    }
  }
  return figures
}
