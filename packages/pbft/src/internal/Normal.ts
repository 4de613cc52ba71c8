/**
 * The normal case (OSDI'99 §4.2): request, pre-prepare, prepare, commit.
 * Handlers guard first (sender, view, watermarks, digest) and every drop is a
 * typed rejection; a conflicting signed message is kept as evidence.
 */
import { clientPeer, type LogIndex, peerClient, peerReplica, type PeerId, type Protocol, type ReplicaId, replicaPeer, type ViewNumber } from "@synod/core"
import { isCommittedLocal, isMember, preparedCertificate } from "../Certificates.js"
import { NULL_DIGEST, requestDigest } from "../Digest.js"
import type { EvidenceKind } from "../Evidence.js"
import type { Slot } from "../Log.js"
import { Commit, type PbftMessage, type PrePrepare, Prepare, Relay, Reply, type Request } from "../Messages.js"
import { enqueue, noteRequests } from "./Batching.js"
import { persistPrepared, persistPrePrepare } from "./Durable.js"
import { answerRead, tryExecute, updateTimer } from "./Execution.js"
import type { Signed } from "./Frames.js"
import type { ReplicaState } from "./State.js"
import { startViewChange } from "./ViewChanges.js"

type V<M> = Protocol.Verified<M>

/** The sender as a member replica, or a `not-member` rejection. */
export const memberFrom = (r: ReplicaState, env: V<PbftMessage>): ReplicaId | undefined => {
  const from = peerReplica(env.from)
  if (isMember(r.trust, from)) return from
  r.reject(env.from, "not-member", `${env.message._tag} from ${env.from}`)
  return undefined
}

/**
 * "It is in view v" (§4.2): a message of an older view is rejected; one for
 * the view we are changing to, or the next one, waits until we enter it. The
 * wait is bounded overall and per sender, so a replica sending messages for
 * views that never come cannot crowd out the others'.
 */
export const admitView = (r: ReplicaState, view: number, env: V<PbftMessage>, relayed: boolean): boolean => {
  if (view === r.view && r.normal) return true
  if (view < r.view || view > r.view + 1) {
    r.reject(env.from, "wrong-view", `${env.message._tag} for view ${view} in view ${r.view}`)
    return false
  }
  const held = r.futureBySender.get(env.from) ?? 0
  const quota = Math.ceil(r.config.maxFutureMessages / r.trust.replicas.length)
  if (r.future.length >= r.config.maxFutureMessages || held >= quota) {
    r.reject(env.from, "overloaded", `too many messages for views not entered (${held} from this sender)`)
    return false
  }
  r.futureBySender.set(env.from, held + 1)
  r.future.push({ envelope: env, relayed })
  return false
}

const admitSeq = (r: ReplicaState, seq: number, env: V<PbftMessage>): boolean => {
  if (r.log.inWindow(seq)) return true
  r.reject(env.from, seq <= r.log.low ? "stale" : "out-of-window", `${env.message._tag} for ${seq} outside (${r.log.low}, ${r.log.high}]`)
  return false
}

export const equivocation = (r: ReplicaState, kind: EvidenceKind, against: PeerId, a: Uint8Array, b: Uint8Array): void => {
  const evidence = { against, kind, frames: [a, b] }
  r.evidence.add(evidence)
  r.event({ _tag: "Evidence", ...evidence })
  r.reject(against, "equivocation", kind)
}

// ---- request (§4.1) -----------------------------------------------------------------------

