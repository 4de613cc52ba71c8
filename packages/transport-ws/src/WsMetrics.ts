/**
 * Metrics of the WebSocket transport. Every one is tagged with `self`, the
 * local PeerId, so several transports in one process (tests, benches) stay
 * apart. Frames the transport drops for lack of room or route are counted in
 * core's `synod_transport_dropped_total{transport="ws",reason}`.
 *
 * | name                                 | tags               | meaning                                                      |
 * | ------------------------------------ | ------------------ | ------------------------------------------------------------ |
 * | synod_ws_connections_total           | self, peer, event  | authenticated connections `up` / `down`, `dial-failed` dials |
 * | synod_ws_handshake_failures_total    | self, reason       | connections refused during the handshake (`HandshakeFailure`) |
 * | synod_ws_frames_rejected_total       | self, reason       | data frames dropped with a `Rejection` before delivery        |
 * | synod_ws_connections_closed_total    | self, reason       | connections we closed, by why (abuse, heartbeat, replaced...) |
 * | synod_ws_bytes_in_total              | self               | bytes of WebSocket messages received                          |
 * | synod_ws_bytes_out_total             | self               | bytes of WebSocket messages sent                              |
 *
 * Tag values come from bounded sets: PeerIds that passed the handshake (or that
 * we dialed from configuration), `HandshakeFailureReason`, `RejectionReason`
 * and the close reasons below. Unauthenticated bytes never become a tag.
 */
import { Effect, Metric } from "effect"

const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

export const connections = counter("synod_ws_connections_total", "WebSocket connections up/down per peer")
export const handshakeFailures = counter("synod_ws_handshake_failures_total", "Connections refused during the handshake")
export const framesRejected = counter("synod_ws_frames_rejected_total", "Data frames rejected by the WebSocket transport")
export const connectionsClosed = counter("synod_ws_connections_closed_total", "Connections closed by this side, by reason")
export const bytesIn = counter("synod_ws_bytes_in_total", "Bytes received over WebSocket")
export const bytesOut = counter("synod_ws_bytes_out_total", "Bytes sent over WebSocket")

/** Why this side closed a connection. */
export type CloseReason =
  | "abuse"             // too many rejected frames per second (bad input or flood)
  | "heartbeat-timeout" // no frame or pong within the heartbeat timeout
  | "handshake-failed"  // see synod_ws_handshake_failures_total
  | "replaced"          // a newer authenticated connection from the same peer
  | "shutdown"          // the transport's scope closed
  | "protocol-error"    // the WebSocket layer failed (oversized frame, bad framing, socket error)
  | "bug"               // an exception inside our handler (logged at error level)

type Counter = Metric.Metric.Counter<number>

/** Past this many cached tagged counters, they are rebuilt per call: slower, still correct. */
const TAGGED_CACHE_LIMIT = 4096
const cache = new Map<Counter, Map<string, Counter>>()
let cached = 0

/** The counter with these tags, cached so the hot path does not rebuild metric keys. */
export const tagged = (metric: Counter, tags: Readonly<Record<string, string>>): Counter => {
  const keys = Object.keys(tags).sort()
  const key = keys.map((k) => `${k}=${tags[k]}`).join("\u0000")
  let perMetric = cache.get(metric)
  const hit = perMetric?.get(key)
  if (hit !== undefined) return hit
  let m: Counter = metric
  for (const k of keys) m = Metric.tagged(m, k, tags[k]!)
  if (cached < TAGGED_CACHE_LIMIT) {
    if (perMetric === undefined) cache.set(metric, perMetric = new Map())
    perMetric.set(key, m)
    cached++
  }
  return m
}

/** Increment from a socket callback (synchronous, outside any fiber). */
export const bump = (metric: Counter, tags: Readonly<Record<string, string>>, by = 1): void => {
  tagged(metric, tags).unsafeUpdate(by, [])
}

/** Current value of a counter with these tags. */
export const value = (metric: Counter, tags: Readonly<Record<string, string>>): Effect.Effect<number> =>
  Effect.map(Metric.value(tagged(metric, tags)), (s) => s.count)
