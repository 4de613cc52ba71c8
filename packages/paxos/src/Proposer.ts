/**
 * The proposer and distinguished proposer (leader) of Multi-Paxos
 * (Lamport, "Paxos Made Simple" §2.2, §3).
 *
 * Phase 1 runs once per ballot for every slot from the first one this
 * replica does not know to be chosen (`Phase1.start`), so a stable leader
 * skips it for each new command (§3: "phase 1 ... for infinitely many
 * instances"). When phase 1 completes, each open slot gets the value of the
 * highest-ballot proposal any promise reported (P2c); slots below the highest
 * reported one with no proposal get a no-op (§3's gaps).
 *
 * Phase 2 is pipelined: up to `pipelineWindow` slots beyond the applied
 * index are in flight at once. Client commands are batched into one slot (at
 * most `maxBatchItems` items / `maxBatchBytes` bytes, waiting at most
 * `batchDelayTicks`). The leader's own vote is written in the same Ready as
 * its Accept and counted at once; everything that reveals the value as
 * chosen leaves after that write.
 */
import { clientPeer, type PeerId, peerReplica, type ReplicaId } from "@synod/core"
import * as Acceptor from "./Acceptor.js"
import * as B from "./Ballot.js"
import * as Election from "./Election.js"
import { type Proposal, Phase1, requestKey, type State } from "./internal/State.js"
import * as Learner from "./Learner.js"
import { sameBatch } from "./Log.js"
import * as M from "./Messages.js"

// ---------------------------------------------------------------------------
// Phase 1

export const beginPhase1 = (s: State): void => {
  const p1 = new Phase1(s.applied + 1)
  s.phase1 = p1
  s.progress.reset()
  addPromise(s, s.me, s.applied, Acceptor.reportFrom(s, p1.start))
  sendPrepares(s, s.configuration.members())
  checkElected(s)
}

const sendPrepares = (s: State, targets: ReadonlyArray<ReplicaId>): void => {
  const p1 = s.phase1!
  const to = targets.filter((r) => r !== s.me && !p1.promisers.has(r))
  if (to.length === 0) return
  for (const r of to) p1.asked.set(r, s.now)
  s.send(to, new M.Prepare({ ballot: s.ballot, fromSlot: p1.start as never }, true))
}

/** Re-ask replicas that have not promised (lost prepares or promises). */
export const retransmitPrepares = (s: State): void => {
  const p1 = s.phase1
  if (p1 === undefined) return
  const due: Array<ReplicaId> = []
  for (const [r, at] of p1.asked) if (!p1.promisers.has(r) && s.now - at >= s.config.retransmitTicks) due.push(r)
  sendPrepares(s, due)
}

const addPromise = (s: State, from: ReplicaId, chosenThrough: number, accepted: ReadonlyArray<M.AcceptedEntry>): void => {
  const p1 = s.phase1!
  if (p1.promisers.has(from)) return
  p1.promisers.add(from)
  for (const e of accepted) {
    if (e.slot < p1.start) continue
    const cur = p1.merged.get(e.slot)
    if (cur === undefined || B.greaterThan(e.ballot, cur.ballot)) p1.merged.set(e.slot, e)
    p1.maxReported = Math.max(p1.maxReported, e.slot)
  }
  if (chosenThrough > p1.chosenThrough) {
    p1.chosenThrough = chosenThrough
    p1.chosenThroughFrom = from
  }
  s.heardChosen(chosenThrough)
  if (from !== s.me) s.progress.acknowledged(from, chosenThrough)
}

/** Phase 1(b) answers reach the proposer. */
export const onPromise = (s: State, from: PeerId, m: M.Promise): void => {
  const r = peerReplica(from)
  if (r === undefined) return s.rejected(from, "not-member", "promises come from replicas")
  if (s.role === "follower" || !B.equals(m.ballot, s.ballot)) {
    return s.rejected(from, B.lessThan(m.ballot, s.ballot) ? "stale" : "wrong-view", `promise for ${m.ballot}, our ballot ${s.ballot}`)
  }
  const p1 = s.phase1!
  if (!p1.asked.has(r)) return s.rejected(from, "not-member", `replica ${r} was not asked to promise`)
  if (m.fromSlot !== p1.start) return s.rejected(from, "invalid", `promise from slot ${m.fromSlot}, asked from ${p1.start}`)
  for (const e of m.accepted) {
    if (e.slot < m.fromSlot || B.greaterThan(e.ballot, m.ballot)) return s.rejected(from, "invalid", `promise reports ${e.slot}@${e.ballot}`)
  }
  addPromise(s, r, m.chosenThrough, m.accepted)
  s.lastHeard.set(r, s.now)
  if (m.chosenThrough > s.applied) Learner.requestCatchUp(s, r)
  if (s.role === "candidate") checkElected(s)
}

