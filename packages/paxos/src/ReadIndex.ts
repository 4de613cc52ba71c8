/**
 * Linearizable reads that write nothing to the log.
 *
 * Read index (the leader's side): a read that arrives at the leader of
 * ballot b records its horizon h — every slot that may already be chosen
 * (everything the leader proposed, everything its phase-1 promises reported,
 * its applied index) — and the next heartbeat round r. It is answered from
 * local state once
 *   (1) a "replication" quorum acked a heartbeat of round >= r at ballot b,
 *       so no higher ballot had completed phase 1 when the read arrived (a
 *       phase-1 quorum of it would intersect the ackers, who would have
 *       refused b), hence nothing was chosen by a higher ballot before the
 *       read began; and
 *   (2) the leader applied every slot up to h.
 *
 * Leases (optional, `PaxosConfig.lease`): a follower that acks a heartbeat
 * refuses prepares of other proposers for `durationTicks` of its own clock. A
 * quorum of acks for a heartbeat sent at tick t gives the leader a lease until
 * t + durationTicks - driftTicks of its clock, during which it answers reads
 * without a new heartbeat round (condition (1) holds for the whole lease).
 *
 * Limits: `maxPendingReads` reads wait at once; acks are tracked per replica
 * (one number each) and heartbeat send times for the last `SENT_HISTORY` rounds.
 */
import type { PeerId, ReplicaId } from "@synod/core"

export const SENT_HISTORY = 64

export interface PendingRead {
  readonly peer: PeerId
  readonly clientId: string
  readonly seq: number
  readonly command: unknown
  readonly horizon: number
  /** Heartbeat round whose quorum confirms the read; 0 when a lease covers it. */
  readonly round: number
}

export class ReadIndex {
  /** Last heartbeat round sent at the current ballot. */
  round = 0
  /** A read waits for a round not yet sent. */
  needRound = false
  leaseUntil = -1
  private readonly acked = new Map<ReplicaId, number>()
  private readonly sentAt = new Map<number, number>()
  private confirmed = 0
  pending: Array<PendingRead> = []

  /** Forget everything of the previous ballot; returns the reads that were waiting. */
  reset(): Array<PendingRead> {
    const waiting = this.pending
    this.pending = []
    this.acked.clear()
    this.sentAt.clear()
    this.round = 0
    this.confirmed = 0
    this.needRound = false
    this.leaseUntil = -1
    return waiting
  }

  /** The round a read arriving now must see confirmed. */
  register(read: Omit<PendingRead, "round">, leaseValid: boolean): void {
    if (leaseValid) {
      this.pending.push({ ...read, round: 0 })
      return
    }
    this.pending.push({ ...read, round: this.round + 1 })
    this.needRound = true
  }

  /** A heartbeat is being sent now: its round number. */
  nextRound(now: number): number {
    this.round++
    this.needRound = false
    this.sentAt.set(this.round, now)
    this.sentAt.delete(this.round - SENT_HISTORY)
    return this.round
  }

  onAck(from: ReplicaId, round: number): void {
    if (round > this.round) return // never sent: ignore
    if (round > (this.acked.get(from) ?? 0)) this.acked.set(from, round)
  }

  /**
   * Recompute the highest confirmed round: the largest r such that the
   * replicas that acked >= r (and the leader itself) satisfy `isQuorum`.
   * Extends the lease from that round's send time.
   */
  confirm(me: ReplicaId, isQuorum: (members: ReadonlyArray<ReplicaId>) => boolean, lease?: { duration: number; drift: number }): void {
    const rounds = [...new Set(this.acked.values())].filter((r) => r > this.confirmed).sort((a, b) => b - a)
    for (const r of rounds) {
      const ackers = [me]
      for (const [replica, acked] of this.acked) if (acked >= r) ackers.push(replica)
      if (isQuorum(ackers)) {
        this.confirmed = r
        const sent = this.sentAt.get(r)
        if (lease !== undefined && sent !== undefined) this.leaseUntil = Math.max(this.leaseUntil, sent + lease.duration - lease.drift)
        return
      }
    }
  }

  leaseValid(now: number): boolean {
    return now < this.leaseUntil
  }

  /** Remove and return the reads that may be answered now. */
  takeReady(applied: number, now: number): Array<PendingRead> {
    if (this.pending.length === 0) return []
    const ready: Array<PendingRead> = []
    const waiting: Array<PendingRead> = []
    const lease = this.leaseValid(now)
    for (const r of this.pending) {
      if (r.round === 0 && !lease) {
        // the lease ran out before the read could be answered: fall back to a heartbeat round
        waiting.push({ ...r, round: this.round + 1 })
        this.needRound = true
        continue
      }
      const confirmed = r.round === 0 || r.round <= this.confirmed
      ;(confirmed && applied >= r.horizon ? ready : waiting).push(r)
    }
    this.pending = waiting
    return ready
  }
}
