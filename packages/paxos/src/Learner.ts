/**
 * The learner (Lamport, "Paxos Made Simple" §2.3 and §3): it finds out which
 * values were chosen, applies them to the state machine in slot order, takes
 * snapshots and truncates the log below them, and catches up from peers when
 * it lags (chosen values, or a snapshot when the values are gone).
 *
 * A chosen value is applied exactly once per incarnation, in slot order,
 * through the session table (exactly-once per `(clientId, seq)` across
 * slots). Messages that reveal that a value is chosen (Commit, Decided,
 * InstallSnapshot, replies) leave in `sendAfterPersist`: the vote that made
 * it chosen may be this replica's own, written in the same Ready.
 */
import { type ClientId, Crypto, type PeerId, peerReplica, type ReplicaId, type StateMachine } from "@synod/core"
import { Schema } from "effect"
import * as B from "./Ballot.js"
import * as Election from "./Election.js"
import { type State, requestKey } from "./internal/State.js"
import * as M from "./Messages.js"
import * as Proposer from "./Proposer.js"

export const SNAPSHOT_KEY = "paxos/snapshot"

/**
 * What a Paxos replica tells the state machine about each command it applies.
 * `fencingToken` is the highest `Ballot.fencingToken` of the leaders that
 * proposed the slots applied so far: monotone, and the same on every replica
 * at the same slot, so a state machine can hand it to external resources.
 */
export interface PaxosApplyContext extends StateMachine.ApplyContext {
  readonly fencingToken: number
}

const enc = new TextEncoder()
const dec = new TextDecoder()
const encodeSnapshotJson = Schema.encodeSync(M.SnapshotRecord)
const decodeSnapshotJson = Schema.decodeUnknownSync(M.SnapshotRecord)

export const encodeSnapshot = (r: M.SnapshotRecord): Uint8Array => enc.encode(JSON.stringify(encodeSnapshotJson(r)))
/** Decode our own durable snapshot; throws on corruption (our disk, not peer input). */
export const decodeSnapshot = (bytes: Uint8Array): M.SnapshotRecord => decodeSnapshotJson(JSON.parse(dec.decode(bytes)))

// ---------------------------------------------------------------------------
// Learning and applying

/** `value` is chosen in `slot`: record it and apply every slot that is now contiguous. */
export const markChosen = (s: State, slot: number, value: M.Batch): void => {
  if (slot <= s.applied) return
  s.heardChosen(slot)
  s.persist(s.log.choose(slot, value))
  applyChosen(s)
}

/** Apply chosen slots in order from `applied + 1` for as long as they are known. */
export const applyChosen = (s: State): void => {
  const before = s.applied
  for (let value = s.log.chosen(s.applied + 1); value !== undefined; value = s.log.chosen(s.applied + 1)) {
    applyEntry(s, s.applied + 1, value)
  }
  if (s.applied > before && !s.replaying) Proposer.onApplied(s)
}

const applyEntry = (s: State, slot: number, batch: M.Batch): void => {
  if (s.configuration.enter(slot)) {
    s.event({ _tag: "Custom", name: "paxos/membership", data: { slot, epoch: s.configuration.current.epoch, members: s.configuration.current.members } })
  }
  s.fencing = Math.max(s.fencing, B.fencingToken(batch.ballot))
  if (!s.replaying) {
    s.event({
      _tag: "Committed",
      index: slot,
      entryDigest: Crypto.sha256Hex(M.batchBytes(batch)),
      // client commands only: a membership change is not a state-machine command (see Custom events)
      requests: batch.items.filter((item) => item._tag === "Command").map((item) => ({
        clientId: item.clientId,
        seq: item.seq,
        commandDigest: Crypto.sha256Hex(item.command)
      }))
    })
  }
  for (const item of batch.items) applyItem(s, slot, item)
  s.applied = slot
  maybeSnapshot(s)
}

const applyItem = (s: State, slot: number, item: M.Item): void => {
  const check = s.sessions.begin(item, slot)
  switch (check._tag) {
    case "Stale":
      return answer(s, item, { _tag: "Expired" })
    case "Duplicate":
      return answer(s, item, outcomeOf(check.result))
    case "New": {
      // phases at apply, where the session table makes them once per request (a request can sit in two slots)
      s.phase(item.clientId, item.seq, "committed", slot)
      const result = item._tag === "Command" ? execute(s, slot, item) : reconfigure(s, slot, item)
      if (result._tag === "Ok") s.phase(item.clientId, item.seq, "executed", slot)
      s.sessions.record(item.clientId, item.seq, result)
      return answer(s, item, outcomeOf(result))
    }
  }
}