const covered = (s: State, members: ReadonlyArray<ReplicaId>, slot: number): boolean => {
  const promisers = [...s.phase1!.promisers].filter((r) => members.includes(r))
  return s.configuration.at(slot).quorum.isQuorum("election", promisers)
}

const checkElected = (s: State): void => {
  const slot = s.applied + 1
  if (covered(s, s.configuration.at(slot).members, slot)) becomeLeader(s)
}

const becomeLeader = (s: State): void => {
  const p1 = s.phase1!
  s.role = "leader"
  s.leaderSince = s.now
  s.leaderBallot = B.max(s.leaderBallot, s.ballot)
  s.nextSlot = Math.max(s.applied, p1.chosenThrough) + 1
  s.lastHeard.clear()
  s.reads.reset()
  s.event({ _tag: "ViewChanged", view: s.ballot.round, leader: s.me, cause: s.campaignCause })
  s.event({ _tag: "Custom", name: "paxos/fencing-token", data: { ballot: s.ballot.toString(), fencingToken: B.fencingToken(s.ballot) } })
  sendHeartbeat(s)
}

// ---------------------------------------------------------------------------
// Phase 2

/** Fill the pipeline: recovered values first (P2c), then no-ops for gaps, then new batches. */
export const propose = (s: State): void => {
  if (s.role !== "leader") return
  const p1 = s.phase1!
  s.nextSlot = Math.max(s.nextSlot, s.applied + 1, p1.chosenThrough + 1)
  while (s.nextSlot <= s.applied + s.config.pipelineWindow) {
    const slot = s.nextSlot
    const membership = s.configuration.at(slot)
    // a leader removed by a reconfiguration leads up to the last slot of its membership, then hands over
    if (!membership.members.includes(s.me)) return
    if (!covered(s, membership.members, slot)) {
      // a membership we have no phase-1 quorum of yet: same ballot, its new members
      sendPrepares(s, membership.members.filter((r) => !p1.asked.has(r)))
      return
    }
    const recovered = p1.merged.get(slot)
    const value = recovered !== undefined
      ? recovered.value
      : slot <= p1.maxReported
      ? new M.Batch({ ballot: s.ballot, items: [] }, true)
      : takeBatch(s)
    if (value === undefined) return
    proposeIn(s, slot, value, membership.members)
    s.nextSlot++
  }
}

const takeBatch = (s: State): M.Batch | undefined => {
  const q = s.queue
  if (q.length === 0) return undefined
  const c = s.config
  if (c.batchDelayTicks > 0 && q.length < c.maxBatchItems && s.now - q[0]!.arrivedAt < c.batchDelayTicks) {
    let bytes = 0
    for (const x of q) bytes += x.bytes
    if (bytes < c.maxBatchBytes) return undefined
  }
  const items: Array<M.Item> = []
  let bytes = 0
  let n = 0
  while (n < q.length && items.length < c.maxBatchItems) {
    const next = q[n]!
    if (items.length > 0 && bytes + next.bytes > c.maxBatchBytes) break
    items.push(next.item)
    bytes += next.bytes
    n++
  }
  s.queue = q.slice(n)
  return new M.Batch({ ballot: s.ballot, items }, true)
}

