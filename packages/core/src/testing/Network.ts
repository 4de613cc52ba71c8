/**
 * The simulated network, in the shape of TigerBeetle's packet simulator: every
 * frame is a packet on a directed link (from, to) with a seeded delay; links
 * may lose, duplicate or hold back packets, and replica-to-replica links can be
 * cut (symmetric partitions, isolation, one-way cuts) until healed.
 *
 * Nodes are numbered replicas first (`0 .. replicas-1`), then clients. Clients
 * are never partitioned: a client that can still reach a minority replica is
 * exactly the situation that tests stale reads.
 *
 * Partitions are checked when a packet arrives, so a cut also loses what was
 * already in flight on the link, as on a real network.
 */
import { EventKind, type EventQueue, type OpenedFrame, type SimEvent } from "./internal/EventQueue.js"
import { bump, type SimStats } from "./internal/Stats.js"
import type { Prng } from "./Prng.js"

/** Simulated time units per tick. Delays and clock jitter are finer than a tick. */
export const TICK = 1000

export interface LinkFaults {
  /** Probability that a packet is lost. */
  drop: number
  /** Probability that a packet is delivered twice (the copy has its own delay). */
  duplicate: number
  /** Probability that a packet takes a long path (up to `longDelay` extra), overtaken by later packets. */
  reorder: number
}

export interface NetworkOptions {
  /** Replicas + clients. */
  readonly nodes: number
  readonly replicas: number
  /** One-way delay bounds, in time units (TICK per tick). */
  readonly minDelay: number
  readonly maxDelay: number
  /** Largest extra delay of a reordered packet, in time units. */
  readonly longDelay: number
  /** Packets in flight per directed link; more are dropped (a full queue, cause "overflow"). */
  readonly linkCapacity: number
}

export const defaultNetworkOptions = (replicas: number, clients: number): NetworkOptions => ({
  nodes: replicas + clients,
  replicas,
  minDelay: TICK / 20,
  maxDelay: (3 * TICK) / 2,
  longDelay: 10 * TICK,
  linkCapacity: 4096
})

export const noFaults = (): LinkFaults => ({ drop: 0, duplicate: 0, reorder: 0 })

export class Network {
  readonly options: NetworkOptions
  faults: LinkFaults = noFaults()
  private readonly n: number
  /** blocked[from * n + to] = 1 when the directed link is cut. */
  private readonly blocked: Uint8Array
  private readonly inFlight: Int32Array
  private readonly sendSeq: Int32Array
  private readonly maxArrived: Int32Array
  private cuts = 0

  constructor(
    options: NetworkOptions,
    private readonly queue: EventQueue,
    private readonly rng: Prng,
    private readonly stats: SimStats
  ) {
    this.options = options
    this.n = options.nodes
    const links = this.n * this.n
    this.blocked = new Uint8Array(links)
    this.inFlight = new Int32Array(links)
    this.sendSeq = new Int32Array(links)
    this.maxArrived = new Int32Array(links).fill(-1)
  }

  /**
   * Put a frame on the link `from -> to` at time `now`; `incarnation` is the
   * sender's. `opened`, when given, is shared by every packet carrying this
   * same frame object from `from` (see `SimEvent.opened`).
   */
  send(from: number, to: number, frame: Uint8Array, now: number, incarnation: number, opened?: OpenedFrame): void {
    const link = from * this.n + to
    if (from === to) {
      // loopback never touches the wire
      this.schedule(link, from, to, frame, now + this.options.minDelay, incarnation, opened)
      return
    }
    const f = this.faults
    if (f.drop > 0 && this.rng.chance(f.drop)) {
      this.lose("loss")
      return
    }
    this.schedule(link, from, to, frame, now + this.delay(), incarnation, opened)
    if (f.duplicate > 0 && this.rng.chance(f.duplicate)) {
      this.stats.duplicates++
      this.schedule(link, from, to, frame, now + this.delay(), incarnation, opened)
    }
  }

  /**
   * A packet reaches the end of its link: true if it survives the link's
   * current state. Updates in-flight and reorder accounting.
   */
  arrive(e: SimEvent): boolean {
    const link = e.from * this.n + e.node
    this.inFlight[link]!--
    if (this.blocked[link] === 1) {
      this.lose("partition")
      return false
    }
    if (e.linkSeq < this.maxArrived[link]!) this.stats.reorders++
    else this.maxArrived[link] = e.linkSeq
    return true
  }

  lose(cause: string): void {
    this.stats.drops++
    bump(this.stats.dropsByCause, cause)
  }

  /** Replicas in different groups cannot talk (both directions); replicas in no group are cut from all. */
  partition(groups: ReadonlyArray<ReadonlyArray<number>>): void {
    const group = new Int32Array(this.options.replicas).fill(-1)
    groups.forEach((g, i) => {
      for (const r of g) {
        if (r < 0 || r >= this.options.replicas) throw new RangeError(`partition: no replica ${r}`)
        group[r] = i
      }
    })
    for (let a = 0; a < this.options.replicas; a++) {
      for (let b = 0; b < this.options.replicas; b++) {
        if (a === b) continue
        const apart = group[a] === -1 || group[b] === -1 || group[a] !== group[b]
        this.setCut(a, b, apart)
      }
    }
    this.stats.partitions++
  }

  /** Cut one direction only: `from` can no longer reach `to`, `to` still reaches `from`. */
  cutOneWay(from: number, to: number): void {
    if (from === to) return
    this.setCut(from, to, true)
    this.stats.asymmetricPartitions++
  }

  heal(): void {
    if (this.cuts === 0) return
    this.blocked.fill(0)
    this.cuts = 0
    this.stats.heals++
  }

  isCut(from: number, to: number): boolean {
    return this.blocked[from * this.n + to] === 1
  }

  isPartitioned(): boolean {
    return this.cuts > 0
  }

  private setCut(a: number, b: number, cut: boolean): void {
    const link = a * this.n + b
    const was = this.blocked[link] === 1
    if (was === cut) return
    this.blocked[link] = cut ? 1 : 0
    this.cuts += cut ? 1 : -1
  }

  private delay(): number {
    const o = this.options
    let d = o.minDelay + this.rng.int(o.maxDelay - o.minDelay + 1)
    if (this.faults.reorder > 0 && this.rng.chance(this.faults.reorder)) {
      this.stats.longDelays++
      d += this.rng.int(o.longDelay) + 1
    }
    return d
  }

  private schedule(
    link: number,
    from: number,
    to: number,
    frame: Uint8Array,
    time: number,
    incarnation: number,
    opened: OpenedFrame | undefined
  ): void {
    if (this.inFlight[link]! >= this.options.linkCapacity) {
      this.lose("overflow")
      return
    }
    this.inFlight[link]!++
    this.queue.schedule(time, EventKind.Deliver, to, from, incarnation, this.sendSeq[link]!++, frame, opened)
  }
}
