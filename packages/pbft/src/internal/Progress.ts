/**
 * What this replica knows about how far each peer's log reaches, for the
 * operator's status (`Status.ts`); the protocol never reads it.
 *
 * A peer's `match` is the highest sequence number n such that the peer is
 * known to hold every sequence number <= n: it executed through n (its signed
 * checkpoint for n, or the last executed number of its status message), or it
 * voted (pre-prepare, prepare, commit) in every sequence number between that
 * and n. A PBFT vote for n says nothing about n - 1, so a vote above a gap is
 * kept aside (`above`) until the gap closes; otherwise a replica back from a
 * partition would read as caught up the moment it voted for a new sequence
 * number, while the ones it missed were still being transferred.
 *
 * Only the peer's own signed messages move its entry, so a Byzantine replica
 * can misreport itself and no one else. Limits: votes kept aside per peer are
 * bounded by `maxAbove` (the log window L: votes are admitted only inside the
 * watermarks); past it they are ignored, which can only under-report a peer
 * until its next checkpoint or status. Peers are the configured replicas.
 */
import { Progress as CoreProgress, type ReplicaId } from "@synod/core"

/** The shared prefix tracker (`@synod/core` Progress.PrefixProgress) under this protocol's names. */
export class Progress extends CoreProgress.PrefixProgress {
  /** `peer` executed every sequence number <= `through` (its checkpoint or status). */
  executed(peer: ReplicaId, through: number): void {
    this.prefix(peer, through)
  }

  /** `peer` sent a signed pre-prepare, prepare or commit for `seq`. */
  voted(peer: ReplicaId, seq: number): void {
    this.mark(peer, seq)
  }
}
