/**
 * Rebuilding a replica from its disk after a restart (see `Durable.ts` for
 * what is there). The replica resumes in the view it last entered or voted
 * for, from its stable checkpoint, with the pre-prepares and prepared
 * certificates it had vouched for, so it cannot contradict itself; what it
 * lost (commits, executions after the checkpoint) comes back through
 * retransmission and state transfer.
 */
import { Envelope, type LogIndex, type ReplicaId } from "@synod/core"
import { Either } from "effect"
import { verifyCheckpointProof } from "../Certificates.js"
import { batchDigestOfFrames, NULL_DIGEST } from "../Digest.js"
import type { PreparedCertificate } from "../Log.js"
import { Commit, type Digest, Prepare } from "../Messages.js"
import * as StateTransfer from "../StateTransfer.js"
import { validateViewChange } from "../ViewChange.js"
import { KEY_NEW_VIEW, KEY_VIEW_CHANGE, readLog, readMeta, readStable, type StoredSlot } from "./Durable.js"
import type { Signed } from "./Frames.js"
import type { ReplicaState } from "./State.js"
import { viewChangeContext } from "./ViewChanges.js"

export const recover = (r: ReplicaState, disk: ReadonlyMap<string, Uint8Array>): void => {
  const meta = readMeta(disk)
  const clusterId = meta?.clusterId ?? clusterOfAnyFrame(disk)
  if (clusterId !== undefined) r.frames.useCluster(clusterId)
  recoverStable(r, disk)
  if (meta !== undefined) {
    r.view = meta.view
    r.normal = meta.normal
    // the view change it voted for before the restart: the cause it had is lost with its memory
    if (!meta.normal) r.viewChangeCause = "restart"
  }
  for (const stored of readLog(disk)) if (stored.seq > r.stable.seq) recoverSlot(r, stored)
  r.nextSeq = Math.max(r.nextSeq, r.stable.seq)
  const nv = disk.get(KEY_NEW_VIEW)
  if (r.normal && nv !== undefined) r.newViewFrame = nv
  const vcFrame = disk.get(KEY_VIEW_CHANGE)
  if (!r.normal && vcFrame !== undefined) {
    const vc = r.frames.openReplica(vcFrame, "ViewChange")
    if (Either.isRight(vc) && vc.right.from === r.id && vc.right.message.view === r.view) {
      r.ownViewChange = vc.right
      const valid = validateViewChange(viewChangeContext(r), vc.right)
      if (Either.isRight(valid)) r.viewChanges.set(r.id, valid.right)
    }
    r.newViewDeadline = r.now + r.vcTimeout
  }
}

const clusterOfAnyFrame = (disk: ReadonlyMap<string, Uint8Array>): string | undefined => {
  for (const [key, value] of disk) {
    if (!key.endsWith("/pre-prepare") && key !== KEY_VIEW_CHANGE && key !== KEY_NEW_VIEW) continue
    const h = Envelope.parseFrame(value)
    if (Either.isRight(h)) return h.right.clusterId
  }
  return undefined
}

const recoverStable = (r: ReplicaState, disk: ReadonlyMap<string, Uint8Array>): void => {
  const s = readStable(disk)
  if (s === undefined || s.seq === 0) return
  // our own disk, but checked like a peer's answer: a torn or corrupt record is not trusted
  if (Either.isLeft(verifyCheckpointProof(r.frames, r.trust, s.proof, s.seq, s.digest))) return
  const restored = StateTransfer.restore(r.machine, s.snapshot, s.digest)
  if (Either.isLeft(restored)) return
  r.instance = restored.right.instance
  r.replies = restored.right.replies
  r.lastExecuted = s.seq
  r.stable = { seq: s.seq, digest: s.digest as Digest, proof: s.proof, snapshot: s.snapshot }
  r.log.truncate(s.seq)
}

const recoverSlot = (r: ReplicaState, stored: StoredSlot): void => {
  r.persistedSeqs.add(stored.seq)
  if (stored.prepared !== undefined) {
    const cert = recoverCertificate(r, stored.seq, stored.prepared)
    if (cert !== undefined) {
      const slot = r.log.slot(stored.seq, cert.view)
      if (slot.prepared === undefined || slot.prepared.view < cert.view) slot.prepared = cert
      r.maxPrepared = Math.max(r.maxPrepared, stored.seq)
    }
  }
  if (stored.prePrepare === undefined) return
  const pp = r.frames.openReplica(stored.prePrepare, "PrePrepare")
  if (Either.isLeft(pp) || pp.right.message.view !== r.view || pp.right.message.seq !== stored.seq) return
  const { view, seq, digest } = pp.right.message
  if (stored.batch !== undefined && digest !== NULL_DIGEST && batchDigestOfFrames(stored.batch) === digest) {
    const verified = []
    for (const f of stored.batch) {
      const q = r.frames.open(f, "Request")
      if (Either.isLeft(q)) return
      verified.push(q.right)
    }
    const requests = verified.map((v) => v.message)
    r.batches.add({ digest, frames: stored.batch, verified, requests, bytes: stored.batch.reduce((n, f) => n + f.byteLength, 0) })
  }
  const slot = r.log.slot(seq, view)
  slot.prePrepare = pp.right
  r.maxAccepted = Math.max(r.maxAccepted, seq)
  if (r.isPrimary(view)) r.nextSeq = Math.max(r.nextSeq, seq)
  // our votes are deterministic signatures: re-sealing gives the frames we sent before the crash
  if (!r.isPrimary(view)) slot.prepares.set(r.id, r.seal(new Prepare({ view, seq, digest })))
  if (slot.prepared !== undefined && slot.prepared.view === view && slot.prepared.digest === digest) {
    for (const f of slot.prepared.prepares) {
      const p = r.frames.openReplica(f, "Prepare")
      if (Either.isRight(p)) slot.prepares.set(p.right.from, p.right)
    }
    slot.commits.set(r.id, r.seal(new Commit({ view, seq: seq as LogIndex, digest })))
    slot.commitSent = true
  }
}

const recoverCertificate = (
  r: ReplicaState,
  seq: number,
  stored: { readonly prePrepare: Uint8Array; readonly prepares: ReadonlyArray<Uint8Array> }
): PreparedCertificate | undefined => {
  const pp = r.frames.openReplica(stored.prePrepare, "PrePrepare")
  if (Either.isLeft(pp) || pp.right.message.seq !== seq) return undefined
  const { view, digest } = pp.right.message
  const members = new Set<ReplicaId>([pp.right.from])
  for (const f of stored.prepares) {
    const p: Either.Either<Signed<Prepare>, unknown> = r.frames.openReplica(f, "Prepare")
    if (Either.isLeft(p) || p.right.message.digest !== digest || p.right.message.view !== view) return undefined
    members.add(p.right.from)
  }
  if (!r.trust.isQuorum("replication", members)) return undefined
  return { view, seq, digest, prePrepare: stored.prePrepare, prepares: stored.prepares }
}
