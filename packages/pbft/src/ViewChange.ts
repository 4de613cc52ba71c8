/**
 * View changes (OSDI'99 §4.4, TOCS'02 §2.3.5): building and checking
 * view-change and new-view messages, and the new primary's computation of O.
 *
 * Safety rests on two checks every receiver repeats: each view-change's
 * certificates verify (its checkpoint proof and every prepared certificate in
 * P), and O is exactly what the view-changes in V imply. A new primary cannot
 * drop a request that prepared at a quorum, nor invent one.
 */
import { type Rejection, reject, type ReplicaId, type TrustModel } from "@synod/core"
import { Either } from "effect"
import { isMember, primaryOf, verifyCheckpointProof, verifyPreparedProof } from "./Certificates.js"
import { NULL_DIGEST } from "./Digest.js"
import type { Frames, Signed } from "./internal/Frames.js"
import type { PreparedCertificate, Slot } from "./Log.js"
import { type Digest, type NewView, type PrePrepare, PreparedProof, ViewChange } from "./Messages.js"
import type { LogIndex, ViewNumber } from "@synod/core"

export interface ValidViewChange {
  readonly from: ReplicaId
  readonly view: number
  readonly stableSeq: number
  readonly stableDigest: Digest
  readonly checkpointProof: ReadonlyArray<Uint8Array>
  /** P, by sequence number. */
  readonly prepared: ReadonlyMap<number, PreparedCertificate>
  readonly frame: Uint8Array
}

export interface ViewChangeContext {
  readonly frames: Frames
  readonly trust: TrustModel.QuorumSystem
  readonly checkpointInterval: number
  readonly logWindow: number
  /** Checkpoint digest of the initial state: the stable checkpoint at 0 needs no proof. */
  readonly genesisDigest: Digest
}

/** The stable checkpoint a replica reports in its view-change. */
export interface StableCheckpoint {
  readonly seq: number
  readonly digest: Digest
  readonly proof: ReadonlyArray<Uint8Array>
}

/** ⟨VIEW-CHANGE, v, n, C, P⟩: P holds every prepared certificate above the stable checkpoint. */
export const buildViewChange = (view: number, stable: StableCheckpoint, slots: ReadonlyArray<Slot>): ViewChange =>
  new ViewChange({
    view: view as ViewNumber,
    stableSeq: stable.seq as LogIndex,
    stableDigest: stable.digest,
    checkpointProof: stable.proof,
    prepared: slots
      .filter((s) => s.seq > stable.seq && s.prepared !== undefined)
      .map((s) => new PreparedProof({ prePrepare: s.prepared!.prePrepare, prepares: s.prepared!.prepares }))
  })

/** Check every certificate a view-change carries. */
export const validateViewChange = (
  ctx: ViewChangeContext,
  signed: Signed<ViewChange>
): Either.Either<ValidViewChange, Rejection> => {
  const { from, message: vc } = signed
  if (!isMember(ctx.trust, from)) return Either.left(reject("not-member", `view-change from ${from}`))
  if (vc.stableSeq % ctx.checkpointInterval !== 0) return Either.left(reject("invalid", `stable checkpoint ${vc.stableSeq} is not a multiple of K`))
  if (vc.stableSeq === 0) {
    if (vc.stableDigest !== ctx.genesisDigest || vc.checkpointProof.length !== 0) {
      return Either.left(reject("invalid", "view-change: bad genesis checkpoint"))
    }
  } else {
    const proof = verifyCheckpointProof(ctx.frames, ctx.trust, vc.checkpointProof, vc.stableSeq, vc.stableDigest)
    if (Either.isLeft(proof)) return Either.left(proof.left)
  }
  const prepared = new Map<number, PreparedCertificate>()
  const bounds = { beforeView: vc.view, low: vc.stableSeq, high: vc.stableSeq + ctx.logWindow }
  for (const proof of vc.prepared) {
    const cert = verifyPreparedProof(ctx.frames, ctx.trust, proof, bounds)
    if (Either.isLeft(cert)) return Either.left(cert.left)
    if (prepared.has(cert.right.seq)) return Either.left(reject("invalid", `view-change has two certificates for ${cert.right.seq}`))
    prepared.set(cert.right.seq, cert.right)
  }
  return Either.right({
    from,
    view: vc.view,
    stableSeq: vc.stableSeq,
    stableDigest: vc.stableDigest,
    checkpointProof: vc.checkpointProof,
    prepared,
    frame: signed.frame
  })
}