const proposeIn = (s: State, slot: number, value: M.Batch, members: ReadonlyArray<ReplicaId>): void => {
  const p: Proposal = { value, members, votes: new Set(), sentAt: s.now }
  if (members.includes(s.me)) {
    Acceptor.acceptLocal(s, slot, s.ballot, value)
    p.votes.add(s.me)
  }
  s.inFlight.set(slot, p)
  for (const item of value.items) {
    const key = requestKey(item.clientId, item.seq)
    // once per admission: recovered values (P2c) and a second slot holding the same request report nothing
    if (s.waiters.has(key) && !s.inFlightKeys.has(key)) s.phase(item.clientId, item.seq, "proposed", slot)
    s.inFlightKeys.set(key, slot)
  }
  s.sendAfterPersist(members, accept(s, slot, value))
  checkChosen(s, slot, p)
}

const accept = (s: State, slot: number, value: M.Batch): M.Accept =>
  new M.Accept({ ballot: s.ballot, slot: slot as never, value, chosenThrough: s.applied as never }, true)

const checkChosen = (s: State, slot: number, p: Proposal): void => {
  if (!s.configuration.at(slot).quorum.isQuorum("replication", p.votes)) return
  s.inFlight.delete(slot)
  for (const item of p.value.items) s.inFlightKeys.delete(requestKey(item.clientId, item.seq))
  s.chosenThisStep.push(slot)
  Learner.markChosen(s, slot, p.value)
}

/** Phase 2(b) answers: a replication quorum of them chooses the value. */
export const onAccepted = (s: State, from: PeerId, m: M.Accepted): void => {
  const r = peerReplica(from)
  if (r === undefined) return s.rejected(from, "not-member", "votes come from replicas")
  if (s.role !== "leader" || !B.equals(m.ballot, s.ballot)) {
    return s.rejected(from, B.lessThan(m.ballot, s.ballot) ? "stale" : "wrong-view", `accepted ${m.ballot}, our ballot ${s.ballot}`)
  }
  s.lastHeard.set(r, s.now)
  s.progress.accepted(r, m.slot)
  const p = s.inFlight.get(m.slot)
  if (p === undefined) return s.rejected(from, "duplicate", `slot ${m.slot} is not in flight`)
  if (!p.members.includes(r)) return s.rejected(from, "not-member", `replica ${r} does not vote in slot ${m.slot}`)
  p.votes.add(r)
  checkChosen(s, m.slot, p)
}

/** An acceptor promised a higher ballot: abandon ours (§2.2). */
export const onNack = (s: State, from: PeerId, m: M.Nack): void => {
  if (peerReplica(from) === undefined) return s.rejected(from, "not-member", "nacks come from replicas")
  if (!B.greaterThan(m.promised, m.ballot)) return s.rejected(from, "invalid", `nack of ${m.ballot} for ${m.promised}`)
  s.seenBallot = B.max(s.seenBallot, m.promised)
  if (s.role === "follower" || !B.equals(m.ballot, s.ballot)) return s.rejected(from, "stale", `nack of ${m.ballot}, our ballot ${s.ballot}`)
  stepDown(s, "preempted")
}

// ---------------------------------------------------------------------------
// Leadership upkeep

export const sendHeartbeat = (s: State): void => {
  s.heartbeatElapsed = 0
  const round = s.reads.nextRound(s.now)
  s.sendAfterPersist(s.others(), new M.Heartbeat({ ballot: s.ballot, chosenThrough: s.applied as never, round }, true))
}

export const onHeartbeatAck = (s: State, from: PeerId, m: M.HeartbeatAck): void => {
  const r = peerReplica(from)
  if (r === undefined) return s.rejected(from, "not-member", "acks come from replicas")
  if (s.role !== "leader" || !B.equals(m.ballot, s.ballot)) return s.rejected(from, "stale", `ack for ${m.ballot}, our ballot ${s.ballot}`)
  s.lastHeard.set(r, s.now)
  s.heardChosen(m.chosenThrough)
  s.progress.acknowledged(r, m.chosenThrough)
  s.reads.onAck(r, m.round)
  // a leader elected while behind (its promises showed chosen slots it lacks) keeps pulling them
  if (m.chosenThrough > s.applied) Learner.requestCatchUp(s, r)
}

export const onLeaderTick = (s: State): void => {
  s.heartbeatElapsed++
  if (s.heartbeatElapsed >= s.config.heartbeatIntervalTicks) sendHeartbeat(s)
  for (const [slot, p] of s.inFlight) {
    if (s.now - p.sentAt < s.config.retransmitTicks) continue
    p.sentAt = s.now
    s.sendAfterPersist(p.members.filter((r) => !p.votes.has(r)), accept(s, slot, p.value))
  }
  retransmitPrepares(s)
  checkQuorum(s)
}

