/**
 * How far each peer's log is known to reach without a gap, for operators'
 * replication lag (`Status.peer`). Shared by both protocols, which feed it
 * under their own names (Paxos: acknowledged prefixes and Accepted votes;
 * PBFT: checkpoints/status and signed votes).
 *
 * A peer's `match` is the highest index n such that it is known to hold every
 * index <= n: from a `prefix` report (it holds everything through n), or from
 * `mark`s (a vote at one index) that are contiguous with that prefix. A vote
 * says nothing about the indexes below it, so a mark above a gap is kept aside
 * until the gap closes: otherwise a replica back from a partition would read as
 * caught up the moment it voted once, while what it missed was still in transit.
 *
 * Limits: marks kept aside per peer are bounded by `maxAbove` (the protocol's
 * window: no peer votes further ahead); past it they are ignored, which can
 * only under-report a peer until its next prefix report.
 */
import type { ReplicaId } from "./Ids.js"

interface PeerProgress {
  match: number
  /** Marks above `match + 1`, waiting for the gap below them to close; allocated on first need. */
  above: Set<number> | undefined
}

export class PrefixProgress {
  private readonly peers = new Map<ReplicaId, PeerProgress>()

  constructor(private readonly maxAbove: number) {}

  /** Forget everything (e.g. a new ballot: votes of the old one do not count). */
  reset(): void {
    this.peers.clear()
  }

  /** The highest index `peer` is known to hold with every index below it (0: nothing known). */
  match(peer: ReplicaId): number {
    return this.peers.get(peer)?.match ?? 0
  }

  /** `peer` holds every index <= `through`. */
  prefix(peer: ReplicaId, through: number): void {
    const p = this.of(peer)
    if (through <= p.match) return
    p.match = through
    if (p.above !== undefined) {
      for (const i of p.above) if (i <= through) p.above.delete(i)
      this.extend(p)
    }
  }

  /** `peer` holds `index` (a vote), which says nothing about the indexes below it. */
  mark(peer: ReplicaId, index: number): void {
    const p = this.of(peer)
    if (index <= p.match) return
    if (index === p.match + 1) {
      p.match = index
      this.extend(p)
      return
    }
    if (p.above === undefined) p.above = new Set()
    if (p.above.size < this.maxAbove) p.above.add(index)
  }

  private of(peer: ReplicaId): PeerProgress {
    let p = this.peers.get(peer)
    if (p === undefined) this.peers.set(peer, p = { match: 0, above: undefined })
    return p
  }

  /** Absorb the marks kept aside that are now contiguous with `match`. */
  private extend(p: PeerProgress): void {
    const above = p.above
    if (above === undefined || above.size === 0) return
    while (above.delete(p.match + 1)) p.match++
  }
}
