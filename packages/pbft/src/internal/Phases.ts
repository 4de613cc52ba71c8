/**
 * The `RequestPhase` events of one replica (see `Protocol.RequestPhase`):
 * each phase at most once per request, in the order received, proposed,
 * prepared, committed, executed, replied, even when a view change
 * re-proposes a request at another sequence number or a request appears in
 * two batches. A phase that comes after a later one was reported is dropped
 * (a new-view's O can commit a request before this replica saw its batch).
 *
 * Limits: at most `limit` requests are tracked; a request leaves at
 * `replied`, when a state transfer covers it, or (oldest first) when the
 * table is full, so requests that never execute here cannot grow memory.
 * One that was evicted and then advances again can report a phase twice.
 */
import type { Protocol } from "@synod/core"
import type { ReplyTable } from "../StateTransfer.js"

const RANK: { readonly [P in Protocol.RequestPhase]: number } = {
  received: 0,
  proposed: 1,
  prepared: 2,
  committed: 3,
  executed: 4,
  replied: 5
}

interface Reached {
  readonly clientId: string
  readonly seq: number
  rank: number
}

const keyOf = (clientId: string, seq: number) => `${clientId}#${seq}`

export class RequestPhases {
  private readonly reached = new Map<string, Reached>()

  constructor(private readonly limit: number) {}

  get size(): number {
    return this.reached.size
  }

  /**
   * Whether `phase` of the request is news (and then it is recorded).
   * `replies` is the replica's last-reply table: a request executed here
   * reports nothing but its own `executed` and `replied`.
   */
  advance(replies: ReplyTable, clientId: string, seq: number, phase: Protocol.RequestPhase): boolean {
    const rank = RANK[phase]
    if (rank < RANK.executed) {
      const last = replies.get(clientId)
      if (last !== undefined && last.seq >= seq) return false
    }
    const key = keyOf(clientId, seq)
    const r = this.reached.get(key)
    if (r !== undefined && r.rank >= rank) return false
    if (phase === "replied") {
      this.reached.delete(key)
      return true
    }
    if (r !== undefined) {
      r.rank = rank
      return true
    }
    if (this.reached.size >= this.limit) {
      const oldest = this.reached.keys().next()
      if (oldest.done !== true) this.reached.delete(oldest.value)
    }
    this.reached.set(key, { clientId, seq, rank })
    return true
  }

  /** Forget requests the reply table shows executed (after a state transfer replaced it). */
  forgetExecuted(replies: ReplyTable): void {
    for (const [key, r] of this.reached) {
      const last = replies.get(r.clientId)
      if (last !== undefined && last.seq >= r.seq) this.reached.delete(key)
    }
  }
}
