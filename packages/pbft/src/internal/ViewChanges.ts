/**
 * View-change handlers (OSDI'99 §4.4, liveness rules §4.5.2).
 */
import { type LogIndex, type Protocol, replicaPeer, type ViewNumber } from "@synod/core"
import { Either } from "effect"
import { NULL_DIGEST } from "../Digest.js"
import type { PreparedCertificate } from "../Log.js"
import { NewView, PrePrepare, type ViewChange } from "../Messages.js"
import {
  buildViewChange,
  computeNewView,
  type NewViewPlan,
  validateNewView,
  validateViewChange,
  type ViewChangeContext
} from "../ViewChange.js"
import { makeStable } from "./Checkpointing.js"
import { KEY_NEW_VIEW, KEY_VIEW_CHANGE, persistMeta } from "./Durable.js"
import { updateTimer } from "./Execution.js"
import type { Signed } from "./Frames.js"
import { enqueue, fetchMissingBatches, propose } from "./Batching.js"
import { acceptPrePrepare, memberFrom } from "./Normal.js"
import { relay, relayNewView } from "./Retransmit.js"
import type { ReplicaState } from "./State.js"

type V<M> = Protocol.Verified<M>

export const viewChangeContext = (r: ReplicaState): ViewChangeContext => ({
  frames: r.frames,
  trust: r.trust,
  checkpointInterval: r.config.checkpointInterval,
  logWindow: r.config.logWindow,
  genesisDigest: r.genesisDigest
})

/**
 * Move to view `view` (> current): stop accepting messages of the old view,
 * multicast a view-change with our stable checkpoint proof and P, and wait for
 * the new-view with a timeout that doubles each time one fails (§4.5.2).
 */
export const startViewChange = (r: ReplicaState, view: number, cause: string): void => {
  if (view <= r.view) return
  r.view = view
  r.normal = false
  r.viewChangeCause = cause
  r.vcDeadline = undefined
  r.newViewDeadline = r.now + r.vcTimeout
  r.vcTimeout = Math.min(r.vcTimeout * 2, r.config.maxViewChangeTimeoutTicks)
  r.pending.clear()
  r.pendingKeys.clear()
  r.newViewFrame = undefined
  const slots = r.log.ordered()
  const vc = r.seal(buildViewChange(view, r.stable, slots))
  r.ownViewChange = vc
  const prepared = new Map<number, PreparedCertificate>()
  for (const s of slots) if (s.seq > r.stable.seq && s.prepared !== undefined) prepared.set(s.seq, s.prepared)
  r.viewChanges.set(r.id, { from: r.id, view, stableSeq: r.stable.seq, stableDigest: r.stable.digest, checkpointProof: r.stable.proof, prepared, frame: vc.frame })
  persistMeta(r)
  r.persist(KEY_VIEW_CHANGE, vc.frame)
  r.sendAfterPersist(r.others, vc.message)
  r.event({ _tag: "Custom", name: "pbft.view-change", data: { view, cause } })
  tryNewView(r)
}

export const onViewChange = (r: ReplicaState, env: V<ViewChange>): void => {
  const from = memberFrom(r, env)
  if (from === undefined) return
  const m = env.message
  if (m.view < r.view || (m.view === r.view && r.normal)) {
    // the sender is behind: show it the new-view of the view we are in
    relayNewView(r, env.from)
    return r.reject(env.from, "stale", `view-change for ${m.view} in view ${r.view}`)
  }
  const known = r.viewChanges.get(from)
  if (known !== undefined && known.view >= m.view) {
    return r.reject(env.from, known.view === m.view ? "duplicate" : "stale", `view-change for ${m.view}`)
  }
  const valid = validateViewChange(viewChangeContext(r), { from, message: m, frame: env.frame })
  if (Either.isLeft(valid)) return r.reject(env.from, valid.left.reason, `view-change: ${valid.left.detail}`)
  r.viewChanges.set(from, valid.right)
  // a weak quorum is already ahead: join the smallest of their views (§4.5.2)
  const ahead = [...r.viewChanges.values()].filter((vc) => vc.view > r.view)
  if (r.trust.isQuorum("weak", ahead.map((vc) => vc.from))) {
    startViewChange(r, Math.min(...ahead.map((vc) => vc.view)), "join")
  }
  tryNewView(r)
}

