/**
 * Every limit of the WebSocket transport, with its default and why. The same
 * table is in the package README. All are per transport instance unless said
 * otherwise; "per peer" queues live as long as the peer is configured (replicas)
 * or connected (clients).
 *
 * | limit                 | default            | scope          | when exceeded                                             |
 * | --------------------- | ------------------ | -------------- | --------------------------------------------------------- |
 * | maxFrameBytes         | 4 MiB + 4 KiB      | message        | send: TransportError "oversized"; receive: ws `maxPayload` fails the socket (1009), rejection "oversized" |
 * | maxQueuedFrames       | 4096               | per peer       | oldest queued frame dropped (drop-head), counted `queue-full` |
 * | maxQueuedBytes        | 16 MiB             | per peer       | oldest queued frames dropped (drop-head), counted `queue-full` |
 * | maxBufferedBytes      | 1 MiB              | per socket     | frames wait in the peer queue until the socket drains     |
 * | inboxCapacity         | 8192 frames        | transport      | at 3/4 full sockets are paused (TCP backpressure); when full, frames dropped `inbox-full` |
 * | handshakeTimeoutMs    | 5000               | connection     | connection refused, handshake failure "timeout"            |
 * | heartbeatIntervalMs   | 1000               | transport      | ping every open connection; sweep handshakes and silence   |
 * | heartbeatTimeoutMs    | 5000               | connection     | nothing received (frame or pong) for this long: closed, redialed |
 * | backoffBaseMs         | 100                | per dialed peer| first reconnect delay cap; doubles per failed attempt      |
 * | backoffMaxMs          | 5000               | per dialed peer| largest reconnect delay cap (delay drawn from [cap/2, cap)) |
 * | maxFramesPerSecond    | 20000 (burst 1 s)  | connection     | frame rejected "overloaded"                                 |
 * | maxBytesPerSecond     | 64 MiB (burst 1 s) | connection     | frame rejected "overloaded"                                 |
 * | maxRejectedPerSecond  | 100 (burst 1 s)    | connection     | connection closed as abusive (1008)                         |
 * | maxPendingHandshakes  | 32                 | transport      | new inbound connection refused, handshake failure "capacity" |
 * | maxConnections        | 1024               | transport      | new inbound connection refused, handshake failure "capacity" |
 * | closeGraceMs          | 1000               | connection     | a peer that does not answer our close frame is cut off      |
 *
 * The heartbeat sweep runs every `heartbeatIntervalMs`, so a handshake
 * timeout or a dead peer is detected within one interval after its deadline.
 * Unauthenticated connections may buffer one message of up to `maxFrameBytes`
 * before the handshake rejects it, so pending handshakes hold at most
 * `maxPendingHandshakes * maxFrameBytes` (128 MiB by default) of memory.
 */
import { Envelope } from "@synod/core"

export interface WsLimits {
  readonly maxFrameBytes: number
  readonly maxQueuedFrames: number
  readonly maxQueuedBytes: number
  readonly maxBufferedBytes: number
  readonly inboxCapacity: number
  readonly handshakeTimeoutMs: number
  readonly heartbeatIntervalMs: number
  readonly heartbeatTimeoutMs: number
  readonly backoffBaseMs: number
  readonly backoffMaxMs: number
  readonly maxFramesPerSecond: number
  readonly maxBytesPerSecond: number
  readonly maxRejectedPerSecond: number
  readonly maxPendingHandshakes: number
  readonly maxConnections: number
  readonly closeGraceMs: number
}

export const DEFAULT_LIMITS: WsLimits = {
  maxFrameBytes: Envelope.DEFAULT_MAX_FRAME_BYTES,
  maxQueuedFrames: 4096,
  maxQueuedBytes: 16 * 1024 * 1024,
  maxBufferedBytes: 1024 * 1024,
  inboxCapacity: 8192,
  handshakeTimeoutMs: 5000,
  heartbeatIntervalMs: 1000,
  heartbeatTimeoutMs: 5000,
  backoffBaseMs: 100,
  backoffMaxMs: 5000,
  maxFramesPerSecond: 20_000,
  maxBytesPerSecond: 64 * 1024 * 1024,
  maxRejectedPerSecond: 100,
  maxPendingHandshakes: 32,
  maxConnections: 1024,
  closeGraceMs: 1000
}

/** Defaults overridden by `overrides`; a RangeError names the first inconsistent limit (a configuration bug). */
export const resolveLimits = (overrides: Partial<WsLimits> = {}): WsLimits => {
  const limits: WsLimits = { ...DEFAULT_LIMITS, ...overrides }
  for (const [name, value] of Object.entries(limits)) {
    if (typeof value !== "number" || !(value > 0)) throw new RangeError(`WebSocket transport: ${name} must be positive, got ${value}`)
  }
  const need = (ok: boolean, what: string) => {
    if (!ok) throw new RangeError(`WebSocket transport: ${what}`)
  }
  need(Number.isInteger(limits.maxFrameBytes) && limits.maxFrameBytes < 2 ** 31, "maxFrameBytes must be an integer below 2^31")
  need(Number.isInteger(limits.maxQueuedFrames), "maxQueuedFrames must be an integer")
  need(Number.isInteger(limits.inboxCapacity) && limits.inboxCapacity >= 4, "inboxCapacity must be an integer >= 4")
  need(limits.maxQueuedBytes >= limits.maxFrameBytes, "maxQueuedBytes must hold at least one frame of maxFrameBytes")
  need(limits.maxBytesPerSecond >= limits.maxFrameBytes, "maxBytesPerSecond must admit at least one frame of maxFrameBytes")
  need(limits.heartbeatTimeoutMs > limits.heartbeatIntervalMs, "heartbeatTimeoutMs must exceed heartbeatIntervalMs")
  need(limits.backoffMaxMs >= limits.backoffBaseMs, "backoffMaxMs must be at least backoffBaseMs")
  return limits
}
