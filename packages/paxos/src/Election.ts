/**
 * Leader election: randomized timeouts, campaigns (phase 1 of a new ballot),
 * heartbeats from the leader, and noticing higher ballots.
 *
 * "Paxos Made Simple" §3 picks a distinguished proposer and notes that
 * electing one needs timeouts or randomness; here a follower that hears
 * nothing from a leader for its (seeded, randomized) election timeout runs
 * phase 1 with a ballot above every ballot it has seen. A leader that learns
 * of a higher ballot stops leading at once.
 */
import { type PeerId, peerReplica } from "@synod/core"
import * as Acceptor from "./Acceptor.js"
import type { Ballot } from "./Ballot.js"
import * as B from "./Ballot.js"
import * as Learner from "./Learner.js"
import * as M from "./Messages.js"
import * as Proposer from "./Proposer.js"
import type { State } from "./internal/State.js"

export const resetTimer = (s: State): void => {
  s.electionElapsed = 0
  s.electionTimeout = s.rng.between(s.config.electionTimeoutMinTicks, s.config.electionTimeoutMaxTicks)
}

const see = (s: State, ballot: Ballot): void => {
  s.seenBallot = B.max(s.seenBallot, ballot)
}

/** A proposer with `ballot` is campaigning (we just promised it): stop competing with it. */
export const onHigherBallot = (s: State, ballot: Ballot, cause: string): void => {
  see(s, ballot)
  if (s.role !== "follower" && B.greaterThan(ballot, s.ballot)) Proposer.stepDown(s, cause)
  resetTimer(s)
}

/**
 * `ballot`'s proposer acts as leader (it sent an accept, heartbeat or commit
 * at a ballot we have not promised to refuse). Record it, follow it.
 */
export const observeLeader = (s: State, ballot: Ballot, cause: string): void => {
  see(s, ballot)
  if (s.role !== "follower" && B.greaterThan(ballot, s.ballot)) Proposer.stepDown(s, "higher-ballot")
  if (B.greaterThan(ballot, s.leaderBallot)) {
    s.leaderBallot = ballot
    if (ballot.replica !== s.me) {
      s.event({ _tag: "ViewChanged", view: ballot.round, leader: ballot.replica, cause: "higher-ballot" })
      s.event({ _tag: "Custom", name: "paxos/leader", data: { ballot: ballot.toString(), via: cause, fencingToken: B.fencingToken(ballot) } })
    }
  }
  if (s.role === "follower" && B.equals(ballot, s.leaderBallot)) resetTimer(s)
}

/** Run phase 1 with a fresh ballot, if this replica may lead. */
export const campaign = (s: State, cause: string): void => {
  resetTimer(s)
  if (!s.configuration.at(s.applied + 1).members.includes(s.me)) return
  // a lease we granted (or lost in a restart) forbids promising anyone else, ourselves included
  if (s.now < s.leaseHeldUntil) return
  const ballot = B.next(s.me, s.promised, s.seenBallot, s.leaderBallot, s.ballot)
  Acceptor.promise(s, ballot)
  see(s, ballot)
  s.role = "candidate"
  s.ballot = ballot
  s.event({ _tag: "Custom", name: "paxos/campaign", data: { ballot: ballot.toString(), cause } })
  Proposer.beginPhase1(s)
}

export const onTick = (s: State): void => {
  Learner.onTick(s)
  if (s.role === "leader") return Proposer.onLeaderTick(s)
  s.electionElapsed++
  if (s.role === "candidate") Proposer.retransmitPrepares(s)
  if (s.electionElapsed >= s.electionTimeout) campaign(s, s.role === "candidate" ? "retry" : "timeout")
}

/** A follower hears its leader: reset the timer, grant a lease, ack (for read index), catch up if behind. */
export const onHeartbeat = (s: State, from: PeerId, m: M.Heartbeat): void => {
  if (peerReplica(from) !== m.ballot.replica) return s.rejected(from, "invalid", `heartbeat for ballot ${m.ballot} signed by ${from}`)
  if (B.lessThan(m.ballot, s.promised)) {
    s.send(from, new M.Nack({ ballot: m.ballot, promised: s.promised }, true))
    return s.rejected(from, "stale", `heartbeat ${m.ballot} below promised ${s.promised}`)
  }
  observeLeader(s, m.ballot, "heartbeat")
  if (s.config.lease !== undefined && s.role === "follower") {
    s.leaseHolder = m.ballot.replica
    s.leaseHeldUntil = s.now + s.config.lease.durationTicks
  }
  s.send(from, new M.HeartbeatAck({ ballot: m.ballot, round: m.round, chosenThrough: s.applied as never }, true))
  Learner.noteChosenThrough(s, m.ballot.replica, m.chosenThrough)
}
