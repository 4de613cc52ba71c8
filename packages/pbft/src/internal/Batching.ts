/**
 * Batching (OSDI'99 §4.2 with the batching of §5.1.4): the primary's queue of
 * requests and how it cuts batches within the size, byte, delay and in-flight
 * limits; batches arriving separately from their pre-prepares, verified
 * request by request (client signatures); fetching batches a replica lacks.
 */
import { type LogIndex, type PeerId, peerClient, type Protocol, type ViewNumber } from "@synod/core"
import { Either } from "effect"
import { batchDigest, NULL_DIGEST, requestDigest } from "../Digest.js"
import { Batch, FetchBatch, PrePrepare, type Request } from "../Messages.js"
import type { StoredBatch } from "./Batches.js"
import { persistBatch } from "./Durable.js"
import { tryExecute } from "./Execution.js"
import { acceptPrePrepare, memberFrom } from "./Normal.js"
import { type KnownRequest, type ReplicaState, requestKey } from "./State.js"

type V<M> = Protocol.Verified<M>

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

/**
 * The requests of an accepted batch are assigned to `seq`, and this replica
 * now waits for them to execute: they run its view-change timer, and a new
 * primary re-proposes them if `seq` does not survive the view change.
 */
export const noteRequests = (r: ReplicaState, seq: number, batch: StoredBatch): void => {
  for (const v of batch.verified) {
    const { clientId, seq: reqSeq } = v.message
    r.assigned.set(requestKey(clientId, reqSeq), seq)
    r.phase(clientId, reqSeq, "proposed", seq)
    const last = r.replies.get(clientId)
    const w = r.waiting.get(clientId)
    if ((last !== undefined && last.seq >= reqSeq) || (w !== undefined && w.verified.message.seq >= reqSeq)) continue
    if (w === undefined && r.waiting.size >= r.config.maxWaitingClients) continue
    r.addWaiting({ verified: v, digest: requestDigest(v.frame), since: r.now })
  }
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
  if (b === undefined) return
  if (!r.limits.allow(env.from, "batch", r.now, r.config.retransmitLimit, r.config.statusIntervalTicks)) {
    return r.reject(env.from, "overloaded", "batch requests over budget")
  }
  r.send([env.from], new Batch({ digest: b.digest, requests: b.frames }))
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

