/**
 * The acceptor (Lamport, "Paxos Made Simple" §2.2): it promises, accepts, and
 * never forgets either. Its promise and accepted proposals are written in the
 * same Ready as the `Promise` / `Accepted` that vouch for them, and those
 * messages leave in `sendAfterPersist`, so a restarted acceptor can never
 * contradict what it said before the crash.
 *
 * P1a: an acceptor can accept a proposal numbered n iff it has not responded
 * to a prepare request having a number greater than n.
 */
import { type PeerId, peerReplica } from "@synod/core"
import * as B from "./Ballot.js"
import type { Ballot } from "./Ballot.js"
import * as Election from "./Election.js"
import * as Learner from "./Learner.js"
import { encodeBallotBytes, PROMISED_KEY } from "./Log.js"
import * as M from "./Messages.js"
import type { State } from "./internal/State.js"

/** Raise the promise to `ballot` (durably, in this Ready). */
export const promise = (s: State, ballot: Ballot): void => {
  if (!B.greaterThan(ballot, s.promised)) return
  s.promised = ballot
  s.persist({ key: PROMISED_KEY, value: encodeBallotBytes(ballot) })
}

/**
 * What this acceptor reports in a promise for `fromSlot`: every proposal it
 * accepted in a slot it does not know to be chosen. Slots up to `applied`
 * are chosen; the proposer learns them by catch-up.
 */
export const reportFrom = (s: State, fromSlot: number): Array<M.AcceptedEntry> =>
  s.log.acceptedFrom(Math.max(fromSlot, s.applied + 1), M.MAX_PROMISE_ENTRIES)

/** Phase 1(b): "If an acceptor receives a prepare request with number n greater than that of any prepare request to which it has already responded, then it responds ... with a promise". */
export const onPrepare = (s: State, from: PeerId, m: M.Prepare): void => {
  if (peerReplica(from) !== m.ballot.replica) return s.rejected(from, "invalid", `prepare for ballot ${m.ballot} signed by ${from}`)
  if (!s.configuration.isMember(m.ballot.replica)) return s.rejected(from, "not-member", `${from} is not a member`)
  if (B.lessThan(m.ballot, s.promised)) {
    s.send(from, new M.Nack({ ballot: m.ballot, promised: s.promised }, true))
    return s.rejected(from, "stale", `prepare ${m.ballot} below promised ${s.promised}`)
  }
  if (s.leaseHolder !== undefined && s.leaseHolder !== m.ballot.replica && s.now < s.leaseHeldUntil) {
    return s.rejected(from, "wrong-view", `lease granted to replica ${s.leaseHolder} until tick ${s.leaseHeldUntil}`)
  }
  if (B.greaterThan(m.ballot, s.promised)) {
    promise(s, m.ballot)
    Election.onHigherBallot(s, m.ballot, "prepare")
  }
  s.sendAfterPersist(from, new M.Promise({
    ballot: m.ballot,
    fromSlot: m.fromSlot,
    chosenThrough: s.applied as never,
    accepted: reportFrom(s, m.fromSlot)
  }, true))
}

/** Phase 2(b): "If an acceptor receives an accept request for a proposal numbered n, it accepts the proposal unless it has already responded to a prepare request having a number greater than n." */
export const onAccept = (s: State, from: PeerId, m: M.Accept): void => {
  if (peerReplica(from) !== m.ballot.replica) return s.rejected(from, "invalid", `accept for ballot ${m.ballot} signed by ${from}`)
  if (B.lessThan(m.ballot, s.promised)) {
    s.send(from, new M.Nack({ ballot: m.ballot, promised: s.promised }, true))
    return s.rejected(from, "stale", `accept ${m.ballot} below promised ${s.promised}`)
  }
  Election.observeLeader(s, m.ballot, "accept")
  if (m.slot <= s.applied) {
    // chosen here already: tell the proposer instead of voting (our log may be truncated)
    Learner.serveCatchUp(s, from, m.slot)
    return s.rejected(from, "stale", `slot ${m.slot} is already chosen (applied ${s.applied})`)
  }
  if (m.slot > s.applied + s.config.acceptorWindow) {
    Learner.requestCatchUp(s, m.ballot.replica)
    return s.rejected(from, "out-of-window", `slot ${m.slot} beyond applied ${s.applied} + window ${s.config.acceptorWindow}`)
  }
  promise(s, m.ballot)
  s.persist(s.log.accept(m.slot, m.ballot, m.value))
  s.sendAfterPersist(from, new M.Accepted({ ballot: m.ballot, slot: m.slot }, true))
  Learner.noteChosenThrough(s, m.ballot.replica, m.chosenThrough)
}

/** The leader's own vote for its proposal in `slot` (it promised its ballot in phase 1). */
export const acceptLocal = (s: State, slot: number, ballot: Ballot, value: M.Batch): void => {
  s.persist(s.log.accept(slot, ballot, value))
}
