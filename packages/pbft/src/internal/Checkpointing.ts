/**
 * Checkpoints, stable checkpoints and garbage collection (OSDI'99 §4.3), and
 * state transfer to a stable checkpoint (TOCS'02 §5.3).
 */
import type { LogIndex, Protocol } from "@synod/core"
import { Either } from "effect"
import { verifyCheckpointProof } from "../Certificates.js"
import { Checkpoint, FetchState, StateReply } from "../Messages.js"
import * as StateTransfer from "../StateTransfer.js"
import type { StableCheckpoint } from "../ViewChange.js"
import { collectLog, persistStable } from "./Durable.js"
import { tryExecute, updateTimer } from "./Execution.js"
import { propose } from "./Batching.js"
import { equivocation, memberFrom } from "./Normal.js"
import type { ReplicaState } from "./State.js"

type V<M> = Protocol.Verified<M>

/** After executing n = k·K: snapshot the state, and multicast ⟨CHECKPOINT, n, d⟩. */
export const takeCheckpoint = (r: ReplicaState, n: number): void => {
  const captured = StateTransfer.capture(r.machine, r.instance, r.replies)
  r.ownCheckpoints.set(n, captured)
  const cp = r.seal(new Checkpoint({ seq: n as LogIndex, stateDigest: captured.digest }))
  r.checkpoints.add(cp)
  r.send(r.others, cp.message)
  r.event({ _tag: "Checkpoint", index: n, stateDigest: captured.digest, stable: false })
  checkStable(r, n)
}

export const onCheckpoint = (r: ReplicaState, env: V<Checkpoint>): void => {
  const from = memberFrom(r, env)
  if (from === undefined) return
  const m = env.message
  if (m.seq === 0 || m.seq % r.config.checkpointInterval !== 0) return r.reject(env.from, "invalid", `checkpoint at ${m.seq} is not a multiple of K`)
  r.progress.executed(from, m.seq)
  if (m.seq <= r.stable.seq) return r.reject(env.from, "stale", `checkpoint ${m.seq} at or below the stable ${r.stable.seq}`)
  const added = r.checkpoints.add({ from, message: m, frame: env.frame })
  if (added._tag === "Duplicate") return r.reject(env.from, "duplicate", `checkpoint ${m.seq}`)
  if (added._tag === "Conflict") return equivocation(r, "conflicting-checkpoint", env.from, added.earlier.frame, env.frame)
  checkStable(r, m.seq)
}

const checkStable = (r: ReplicaState, seq: number): void => {
  const cert = r.checkpoints.certificate(seq, r.trust)
  if (cert !== undefined && cert.seq > r.stable.seq) makeStable(r, cert)
}

/**
 * A checkpoint became stable (here, or in a new-view's V): move the low
 * watermark, discard the log and older checkpoints, and fetch the state if
 * we have not executed up to it.
 */
export const makeStable = (r: ReplicaState, cert: StableCheckpoint): void => {
  // execute what we can before discarding the log: it may spare us a state transfer
  if (r.lastExecuted < cert.seq) tryExecute(r)
  if (cert.seq <= r.stable.seq) return // executing up to it made it stable already
  const own = r.ownCheckpoints.get(cert.seq)
  const snapshot = own !== undefined && own.digest === cert.digest ? own.bytes : undefined
  r.stable = { seq: cert.seq, digest: cert.digest, proof: cert.proof, snapshot }
  r.log.truncate(cert.seq)
  r.checkpoints.truncate(cert.seq)
  for (const seq of r.ownCheckpoints.keys()) if (seq <= cert.seq) r.ownCheckpoints.delete(seq)
  r.batches.collect(r.config.maxInFlightBatches)
  collectLog(r, cert.seq)
  persistStable(r)
  r.event({ _tag: "Checkpoint", index: cert.seq, stateDigest: cert.digest, stable: true })
  if (r.lastExecuted < cert.seq || (own !== undefined && snapshot === undefined)) {
    // behind the quorum, or our state at the checkpoint differs from the certified one
    startTransfer(r, cert.seq)
  }
  propose(r)
}

// ---- state transfer ------------------------------------------------------------------------

export const startTransfer = (r: ReplicaState, target: number): void => {
  if (r.transfer !== undefined && r.transfer.target >= target) return
  r.transfer = { target, retryAt: r.now + r.config.stateTransferRetryTicks }
  r.send(r.others, new FetchState({ seq: target as LogIndex }))
}

export const retryTransfer = (r: ReplicaState): void => {
  if (r.transfer === undefined || r.now < r.transfer.retryAt) return
  r.transfer.retryAt = r.now + r.config.stateTransferRetryTicks
  r.send(r.others, new FetchState({ seq: r.transfer.target as LogIndex }))
}

export const onFetchState = (r: ReplicaState, env: V<FetchState>): void => {
  if (memberFrom(r, env) === undefined) return
  const s = r.stable
  if (s.snapshot === undefined || s.seq === 0 || s.seq < env.message.seq) return
  if (!r.limits.allow(env.from, "state", r.now, 1, Math.max(1, r.config.stateTransferRetryTicks >> 1))) {
    return r.reject(env.from, "overloaded", "state requests over budget")
  }
  r.send([env.from], new StateReply({ seq: s.seq as LogIndex, stateDigest: s.digest, snapshot: s.snapshot, checkpointProof: s.proof }))
}

/** Install a state only if its certificate verifies and the digest we compute matches it. */
export const onStateReply = (r: ReplicaState, env: V<StateReply>): void => {
  if (memberFrom(r, env) === undefined) return
  const m = env.message
  if (r.transfer === undefined || m.seq < r.transfer.target) return r.reject(env.from, "stale", `state at ${m.seq} not needed`)
  const proof = verifyCheckpointProof(r.frames, r.trust, m.checkpointProof, m.seq, m.stateDigest)
  if (Either.isLeft(proof)) return r.reject(env.from, "invalid", `state reply: ${proof.left.detail}`)
  const restored = StateTransfer.restore(r.machine, m.snapshot, m.stateDigest)
  if (Either.isLeft(restored)) {
    const evidence = { against: env.from, kind: "bad-state" as const, frames: [env.frame] }
    r.evidence.add(evidence)
    r.event({ _tag: "Evidence", ...evidence })
    return r.reject(env.from, "invalid", `state reply: ${restored.left.detail}`)
  }
  install(r, { seq: m.seq, digest: m.stateDigest, proof: m.checkpointProof }, m.snapshot, restored.right)
}

const install = (r: ReplicaState, cert: StableCheckpoint, snapshot: Uint8Array, state: StateTransfer.RestoredState): void => {
  r.instance = state.instance
  r.replies = state.replies
  r.lastExecuted = cert.seq
  r.transfer = undefined
  if (cert.seq > r.stable.seq) {
    r.ownCheckpoints.set(cert.seq, { digest: cert.digest, bytes: snapshot })
    makeStable(r, cert)
  } else {
    r.stable = { ...r.stable, snapshot }
    persistStable(r)
  }
  for (const [clientId, reply] of r.replies) r.doneWaiting(clientId, reply.seq)
  r.phases.forgetExecuted(r.replies)
  for (const [key, seq] of r.assigned) if (seq <= cert.seq) r.assigned.delete(key)
  r.event({ _tag: "StateTransferred", index: cert.seq, stateDigest: cert.digest })
  updateTimer(r)
  tryExecute(r)
}