export const onRequest = (r: ReplicaState, env: V<Request>, relayed: boolean): void => {
  const m = env.message
  if (peerClient(env.from) !== m.clientId) return r.reject(env.from, "invalid", "request not signed by its client")
  if (m.readOnly) {
    if (!relayed) answerRead(r, env)
    return
  }
  const last = r.replies.get(m.clientId)
  if (last !== undefined && m.seq <= last.seq) {
    // a retransmission of the last request gets the cached reply: executed once, answered again
    if (m.seq === last.seq) return sendCachedReply(r, m.clientId, last)
    return r.reject(env.from, "stale", `request ${m.seq} of ${m.clientId} is older than the last executed`)
  }
  let known = r.waiting.get(m.clientId)
  if (known !== undefined && known.verified.message.seq > m.seq) return r.reject(env.from, "stale", "a newer request of this client is waiting")
  const isNew = known === undefined || known.verified.message.seq < m.seq
  if (isNew) {
    if (known === undefined && r.waiting.size >= r.config.maxWaitingClients) {
      return r.reject(env.from, "overloaded", `waiting on ${r.config.maxWaitingClients} clients`)
    }
    known = { verified: env, digest: requestDigest(env.frame), since: r.now }
    r.addWaiting(known)
    r.phase(m.clientId, m.seq, "received")
  }
  if (!r.normal) return
  if (r.isPrimary()) {
    enqueue(r, known!, env.from)
    r.proposalDeferred = true
  } else {
    // a backup passes a client's (re)transmission on to the primary and starts its timer (§4.5.2);
    // also a request another replica relayed, so no replica can make backups wait for a
    // request the primary never saw
    if (!relayed || isNew) r.send([replicaPeer(r.primary())], new Relay({ frames: [env.frame] }))
    updateTimer(r)
  }
}

export const sendCachedReply = (r: ReplicaState, clientId: string, cached: { seq: number; index: number; result: Uint8Array; rejected?: string }) =>
  sendReply(r, clientId, cached, false, cached.index)

export const sendReply = (
  r: ReplicaState,
  clientId: string,
  c: { readonly seq: number; readonly result: Uint8Array; readonly rejected?: string },
  readOnly: boolean,
  index: number
): void => {
  const base = { view: r.view as ViewNumber, clientId: clientId as Request["clientId"], seq: c.seq as Request["seq"], index: index as LogIndex, readOnly, result: c.result }
  r.send([clientPeer(clientId)], new Reply(c.rejected === undefined ? base : { ...base, rejected: c.rejected }))
}

// ---- pre-prepare --------------------------------------------------------------------------

export const onPrePrepare = (r: ReplicaState, env: V<PrePrepare>, relayed: boolean): void => {
  const m = env.message
  const from = memberFrom(r, env)
  if (from === undefined) return
  if (from !== r.primary(m.view)) return r.reject(env.from, "invalid", `pre-prepare for view ${m.view} from a backup`)
  if (!admitView(r, m.view, env, relayed) || !admitSeq(r, m.seq, env)) return
  r.progress.voted(from, m.seq)
  const signed: Signed<PrePrepare> = { from, message: m, frame: env.frame }
  const slot = r.log.slot(m.seq, r.view)
  const earlier = slot.prePrepare ?? slot.awaitingBatch
  if (earlier !== undefined) {
    if (earlier.message.digest === m.digest) return r.reject(env.from, "duplicate", `pre-prepare ${m.view}/${m.seq}`)
    // two signed pre-prepares for one (v, n): the primary is faulty (§4.2, §4.4)
    equivocation(r, "conflicting-pre-prepare", env.from, earlier.frame, env.frame)
    return startViewChange(r, r.view + 1, "evidence")
  }
  if (m.digest === NULL_DIGEST || r.batches.has(m.digest)) return acceptPrePrepare(r, slot, signed)
  slot.awaitingBatch = signed
  slot.batchFetchAt = r.now + r.config.statusIntervalTicks
}

/**
 * Accept a pre-prepare (its batch is known, or it comes from a new-view's O):
 * log and persist it, and as a backup vote for it with a prepare that leaves
 * only after the pre-prepare is durable.
 */
export const acceptPrePrepare = (r: ReplicaState, slot: Slot, pp: Signed<PrePrepare>): void => {
  const { seq, digest } = pp.message
  slot.prePrepare = pp
  slot.awaitingBatch = undefined
  r.maxAccepted = Math.max(r.maxAccepted, seq)
  const batch = r.batches.get(digest)
  if (batch !== undefined) noteRequests(r, seq, batch)
  persistPrePrepare(r, seq, pp.frame, batch?.frames)
  if (!r.isPrimary()) {
    const prepare = r.seal(new Prepare({ view: pp.message.view, seq: pp.message.seq, digest }))
    slot.prepares.set(r.id, prepare)
    r.sendAfterPersist(r.others, prepare.message)
    for (const p of slot.prepares.values()) if (p.message.digest !== digest) tellConflict(r, slot, p.from)
  }
  checkPrepared(r, slot)
  updateTimer(r)
}

