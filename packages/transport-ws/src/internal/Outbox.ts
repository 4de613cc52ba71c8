/**
 * A per-peer outbound queue bounded in frames and in bytes. When a new frame
 * does not fit, the OLDEST frames are evicted to make room (drop-head) and the
 * caller counts them. Why drop the oldest: both protocols retransmit what
 * matters (Paxos re-proposes, PBFT clients retransmit and replicas re-send on
 * view change), and after an outage the newest messages (current view, latest
 * commits, heartbeats) are the useful ones; old ones are mostly stale.
 */
export class Outbox {
  private items: Array<Uint8Array | undefined> = []
  private head = 0
  private queuedBytes = 0

  constructor(readonly maxFrames: number, readonly maxBytes: number) {
    if (!Number.isInteger(maxFrames) || maxFrames < 1) throw new RangeError(`Outbox: maxFrames must be a positive integer, got ${maxFrames}`)
    if (!(maxBytes >= 1)) throw new RangeError(`Outbox: maxBytes must be positive, got ${maxBytes}`)
  }

  get length(): number {
    return this.items.length - this.head
  }

  get bytes(): number {
    return this.queuedBytes
  }

  /** Enqueue `frame`; returns how many older frames were evicted to fit it. A frame larger than `maxBytes` is a caller bug. */
  push(frame: Uint8Array): number {
    if (frame.byteLength > this.maxBytes) throw new RangeError(`Outbox: frame of ${frame.byteLength} bytes exceeds ${this.maxBytes}`)
    let evicted = 0
    while (this.length > 0 && (this.length + 1 > this.maxFrames || this.queuedBytes + frame.byteLength > this.maxBytes)) {
      this.shift()
      evicted++
    }
    this.items.push(frame)
    this.queuedBytes += frame.byteLength
    return evicted
  }

  peek(): Uint8Array | undefined {
    return this.items[this.head]
  }

  shift(): Uint8Array | undefined {
    if (this.head >= this.items.length) return undefined
    const frame = this.items[this.head]!
    this.items[this.head] = undefined
    this.head++
    this.queuedBytes -= frame.byteLength
    // compact once the dead prefix dominates, so memory stays O(length)
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return frame
  }

  /** Drop everything; returns how many frames were dropped. */
  clear(): number {
    const n = this.length
    this.items = []
    this.head = 0
    this.queuedBytes = 0
    return n
  }
}