/** The new primary, with view-changes from an election quorum, computes O and multicasts the new-view. */
const tryNewView = (r: ReplicaState): void => {
  if (r.normal || !r.isPrimary()) return
  const vcs = [...r.viewChanges.values()].filter((vc) => vc.view === r.view).sort((a, b) => a.from - b.from)
  if (!r.trust.isQuorum("election", vcs.map((vc) => vc.from))) return
  const plan = computeNewView(r.view, vcs)
  const pps = plan.prePrepares.map((p) =>
    r.seal(new PrePrepare({ view: r.view as ViewNumber, seq: p.seq as LogIndex, digest: p.digest }))
  )
  const nv = r.seal(new NewView({ view: r.view as ViewNumber, viewChanges: vcs.map((vc) => vc.frame), prePrepares: pps.map((p) => p.frame) }))
  installNewView(r, plan, pps, nv.frame)
  r.sendAfterPersist(r.others, nv.message)
}

export const onNewView = (r: ReplicaState, env: V<NewView>): void => {
  const from = memberFrom(r, env)
  if (from === undefined) return
  const m = env.message
  if (m.view < r.view) return r.reject(env.from, "stale", `new-view for ${m.view} in view ${r.view}`)
  if (m.view === r.view && r.normal) return r.reject(env.from, "duplicate", `new-view for ${m.view}`)
  const valid = validateNewView(viewChangeContext(r), { from, message: m, frame: env.frame })
  if (Either.isLeft(valid)) return r.reject(env.from, valid.left.reason, valid.left.detail)
  installNewView(r, valid.right.plan, valid.right.prePrepares, env.frame)
}

/**
 * Enter the new view: adopt the checkpoint of V, accept O's pre-prepares (a
 * backup prepares them even before it has their batches: they are prepared
 * certificates of earlier views or null requests, and it fetches the batch
 * before executing), then replay what arrived early for this view.
 */
const installNewView = (r: ReplicaState, plan: NewViewPlan, pps: ReadonlyArray<Signed<PrePrepare>>, frame: Uint8Array): void => {
  const cause = r.view === plan.view && !r.normal ? r.viewChangeCause : "new-view"
  r.view = plan.view
  r.normal = true
  r.newViewFrame = frame
  persistMeta(r)
  r.persist(KEY_NEW_VIEW, frame)
  r.persist(KEY_VIEW_CHANGE, null)
  for (const [k, vc] of r.viewChanges) if (vc.view <= plan.view) r.viewChanges.delete(k)
  r.pending.clear()
  r.pendingKeys.clear()
  r.assigned.clear()
  r.maxAccepted = 0
  r.nextSeq = Math.max(plan.maxSeq, plan.checkpoint.seq, r.stable.seq)
  if (plan.checkpoint.seq > r.stable.seq) makeStable(r, plan.checkpoint)
  for (const pp of pps) {
    if (pp.message.seq <= r.stable.seq) continue
    const slot = r.log.slot(pp.message.seq, r.view)
    acceptPrePrepare(r, slot, pp)
    if (pp.message.digest !== NULL_DIGEST) slot.batchFetchAt = r.now
  }
  r.vcDeadline = undefined
  r.event({ _tag: "ViewChanged", view: r.view, leader: r.primary(), cause })
  // requests still waiting to execute go to the new primary (it re-proposes those that O does not hold)
  const known = [...r.waiting.values()].sort((a, b) => a.since - b.since)
  if (r.isPrimary()) {
    for (const k of known) enqueue(r, k, r.self)
    propose(r)
  } else if (known.length > 0) {
    relay(r, [replicaPeer(r.primary())], known.map((k) => k.verified.frame))
  }
  updateTimer(r)
  fetchMissingBatches(r)
  const early = r.future
  r.future = []
  r.futureBySender.clear()
  for (const f of early) r.dispatch(f.envelope, f.relayed)
}
