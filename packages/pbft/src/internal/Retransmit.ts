/**
 * Retransmission (the status mechanism of TOCS'02 §6.2): every replica
 * periodically tells the others its view, stable checkpoint and last executed
 * sequence number, and each answers with what the sender is missing, as the
 * original signed frames: the new-view of the current view, the stable
 * checkpoint proof (which starts a state transfer), a newer checkpoint
 * message, our view-change, or the pre-prepare, prepares and commits of the
 * sequence numbers it has not executed.
 */
import { type LogIndex, type PeerId, type Protocol, type ViewNumber } from "@synod/core"
import { Either } from "effect"
import { NULL_DIGEST } from "../Digest.js"
import { Batch, Checkpoint, MAX_RELAY_FRAMES, type PbftMessage, Relay, Status } from "../Messages.js"
import { memberFrom } from "./Normal.js"
import type { ReplicaState } from "./State.js"

type V<M> = Protocol.Verified<M>

/** Most bytes of frames in one Relay (well under the 4 MiB payload limit after base64). */
const MAX_RELAY_BYTES = 1024 * 1024

export const relay = (r: ReplicaState, to: ReadonlyArray<PeerId>, frames: ReadonlyArray<Uint8Array>): void => {
  let chunk: Array<Uint8Array> = []
  let bytes = 0
  for (const f of frames) {
    if (chunk.length > 0 && (chunk.length >= MAX_RELAY_FRAMES || bytes + f.byteLength > MAX_RELAY_BYTES)) {
      r.send(to, new Relay({ frames: chunk }))
      chunk = []
      bytes = 0
    }
    chunk.push(f)
    bytes += f.byteLength
  }
  if (chunk.length > 0) r.send(to, new Relay({ frames: chunk }))
}

/** An idle replica still sends its status every this many intervals, so that a peer behind it finds out. */
export const IDLE_STATUS_INTERVALS = 8

/**
 * Whether this replica may be missing something. A replica with nothing to
 * wait for sends status only every `IDLE_STATUS_INTERVALS` intervals, so an
 * idle cluster makes little status traffic.
 */
const needsStatus = (r: ReplicaState): boolean => {
  if (r.peerAhead || !r.normal || r.transfer !== undefined || r.future.length > 0) return true
  if (r.waiting.size > 0 || r.maxAccepted > r.lastExecuted || r.reads.length > 0) return true
  for (const seq of r.ownCheckpoints.keys()) if (seq > r.stable.seq) return true
  return false
}

export const sendStatus = (r: ReplicaState): void => {
  if (!needsStatus(r) && r.now < r.lastStatusAt + IDLE_STATUS_INTERVALS * r.config.statusIntervalTicks) return
  r.peerAhead = false
  r.lastStatusAt = r.now
  r.send(
    r.others,
    new Status({ view: r.view as ViewNumber, normal: r.normal, stableSeq: r.stable.seq as LogIndex, lastExecuted: r.lastExecuted as LogIndex })
  )
}

export const onStatus = (r: ReplicaState, env: V<Status>): void => {
  const from = memberFrom(r, env)
  if (from === undefined) return
  const s = env.message
  // only a peer that made no progress since its previous status is behind; otherwise its
  // messages were in flight, and retransmitting them would only make duplicates
  const previous = r.peerExecuted.get(from)
  r.peerExecuted.set(from, s.lastExecuted)
  r.progress.executed(from, s.lastExecuted)
  const stuck = previous === s.lastExecuted
  if (s.view > r.view || (s.view === r.view && s.normal && !r.normal) || s.lastExecuted > r.lastExecuted || s.stableSeq > r.lastExecuted) {
    r.peerAhead = true
  }
  // answers cost more than the status that asks for them: one per half interval per peer
  if (!r.limits.allow(env.from, "status", r.now, 1, Math.max(1, r.config.statusIntervalTicks >> 1))) return
  const to = [env.from]
  const behindInView = s.view < r.view || (s.view === r.view && !s.normal)
  if (r.normal) {
    if (behindInView) relayNewView(r, env.from)
    if (s.view === r.view && s.normal) {
      if (s.stableSeq < r.stable.seq && r.stable.proof.length > 0) relay(r, to, r.stable.proof)
      if (stuck && s.lastExecuted < r.lastExecuted && s.lastExecuted >= r.stable.seq) retransmitLog(r, to, s.lastExecuted)
    }
  } else if (behindInView && r.ownViewChange !== undefined) {
    r.send(to, r.ownViewChange.message)
  }
  // our newest checkpoint, while it is not stable yet, for a peer whose stable checkpoint is older
  let newest = 0
  for (const seq of r.ownCheckpoints.keys()) newest = Math.max(newest, seq)
  if (newest > r.stable.seq && s.stableSeq < newest) {
    r.send(to, new Checkpoint({ seq: newest as LogIndex, stateDigest: r.ownCheckpoints.get(newest)!.digest }))
  }
}

/** Our new-view, for a peer still in an older view (at most once per status interval: it can be large). */
export const relayNewView = (r: ReplicaState, peer: PeerId): void => {
  if (!r.normal || r.newViewFrame === undefined) return
  if (r.limits.allow(peer, "new-view", r.now, 1, r.config.statusIntervalTicks)) relay(r, [peer], [r.newViewFrame])
}

/** The batch and the pre-prepare, prepares and commits of the sequence numbers after `from`, bounded. */
const retransmitLog = (r: ReplicaState, to: ReadonlyArray<PeerId>, from: number): void => {
  const frames: Array<Uint8Array> = []
  const last = Math.min(r.lastExecuted, from + r.config.retransmitLimit)
  for (let n = from + 1; n <= last; n++) {
    const slot = r.log.peek(n)
    const pp = slot?.prePrepare
    if (slot === undefined || pp === undefined || slot.view !== r.view) continue
    const digest = pp.message.digest
    const batch = r.batches.get(digest)
    if (digest !== NULL_DIGEST && batch !== undefined) r.send(to, new Batch({ digest, requests: batch.frames }))
    frames.push(pp.frame)
    for (const p of slot.prepares.values()) if (p.message.digest === digest) frames.push(p.frame)
    for (const c of slot.commits.values()) if (c.message.digest === digest) frames.push(c.frame)
  }
  relay(r, to, frames)
}

/** Messages that may arrive relayed; anything else inside a Relay is refused. */
const RELAYABLE = new Set<PbftMessage["_tag"]>(["Request", "PrePrepare", "Prepare", "Commit", "Checkpoint", "ViewChange", "NewView"])

export const onRelay = (r: ReplicaState, env: V<Relay>): void => {
  if (memberFrom(r, env) === undefined) return
  for (const frame of env.message.frames) {
    const opened = r.frames.openAny(frame)
    if (Either.isLeft(opened)) {
      r.reject(env.from, opened.left.reason, `relayed frame: ${opened.left.detail}`)
      continue
    }
    if (!RELAYABLE.has(opened.right.message._tag)) {
      r.reject(env.from, "invalid", `a ${opened.right.message._tag} cannot be relayed`)
      continue
    }
    r.dispatch(opened.right, true)
  }
}
