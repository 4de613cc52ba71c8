/**
 * Client sessions: exactly-once execution of `(clientId, seq)`.
 *
 * A session remembers, per client, the results of the seqs it executed that
 * the client has not yet acknowledged (`ackedBelow`: every seq below it has
 * completed at the client). A request is
 *   - executed when its seq is >= ackedBelow and has no remembered result;
 *   - answered from the remembered result when it has one (a retry, or the
 *     same request re-proposed in a second slot by a new leader);
 *   - never executed when its seq is below ackedBelow ("stale": the client has
 *     already completed it, or gave up on it).
 *
 * The table is part of the replicated state: it changes only while applying
 * chosen slots, in slot order, so every replica holds the same table, and it
 * travels in snapshots.
 *
 * Limits: `maxResults` results per session (beyond it the lowest seq is
 * forgotten and ackedBelow moves past it, so it can never execute again);
 * `maxSessions` sessions (beyond it the least recently active session is
 * evicted; a client evicted while it still retries an old request could see
 * it execute twice, which is why the default is large).
 */
import type { ClientId } from "@synod/core"
import { SessionRecord, type SessionResult } from "./Messages.js"

export type SessionCheck =
  | { readonly _tag: "New" }
  | { readonly _tag: "Duplicate"; readonly result: SessionResult }
  | { readonly _tag: "Stale" }

interface Session {
  ackedBelow: number
  lastIndex: number
  readonly results: Map<number, SessionResult>
}

const NEW: SessionCheck = { _tag: "New" }
const STALE: SessionCheck = { _tag: "Stale" }

export class SessionTable {
  private readonly sessions = new Map<string, Session>()

  constructor(private readonly maxSessions: number, private readonly maxResults: number) {}

  get size(): number {
    return this.sessions.size
  }

  /** What applying `(clientId, seq)` now would do; changes nothing (admission check). */
  lookup(clientId: string, seq: number): SessionCheck {
    const s = this.sessions.get(clientId)
    if (s === undefined) return NEW
    if (seq < s.ackedBelow) return STALE
    const result = s.results.get(seq)
    return result !== undefined ? { _tag: "Duplicate", result } : NEW
  }

  /**
   * Start applying an item at slot `index`: fold in the client's
   * acknowledgement, then classify the item. Deterministic.
   */
  begin(item: { readonly clientId: string; readonly seq: number; readonly ackedBelow: number }, index: number): SessionCheck {
    let s = this.sessions.get(item.clientId)
    if (s === undefined) {
      s = { ackedBelow: 0, lastIndex: index, results: new Map() }
      this.sessions.set(item.clientId, s)
      this.evictSessions(item.clientId)
    }
    s.lastIndex = index
    // an item claiming its own seq is acknowledged is malformed: never execute it
    if (item.ackedBelow > item.seq) return STALE
    if (item.ackedBelow > s.ackedBelow) {
      s.ackedBelow = item.ackedBelow
      for (const seq of [...s.results.keys()]) if (seq < s.ackedBelow) s.results.delete(seq)
    }
    return this.lookup(item.clientId, item.seq)
  }

  /** Remember the result of an executed (or deterministically refused) item. */
  record(clientId: string, seq: number, result: SessionResult): void {
    const s = this.sessions.get(clientId)
    if (s === undefined) return
    s.results.set(seq, result)
    while (s.results.size > this.maxResults) {
      let lowest = Infinity
      for (const k of s.results.keys()) lowest = Math.min(lowest, k)
      s.results.delete(lowest)
      s.ackedBelow = Math.max(s.ackedBelow, lowest + 1)
    }
  }

  private evictSessions(keep: string): void {
    while (this.sessions.size > this.maxSessions) {
      let victim: string | undefined
      let victimIndex = Infinity
      for (const [id, s] of this.sessions) {
        if (id === keep) continue
        if (s.lastIndex < victimIndex || (s.lastIndex === victimIndex && victim !== undefined && id < victim)) {
          victim = id
          victimIndex = s.lastIndex
        }
      }
      if (victim === undefined) return
      this.sessions.delete(victim)
    }
  }

  /** The table in canonical order (by client id, results by seq): for snapshots. */
  toRecords(): Array<SessionRecord> {
    return [...this.sessions.keys()].sort().map((clientId) => {
      const s = this.sessions.get(clientId)!
      const results = [...s.results.keys()].sort((a, b) => a - b).map((seq) => ({ seq: seq as never, result: s.results.get(seq)! }))
      return new SessionRecord({
        clientId: clientId as ClientId,
        ackedBelow: s.ackedBelow as never,
        lastIndex: s.lastIndex as never,
        results
      }, true)
    })
  }

  /** Replace the table with a snapshot's. */
  restore(records: ReadonlyArray<SessionRecord>): void {
    this.sessions.clear()
    for (const r of records) {
      this.sessions.set(r.clientId, {
        ackedBelow: r.ackedBelow,
        lastIndex: r.lastIndex,
        results: new Map(r.results.map((x) => [x.seq, x.result] as const))
      })
    }
  }
}
