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
import type { ReplicaId } from "@synod/core"

interface PeerProgress {
  match: number
  /** Votes above `match + 1`, waiting for the gap below them to close; allocated on first need. */
  above: Set<number> | undefined
}

export class Progress {
  private readonly peers = new Map<ReplicaId, PeerProgress>()

  constructor(private readonly maxAbove: number) {}

  /** Forget everything (a new ballot: votes of the old one do not count). */
  reset(): void {
    this.peers.clear()
  }

  /** The highest slot `peer` is known to hold with every slot below it (0: nothing known). */
  match(peer: ReplicaId): number {
    return this.peers.get(peer)?.match ?? 0
  }

  /** `peer` holds every slot <= `through` (its chosen prefix). */
  acknowledged(peer: ReplicaId, through: number): void {
    const p = this.of(peer)
    if (through <= p.match) return
    p.match = through
    if (p.above !== undefined) {
      for (const slot of p.above) if (slot <= through) p.above.delete(slot)
      this.extend(p)
    }
  }

  /** `peer` voted for our proposal in `slot`. */
  accepted(peer: ReplicaId, slot: number): void {
    const p = this.of(peer)
    if (slot <= p.match) return
    if (slot === p.match + 1) {
      p.match = slot
      this.extend(p)
      return
    }
    if (p.above === undefined) p.above = new Set()
    if (p.above.size < this.maxAbove) p.above.add(slot)
  }

  private of(peer: ReplicaId): PeerProgress {
    let p = this.peers.get(peer)
    if (p === undefined) this.peers.set(peer, p = { match: 0, above: undefined })
    return p
  }

  /** Absorb the votes kept aside that are now contiguous with `match`. */
  private extend(p: PeerProgress): void {
    const above = p.above
    if (above === undefined || above.size === 0) return
    while (above.delete(p.match + 1)) p.match++
  }
}
