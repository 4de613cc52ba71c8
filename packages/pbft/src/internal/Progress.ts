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
import type { ReplicaId } from "@synod/core"

interface PeerProgress {
  match: number
  /** Votes above `match + 1`, waiting for the gap below them to close; allocated on first need. */
  above: Set<number> | undefined
}

export class Progress {
  private readonly peers = new Map<ReplicaId, PeerProgress>()

  constructor(private readonly maxAbove: number) {}

  /** The highest sequence number `peer` is known to hold with every one below it (0: nothing known). */
  match(peer: ReplicaId): number {
    return this.peers.get(peer)?.match ?? 0
  }

  /** `peer` executed every sequence number <= `through` (its checkpoint or status). */
  executed(peer: ReplicaId, through: number): void {
    const p = this.of(peer)
    if (through <= p.match) return
    p.match = through
    if (p.above !== undefined) {
      for (const seq of p.above) if (seq <= through) p.above.delete(seq)
      this.extend(p)
    }
  }

  /** `peer` sent a signed pre-prepare, prepare or commit for `seq`. */
  voted(peer: ReplicaId, seq: number): void {
    const p = this.of(peer)
    if (seq <= p.match) return
    if (seq === p.match + 1) {
      p.match = seq
      this.extend(p)
      return
    }
    if (p.above === undefined) p.above = new Set()
    if (p.above.size < this.maxAbove) p.above.add(seq)
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
