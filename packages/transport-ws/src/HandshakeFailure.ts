/**
 * Why a connection was refused during the authenticated handshake. Each
 * failure is logged with its reason and counted in
 * `synod_ws_handshake_failures_total{reason}`; the connection is closed with
 * WebSocket code 1008 (policy violation) and the reason as close text.
 */
import { Schema } from "effect"

export const HandshakeFailureReason = Schema.Literal(
  "malformed",       // a handshake frame that does not decode (random bytes, text, wrong order, wrong size)
  "version",         // a handshake version this build does not speak
  "wrong-cluster",   // the peer is configured for another cluster id
  "unknown-peer",    // the claimed PeerId has no key in the KeyRing
  "unexpected-peer", // not the identity we dialed, our own identity, or the wrong role
  "bad-proof",       // the signature over the transcript does not verify (forgery or replay)
  "timeout",         // not finished within the handshake timeout
  "closed",          // the socket closed or failed before the handshake finished
  "capacity"         // too many connections or pending handshakes; refused before any work
)
export type HandshakeFailureReason = typeof HandshakeFailureReason.Type

export class HandshakeFailure extends Schema.TaggedError<HandshakeFailure>()("HandshakeFailure", {
  reason: HandshakeFailureReason,
  detail: Schema.String
}) {
  override get message() {
    return `handshake ${this.reason}: ${this.detail}`
  }
}
