/**
 * An in-memory network for tests and single-process clusters: a registry of
 * peers, each with a bounded inbox, and `layerMemory` providing the
 * `Transport` service for one peer.
 *
 * Limits and policies:
 * - Inbox: `inboxCapacity` frames per peer (default `DEFAULT_INBOX_CAPACITY`).
 *   When full, the newest frame is dropped (the sender is not told, as on a
 *   real network) and counted in `stats` and
 *   `synod_transport_dropped_total{transport="memory",reason="inbox-full"}`.
 * - Frames: at most `maxFrameBytes` (default `DEFAULT_MAX_FRAME_BYTES`); a
 *   larger `send` fails with `TransportError("oversized")`.
 * - Peers: a peer is known once it has connected or was listed in
 *   `options.peers`. `send` to a peer never known fails with
 *   `TransportError("unknown-peer")`; to a known peer that is not connected now
 *   (crashed, restarting) the frame is dropped and counted as `peer-down`.
 * - Links: `disconnect(a, b)` drops frames in both directions (`link-down`)
 *   until `reconnect(a, b)`, to model partitions in shell tests.
 *
 * Frames are copied on send, so neither side can alter the other's bytes.
 */
import { Effect, Layer, Queue, type Scope, Stream } from "effect"
import { DEFAULT_MAX_FRAME_BYTES } from "./Envelope.js"
import type { PeerId } from "./Ids.js"
import * as Metrics from "./Metrics.js"
import { type Incoming, Transport, TransportError, type TransportService } from "./Transport.js"

export const DEFAULT_INBOX_CAPACITY = 1024

export interface MemoryNetworkOptions {
  readonly inboxCapacity?: number
  readonly maxFrameBytes?: number
  /** Peers that are known before they connect (sends to them are dropped, not errors). */
  readonly peers?: Iterable<PeerId>
}

/** Frames addressed to one peer. */
export interface PeerStats {
  readonly delivered: number
  readonly droppedInboxFull: number
  readonly droppedLinkDown: number
  readonly droppedPeerDown: number
}

export interface MemoryNetwork {
  readonly inboxCapacity: number
  readonly maxFrameBytes: number
  /** Join the network as `self` for the lifetime of the scope. Connecting a peer that is already connected is a defect. */
  connect(self: PeerId): Effect.Effect<TransportService, never, Scope.Scope>
  /** Drop frames between `a` and `b`, both directions, until `reconnect`. */
  disconnect(a: PeerId, b: PeerId): Effect.Effect<void>
  reconnect(a: PeerId, b: PeerId): Effect.Effect<void>
  /** Counters for frames addressed to `peer`. */
  stats(peer: PeerId): Effect.Effect<PeerStats>
}

interface Endpoint {
  readonly inbox: Queue.Queue<Incoming>
}

interface MutableStats {
  delivered: number
  droppedInboxFull: number
  droppedLinkDown: number
  droppedPeerDown: number
}

const linkKey = (from: PeerId, to: PeerId) => `${from}\u0000${to}`

const positiveInt = (name: string, value: number): number => {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`MemoryNetwork: ${name} must be a positive integer, got ${value}`)
  return value
}

export const makeNetwork = (options: MemoryNetworkOptions = {}): Effect.Effect<MemoryNetwork> =>
  Effect.sync(() => {
    const inboxCapacity = positiveInt("inboxCapacity", options.inboxCapacity ?? DEFAULT_INBOX_CAPACITY)
    const maxFrameBytes = positiveInt("maxFrameBytes", options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES)
    const known = new Set<PeerId>(options.peers ?? [])
    const endpoints = new Map<PeerId, Endpoint>()
    const down = new Set<string>()
    const stats = new Map<PeerId, MutableStats>()

    const statsOf = (peer: PeerId): MutableStats => {
      let s = stats.get(peer)
      if (s === undefined) {
        s = { delivered: 0, droppedInboxFull: 0, droppedLinkDown: 0, droppedPeerDown: 0 }
        stats.set(peer, s)
      }
      return s
    }

    const drop = (s: MutableStats, field: "droppedLinkDown" | "droppedPeerDown" | "droppedInboxFull", reason: string) =>
      Effect.suspend(() => {
        s[field]++
        return Metrics.recordTransportDrop("memory", reason)
      })

    const sendFrom = (self: PeerId, isClosed: () => boolean) => (to: PeerId, bytes: Uint8Array) =>
      Effect.suspend((): Effect.Effect<void, TransportError> => {
        if (isClosed()) return Effect.fail(new TransportError({ reason: "closed", peer: to, detail: `${self} has left the network` }))
        if (bytes.byteLength > maxFrameBytes) {
          return Effect.fail(
            new TransportError({ reason: "oversized", peer: to, detail: `${bytes.byteLength} bytes exceeds ${maxFrameBytes}` })
          )
        }
        if (!known.has(to)) return Effect.fail(new TransportError({ reason: "unknown-peer", peer: to, detail: `no peer ${to}` }))
        const s = statsOf(to)
        if (down.has(linkKey(self, to))) return drop(s, "droppedLinkDown", "link-down")
        const endpoint = endpoints.get(to)
        if (endpoint === undefined) return drop(s, "droppedPeerDown", "peer-down")
        // synchronous, in the same step as the lookup above: a peer that leaves removes its
        // endpoint before shutting its inbox down, so this never offers to a shut-down queue.
        // A dropping queue: false when full, never suspends the sender.
        if (!Queue.unsafeOffer(endpoint.inbox, { from: self, bytes: bytes.slice() })) return drop(s, "droppedInboxFull", "inbox-full")
        s.delivered++
        return Effect.void
      })

    const connect = (self: PeerId): Effect.Effect<TransportService, never, Scope.Scope> =>
      Effect.gen(function*() {
        if (endpoints.has(self)) return yield* Effect.dieMessage(`MemoryNetwork: ${self} is already connected`)
        const inbox = yield* Queue.dropping<Incoming>(inboxCapacity)
        let isClosed = false
        const endpoint: Endpoint = { inbox }
        endpoints.set(self, endpoint)
        known.add(self)
        yield* Effect.addFinalizer(() =>
          Effect.suspend(() => {
            isClosed = true
            // unreachable first, then shut down: senders offer synchronously right after
            // looking the endpoint up, so none can meet the shut-down queue
            if (endpoints.get(self) === endpoint) endpoints.delete(self)
            // ends `incoming` (Stream.fromQueue ends when its queue is shut down); cheaper than
            // Stream.interruptWhen, which races every pull against the close signal
            return Queue.shutdown(inbox)
          })
        )
        const service: TransportService = {
          self,
          maxFrameBytes,
          send: sendFrom(self, () => isClosed),
          incoming: Stream.fromQueue(inbox)
        }
        return service
      })

    const setLink = (a: PeerId, b: PeerId, up: boolean) =>
      Effect.sync(() => {
        for (const k of [linkKey(a, b), linkKey(b, a)]) {
          if (up) down.delete(k)
          else down.add(k)
        }
      })

    const network: MemoryNetwork = {
      inboxCapacity,
      maxFrameBytes,
      connect,
      disconnect: (a, b) => setLink(a, b, false),
      reconnect: (a, b) => setLink(a, b, true),
      stats: (peer) => Effect.sync(() => ({ ...statsOf(peer) }))
    }
    return network
  })

/** The `Transport` of `self` on `network`, connected for the lifetime of the layer. */
export const layerMemory = (network: MemoryNetwork, self: PeerId): Layer.Layer<Transport> =>
  Layer.scoped(Transport, network.connect(self))
