/**
 * Batches by digest. A batch arrives separately from its pre-prepare and is
 * kept while some slot refers to it (accepted or awaiting pre-prepare, or a
 * prepared certificate); at most `maxUnreferenced` others are kept, oldest
 * dropped first, so a peer replaying batches cannot grow memory.
 */
import type { Protocol } from "@synod/core"
import type { Log } from "../Log.js"
import type { Digest, Request } from "../Messages.js"

export interface StoredBatch {
  readonly digest: Digest
  readonly frames: ReadonlyArray<Uint8Array>
  /** The requests as opened (client signature verified) from `frames`. */
  readonly verified: ReadonlyArray<Protocol.Verified<Request>>
  readonly requests: ReadonlyArray<Request>
  readonly bytes: number
}

export class Batches {
  private readonly byDigest = new Map<Digest, StoredBatch>()

  constructor(private readonly log: Log, private readonly maxUnreferenced: number) {}

  get(digest: Digest): StoredBatch | undefined {
    return this.byDigest.get(digest)
  }

  has(digest: Digest): boolean {
    return this.byDigest.has(digest)
  }

  add(batch: StoredBatch): void {
    this.byDigest.set(batch.digest, batch)
    if (this.byDigest.size > this.log.window * 3 + this.maxUnreferenced) this.collect(this.maxUnreferenced)
  }

  private referenced(): Set<Digest> {
    const refs = new Set<Digest>()
    for (const s of this.log.ordered()) {
      if (s.prePrepare !== undefined) refs.add(s.prePrepare.message.digest)
      if (s.awaitingBatch !== undefined) refs.add(s.awaitingBatch.message.digest)
      if (s.prepared !== undefined) refs.add(s.prepared.digest)
    }
    return refs
  }

  /** Drop unreferenced batches, oldest first, until at most `keep` of them remain. */
  collect(keep = 0): void {
    const refs = this.referenced()
    let unreferenced = 0
    for (const d of this.byDigest.keys()) if (!refs.has(d)) unreferenced++
    for (const d of [...this.byDigest.keys()]) {
      if (unreferenced <= keep) break
      if (!refs.has(d)) {
        this.byDigest.delete(d)
        unreferenced--
      }
    }
  }

  size(): number {
    return this.byDigest.size
  }
}
