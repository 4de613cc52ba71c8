/**
 * Client requests at a replica: admission to the leader's queue, answers
 * from the session table for retries, and the read paths.
 *
 * A request is answered exactly once by this replica with one `Outcome`:
 * `NotLeader` (not here; hint), `Overloaded` (a queue is full), `Rejected`
 * (refused before or at ordering: definitely not executed), `Dropped` (the
 * leader changed while it was queued or in flight: retry), `Expired` (the
 * session forgot it: unknown) or `Committed` with its result.
 *
 * Limits: `maxPendingRequests` queued writes, `maxPendingReads` waiting
 * reads, `maxCommandBytes` per command, and a client may run at most
 * `maxSessionResults` seqs ahead of its acknowledged prefix.
 */
import { type PeerId } from "@synod/core"
import { requestKey, type State } from "./internal/State.js"
import * as M from "./Messages.js"
import * as Proposer from "./Proposer.js"

const reply = (s: State, to: PeerId, m: M.Request, outcome: M.Outcome): void =>
  s.sendAfterPersist(to, new M.Reply({ clientId: m.clientId, seq: m.seq, outcome }, true))

const notLeader = (s: State, from: PeerId, m: M.Request): void => {
  const hint = s.leaderHint()
  reply(s, from, m, hint === undefined || hint === s.me ? { _tag: "NotLeader" } : { _tag: "NotLeader", leaderHint: hint })
  s.rejected(from, "not-leader", `request ${m.clientId}#${m.seq} at a ${s.role}`)
}

const refuse = (s: State, from: PeerId, m: M.Request, reason: string): void => {
  reply(s, from, m, { _tag: "Rejected", reason })
  s.rejected(from, "invalid", `request ${m.clientId}#${m.seq}: ${reason}`)
}

export const onRequest = (s: State, from: PeerId, m: M.Request): void => {
  if (!Proposer.signedByClient(from, m.clientId)) {
    return s.rejected(from, "invalid", `request of client ${m.clientId} signed by ${from}`)
  }
  if (m.ackedBelow > m.seq) return refuse(s, from, m, "acked-below-exceeds-seq")
  if (m.op._tag === "Read") return onRead(s, from, m, m.op)
  if (s.role !== "leader") return notLeader(s, from, m)
  let item: M.Item
  let bytes: number
  if (m.op._tag === "Write") {
    if (m.op.command.byteLength > s.config.maxCommandBytes) return refuse(s, from, m, "command-too-large")
    if (s.commandCodec.decode(m.op.command)._tag === "Left") return refuse(s, from, m, "invalid-command")
    item = new M.Command({ clientId: m.clientId, seq: m.seq, ackedBelow: m.ackedBelow, command: m.op.command }, true)
    bytes = m.op.command.byteLength
  } else {
    if (reconfigurationPending(s)) return refuse(s, from, m, "change-pending")
    item = new M.Reconfigure({ clientId: m.clientId, seq: m.seq, ackedBelow: m.ackedBelow, members: m.op.members }, true)
    bytes = 8 * m.op.members.length
  }
  const session = s.sessions.lookup(m.clientId, m.seq)
  if (session._tag === "Duplicate") {
    const r = session.result
    s.phase(m.clientId, m.seq, "received")
    reply(s, from, m, r._tag === "Ok" ? { _tag: "Committed", result: r.result, index: r.index } : { _tag: "Rejected", reason: r.reason })
    return s.phase(m.clientId, m.seq, "replied", r.index)
  }
  if (session._tag === "Stale") {
    s.phase(m.clientId, m.seq, "received")
    reply(s, from, m, { _tag: "Expired" })
    return s.phase(m.clientId, m.seq, "replied")
  }
  const key = requestKey(m.clientId, m.seq)
  if (s.waiters.has(key) || s.inFlightKeys.has(key)) {
    // a retry of a request already queued or in flight: answer it when that one executes;
    // a value recovered in phase 1 was never received here, so this retry is its admission
    if (!s.waiters.has(key)) s.phase(m.clientId, m.seq, "received", s.inFlightKeys.get(key))
    s.waiters.set(key, from)
    return s.rejected(from, "duplicate", `request ${key} is already in progress`)
  }
  if (m.seq - m.ackedBelow >= s.config.maxSessionResults) return refuse(s, from, m, "session-window-exceeded")
  if (s.queue.length >= s.config.maxPendingRequests) {
    reply(s, from, m, { _tag: "Overloaded" })
    return s.rejected(from, "overloaded", `request queue full (${s.config.maxPendingRequests})`)
  }
  s.queue.push({ item, bytes, arrivedAt: s.now })
  s.waiters.set(key, from)
  s.phase(m.clientId, m.seq, "received")
}

