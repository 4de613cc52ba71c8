/**
 * Polls each replica's `/status` and keeps the latest answer, the process
 * state the demo knows (starting, up, down), and derives the events worth a
 * line: view changes, new stable checkpoints seen by the correct replicas.
 */
import { Effect, Either } from "effect"
import { decodeStatus, type ReplicaStatus } from "../ReplicaStatus.js"
import type { ReplicaRow } from "./Display.js"
import { getJson } from "./Http.js"

export const POLL_TIMEOUT_MS = 1500

interface Slot {
  readonly id: number
  readonly byzantine: string | undefined
  url: string | undefined
  state: ReplicaRow["state"]
  status: ReplicaStatus | undefined
  /** Polls in a row without an answer while up. */
  misses: number
}

export class Monitor {
  private readonly slots: Array<Slot>
  private lastView = 0

  constructor(n: number, byzantine: ReadonlyMap<number, string>) {
    this.slots = Array.from({ length: n }, (_, id) => ({ id, byzantine: byzantine.get(id), url: undefined, state: "starting", status: undefined, misses: 0 }))
  }

  started(id: number, url: string): void {
    const s = this.slots[id]!
    s.url = url
    s.state = "up"
    s.misses = 0
  }

  stopped(id: number): void {
    const s = this.slots[id]!
    s.url = undefined
    s.state = "down"
    s.status = undefined
  }

  restarting(id: number): void {
    this.slots[id]!.state = "starting"
  }

  rows(): ReadonlyArray<ReplicaRow> {
    return this.slots.map((s) => ({ id: s.id, byzantine: s.byzantine, status: s.status, state: s.state }))
  }

  /** Statuses of correct replicas that are up and answering. */
  correct(): ReadonlyArray<ReplicaStatus> {
    return this.slots.filter((s) => s.byzantine === undefined && s.state === "up" && s.status !== undefined).map((s) => s.status!)
  }

  correctIds(): ReadonlyArray<number> {
    return this.slots.filter((s) => s.byzantine === undefined).map((s) => s.id)
  }

  url(id: number): string | undefined {
    return this.slots[id]!.url
  }

  /** The primary most correct replicas name, if any answer. */
  primary(): number | undefined {
    const votes = new Map<number, number>()
    for (const s of this.correct()) votes.set(s.primary, (votes.get(s.primary) ?? 0) + 1)
    let best: number | undefined
    for (const [p, n] of votes) if (best === undefined || n > votes.get(best)!) best = p
    return best
  }

  /** Ask every running replica for its status; returns event lines (view changes). */
  poll(): Effect.Effect<ReadonlyArray<string>> {
    return Effect.forEach(this.slots, (slot) => {
      const url = slot.url
      if (url === undefined || slot.state !== "up") return Effect.void
      return getJson(`${url}/status`, POLL_TIMEOUT_MS).pipe(
        Effect.either,
        Effect.map((r) => {
          if (slot.url !== url) return
          const decoded = Either.isRight(r) ? decodeStatus(r.right) : r
          if (Either.isRight(decoded)) {
            slot.status = decoded.right
            slot.misses = 0
          } else if (++slot.misses >= 3) {
            slot.status = undefined
          }
        })
      )
    }, { concurrency: "unbounded", discard: true }).pipe(Effect.map(() => this.events()))
  }

  private events(): Array<string> {
    const out: Array<string> = []
    const correct = this.correct()
    // a view is "in" when a majority of the correct replicas that answer are in it (or beyond)
    const views = correct.filter((s) => s.role !== "view-change").map((s) => s.view).sort((a, b) => b - a)
    const view = views[Math.floor(views.length / 2)]
    if (view !== undefined && view > this.lastView) {
      const primary = correct.find((s) => s.view === view)?.primary
      out.push(`view ${view}: replica ${primary ?? "?"} is the primary${this.slots[primary ?? -1]?.byzantine !== undefined ? " (the Byzantine one)" : ""}`)
      this.lastView = view
    }
    return out
  }
}
