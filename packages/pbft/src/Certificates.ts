/**
 * Certificates (OSDI'99 §4.2-§4.4): sets of signed messages from distinct
 * replicas that form a quorum of the trust model. PBFT never counts votes
 * itself; it asks `QuorumSystem.isQuorum`:
 *
 *   prepared     pre-prepare + matching prepares, primary included   "replication" (2f+1)
 *   committed    matching commits                                    "replication" (2f+1)
 *   checkpoint   matching checkpoint messages                        "replication" (2f+1)
 *   new-view     view-change messages V                              "election"    (2f+1)
 *   view join    view-change messages for higher views               "weak"        (f+1)
 *   reply        matching replies (read-only: "replication")         "weak"        (f+1)
 *
 * The `verify*` functions check certificates received as frames: every frame
 * is re-opened (signature included), senders must be distinct members, and
 * the contents must match.
 */
import { type Rejection, reject, type ReplicaId, type TrustModel } from "@synod/core"
import { Either } from "effect"
import type { Frames, Signed } from "./internal/Frames.js"
import type { PreparedCertificate, Slot } from "./Log.js"
import type { Checkpoint, Digest, PreparedProof, Prepare } from "./Messages.js"

type QuorumSystem = TrustModel.QuorumSystem

/** The primary of view v: replicas[v mod |R|] (§4.1). */
export const primaryOf = (trust: QuorumSystem, view: number): ReplicaId => trust.replicas[view % trust.replicas.length]!

export const isMember = (trust: QuorumSystem, replica: ReplicaId | undefined): replica is ReplicaId =>
  replica !== undefined && trust.weight(replica) > 0

/** Backups whose prepare matches the accepted pre-prepare's digest. */
const matchingPrepares = (slot: Slot, digest: Digest): Array<Signed<Prepare>> => {
  const out: Array<Signed<Prepare>> = []
  for (const p of slot.prepares.values()) if (p.message.digest === digest) out.push(p)
  return out
}

/** prepared(m, v, n, i): the pre-prepare and prepares from a replication quorum including the primary. */
export const preparedCertificate = (slot: Slot, trust: QuorumSystem): PreparedCertificate | undefined => {
  const pp = slot.prePrepare
  if (pp === undefined) return undefined
  const prepares = matchingPrepares(slot, pp.message.digest)
  const members = [pp.from, ...prepares.map((p) => p.from)]
  if (!trust.isQuorum("replication", members)) return undefined
  return {
    view: pp.message.view,
    seq: pp.message.seq,
    digest: pp.message.digest,
    prePrepare: pp.frame,
    prepares: prepares.map((p) => p.frame)
  }
}

/** committed-local(m, v, n, i): prepared, and matching commits from a replication quorum. */
export const isCommittedLocal = (slot: Slot, trust: QuorumSystem): boolean => {
  const pp = slot.prePrepare
  if (pp === undefined || !slot.commitSent) return false
  const members: Array<ReplicaId> = []
  for (const c of slot.commits.values()) if (c.message.digest === pp.message.digest) members.push(c.from)
  return trust.isQuorum("replication", members)
}

/** A set of signed checkpoint messages proving that (seq, digest) is stable. */
export const verifyCheckpointProof = (
  frames: Frames,
  trust: QuorumSystem,
  proof: ReadonlyArray<Uint8Array>,
  seq: number,
  digest: string
): Either.Either<ReadonlyArray<Signed<Checkpoint>>, Rejection> => {
  const seen = new Set<ReplicaId>()
  const out: Array<Signed<Checkpoint>> = []
  for (const frame of proof) {
    const c = frames.openReplica(frame, "Checkpoint")
    if (Either.isLeft(c)) return Either.left(reject("invalid", `checkpoint proof: ${c.left.message}`))
    const { from, message } = c.right
    if (!isMember(trust, from)) return Either.left(reject("invalid", `checkpoint proof signed by non-member ${from}`))
    if (seen.has(from)) return Either.left(reject("invalid", `checkpoint proof has two messages from ${from}`))
    if (message.seq !== seq || message.stateDigest !== digest) {
      return Either.left(reject("invalid", `checkpoint proof message for ${message.seq} does not match ${seq}`))
    }
    seen.add(from)
    out.push(c.right)
  }
  if (!trust.isQuorum("replication", seen)) return Either.left(reject("invalid", `checkpoint proof for ${seq} is not a quorum`))
  return Either.right(out)
}

export interface PreparedBounds {
  /** The certificate's view must be below this (the view being changed to). */
  readonly beforeView: number
  /** Sequence numbers in (low, high]. */
  readonly low: number
  readonly high: number
}

/** A prepared certificate carried in a view-change (element of P). */
export const verifyPreparedProof = (
  frames: Frames,
  trust: QuorumSystem,
  proof: PreparedProof,
  bounds: PreparedBounds
): Either.Either<PreparedCertificate, Rejection> => {
  const pp = frames.openReplica(proof.prePrepare, "PrePrepare")
  if (Either.isLeft(pp)) return Either.left(reject("invalid", `prepared certificate: ${pp.left.message}`))
  const { view, seq, digest } = pp.right.message
  if (view >= bounds.beforeView) return Either.left(reject("invalid", `prepared certificate of view ${view} >= ${bounds.beforeView}`))
  if (seq <= bounds.low || seq > bounds.high) return Either.left(reject("invalid", `prepared certificate for ${seq} outside (${bounds.low}, ${bounds.high}]`))
  const primary = primaryOf(trust, view)
  if (pp.right.from !== primary) return Either.left(reject("invalid", `pre-prepare for view ${view} not signed by its primary`))
  const members = new Set<ReplicaId>([primary])
  for (const frame of proof.prepares) {
    const p = frames.openReplica(frame, "Prepare")
    if (Either.isLeft(p)) return Either.left(reject("invalid", `prepared certificate: ${p.left.message}`))
    const { from, message } = p.right
    if (!isMember(trust, from) || from === primary || members.has(from)) {
      return Either.left(reject("invalid", `prepared certificate: prepare from ${from} is not a distinct backup`))
    }
    if (message.view !== view || message.seq !== seq || message.digest !== digest) {
      return Either.left(reject("invalid", `prepared certificate: prepare does not match (${view}, ${seq})`))
    }
    members.add(from)
  }
  if (!trust.isQuorum("replication", members)) return Either.left(reject("invalid", `prepared certificate for ${seq} is not a quorum`))
  return Either.right({ view, seq, digest, prePrepare: proof.prePrepare, prepares: proof.prepares })
}
