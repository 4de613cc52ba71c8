/**
 * The authenticated WebSocket implementation of @synod/core's `Transport`.
 *
 * Topology. A process listens (replicas) and/or dials (replicas and clients)
 * every peer it has an address for, and keeps dialing with exponential back-off
 * and jitter while the peer is away. Every connection starts with the mutual
 * handshake of `Handshake.ts`; afterwards its PeerId is the `from` of every
 * frame it delivers. To send to a peer we use, in order: our dialed connection
 * to it, else its newest authenticated connection to us (so replies reach
 * clients, which do not listen, and a restarted replica is reachable before our
 * back-off expires), else the frame waits in the peer's bounded queue (peers
 * with an address) or is dropped as `peer-down` (clients, which have none).
 *
 * Delivery is unreliable by contract (`Transport.ts`): frames may be dropped
 * (queue full: oldest first; inbox full; peer away), never corrupted or
 * misattributed. Limits and policies: see `Limits.ts` (and the README).
 *
 * Effects live at the edge: a scoped server, one scoped fiber per dialed peer
 * (connect, wait for the close, sleep the back-off), one heartbeat fiber. The
 * hot paths (socket callbacks, the per-peer pump) are plain synchronous code
 * that never throws into `ws`.
 */
import { type Crypto, Keys, Metrics, type PeerId, type Rejection, Transport } from "@synod/core"
import { Deferred, Duration, Effect, Fiber, Layer, Queue, Random, Runtime, Schedule, type Scope, Stream } from "effect"
import * as crypto from "node:crypto"
import type * as http from "node:http"
import { WebSocket } from "ws"
import { Connection, type ConnectionEvents } from "./Connection.js"
import { initiator, responder } from "./Handshake.js"
import { HandshakeFailure } from "./HandshakeFailure.js"
import { backoffDelay } from "./internal/Backoff.js"
import { type Link, makeLink, pumpLink, route, wakeWaiters } from "./internal/Link.js"
import { listen, type ListenOptions } from "./internal/Listener.js"
import { TokenBucket } from "./internal/TokenBucket.js"
import { resolveLimits, type WsLimits } from "./Limits.js"
import * as WsMetrics from "./WsMetrics.js"

type TransportError = Transport.TransportError
const TransportError = Transport.TransportError

export type { TlsServerOptions } from "./internal/Listener.js"

export interface TlsClientOptions {
  /** PEM CA certificates to trust for wss:// (default: the system store). */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>
  /** Default true. Only a test against a self-signed certificate without `ca` should turn it off. */
  readonly rejectUnauthorized?: boolean
}

export interface WebSocketTransportOptions {
  readonly clusterId: string
  /** Our identity: signs the handshake (and is `self`). */
  readonly signer: Crypto.Signer
  /** Every principal we accept connections and frames from. */
  readonly keys: Crypto.KeyRing
  /** Listen for peers (replicas). Port 0 picks a free port; read it from `address`. Omit for a client. */
  readonly listen?: ListenOptions
  /** Peers to dial and keep dialing: PeerId -> ws:// or wss:// URL. Our own entry is ignored. */
  readonly peers?: Iterable<readonly [PeerId, string]>
  /** For dialing wss:// peers. */
  readonly tls?: TlsClientOptions
  readonly limits?: Partial<WsLimits>
  /**
   * What data frames are. "envelope" (default): signed envelopes of our cluster,
   * checked before delivery (see `Connection.ts`). "opaque": any bytes (the
   * compliance suite, or a user protocol with its own framing); only the size
   * and flood limits apply.
   */
  readonly frames?: "envelope" | "opaque"
  /**
   * In "envelope" mode, verify each frame's signature here too (default true),
   * so a connection sending forgeries is closed as abusive. Verified frames are
   * delivered with `verifiedWith: keys`, and a replica shell given the same key
   * ring does not verify them again (`Replica.ReplicaConfig.trustTransportVerification`);
   * a client shell still does. Off: the shell verifies every frame, bad
   * signatures show in its metrics only, and abusive senders are not cut off.
   */
  readonly verifySignatures?: boolean
}

export interface PeerStatus {
  readonly peer: PeerId
  readonly address: string | undefined
  readonly outbound: boolean
  readonly inbound: boolean
  readonly queuedFrames: number
  readonly queuedBytes: number
}

