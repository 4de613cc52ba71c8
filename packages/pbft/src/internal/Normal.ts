/**
 * The normal case (OSDI'99 §4.2): request, pre-prepare, prepare, commit.
 * Handlers guard first (sender, view, watermarks, digest) and every drop is a
 * typed rejection; a conflicting signed message is kept as evidence.
 */
import { clientPeer, type LogIndex, peerClient, peerReplica, type PeerId, type Protocol, type ReplicaId, replicaPeer, type ViewNumber } from "@synod/core"
import { Either } from "effect"
import { isCommittedLocal, isMember, preparedCertificate } from "../Certificates.js"
import { batchDigest, NULL_DIGEST, requestDigest } from "../Digest.js"
import type { EvidenceKind } from "../Evidence.js"
import type { Slot } from "../Log.js"
import { Batch, Commit, FetchBatch, type PbftMessage, PrePrepare, Prepare, Relay, Reply, type Request } from "../Messages.js"
import type { StoredBatch } from "./Batches.js"
import { persistBatch, persistPrepared, persistPrePrepare } from "./Durable.js"
import { answerRead, tryExecute, updateTimer } from "./Execution.js"
import type { Signed } from "./Frames.js"
import { type KnownRequest, type ReplicaState, requestKey } from "./State.js"
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
  if (known === undefined || known.verified.message.seq < m.seq) {
    if (known === undefined && r.waiting.size >= r.config.maxWaitingClients) {
      return r.reject(env.from, "overloaded", `waiting on ${r.config.maxWaitingClients} clients`)
    }
    known = { verified: env, digest: requestDigest(env.frame), since: r.now }
    r.addWaiting(known)
  }
  if (!r.normal) return
  if (r.isPrimary()) {
    enqueue(r, known, env.from)
    propose(r)
  } else {
    // a backup passes a client's (re)transmission on to the primary and starts its timer (§4.5.2)
    if (!relayed) r.send([replicaPeer(r.primary())], new Relay({ frames: [env.frame] }))
    updateTimer(r, false)
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

export const enqueue = (r: ReplicaState, k: KnownRequest, from: PeerId): void => {
  const key = requestKey(k.verified.message.clientId, k.verified.message.seq)
  if (r.assigned.has(key) || r.pendingKeys.has(key)) return
  if (r.pending.length >= r.config.maxPendingRequests) return r.reject(from, "overloaded", `${r.config.maxPendingRequests} requests queued`)
  r.pending.push(k)
  r.pendingKeys.add(key)
}

/** Take the next batch from the primary's queue, within the size limits; skips what is executed or superseded. */
const takeBatch = (r: ReplicaState): Array<KnownRequest> => {
  const batch: Array<KnownRequest> = []
  let bytes = 0
  while (r.pending.length > 0 && batch.length < r.config.maxBatchSize) {
    const k = r.pending.peek()!
    const { clientId, seq } = k.verified.message
    const size = k.verified.frame.byteLength
    if (batch.length > 0 && bytes + size > r.config.maxBatchBytes) break
    r.pending.shift()
    const key = requestKey(clientId, seq)
    r.pendingKeys.delete(key)
    const last = r.replies.get(clientId)
    if ((last !== undefined && last.seq >= seq) || r.assigned.has(key) || r.waiting.get(clientId) !== k) continue
    batch.push(k)
    bytes += size
  }
  return batch
}

/** The primary assigns sequence numbers (§4.2), in batches, within the window of in-flight batches and the watermarks. */
export const propose = (r: ReplicaState): void => {
  if (!r.normal || !r.isPrimary()) return
  while (r.pending.length > 0) {
    const seq = Math.max(r.nextSeq, r.log.low) + 1
    if (!r.log.inWindow(seq) || seq - r.lastExecuted > r.config.maxInFlightBatches) return
    const c = r.config
    if (c.batchDelayTicks > 0 && r.pending.length < c.maxBatchSize && r.now - r.pending.peek()!.since < c.batchDelayTicks) return
    const taken = takeBatch(r)
    if (taken.length === 0) continue
    const batch: StoredBatch = {
      digest: batchDigest(taken.map((k) => k.digest)),
      frames: taken.map((k) => k.verified.frame),
      verified: taken.map((k) => k.verified),
      requests: taken.map((k) => k.verified.message),
      bytes: taken.reduce((n, k) => n + k.verified.frame.byteLength, 0)
    }
    r.batches.add(batch)
    r.nextSeq = seq
    const pp = r.seal(new PrePrepare({ view: r.view as ViewNumber, seq: seq as LogIndex, digest: batch.digest }))
    r.send(r.others, new Batch({ digest: batch.digest, requests: batch.frames }))
    acceptPrePrepare(r, r.log.slot(seq, r.view), pp)
    r.sendAfterPersist(r.others, pp.message)
  }
}

// ---- pre-prepare --------------------------------------------------------------------------

export const onPrePrepare = (r: ReplicaState, env: V<PrePrepare>, relayed: boolean): void => {
  const m = env.message
  const from = memberFrom(r, env)
  if (from === undefined) return
  if (from !== r.primary(m.view)) return r.reject(env.from, "invalid", `pre-prepare for view ${m.view} from a backup`)
  if (!admitView(r, m.view, env, relayed) || !admitSeq(r, m.seq, env)) return
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
  updateTimer(r, false)
}

/**
 * The requests of an accepted batch are assigned to `seq`, and this replica
 * now waits for them to execute: they run its view-change timer, and a new
 * primary re-proposes them if `seq` does not survive the view change.
 */
const noteRequests = (r: ReplicaState, seq: number, batch: StoredBatch): void => {
  for (const v of batch.verified) {
    const { clientId, seq: reqSeq } = v.message
    r.assigned.set(requestKey(clientId, reqSeq), seq)
    const last = r.replies.get(clientId)
    const w = r.waiting.get(clientId)
    if ((last !== undefined && last.seq >= reqSeq) || (w !== undefined && w.verified.message.seq >= reqSeq)) continue
    if (w === undefined && r.waiting.size >= r.config.maxWaitingClients) continue
    r.addWaiting({ verified: v, digest: requestDigest(v.frame), since: r.now })
  }
}

/** A backup prepared another digest for this slot: show it our pre-prepare, so it holds both of the primary's. */
const tellConflict = (r: ReplicaState, slot: Slot, peer: ReplicaId): void => {
  if (slot.prePrepare === undefined || peer === r.id || peer === slot.prePrepare.from || slot.toldConflict.has(peer)) return
  slot.toldConflict.add(peer)
  r.send([replicaPeer(peer)], new Relay({ frames: [slot.prePrepare.frame] }))
}

// ---- batches ------------------------------------------------------------------------------

/** Check a batch: its digest, and each request's client signature (§4.2: backups verify requests). */
const verifyBatch = (r: ReplicaState, m: Batch): Either.Either<StoredBatch, string> => {
  const digests = m.requests.map(requestDigest)
  if (batchDigest(digests) !== m.digest) return Either.left("batch digest mismatch")
  const verified: Array<V<Request>> = []
  let bytes = 0
  for (let i = 0; i < m.requests.length; i++) {
    const frame = m.requests[i]!
    bytes += frame.byteLength
    const known = r.waitingByDigest.get(digests[i]!)
    if (known !== undefined) {
      verified.push(known.verified)
      continue
    }
    const opened = r.frames.open(frame, "Request")
    if (Either.isLeft(opened)) return Either.left(`batch request ${i}: ${opened.left.message}`)
    if (peerClient(opened.right.from) !== opened.right.message.clientId) return Either.left(`batch request ${i} not signed by its client`)
    verified.push(opened.right)
  }
  return Either.right({ digest: m.digest, frames: m.requests, verified, requests: verified.map((v) => v.message), bytes })
}

export const onBatch = (r: ReplicaState, env: V<Batch>): void => {
  if (memberFrom(r, env) === undefined) return
  if (r.batches.has(env.message.digest)) return r.reject(env.from, "duplicate", "batch")
  const verified = verifyBatch(r, env.message)
  if (Either.isLeft(verified)) return r.reject(env.from, "invalid", verified.left)
  addBatch(r, verified.right)
}

/** Store a verified batch and move on every slot that waited for it. */
export const addBatch = (r: ReplicaState, batch: StoredBatch): void => {
  r.batches.add(batch)
  for (const slot of r.log.ordered()) {
    if (slot.awaitingBatch?.message.digest === batch.digest && slot.view === r.view && r.normal) {
      acceptPrePrepare(r, slot, slot.awaitingBatch)
    } else if (slot.prePrepare?.message.digest === batch.digest) {
      persistBatch(r, slot.seq, batch.frames)
      if (slot.seq > r.lastExecuted) noteRequests(r, slot.seq, batch)
    }
  }
  tryExecute(r)
}

export const onFetchBatch = (r: ReplicaState, env: V<FetchBatch>): void => {
  if (memberFrom(r, env) === undefined) return
  const b = r.batches.get(env.message.digest)
  if (b !== undefined) r.send([env.from], new Batch({ digest: b.digest, requests: b.frames }))
}

/** Ask every peer for batches we need: pre-prepares waiting for theirs, and committed slots we cannot execute. */
export const fetchMissingBatches = (r: ReplicaState, force = false): void => {
  for (const slot of r.log.ordered()) {
    const pp = slot.awaitingBatch ?? (slot.seq > r.lastExecuted ? slot.prePrepare : undefined)
    if (pp === undefined || pp.message.digest === NULL_DIGEST || r.batches.has(pp.message.digest)) continue
    if (!force && r.now < slot.batchFetchAt) continue
    slot.batchFetchAt = r.now + r.config.statusIntervalTicks
    r.send(r.others, new FetchBatch({ digest: pp.message.digest }))
  }
}

// ---- prepare and commit ------------------------------------------------------------------

export const onPrepare = (r: ReplicaState, env: V<Prepare>, relayed: boolean): void => {
  const m = env.message
  const from = memberFrom(r, env)
  if (from === undefined) return
  if (from === r.primary(m.view)) return r.reject(env.from, "invalid", "prepare from the primary")
  if (!admitView(r, m.view, env, relayed) || !admitSeq(r, m.seq, env)) return
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
  tryExecute(r)
}