export interface NewViewPlan {
  readonly view: number
  /** min-s: the latest stable checkpoint in V, with its proof. */
  readonly checkpoint: StableCheckpoint
  /** max-s: the highest sequence number prepared in V (>= min-s). */
  readonly maxSeq: number
  /** O: one digest per sequence number in (min-s, max-s]; `NULL_DIGEST` for gaps. */
  readonly prePrepares: ReadonlyArray<{ readonly seq: number; readonly digest: Digest }>
}

/**
 * O as in §4.4: min-s is the latest stable checkpoint in V and max-s the highest
 * prepared sequence number; each n in between gets the digest of the prepared
 * certificate with the highest view in V, or the null request. Deterministic
 * in V, so every receiver recomputes the same O.
 */
export const computeNewView = (view: number, viewChanges: ReadonlyArray<ValidViewChange>): NewViewPlan => {
  let checkpoint: StableCheckpoint | undefined
  for (const vc of [...viewChanges].sort((a, b) => a.from - b.from)) {
    if (checkpoint === undefined || vc.stableSeq > checkpoint.seq) {
      checkpoint = { seq: vc.stableSeq, digest: vc.stableDigest, proof: vc.checkpointProof }
    }
  }
  if (checkpoint === undefined) throw new Error("computeNewView: empty V (a bug: callers check the quorum first)")
  const best = new Map<number, PreparedCertificate>()
  for (const vc of viewChanges) {
    for (const cert of vc.prepared.values()) {
      if (cert.seq <= checkpoint.seq) continue
      const b = best.get(cert.seq)
      // two certificates of one view disagree only with more than f faults; the tie-break keeps O deterministic
      if (b === undefined || cert.view > b.view || (cert.view === b.view && cert.digest < b.digest)) best.set(cert.seq, cert)
    }
  }
  let maxSeq = checkpoint.seq
  for (const seq of best.keys()) maxSeq = Math.max(maxSeq, seq)
  const prePrepares: Array<{ seq: number; digest: Digest }> = []
  for (let n = checkpoint.seq + 1; n <= maxSeq; n++) prePrepares.push({ seq: n, digest: best.get(n)?.digest ?? NULL_DIGEST })
  return { view, checkpoint, maxSeq, prePrepares }
}

export interface ValidNewView {
  readonly plan: NewViewPlan
  readonly prePrepares: ReadonlyArray<Signed<PrePrepare>>
  readonly frame: Uint8Array
}

/** Check a new-view: signed by the new primary, V a valid election quorum for its view, O recomputed from V. */
export const validateNewView = (ctx: ViewChangeContext, signed: Signed<NewView>): Either.Either<ValidNewView, Rejection> => {
  const nv = signed.message
  const primary = primaryOf(ctx.trust, nv.view)
  if (signed.from !== primary) return Either.left(reject("invalid", `new-view for ${nv.view} not from its primary ${primary}`))
  const vcs: Array<ValidViewChange> = []
  const senders = new Set<ReplicaId>()
  for (const frame of nv.viewChanges) {
    const opened = ctx.frames.openReplica(frame, "ViewChange")
    if (Either.isLeft(opened)) return Either.left(reject("invalid", `new-view: ${opened.left.message}`))
    if (opened.right.message.view !== nv.view) return Either.left(reject("invalid", "new-view: view-change for another view"))
    if (senders.has(opened.right.from)) return Either.left(reject("invalid", `new-view: two view-changes from ${opened.right.from}`))
    const valid = validateViewChange(ctx, opened.right)
    if (Either.isLeft(valid)) return Either.left(reject("invalid", `new-view: ${valid.left.message}`))
    senders.add(opened.right.from)
    vcs.push(valid.right)
  }
  if (!ctx.trust.isQuorum("election", senders)) return Either.left(reject("invalid", "new-view: V is not a quorum"))
  const plan = computeNewView(nv.view, vcs)
  if (nv.prePrepares.length !== plan.prePrepares.length) return Either.left(reject("invalid", "new-view: O does not match V"))
  const pps: Array<Signed<PrePrepare>> = []
  for (let i = 0; i < plan.prePrepares.length; i++) {
    const pp = ctx.frames.openReplica(nv.prePrepares[i]!, "PrePrepare")
    if (Either.isLeft(pp)) return Either.left(reject("invalid", `new-view: ${pp.left.message}`))
    const want = plan.prePrepares[i]!
    const got = pp.right.message
    if (pp.right.from !== primary || got.view !== nv.view || got.seq !== want.seq || got.digest !== want.digest) {
      return Either.left(reject("invalid", `new-view: O differs from V at ${want.seq}`))
    }
    pps.push(pp.right)
  }
  return Either.right({ plan, prePrepares: pps, frame: signed.frame })
}
