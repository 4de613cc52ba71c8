/**
 * Per-peer budgets for answers that cost more than the request that asks for
 * them (retransmissions, batches, states): a faulty peer asking in a loop gets
 * at most `limit` answers per `window` ticks. Keys are (authenticated member,
 * kind), so the map holds at most n × kinds entries.
 */
export type Kind = "status" | "batch" | "state" | "new-view"

export class RateLimit {
  private readonly windows = new Map<string, { start: number; count: number }>()

  allow(peer: string, kind: Kind, now: number, limit: number, window: number): boolean {
    const key = `${peer}|${kind}`
    const w = this.windows.get(key)
    if (w === undefined || now >= w.start + window) {
      this.windows.set(key, { start: now, count: 1 })
      return true
    }
    if (w.count >= limit) return false
    w.count++
    return true
  }
}