/** A backup prepared another digest for this slot: show it our pre-prepare, so it holds both of the primary's. */
const tellConflict = (r: ReplicaState, slot: Slot, peer: ReplicaId): void => {
  if (slot.prePrepare === undefined || peer === r.id || peer === slot.prePrepare.from || slot.toldConflict.has(peer)) return
  slot.toldConflict.add(peer)
  r.send([replicaPeer(peer)], new Relay({ frames: [slot.prePrepare.frame] }))
}

// ---- prepare and commit ------------------------------------------------------------------

export const onPrepare = (r: ReplicaState, env: V<Prepare>, relayed: boolean): void => {
  const m = env.message
  const from = memberFrom(r, env)
  if (from === undefined) return
  if (from === r.primary(m.view)) return r.reject(env.from, "invalid", "prepare from the primary")
  if (!admitView(r, m.view, env, relayed) || !admitSeq(r, m.seq, env)) return
  r.progress.voted(from, m.seq)
  const slot = r.log.slot(m.seq, r.view)
  const earlier = slot.prepares.get(from)
  if (earlier !== undefined) {
    if (earlier.message.digest === m.digest) return r.reject(env.from, "duplicate", `prepare ${m.view}/${m.seq}`)
    return equivocation(r, "conflicting-prepare", env.from, earlier.frame, env.frame)
  }
  slot.prepares.set(from, { from, message: m, frame: env.frame })
  if (slot.prePrepare !== undefined && slot.prePrepare.message.digest !== m.digest) tellConflict(r, slot, from)
  checkPrepared(r, slot)
}

export const onCommit = (r: ReplicaState, env: V<Commit>, relayed: boolean): void => {
  const m = env.message
  const from = memberFrom(r, env)
  if (from === undefined) return
  if (!admitView(r, m.view, env, relayed) || !admitSeq(r, m.seq, env)) return
  r.progress.voted(from, m.seq)
  const slot = r.log.slot(m.seq, r.view)
  const earlier = slot.commits.get(from)
  if (earlier !== undefined) {
    if (earlier.message.digest === m.digest) return r.reject(env.from, "duplicate", `commit ${m.view}/${m.seq}`)
    return equivocation(r, "conflicting-commit", env.from, earlier.frame, env.frame)
  }
  slot.commits.set(from, { from, message: m, frame: env.frame })
  checkCommitted(r, slot)
}

/** prepared → persist the certificate, then commit (the commit vouches for it). */
export const checkPrepared = (r: ReplicaState, slot: Slot): void => {
  if (slot.commitSent || slot.prePrepare === undefined) return
  const cert = preparedCertificate(slot, r.trust)
  if (cert === undefined) return
  slot.prepared = cert
  r.maxPrepared = Math.max(r.maxPrepared, slot.seq)
  const batch = r.batches.get(cert.digest)
  if (batch !== undefined) r.batchPhase(batch.requests, "prepared", slot.seq)
  persistPrepared(r, cert)
  const commit = r.seal(new Commit({ view: cert.view as ViewNumber, seq: cert.seq as LogIndex, digest: cert.digest }))
  slot.commits.set(r.id, commit)
  slot.commitSent = true
  r.sendAfterPersist(r.others, commit.message)
  checkCommitted(r, slot)
}

export const checkCommitted = (r: ReplicaState, slot: Slot): void => {
  if (slot.committed || !isCommittedLocal(slot, r.trust)) return
  slot.committed = true
  r.maxCommitted = Math.max(r.maxCommitted, slot.seq)
  const batch = slot.prePrepare === undefined ? undefined : r.batches.get(slot.prePrepare.message.digest)
  if (batch !== undefined) r.batchPhase(batch.requests, "committed", slot.seq)
  tryExecute(r)
}