const reconfigurationPending = (s: State): boolean => {
  if (s.configuration.pending !== undefined) return true
  for (const q of s.queue) if (q.item._tag === "Reconfigure") return true
  for (const p of s.inFlight.values()) for (const item of p.value.items) if (item._tag === "Reconfigure") return true
  return false
}

const onRead = (s: State, from: PeerId, m: M.Request, op: { readonly command: Uint8Array; readonly consistency: M.ReadConsistency }): void => {
  if (op.command.byteLength > s.config.maxCommandBytes) return refuse(s, from, m, "command-too-large")
  const decoded = s.commandCodec.decode(op.command)
  if (decoded._tag === "Left") return refuse(s, from, m, "invalid-command")
  if (!s.sm.isReadOnly(decoded.right)) return refuse(s, from, m, "not-read-only")
  if (op.consistency === "stale") return answerRead(s, from, m.clientId, m.seq, decoded.right)
  if (s.role !== "leader") return notLeader(s, from, m)
  if (s.reads.pending.length >= s.config.maxPendingReads) {
    reply(s, from, m, { _tag: "Overloaded" })
    return s.rejected(from, "overloaded", `read queue full (${s.config.maxPendingReads})`)
  }
  const read = { peer: from, clientId: m.clientId, seq: m.seq, command: decoded.right, horizon: Proposer.horizon(s) }
  s.reads.register(read, s.reads.leaseValid(s.now))
}

/** Answer a read from the state at the applied index. */
const answerRead = (s: State, to: PeerId, clientId: string, seq: number, command: unknown): void => {
  let outcome: M.Outcome
  try {
    outcome = { _tag: "Committed", result: s.resultCodec.encode(s.sm.query(command)), index: s.applied as never }
  } catch (e) {
    outcome = { _tag: "Rejected", reason: `query-failed: ${String(e).slice(0, 120)}` }
  }
  s.sendAfterPersist(to, new M.Reply({ clientId: clientId as never, seq: seq as never, outcome }, true))
}

/** Answer every linearizable read whose conditions now hold (see ReadIndex.ts). */
export const serveReads = (s: State): void => {
  if (s.role !== "leader") return
  const lease = s.config.lease === undefined ? undefined : { duration: s.config.lease.durationTicks, drift: s.config.lease.driftTicks }
  s.reads.confirm(s.me, (ackers) => readQuorum(s, ackers), lease)
  for (const r of s.reads.takeReady(s.applied, s.now)) answerRead(s, r.peer, r.clientId, r.seq, r.command)
  if (s.reads.needRound) Proposer.sendHeartbeat(s)
}

/** The ackers form a replication quorum of every membership that governs a slot the leader may propose. */
const readQuorum = (s: State, ackers: ReadonlyArray<number>): boolean => {
  const low = s.configuration.at(s.applied + 1)
  const high = s.configuration.at(s.applied + s.config.pipelineWindow)
  return low.quorum.isQuorum("replication", ackers as never) && high.quorum.isQuorum("replication", ackers as never)
}

/**
 * An operator's membership change proposed at this replica (the leader),
 * without a client: ordered through the log like a client's. Returns false
 * when this replica does not lead or a change is already under way.
 *
 * The item's session is `admin.r<id>`; its seq is the applied index + 1, which
 * grows past every earlier admin seq of this replica once that one applied
 * (and while one is in flight, no other is admitted).
 */
export const proposeReconfiguration = (s: State, members: ReadonlyArray<number>): boolean => {
  if (s.role !== "leader" || reconfigurationPending(s)) return false
  const sorted = [...new Set(members)].sort((a, b) => a - b)
  if (sorted.length === 0 || sorted.length > M.MAX_MEMBERS || sorted.some((r) => !Number.isInteger(r) || r < 0 || r >= 1024)) return false
  if (s.queue.length >= s.config.maxPendingRequests) return false
  const seq = s.applied + 1
  const item = new M.Reconfigure({ clientId: `admin.r${s.me}` as never, seq: seq as never, ackedBelow: seq as never, members: sorted as never }, true)
  s.queue.push({ item, bytes: 8 * sorted.length, arrivedAt: s.now })
  return true
}
