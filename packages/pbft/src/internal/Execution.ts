/**
 * In-order execution of committed batches (OSDI'99 §4.2: a replica executes
 * the request of n once committed-local(n) holds and every request with a
 * lower sequence number has executed), exactly once per (client, seq), and
 * the read-only path (§5.1.3).
 */
import type { Protocol } from "@synod/core"
import { Either } from "effect"
import { commandDigest, NULL_DIGEST } from "../Digest.js"
import type { Request } from "../Messages.js"
import type { CachedReply } from "../StateTransfer.js"
import type { StoredBatch } from "./Batches.js"
import { takeCheckpoint } from "./Checkpointing.js"
import { fetchMissingBatches, propose } from "./Batching.js"
import { sendReply } from "./Normal.js"
import { type ReplicaState, requestKey } from "./State.js"

const EMPTY: StoredBatch = { digest: NULL_DIGEST, frames: [], verified: [], requests: [], bytes: 0 }
const NO_RESULT = new Uint8Array(0)

/** Execute every committed slot that is next in order. */
export const tryExecute = (r: ReplicaState): void => {
  let progressed = false
  for (;;) {
    const n = r.lastExecuted + 1
    const slot = r.log.peek(n)
    // a slot committed in an older view is still final: later views re-propose the same digest (§4.4)
    if (slot === undefined || !slot.committed || slot.prePrepare === undefined) break
    const digest = slot.prePrepare.message.digest
    const batch = digest === NULL_DIGEST ? EMPTY : r.batches.get(digest)
    if (batch === undefined) {
      fetchMissingBatches(r)
      break
    }
    if (execute(r, n, batch) > 0) r.vcTimeout = r.config.viewChangeTimeoutTicks
    progressed = true
  }
  if (progressed) {
    updateTimer(r)
    answerReads(r)
    propose(r)
  }
}

/** Execute batch n; returns how many requests ran (duplicates of executed ones do not). */
const execute = (r: ReplicaState, n: number, batch: StoredBatch): number => {
  let ran = 0
  r.event({
    _tag: "Committed",
    index: n,
    entryDigest: batch.digest,
    requests: batch.requests.map((q) => ({ clientId: q.clientId, seq: q.seq, commandDigest: commandDigest(q.command) }))
  })
  for (const q of batch.requests) {
    r.assigned.delete(requestKey(q.clientId, q.seq))
    const last = r.replies.get(q.clientId)
    if (last !== undefined && q.seq <= last.seq) continue // executed before: at most once
    r.phase(q.clientId, q.seq, "committed", n) // when its batch arrived only after committed-local
    const reply = run(r, q, n)
    r.replies.set(q.clientId, reply)
    r.doneWaiting(q.clientId, q.seq)
    r.event({ _tag: "Executed", index: n, clientId: q.clientId, seq: q.seq })
    r.phase(q.clientId, q.seq, "executed", n)
    sendReply(r, q.clientId, reply, false, n)
    r.phase(q.clientId, q.seq, "replied", n)
    ran++
  }
  r.lastExecuted = n
  if (n % r.config.checkpointInterval === 0) takeCheckpoint(r, n)
  return ran
}

/** Apply one command; an undecodable command gets the same rejection on every correct replica. */
const run = (r: ReplicaState, q: Request, index: number): CachedReply => {
  const decoded = r.commands.decode(q.command)
  if (Either.isLeft(decoded)) return { seq: q.seq, index, result: NO_RESULT, rejected: decoded.left }
  try {
    const result = r.instance.apply(decoded.right, { index, clientId: q.clientId, seq: q.seq })
    return { seq: q.seq, index, result: r.commands.encodeResult(result) }
  } catch (e) {
    // a state machine that throws is a bug in it; answering deterministically keeps replicas in agreement
    return { seq: q.seq, index, result: NO_RESULT, rejected: `apply failed: ${String(e).slice(0, 100)}` }
  }
}

/**
 * Read-only requests (§5.1.3) are answered from the current state once every
 * sequence number this replica prepared before the read arrived has executed:
 * a write that completed at some client was prepared by f+1 correct replicas,
 * so any 2f+1 matching read replies include one that reflects it.
 */
export const answerRead = (r: ReplicaState, env: Protocol.Verified<Request>): void => {
  const barrier = Math.max(r.maxPrepared, r.log.low)
  if (r.lastExecuted >= barrier) return replyRead(r, env.message)
  if (r.reads.length >= r.config.maxPendingRequests) return r.reject(env.from, "overloaded", "too many read-only requests waiting")
  r.reads.push({ envelope: env, barrier })
}

const answerReads = (r: ReplicaState): void => {
  if (r.reads.length === 0) return
  const waiting = r.reads
  r.reads = []
  for (const w of waiting) {
    if (r.lastExecuted >= w.barrier) replyRead(r, w.envelope.message)
    else r.reads.push(w)
  }
}

const replyRead = (r: ReplicaState, q: Request): void => {
  const decoded = r.commands.decode(q.command)
  let reply: { seq: number; result: Uint8Array; rejected?: string }
  if (Either.isLeft(decoded)) reply = { seq: q.seq, result: NO_RESULT, rejected: decoded.left }
  else if (!r.instance.isReadOnly(decoded.right)) reply = { seq: q.seq, result: NO_RESULT, rejected: "not read-only" }
  else {
    try {
      reply = { seq: q.seq, result: r.commands.encodeResult(r.instance.query(decoded.right)) }
    } catch (e) {
      reply = { seq: q.seq, result: NO_RESULT, rejected: `query failed: ${String(e).slice(0, 100)}` }
    }
  }
  sendReply(r, q.clientId, reply, true, r.lastExecuted)
}

/**
 * The backup's view-change timer (§4.5.2): it runs for one request the backup
 * is waiting to execute (received, relayed, or in an accepted batch). When that
 * request executes, the timer restarts for the oldest other waiting request,
 * or stops. Executing other requests (or null batches) does not restart it, so
 * a primary cannot starve one client while it serves the others.
 */
export const updateTimer = (r: ReplicaState): void => {
  if (!r.normal || r.isPrimary()) {
    r.vcDeadline = undefined
    r.timedRequest = undefined
    return
  }
  const timed = r.timedRequest
  if (timed !== undefined && r.vcDeadline !== undefined) {
    const w = r.waiting.get(timed.clientId)
    if (w !== undefined && w.verified.message.seq === timed.seq) return
  }
  const oldest = r.waiting.values().next()
  if (oldest.done === true) {
    r.vcDeadline = undefined
    r.timedRequest = undefined
  } else {
    r.timedRequest = { clientId: oldest.value.verified.message.clientId, seq: oldest.value.verified.message.seq }
    r.vcDeadline = r.now + r.vcTimeout
  }
}