const execute = (s: State, slot: number, item: M.Command): M.SessionResult => {
  const decoded = s.commandCodec.decode(item.command)
  if (decoded._tag === "Left") return { _tag: "Refused", index: slot as never, reason: "invalid-command" }
  let result: Uint8Array
  try {
    const ctx: PaxosApplyContext = { index: slot, clientId: item.clientId, seq: item.seq, fencingToken: s.fencing }
    const r = s.sm.apply(decoded.right, ctx)
    result = s.resultCodec.encode(r)
  } catch (e) {
    // a state machine that throws is a bug of the application; refuse the same way everywhere
    return { _tag: "Refused", index: slot as never, reason: `apply-failed: ${String(e).slice(0, 120)}` }
  }
  s.event({ _tag: "Executed", index: slot, clientId: item.clientId, seq: item.seq })
  return { _tag: "Ok", index: slot as never, result }
}

const reconfigure = (s: State, slot: number, item: M.Reconfigure): M.SessionResult => {
  const change = s.configuration.change(item.members, slot)
  if (change._tag === "Refused") {
    s.event({ _tag: "Custom", name: "paxos/reconfiguration-refused", data: { slot, reason: change.reason, members: item.members } })
    return { _tag: "Refused", index: slot as never, reason: change.reason }
  }
  const pending = Schema.encodeSync(M.PendingMembership)(change.pending)
  s.event({ _tag: "Custom", name: "paxos/reconfiguration-scheduled", data: { slot, ...pending } })
  const result = enc.encode(JSON.stringify(pending))
  return { _tag: "Ok", index: slot as never, result }
}

const outcomeOf = (r: M.SessionResult): M.Outcome =>
  r._tag === "Ok" ? { _tag: "Committed", result: r.result, index: r.index } : { _tag: "Rejected", reason: r.reason }

/** Answer the client if this replica admitted the request (it is, or was, its leader). */
const answer = (s: State, item: M.Item, outcome: M.Outcome): void => {
  if (s.replaying) return
  const key = requestKey(item.clientId, item.seq)
  const peer = s.waiters.get(key)
  if (peer === undefined) return
  s.waiters.delete(key)
  s.sendAfterPersist(peer, new M.Reply({ clientId: item.clientId as ClientId, seq: item.seq, outcome }, true))
  s.phase(item.clientId, item.seq, "replied", outcome._tag === "Committed" ? outcome.index : undefined)
}

// ---------------------------------------------------------------------------
// Snapshots and log truncation

const maybeSnapshot = (s: State): void => {
  if (s.applied - (s.snapshot?.index ?? 0) >= s.config.snapshotIntervalSlots) takeSnapshot(s)
}

export const takeSnapshot = (s: State): void => {
  const record = new M.SnapshotRecord({
    index: s.applied as never,
    state: s.snapshotCodec.encode(s.sm.snapshot()),
    stateDigest: s.sm.digest(),
    sessions: s.sessions.toRecords(),
    config: s.configuration.toRecord(),
    fencing: s.fencing
  }, true)
  s.snapshot = record
  s.persist({ key: SNAPSHOT_KEY, value: encodeSnapshot(record) })
  for (const w of s.log.truncate(s.applied - s.config.logRetentionSlots)) s.persist(w)
  s.event({ _tag: "Checkpoint", index: s.applied, stateDigest: record.stateDigest, stable: true })
}

/**
 * Replace the replicated state with `record`'s. The state is rebuilt in a
 * fresh state machine and checked against the recorded digest before it
 * replaces ours. Returns false (changing nothing) when it does not decode or
 * match.
 */
export const installSnapshot = (s: State, record: M.SnapshotRecord, durable: boolean): boolean => {
  const decoded = s.snapshotCodec.decode(record.state)
  if (decoded._tag === "Left") return false
  const sm = s.makeSm()
  try {
    sm.restore(decoded.right)
  } catch {
    return false
  }
  if (sm.digest() !== record.stateDigest) return false
  s.sm = sm
  s.sessions.restore(record.sessions)
  s.configuration.restore(record.config)
  s.fencing = record.fencing
  s.applied = record.index
  s.snapshot = record
  if (durable) {
    s.persist({ key: SNAPSHOT_KEY, value: encodeSnapshot(record) })
    for (const w of s.log.truncate(record.index)) s.persist(w)
  }
  return true
}

// ---------------------------------------------------------------------------
// Commit notifications and catch-up

/** Slots `from..to` were chosen with `ballot`'s values: learn those we accepted in that ballot. */
export const onCommit = (s: State, from: PeerId, m: M.Commit): void => {
  if (peerReplica(from) !== m.ballot.replica) return s.rejected(from, "invalid", `commit for ballot ${m.ballot} signed by ${from}`)
  if (m.to < m.from || m.to - m.from >= M.MAX_COMMIT_RANGE) return s.rejected(from, "invalid", `commit range ${m.from}..${m.to}`)
  s.heardChosen(m.to)
  if (!B.lessThan(m.ballot, s.promised)) Election.observeLeader(s, m.ballot, "commit")
  let missing = false
  for (let slot = Math.max(m.from, s.applied + 1); slot <= m.to; slot++) {
    const e = s.log.get(slot)
    if (e?.chosen !== undefined) continue
    if (e?.accepted !== undefined && B.equals(e.accepted.ballot, m.ballot)) markChosen(s, slot, e.accepted.value)
    else missing = true
  }
  if (missing) requestCatchUp(s, m.ballot.replica)
}