/** A leader cut off from a replication quorum stops leading, so its clients go elsewhere. */
const checkQuorum = (s: State): void => {
  const timeout = s.config.leaderQuorumTimeoutTicks
  if (s.now - s.leaderSince < timeout) return
  const alive: Array<ReplicaId> = [s.me]
  for (const [r, at] of s.lastHeard) if (s.now - at < timeout) alive.push(r)
  if (!s.configuration.at(s.applied + 1).quorum.isQuorum("replication", alive)) stepDown(s, "lost-quorum")
}

/** Slots at or below the applied index are settled: forget their proposals. */
export const onApplied = (s: State): void => {
  let superseded = false
  for (const [slot, p] of s.inFlight) {
    if (slot > s.applied) continue
    const chosen = s.log.chosen(slot)
    if (chosen === undefined || !sameBatch(chosen, p.value)) superseded = true
    s.inFlight.delete(slot)
    for (const item of p.value.items) s.inFlightKeys.delete(requestKey(item.clientId, item.seq))
  }
  // another ballot chose a different value in one of our slots: we are no longer leading
  if (superseded && s.role === "leader") return stepDown(s, "superseded")
  if (s.role !== "follower" && !s.configuration.at(s.applied + 1).members.includes(s.me)) stepDown(s, "removed")
}

/** Stop leading or campaigning; every waiting client gets an answer. */
export const stepDown = (s: State, cause: string): void => {
  if (s.role === "follower") return
  flushCommits(s)
  const hint = B.greaterThan(s.leaderBallot, s.ballot) ? s.leaderBallot.replica : undefined
  const outcomeHint = hint === undefined ? {} : { leaderHint: hint }
  const queued = new Set(s.queue.map((q) => requestKey(q.item.clientId, q.item.seq)))
  for (const [key, peer] of s.waiters) {
    const [clientId, seq] = splitKey(key)
    const outcome: M.Outcome = queued.has(key) ? { _tag: "NotLeader", ...outcomeHint } : { _tag: "Dropped", ...outcomeHint }
    s.sendAfterPersist(peer, new M.Reply({ clientId: clientId as never, seq: seq as never, outcome }, true))
    s.phase(clientId, seq, "replied")
  }
  for (const read of s.reads.reset()) {
    s.sendAfterPersist(read.peer, new M.Reply({ clientId: read.clientId as never, seq: read.seq as never, outcome: { _tag: "Dropped", ...outcomeHint } }, true))
  }
  s.waiters.clear()
  s.queue = []
  s.inFlight.clear()
  s.inFlightKeys.clear()
  s.role = "follower"
  s.phase1 = undefined
  s.progress.reset()
  Election.resetTimer(s)
  s.event({ _tag: "Custom", name: "paxos/step-down", data: { ballot: s.ballot.toString(), cause } })
}

const splitKey = (key: string): [string, number] => {
  const i = key.lastIndexOf("#")
  return [key.slice(0, i), Number(key.slice(i + 1))]
}

/** Tell everyone which slots this step chose, as runs of consecutive slots. */
export const flushCommits = (s: State): void => {
  if (s.chosenThisStep.length === 0) return
  const slots = s.chosenThisStep.sort((a, b) => a - b)
  s.chosenThisStep = []
  let from = slots[0]!
  for (let i = 1; i <= slots.length; i++) {
    if (i < slots.length && slots[i] === slots[i - 1]! + 1) continue
    s.sendAfterPersist(s.others(), new M.Commit({ ballot: s.ballot, from: from as never, to: slots[i - 1]! as never }, true))
    if (i < slots.length) from = slots[i]!
  }
}

/** The highest slot that may already be chosen, as far as this leader knows (read index horizon). */
export const horizon = (s: State): number => {
  const p1 = s.phase1
  return Math.max(s.applied, s.nextSlot - 1, p1?.maxReported ?? 0, p1?.chosenThrough ?? 0)
}

/** Is `clientId`'s request signed by that client? */
export const signedByClient = (from: PeerId, clientId: string): boolean => from === clientPeer(clientId)
