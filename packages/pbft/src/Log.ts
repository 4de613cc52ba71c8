/**
 * The message log (OSDI'99 §4.2) as one `Slot` per sequence number inside the
 * watermarks: sequence number n is accepted only when h < n <= H = h + L,
 * where h is the stable checkpoint (§4.3). `truncate` is the garbage
 * collection below a new stable checkpoint, so the log never holds more than
 * L slots.
 */
import type { ReplicaId } from "@synod/core"
import type { Signed } from "./internal/Frames.js"
import type { Commit, Digest, PrePrepare, Prepare } from "./Messages.js"

/** A prepared certificate (§4.2): the primary's pre-prepare and 2f matching prepares from distinct backups. */
export interface PreparedCertificate {
  readonly view: number
  readonly seq: number
  readonly digest: Digest
  readonly prePrepare: Uint8Array
  readonly prepares: ReadonlyArray<Uint8Array>
}

export interface Slot {
  readonly seq: number
  /** The view whose pre-prepare, prepares and commits this slot is collecting. */
  view: number
  /** The accepted pre-prepare of `view`. */
  prePrepare: Signed<PrePrepare> | undefined
  /** A pre-prepare of `view` whose batch has not arrived yet (accepted once it does). */
  awaitingBatch: Signed<PrePrepare> | undefined
  /** Prepares of `view`, one per backup (a second, different one is equivocation). */
  readonly prepares: Map<ReplicaId, Signed<Prepare>>
  readonly commits: Map<ReplicaId, Signed<Commit>>
  /** Prepared certificate of the highest view this replica prepared in; survives view changes (it is P). */
  prepared: PreparedCertificate | undefined
  /** Our commit for `view` went out (we are prepared in `view`). */
  commitSent: boolean
  /** committed-local in `view`: ready to execute in order. */
  committed: boolean
  /** Peers we told about our pre-prepare after they prepared another digest (evidence of equivocation). */
  readonly toldConflict: Set<ReplicaId>
  /** Tick at which to ask for a missing batch again. */
  batchFetchAt: number
}

export class Log {
  private readonly slots = new Map<number, Slot>()
  /** h: sequence number of the last stable checkpoint. */
  low = 0

  constructor(readonly window: number) {}

  /** H = h + L. */
  get high(): number {
    return this.low + this.window
  }

  inWindow(seq: number): boolean {
    return seq > this.low && seq <= this.high
  }

  peek(seq: number): Slot | undefined {
    return this.slots.get(seq)
  }

  /**
   * The slot for `seq`, moved to `view`: the round state of an older view is
   * dropped (messages of an old view never count in a newer one), the prepared
   * certificate is kept for the view-change's P set.
   */
  slot(seq: number, view: number): Slot {
    let s = this.slots.get(seq)
    if (s === undefined) {
      s = {
        seq,
        view,
        prePrepare: undefined,
        awaitingBatch: undefined,
        prepares: new Map(),
        commits: new Map(),
        prepared: undefined,
        commitSent: false,
        committed: false,
        toldConflict: new Set(),
        batchFetchAt: 0
      }
      this.slots.set(seq, s)
    } else if (s.view < view) {
      s.view = view
      s.prePrepare = undefined
      s.awaitingBatch = undefined
      s.prepares.clear()
      s.commits.clear()
      s.commitSent = false
      s.committed = false
      s.toldConflict.clear()
    }
    return s
  }

  /** Slots in sequence-number order. */
  ordered(): Array<Slot> {
    return [...this.slots.values()].sort((a, b) => a.seq - b.seq)
  }

  size(): number {
    return this.slots.size
  }

  /** Garbage-collect everything at or below the new stable checkpoint `h`. */
  truncate(h: number): void {
    if (h <= this.low) return
    this.low = h
    for (const seq of this.slots.keys()) if (seq <= h) this.slots.delete(seq)
  }
}
