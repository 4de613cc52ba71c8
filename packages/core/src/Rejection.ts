/**
 * Why an input from a peer or client was dropped. Every drop has one of these
 * reasons; it is counted in metrics (`synod_messages_rejected_total{reason}`)
 * and, where it proves misbehaviour, kept as evidence by the protocol.
 */
import { Schema } from "effect"

export const RejectionReason = Schema.Literal(
  // wire level: produced by Codec / Envelope before a protocol core sees anything
  "oversized",         // frame larger than the configured limit
  "truncated",         // frame shorter than its header says
  "malformed",         // header or payload does not decode
  "unknown-tag",       // payload names a message type this protocol does not have
  "wrong-protocol",    // envelope for another protocol or version
  "wrong-cluster",     // envelope signed for another cluster id
  "unknown-sender",    // sender has no key in the KeyRing
  "bad-signature",     // signature does not verify
  "sender-mismatch",   // transport-level sender differs from the signed sender
  // protocol level: produced by a core's guards
  "wrong-view",        // message for a view/ballot other than the one it must match
  "stale",             // message older than what the replica already knows
  "out-of-window",     // sequence number outside the watermarks / window
  "not-leader",        // request sent to a replica that is not leader/primary
  "not-member",        // sender is not a replica of the current configuration
  "invalid",           // fails a protocol validity check (digest mismatch, bad certificate, ...)
  "duplicate",         // already seen; harmless
  "overloaded",        // a bounded queue or window is full
  "equivocation"       // conflicting signed messages from one sender; evidence kept
)
export type RejectionReason = typeof RejectionReason.Type

/** A typed, serializable account of one dropped input. */
export class Rejection extends Schema.TaggedError<Rejection>()("Rejection", {
  reason: RejectionReason,
  detail: Schema.String
}) {
  override get message() {
    return `${this.reason}: ${this.detail}`
  }
}

export const reject = (reason: RejectionReason, detail: string): Rejection => new Rejection({ reason, detail })
