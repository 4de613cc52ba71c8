/**
 * The simulator's agenda: a binary min-heap of events ordered by
 * (time, insertion counter). The counter makes order total, so equal times
 * never fall back on anything but the order in which the events were
 * scheduled — the property that makes a seed replay exactly.
 */

export const enum EventKind {
  /** A frame arrives at `node`. */
  Deliver = 0,
  /** `node`'s (replica or client) clock ticks. */
  Tick = 1,
  /** The simulator's own once-per-tick work: workload, faults, adversary, phases. */
  Control = 2
}

/** One scheduled event. A single shape for every kind keeps the hot loop monomorphic. */
export interface SimEvent {
  time: number
  seq: number
  kind: EventKind
  /** Receiver of a delivery, or the node that ticks. */
  node: number
  /** Sender of a delivery (-1 otherwise). */
  from: number
  /** The sender's incarnation when it sent: frames from before a crash die with it. */
  incarnation: number
  /** Per-link send counter, to count reorders. */
  linkSeq: number
  frame: Uint8Array | undefined
  /**
   * Shared by every copy of one sealed frame (a broadcast's receivers, network
   * duplicates): the first receiver opens the frame and leaves the outcome here.
   */
  opened?: OpenedFrame | undefined
}

/** The outcome of opening one frame object, sent by one node. */
export interface OpenedFrame {
  /** `Envelope.open`'s result; undefined until the first copy arrives. */
  result: unknown
}

export class EventQueue {
  private heap: Array<SimEvent> = []
  private counter = 0

  get size(): number {
    return this.heap.length
  }

  /** Schedule an event; its `seq` is assigned here. */
  push(e: SimEvent): void {
    e.seq = this.counter++
    const h = this.heap
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      const parent = h[p]!
      if (!before(e, parent)) break
      h[i] = parent
      i = p
    }
    h[i] = e
  }

  /** Schedule an event built from these fields (one object shape for every event). */
  schedule(
    time: number,
    kind: EventKind,
    node: number,
    from: number,
    incarnation: number,
    linkSeq: number,
    frame: Uint8Array | undefined,
    opened: OpenedFrame | undefined
  ): void {
    this.push({ time, seq: 0, kind, node, from, incarnation, linkSeq, frame, opened })
  }

  peek(): SimEvent | undefined {
    return this.heap[0]
  }

  pop(): SimEvent | undefined {
    const h = this.heap
    const top = h[0]
    if (top === undefined) return undefined
    const last = h.pop()!
    if (h.length > 0) {
      let i = 0
      const n = h.length
      for (;;) {
        const l = 2 * i + 1
        if (l >= n) break
        const r = l + 1
        const c = r < n && before(h[r]!, h[l]!) ? r : l
        const child = h[c]!
        if (!before(child, last)) break
        h[i] = child
        i = c
      }
      h[i] = last
    }
    return top
  }
}

const before = (x: SimEvent, y: SimEvent): boolean => x.time < y.time || (x.time === y.time && x.seq < y.seq)
