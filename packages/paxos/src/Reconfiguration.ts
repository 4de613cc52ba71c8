/**
 * Membership changes through the log (Lamport, "Paxos Made Simple" §3, last
 * paragraph: "the set of servers executing instance i + alpha is specified by
 * the state after execution of the ith state machine command").
 *
 * A `Reconfigure` item chosen in slot s, when applied, schedules the new
 * membership for every slot >= s + alpha, where alpha = `pipelineWindow`.
 * Why there is never a window with two disjoint quorums:
 *
 *  1. Each slot has exactly one membership, a function of the chosen prefix
 *     below it; every replica that knows that prefix computes the same one.
 *  2. A leader proposes slot t only when t <= applied + pipelineWindow, i.e.
 *     it has applied every slot <= t - alpha, so it knows the membership of t.
 *     Both phases for slot t use quorums of that one membership: phase 1 of
 *     a ballot is complete for t only with an "election" quorum of t's
 *     membership, and t is chosen only with a "replication" quorum of it
 *     (the proposer re-runs phase 1, same ballot, with the new members before
 *     proposing in the first slot the new membership governs). Within one
 *     membership the quorum system guarantees Q1 and Q2 intersect, so P2c
 *     holds per slot exactly as in the single-configuration proof.
 *  3. One change at a time: a change is refused (deterministically, at apply)
 *     while another is scheduled and not yet in effect, so at most two
 *     memberships govern the slots a leader can propose in.
 *
 * Membership epoch 0 uses the cluster's own quorum system (which may be a
 * flexible or weighted one); later epochs use `PaxosConfig.quorumFor`.
 */
import type { ReplicaId, TrustModel } from "@synod/core"
import { ConfigRecord, Membership, PendingMembership } from "./Messages.js"

export interface SlotMembership {
  readonly epoch: number
  readonly members: ReadonlyArray<ReplicaId>
  readonly quorum: TrustModel.QuorumSystem
}

export type ChangeResult = { readonly _tag: "Scheduled"; readonly pending: PendingMembership } | { readonly _tag: "Refused"; readonly reason: string }

export class Configuration {
  current: Membership
  pending: PendingMembership | undefined
  private readonly quorums = new Map<number, TrustModel.QuorumSystem>()

  constructor(
    private readonly initial: TrustModel.QuorumSystem,
    private readonly quorumFor: (members: ReadonlyArray<ReplicaId>) => TrustModel.QuorumSystem,
    private readonly alpha: number
  ) {
    const members = [...initial.replicas].sort((a, b) => a - b)
    this.current = new Membership({ epoch: 0, members }, true)
    this.pending = undefined
  }

  private quorumOf(m: { readonly epoch: number; readonly members: ReadonlyArray<ReplicaId> }): TrustModel.QuorumSystem {
    let q = this.quorums.get(m.epoch)
    if (q === undefined) {
      q = m.epoch === 0 ? this.initial : this.quorumFor(m.members)
      this.quorums.set(m.epoch, q)
    }
    return q
  }

  /** The membership governing `slot`, for any slot above the applied index. */
  at(slot: number): SlotMembership {
    const m = this.pending !== undefined && slot >= this.pending.effectiveFrom ? this.pending : this.current
    return { epoch: m.epoch, members: m.members, quorum: this.quorumOf(m) }
  }

  /** Every replica in the current or scheduled membership. */
  members(): ReadonlyArray<ReplicaId> {
    if (this.pending === undefined) return this.current.members
    return [...new Set([...this.current.members, ...this.pending.members])].sort((a, b) => a - b)
  }

  isMember(replica: ReplicaId): boolean {
    return this.current.members.includes(replica) || (this.pending?.members.includes(replica) ?? false)
  }

  /** Called before applying `slot`: a scheduled membership takes over at its first slot. */
  enter(slot: number): boolean {
    if (this.pending === undefined || slot < this.pending.effectiveFrom) return false
    this.current = new Membership({ epoch: this.pending.epoch, members: this.pending.members }, true)
    this.pending = undefined
    return true
  }

  /** Apply a `Reconfigure` chosen in `slot`. Deterministic: the same on every replica. */
  change(members: ReadonlyArray<ReplicaId>, slot: number): ChangeResult {
    if (this.pending !== undefined) return { _tag: "Refused", reason: "change-pending" }
    if (members.join(",") === this.current.members.join(",")) return { _tag: "Refused", reason: "no-change" }
    try {
      this.quorumFor(members)
    } catch {
      return { _tag: "Refused", reason: "invalid-membership" }
    }
    this.pending = new PendingMembership({
      epoch: this.current.epoch + 1,
      members: members as Array<ReplicaId>,
      effectiveFrom: (slot + this.alpha) as never
    }, true)
    return { _tag: "Scheduled", pending: this.pending }
  }

  toRecord(): ConfigRecord {
    return new ConfigRecord(this.pending === undefined ? { current: this.current } : { current: this.current, pending: this.pending }, true)
  }

  restore(record: ConfigRecord): void {
    this.current = record.current
    this.pending = record.pending
  }
}
