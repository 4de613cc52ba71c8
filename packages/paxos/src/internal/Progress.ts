/**
 * What this replica knows about how far each peer's log reaches, for the
 * operator's status (replication lag); the protocol never reads it.
 *
 * A peer's `match` is the highest slot s such that the peer is known to hold
 * every slot <= s: it acknowledged a chosen prefix through s (heartbeat acks,
 * promises and catch-up answers carry its `chosenThrough`), or it voted for
 * our proposals in every slot between that prefix and s (`Accepted` at our
 * ballot). Unlike Raft's matchIndex, a Paxos vote in slot s says nothing about
 * the slots below it, so a vote above a gap is kept aside (`above`) until the
 * gap closes. Without that, a follower back from a partition would read as
 * caught up the moment it voted for a new slot, while the slots it missed
 * were still being fetched.
 *
 * Limits: votes kept aside per peer are bounded by `maxAbove` (the acceptor
 * window: no peer votes further above its chosen prefix); past it they are
 * ignored, which can only under-report a peer until its next acknowledgement.
 * Peers are the configured replicas (ids < 1024).
 */
import { Progress as CoreProgress, type ReplicaId } from "@synod/core"

/** The shared prefix tracker (`@synod/core` Progress.PrefixProgress) under this protocol's names. */
export class Progress extends CoreProgress.PrefixProgress {
  /** `peer` holds every slot <= `through` (its chosen prefix). */
  acknowledged(peer: ReplicaId, through: number): void {
    this.prefix(peer, through)
  }

  /** `peer` voted for our proposal in `slot`. */
  accepted(peer: ReplicaId, slot: number): void {
    this.mark(peer, slot)
  }
}