/** A peer (leader, promiser) knows the log is chosen through `chosenThrough`: catch up if we lag and the lag persists. */
export const noteChosenThrough = (s: State, peer: ReplicaId, chosenThrough: number): void => {
  s.heardChosen(chosenThrough)
  if (s.role === "follower") s.progress.acknowledged(peer, chosenThrough)
  if (chosenThrough <= s.applied) {
    s.behindTarget = 0
    return
  }
  const far = chosenThrough - s.applied > s.config.pipelineWindow
  // commit messages normally close a small gap by themselves; ask when it was already there last time
  if (far || (s.behindTarget > s.applied && s.log.chosen(s.applied + 1) === undefined)) requestCatchUp(s, peer)
  s.behindTarget = chosenThrough
}

/** Ask `peer` for the chosen values after our applied index (one request outstanding). */
export const requestCatchUp = (s: State, peer: ReplicaId): void => {
  if (peer === s.me) return
  if (s.catchUp !== undefined && s.now - s.catchUp.sentAt < s.config.catchUpRetryTicks) return
  s.catchUp = { peer, sentAt: s.now }
  s.send([peer], new M.CatchUp({ fromSlot: (s.applied + 1) as never }, true))
}

export const onCatchUp = (s: State, from: PeerId, m: M.CatchUp): void => {
  if (peerReplica(from) === undefined) return s.rejected(from, "not-member", "catch-up is for replicas")
  serveCatchUp(s, from, m.fromSlot)
}

/** Send `to` what we know is chosen from `fromSlot` on: values from the log, or our snapshot when they are gone. */
export const serveCatchUp = (s: State, to: PeerId, fromSlot: number): void => {
  const chosenThrough = s.applied as never
  const snapshot = s.snapshot
  const farBehind = snapshot !== undefined && fromSlot <= snapshot.index && s.applied - fromSlot >= s.config.catchUpBatchSlots
  const entries: Array<M.DecidedEntry> = []
  if (!farBehind) {
    const last = Math.min(s.applied, fromSlot + s.config.catchUpBatchSlots - 1)
    for (let slot = fromSlot; slot <= last; slot++) {
      const value = s.log.chosen(slot)
      if (value === undefined) break
      entries.push(new M.DecidedEntry({ slot: slot as never, value }, true))
    }
  }
  if (entries.length > 0 || fromSlot > s.applied) {
    s.sendAfterPersist(to, new M.Decided({ entries, chosenThrough }, true))
  } else if (snapshot !== undefined && snapshot.index >= fromSlot) {
    s.sendAfterPersist(to, new M.InstallSnapshot({ snapshot, chosenThrough }, true))
  }
}

export const onDecided = (s: State, from: PeerId, m: M.Decided): void => {
  const peer = peerReplica(from)
  if (peer === undefined) return s.rejected(from, "not-member", "decided values come from replicas")
  for (let i = 1; i < m.entries.length; i++) {
    if (m.entries[i]!.slot <= m.entries[i - 1]!.slot) return s.rejected(from, "invalid", "decided entries out of order")
  }
  const before = s.applied
  // values far beyond what we can apply would only fill the log: they are fetched again in turn
  const horizon = s.applied + s.config.acceptorWindow
  for (const e of m.entries) if (e.slot <= horizon) markChosen(s, e.slot, e.value)
  continueCatchUp(s, peer, m.chosenThrough, s.applied > before)
}

export const onInstallSnapshot = (s: State, from: PeerId, m: M.InstallSnapshot): void => {
  const peer = peerReplica(from)
  if (peer === undefined) return s.rejected(from, "not-member", "snapshots come from replicas")
  if (m.snapshot.index <= s.applied) return s.rejected(from, "stale", `snapshot at ${m.snapshot.index}, applied ${s.applied}`)
  if (!installSnapshot(s, m.snapshot, true)) return s.rejected(from, "invalid", `snapshot at ${m.snapshot.index} does not decode or match its digest`)
  s.event({ _tag: "StateTransferred", index: s.applied, stateDigest: m.snapshot.stateDigest })
  applyChosen(s)
  Proposer.onApplied(s)
  continueCatchUp(s, peer, m.chosenThrough, true)
}

const continueCatchUp = (s: State, peer: ReplicaId, chosenThrough: number, progressed: boolean): void => {
  s.heardChosen(chosenThrough)
  s.progress.acknowledged(peer, chosenThrough)
  if (s.catchUp?.peer === peer) s.catchUp = undefined
  // keep pulling while the peer is ahead and answers move us forward
  if (progressed && chosenThrough > s.applied) requestCatchUp(s, peer)
}

/** Catch-up requests time out so the next lag signal can ask again (maybe another peer). */
export const onTick = (s: State): void => {
  if (s.catchUp !== undefined && s.now - s.catchUp.sentAt >= s.config.catchUpRetryTicks) s.catchUp = undefined
}
