/**
 * Checkpoint messages and stable checkpoints (OSDI'99 §4.3). A checkpoint at
 * sequence number n (a multiple of K) becomes stable when checkpoint messages
 * with the same state digest arrive from a replication quorum; those signed
 * messages are the proof that a view-change or state transfer carries.
 *
 * Checkpoints above the high watermark are kept too (a replica that fell far
 * behind learns from them that it must fetch state), bounded per sender: each
 * sender keeps only its `perSender` highest checkpoints.
 */
import type { ReplicaId, TrustModel } from "@synod/core"
import type { Signed } from "./internal/Frames.js"
import type { Checkpoint, Digest } from "./Messages.js"

export type AddResult =
  | { readonly _tag: "Added" }
  | { readonly _tag: "Duplicate" }
  /** The sender signed another digest for the same sequence number. */
  | { readonly _tag: "Conflict"; readonly earlier: Signed<Checkpoint> }

export interface StableCertificate {
  readonly seq: number
  readonly digest: Digest
  readonly proof: ReadonlyArray<Uint8Array>
}

export class Checkpoints {
  private readonly bySeq = new Map<number, Map<ReplicaId, Signed<Checkpoint>>>()
  private readonly seqsOf = new Map<ReplicaId, Array<number>>()

  constructor(private readonly perSender: number) {}

  add(c: Signed<Checkpoint>): AddResult {
    const seq = c.message.seq
    let at = this.bySeq.get(seq)
    const earlier = at?.get(c.from)
    if (earlier !== undefined) {
      return earlier.message.stateDigest === c.message.stateDigest ? { _tag: "Duplicate" } : { _tag: "Conflict", earlier }
    }
    if (at === undefined) {
      at = new Map()
      this.bySeq.set(seq, at)
    }
    at.set(c.from, c)
    const seqs = this.seqsOf.get(c.from) ?? []
    seqs.push(seq)
    seqs.sort((a, b) => a - b)
    while (seqs.length > this.perSender) this.forget(c.from, seqs.shift()!)
    this.seqsOf.set(c.from, seqs)
    return { _tag: "Added" }
  }

  private forget(from: ReplicaId, seq: number) {
    const at = this.bySeq.get(seq)
    at?.delete(from)
    if (at !== undefined && at.size === 0) this.bySeq.delete(seq)
  }

  /** A stable-checkpoint certificate for `seq`, if some digest has a replication quorum. */
  certificate(seq: number, trust: TrustModel.QuorumSystem): StableCertificate | undefined {
    const at = this.bySeq.get(seq)
    if (at === undefined) return undefined
    const byDigest = new Map<Digest, Array<Signed<Checkpoint>>>()
    for (const c of at.values()) {
      const group = byDigest.get(c.message.stateDigest) ?? []
      group.push(c)
      byDigest.set(c.message.stateDigest, group)
    }
    for (const [digest, group] of byDigest) {
      if (trust.isQuorum("replication", group.map((c) => c.from))) {
        const sorted = [...group].sort((a, b) => a.from - b.from)
        return { seq, digest, proof: sorted.map((c) => c.frame) }
      }
    }
    return undefined
  }

  /** Highest sequence number with a stable certificate, if any above `above`. */
  highestCertificate(above: number, trust: TrustModel.QuorumSystem): StableCertificate | undefined {
    const seqs = [...this.bySeq.keys()].filter((s) => s > above).sort((a, b) => b - a)
    for (const s of seqs) {
      const cert = this.certificate(s, trust)
      if (cert !== undefined) return cert
    }
    return undefined
  }

  /** Our own checkpoint message at `seq`, if we sent one. */
  own(seq: number, self: ReplicaId): Signed<Checkpoint> | undefined {
    return this.bySeq.get(seq)?.get(self)
  }

  /** Forget checkpoints below the stable checkpoint. */
  truncate(below: number): void {
    for (const seq of [...this.bySeq.keys()]) {
      if (seq < below) {
        for (const from of this.bySeq.get(seq)!.keys()) {
          const seqs = this.seqsOf.get(from)
          if (seqs !== undefined) this.seqsOf.set(from, seqs.filter((s) => s !== seq))
        }
        this.bySeq.delete(seq)
      }
    }
  }

  size(): number {
    let n = 0
    for (const at of this.bySeq.values()) n += at.size
    return n
  }
}