export interface WebSocketTransport extends Transport.TransportService {
  /** Where we listen, e.g. `ws://127.0.0.1:41234` (with the bound port when `listen.port` was 0). */
  readonly address: string | undefined
  /** Dial `peer` at `address` from now on (replacing an earlier address). */
  readonly addPeer: (peer: PeerId, address: string) => Effect.Effect<void, TransportError>
  /** Succeeds once we have an authenticated connection to `peer` (either direction). */
  readonly awaitPeer: (peer: PeerId) => Effect.Effect<void>
  /** Peers we can send to right now. */
  readonly connectedPeers: Effect.Effect<ReadonlyArray<PeerId>>
  readonly peerStatus: (peer: PeerId) => Effect.Effect<PeerStatus | undefined>
}

const LOG_BURST = 20

const validAddress = (address: string): boolean => {
  if (!URL.canParse(address)) return false
  const url = new URL(address)
  return (url.protocol === "ws:" || url.protocol === "wss:") && url.hostname !== ""
}

export const make = (
  options: WebSocketTransportOptions
): Effect.Effect<WebSocketTransport, TransportError, Scope.Scope> =>
  Effect.gen(function*() {
    const limits = resolveLimits(options.limits)
    const self = options.signer.peer
    const envelopeFrames = (options.frames ?? "envelope") === "envelope"
    const runtime = yield* Effect.runtime<never>()
    const runFork = Runtime.runFork(runtime)
    const clock = yield* Effect.clock
    const now = () => clock.unsafeCurrentTimeMillis()
    const scope = yield* Effect.scope
    const tags = { self }

    const verifiedWith = envelopeFrames && (options.verifySignatures ?? true) ? options.keys : undefined
    const inbox = yield* Queue.dropping<Transport.Incoming>(limits.inboxCapacity)
    const pauseAt = Math.floor((limits.inboxCapacity * 3) / 4)
    const resumeBelow = Math.floor(limits.inboxCapacity / 4)
    const allClosed = yield* Deferred.make<void>()
    const links = new Map<PeerId, Link>()
    const connections = new Set<Connection>()
    const paused = new Set<Connection>()
    let closed = false

    // ---- logging and metrics (callable from socket callbacks) ----
    const logBudget = new TokenBucket(LOG_BURST, LOG_BURST)
    let suppressedLogs = 0
    const warn = (message: string, annotations: Record<string, string>) => {
      if (!logBudget.take(now())) {
        suppressedLogs++
        return
      }
      const suppressed = suppressedLogs
      suppressedLogs = 0
      runFork(
        Effect.logWarning(suppressed > 0 ? `${message} (${suppressed} similar warnings suppressed)` : message).pipe(
          Effect.annotateLogs({ transport: "ws", self, ...annotations })
        )
      )
    }
    // resolved once: these two are bumped for every message
    const bytesIn = WsMetrics.tagged(WsMetrics.bytesIn, tags)
    const bytesOut = WsMetrics.tagged(WsMetrics.bytesOut, tags)
    const drop = (reason: string, n = 1) => {
      if (n > 0) Metrics.tagged(Metrics.transportDropped, { transport: "ws", reason }).unsafeUpdate(n, [])
    }

    // ---- links and the per-peer pump ----
    const linkOf = (peer: PeerId, address: string | undefined): Link => {
      let link = links.get(peer)
      if (link === undefined) links.set(peer, link = makeLink(peer, address, limits))
      return link
    }
    const pump = (link: Link) => pumpLink(link, limits.maxBufferedBytes)
    const routeUp = (link: Link) => {
      wakeWaiters(link)
      pump(link)
    }

    // ---- connection events ----
    const events: ConnectionEvents = {
      authenticated: (conn) => {
        const peer = conn.peer!
        WsMetrics.bump(WsMetrics.connections, { ...tags, peer, event: "up" })
        runFork(Effect.logDebug("connection up").pipe(Effect.annotateLogs({ transport: "ws", self, peer, role: conn.role })))
        const link = linkOf(peer, undefined)
        if (conn.role === "initiator") {
          link.outbound = conn
        } else {
          const previous = link.inbound
          link.inbound = conn
          if (previous !== undefined && previous !== conn) previous.close("replaced", "a newer connection from the same peer")
        }
        routeUp(link)
      },
      // a frame whose signature the connection verified says so, with the key ring it used:
      // the replica shell then skips only its own signature check (`Incoming.verifiedWith`)
      frame: (conn, bytes) => deliver(verifiedWith === undefined ? { from: conn.peer!, bytes } : { from: conn.peer!, bytes, verifiedWith }, conn),
      // counted, not logged: rejections come at line rate and a log line each would be its own flood;
      // what closes a connection (abuse) is logged
      rejected: (_conn, rejection: Rejection) => WsMetrics.bump(WsMetrics.framesRejected, { ...tags, reason: rejection.reason }),
      handshakeFailed: (conn, failure) => {
        WsMetrics.bump(WsMetrics.handshakeFailures, { ...tags, reason: failure.reason })
        warn(`connection refused: ${failure.message}`, { remote: conn.remote, role: conn.role, reason: failure.reason })
      },
      closing: (conn, reason, detail) => {
        WsMetrics.bump(WsMetrics.connectionsClosed, { ...tags, reason })
        if (reason === "abuse" || reason === "heartbeat-timeout") {
          warn(`closing connection: ${reason}: ${detail}`, { remote: conn.remote, peer: conn.peer ?? "?", reason })
        } else if (reason === "bug") {
          runFork(Effect.logError(`closing connection after an internal error: ${detail}`).pipe(
            Effect.annotateLogs({ transport: "ws", self, remote: conn.remote })
          ))
        }
      },
      closed: (conn) => {
        connections.delete(conn)
        paused.delete(conn)
        if (closed && connections.size === 0) Deferred.unsafeDone(allClosed, Effect.void)
        const peer = conn.peer
        if (peer === undefined || conn.state !== "closed") return
        WsMetrics.bump(WsMetrics.connections, { ...tags, peer, event: "down" })
        runFork(Effect.logDebug("connection down").pipe(Effect.annotateLogs({ transport: "ws", self, peer, role: conn.role })))
        const link = links.get(peer)
        if (link === undefined) return
        if (link.outbound === conn) link.outbound = undefined
        if (link.inbound === conn) link.inbound = undefined
        if (route(link) !== undefined) {
          pump(link)
        } else if (link.address === undefined) {
          // a client (no address) that left: nobody to queue for
          drop("peer-down", link.outbox.clear())
          if (link.waiters.length === 0) links.delete(peer)
        }
      },
      writable: (conn) => {
        const link = conn.peer === undefined ? undefined : links.get(conn.peer)
        if (link !== undefined) pump(link)
      },
      bytes: (direction, n) => (direction === "in" ? bytesIn : bytesOut).unsafeUpdate(n, [])
    }

    const deliver = (item: Transport.Incoming, from: Connection | undefined): void => {
      if (closed) return
      if (!Queue.unsafeOffer(inbox, item)) {
        drop("inbox-full")
        return
      }
      if (from === undefined || from.paused) return
      const size = inbox.unsafeSize()
      if (size._tag === "Some" && size.value >= pauseAt) {
        from.pause()
        paused.add(from)
      }
    }

    const resumeIfDrained = (): void => {
      if (paused.size === 0) return
      const size = inbox.unsafeSize()
      if (size._tag === "Some" && size.value >= resumeBelow) return
      for (const conn of paused) conn.resume()
      paused.clear()
    }

    const connectionContext = {
      clusterId: options.clusterId,
      keys: options.keys,
      limits,
      verifySignatures: verifiedWith !== undefined,
      checkEnvelopes: envelopeFrames,
      now
    }

    const nonce = () => new Uint8Array(crypto.randomBytes(32))

    // ---- inbound connections ----
    const pendingInbound = (): number => {
      let n = 0
      for (const c of connections) if (c.state === "handshaking" && c.role === "responder") n++
      return n
    }

    const refuse = (ws: WebSocket, remote: string, detail: string) => {
      WsMetrics.bump(WsMetrics.handshakeFailures, { ...tags, reason: "capacity" })
      warn(`connection refused: ${new HandshakeFailure({ reason: "capacity", detail }).message}`, { remote, reason: "capacity" })
      ws.on("error", () => {})
      ws.close(1013, "capacity")
      setTimeout(() => ws.terminate(), limits.closeGraceMs).unref()
    }

    const onInbound = (ws: WebSocket, req: http.IncomingMessage): void => {
      const remote = `${req.socket.remoteAddress ?? "?"}:${req.socket.remotePort ?? "?"}`
      if (closed) {
        ws.on("error", () => {})
        ws.terminate()
        return
      }
      if (connections.size >= limits.maxConnections) return refuse(ws, remote, `${connections.size} connections open`)
      if (pendingInbound() >= limits.maxPendingHandshakes) return refuse(ws, remote, "too many pending handshakes")
      const handshake = responder({ clusterId: options.clusterId, signer: options.signer, keys: options.keys, nonce: nonce() })
      connections.add(new Connection(ws, handshake, remote, connectionContext, events))
    }

    const server = options.listen === undefined ? undefined : yield* listen(options.listen, limits, onInbound)
    const address = server === undefined ? undefined : server.url

    // ---- dialing ----
    /** One connection attempt; resumes with whether it authenticated, once it is closed. */
    const dialOnce = (link: Link, url: string) =>
      Effect.async<boolean>((resume) => {
        let conn: Connection | undefined
        if (closed) {
          resume(Effect.succeed(false))
          return
        }
        try {
          const ws = new WebSocket(url, {
            perMessageDeflate: false,
            maxPayload: limits.maxFrameBytes,
            handshakeTimeout: limits.handshakeTimeoutMs,
            ...(options.tls?.ca === undefined ? {} : { ca: options.tls.ca as Array<string | Buffer> }),
            ...(options.tls?.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: options.tls.rejectUnauthorized })
          })
          const handshake = initiator({
            clusterId: options.clusterId,
            signer: options.signer,
            keys: options.keys,
            nonce: nonce(),
            expected: link.peer
          })
          const c = new Connection(ws, handshake, url, connectionContext, {
            ...events,
            closed: (closedConn) => {
              events.closed(closedConn)
              if (closedConn.peer === undefined && !closedConn.opened) {
                WsMetrics.bump(WsMetrics.connections, { ...tags, peer: link.peer, event: "dial-failed" })
              }
              resume(Effect.succeed(closedConn.peer !== undefined))
            }
          })
          conn = c
          connections.add(c)
        } catch (e) {
          warn(`cannot dial ${link.peer}: ${String(e).slice(0, 200)}`, { peer: link.peer })
          resume(Effect.succeed(false))
        }
        return Effect.sync(() => conn?.terminate())
      })

    const dialLoop = (link: Link, url: string): Effect.Effect<never> =>
      Effect.gen(function*() {
        let attempt = 0
        while (true) {
          const authenticated = yield* dialOnce(link, url)
          attempt = authenticated ? 0 : attempt + 1
          const u = yield* Random.next
          yield* Effect.sleep(Duration.millis(backoffDelay(attempt, limits.backoffBaseMs, limits.backoffMaxMs, u)))
        }
      })

    const addPeer = (peer: PeerId, url: string): Effect.Effect<void, TransportError> =>
      Effect.suspend(() => {
        if (peer === self) return Effect.void
        if (closed) return Effect.fail(new TransportError({ reason: "closed", peer, detail: "transport closed" }))
        if (!validAddress(url)) return Effect.fail(new TransportError({ reason: "io", peer, detail: `not a ws:// or wss:// URL: ${url.slice(0, 200)}` }))
        const link = linkOf(peer, url)
        if (link.address === url && link.stopDialing !== undefined) return Effect.void
        link.stopDialing?.()
        link.address = url
        return Effect.map(Effect.forkIn(dialLoop(link, url), scope), (fiber) => {
          link.stopDialing = () => runFork(Fiber.interrupt(fiber))
        })
      })

    for (const [peer, url] of options.peers ?? []) yield* addPeer(peer, url)

    // ---- heartbeats, handshake deadlines, silence ----
    yield* Effect.sync(() => {
      const t = now()
      for (const conn of connections) conn.heartbeat(t)
    }).pipe(
      Effect.repeat(Schedule.spaced(Duration.millis(limits.heartbeatIntervalMs))),
      Effect.forkIn(scope)
    )

    // ---- the port ----
    const send = (to: PeerId, bytes: Uint8Array): Effect.Effect<void, TransportError> =>
      Effect.suspend(() => {
        if (closed) return Effect.fail(new TransportError({ reason: "closed", peer: to, detail: `transport of ${self} is closed` }))
        if (bytes.byteLength > limits.maxFrameBytes) {
          return Effect.fail(
            new TransportError({ reason: "oversized", peer: to, detail: `${bytes.byteLength} bytes exceeds ${limits.maxFrameBytes}` })
          )
        }
        if (to === self) {
          deliver({ from: self, bytes: bytes.slice() }, undefined)
          return Effect.void
        }
        const link = links.get(to)
        if (link === undefined) {
          if (!options.keys.has(to)) return Effect.fail(new TransportError({ reason: "unknown-peer", peer: to, detail: `no key or address for ${to}` }))
          drop("peer-down") // a known client that is not connected: it has no address to queue for
          return Effect.void
        }
        if (link.address === undefined && route(link) === undefined) {
          drop("peer-down")
          return Effect.void
        }
        // a copy: the caller may reuse its buffer while the frame waits in the queue
        drop("queue-full", link.outbox.push(bytes.slice()))
        pump(link)
        return Effect.void
      })

    const awaitPeer = (peer: PeerId): Effect.Effect<void> =>
      Effect.suspend(() => {
        const link = linkOf(peer, undefined)
        if (route(link) !== undefined) return Effect.void
        return Effect.flatMap(Deferred.make<void>(), (d) =>
          Effect.suspend(() => {
            link.waiters.push(d)
            return Deferred.await(d)
          }))
      })

    const connectedPeers = Effect.sync(() => [...links.values()].filter((l) => route(l) !== undefined).map((l) => l.peer))

    const peerStatus = (peer: PeerId) =>
      Effect.sync((): PeerStatus | undefined => {
        const link = links.get(peer)
        if (link === undefined) return undefined
        return {
          peer,
          address: link.address,
          outbound: link.outbound?.writable === true,
          inbound: link.inbound?.writable === true,
          queuedFrames: link.outbox.length,
          queuedBytes: link.outbox.bytes
        }
      })

    // ---- shutdown: refuse sends, stop dialing, close every connection, then the server ----
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        closed = true
        for (const link of links.values()) {
          link.stopDialing?.()
          link.outbox.clear()
        }
        for (const conn of connections) conn.close("shutdown", "transport closed")
        // ends `incoming` (Stream.fromQueue ends on shutdown); our offers never suspend, so nothing is interrupted
        yield* Queue.shutdown(inbox)
        // peers answer our close frames; one that does not is cut off after closeGraceMs
        if (connections.size > 0) {
          yield* Deferred.await(allClosed).pipe(Effect.timeout(Duration.millis(limits.closeGraceMs + 100)), Effect.ignore)
        }
      })
    )

    const incoming = Stream.fromQueue(inbox, { maxChunkSize: 256 }).pipe(
      Stream.mapChunks((chunk) => {
        resumeIfDrained()
        return chunk
      })
    )

    const service: WebSocketTransport = {
      self,
      maxFrameBytes: limits.maxFrameBytes,
      send,
      incoming,
      address,
      addPeer,
      awaitPeer,
      connectedPeers,
      peerStatus
    }
    return service
  })

// ---------------------------------------------------------------------------
// Layers

/** The Transport of one process: listens and/or dials as `options` say, for the lifetime of the layer. */
export const layer = (options: WebSocketTransportOptions): Layer.Layer<Transport.Transport, TransportError> =>
  Layer.scoped(Transport.Transport, make(options))

/** As `layer`, with the signer and key ring taken from `SignerService` and `KeyRingService`. */
export const layerFromServices = (
  options: Omit<WebSocketTransportOptions, "signer" | "keys">
): Layer.Layer<Transport.Transport, TransportError, Keys.SignerService | Keys.KeyRingService> =>
  Layer.scoped(
    Transport.Transport,
    Effect.gen(function*() {
      const signer = yield* Keys.SignerService
      const keys = yield* Keys.KeyRingService
      return yield* make({ ...options, signer, keys })
    })
  )
