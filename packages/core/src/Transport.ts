/**
 * The network port: send bytes to a peer, and a stream of bytes from peers.
 *
 * A transport is unreliable by contract (messages may be dropped, duplicated or
 * reordered, as the protocols tolerate), authenticated at the connection level
 * where it can be (WebSocket handshake), and bounded: every queue has a limit
 * and a stated drop policy. Message authenticity is still checked per frame by
 * `Envelope.open`, so `from` is a hint used for `sender-mismatch` checks, unless
 * the transport verified the frame's signature itself (`Incoming.verifiedWith`).
 */
import { Context, Data, type Effect, type Stream } from "effect"
import type { KeyRing } from "./Crypto.js"
import type { PeerId } from "./Ids.js"

export class TransportError extends Data.TaggedError("TransportError")<{
  readonly reason: "unknown-peer" | "closed" | "oversized" | "overloaded" | "io"
  readonly peer?: PeerId
  readonly detail: string
}> {}

export interface Incoming {
  readonly from: PeerId
  readonly bytes: Uint8Array
  /**
   * Set by a transport that has itself verified this frame as a signed envelope
   * of `from`, for its cluster, with this key ring (the WebSocket transport with
   * `verifySignatures` on). The replica shell then skips only the signature
   * check, and only when this is its own `KeyRingService` (the same object);
   * see `Replica.ReplicaConfig.trustTransportVerification`. Absent: the shell
   * verifies the signature itself.
   */
  readonly verifiedWith?: KeyRing
}

export interface TransportService {
  readonly self: PeerId
  /** Queue `bytes` for `to`. Fails only for local reasons (unknown peer, closed, oversized, queue full). */
  readonly send: (to: PeerId, bytes: Uint8Array) => Effect.Effect<void, TransportError>
  /** Frames from peers. A single consumer. */
  readonly incoming: Stream.Stream<Incoming>
  /** Largest frame this transport carries. */
  readonly maxFrameBytes: number
}

export class Transport extends Context.Tag("@synod/core/Transport")<Transport, TransportService>() {}
