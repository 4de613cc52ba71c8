/**
 * The safety phase's fault scheduler: once per tick it may cut the network
 * (symmetric split, isolation, one-way cuts), heal it, crash a correct replica
 * (never more than the trust model tolerates at once) and restart it later.
 * Every decision comes from its own PRNG stream.
 */
import type { Prng } from "../Prng.js"

export interface FaultOptions {
  /** Per-packet loss probability. */
  readonly drop: number
  /** Per-packet duplication probability. */
  readonly duplicate: number
  /** Whether some packets take long paths (reordering). */
  readonly reorder: boolean
  readonly partitions: boolean
  readonly crashes: boolean
  /** Chance that a crash strikes between a Ready and its persistence, losing those writes. */
  readonly unsyncedLoss: number
  /** Per-replica clock rates differ by up to ±5%. */
  readonly clockSkew: boolean
}

/** Fault settings drawn from the seed, for runs that do not fix them. */
export const faultsFromSeed = (rng: Prng): FaultOptions => ({
  drop: rng.pick([0, 0.01, 0.03, 0.08]),
  duplicate: rng.pick([0, 0.01, 0.05]),
  reorder: rng.chance(0.7),
  partitions: rng.chance(0.7),
  crashes: rng.chance(0.7),
  unsyncedLoss: rng.pick([0.2, 0.5, 0.8]),
  clockSkew: rng.chance(0.5)
})

export const FAULT_KEYS = ["drop", "duplicate", "reorder", "partitions", "crashes", "unsyncedLoss", "clockSkew"] as const

export interface FaultHost {
  readonly replicas: number
  /** Correct replicas that may be down at the same time (f minus the Byzantine ones). */
  readonly maxDown: number
  isCorrect(replica: number): boolean
  isUp(replica: number): boolean
  crash(replica: number): void
  /** Crash at the replica's next Ready, before it is persisted. */
  crashAtNextReady(replica: number): void
  restart(replica: number): void
  partition(groups: ReadonlyArray<ReadonlyArray<number>>): void
  cutOneWay(from: number, to: number): void
  heal(): void
}

/** Per-tick chance of starting a partition / a crash. */
const PARTITION_RATE = 1 / 120
const CRASH_RATE = 1 / 150
/** A crash waiting for a Ready strikes anyway after this many ticks. */
const CRASH_DEADLINE = 20

export class FaultScheduler {
  private healAt: number | undefined
  /** Replicas we took down (or are about to), with the tick to bring them back. */
  private readonly down = new Map<number, { restartAt: number; crashBy: number | undefined }>()

  constructor(private readonly options: FaultOptions, private readonly rng: Prng, private readonly host: FaultHost) {}

  tick(now: number): void {
    if (this.options.partitions) this.partitions(now)
    this.crashes(now)
  }

  /** Replicas this scheduler has down now. */
  crashed(): ReadonlyArray<number> {
    return [...this.down.keys()]
  }

  private partitions(now: number): void {
    const { rng, host } = this
    if (this.healAt !== undefined) {
      if (now >= this.healAt) {
        host.heal()
        this.healAt = undefined
      }
      return
    }
    if (host.replicas < 2 || !rng.chance(PARTITION_RATE)) return
    const n = host.replicas
    switch (rng.int(3)) {
      case 0: {
        const order = rng.shuffle(Array.from({ length: n }, (_, i) => i))
        const cut = 1 + rng.int(n - 1)
        host.partition([order.slice(0, cut), order.slice(cut)])
        break
      }
      case 1: {
        const r = rng.int(n)
        host.partition([[r], Array.from({ length: n }, (_, i) => i).filter((i) => i !== r)])
        break
      }
      default: {
        const cuts = 1 + rng.int(n)
        for (let i = 0; i < cuts; i++) host.cutOneWay(rng.int(n), rng.int(n))
      }
    }
    this.healAt = now + rng.range(10, 200)
  }

  private crashes(now: number): void {
    const { rng, host } = this
    for (const [r, d] of this.down) {
      if (d.crashBy !== undefined && now >= d.crashBy) {
        d.crashBy = undefined
        if (host.isUp(r)) host.crash(r)
      }
      if (d.crashBy === undefined && now >= d.restartAt) {
        this.down.delete(r)
        if (!host.isUp(r)) host.restart(r)
      }
    }
    if (!this.options.crashes || this.down.size >= host.maxDown || !rng.chance(CRASH_RATE)) return
    const candidates: Array<number> = []
    for (let r = 0; r < host.replicas; r++) if (host.isCorrect(r) && host.isUp(r) && !this.down.has(r)) candidates.push(r)
    if (candidates.length === 0) return
    const r = rng.pick(candidates)
    const restartAt = now + rng.range(5, 250)
    if (rng.chance(this.options.unsyncedLoss)) {
      host.crashAtNextReady(r)
      this.down.set(r, { restartAt, crashBy: now + CRASH_DEADLINE })
    } else {
      host.crash(r)
      this.down.set(r, { restartAt, crashBy: undefined })
    }
  }
}
