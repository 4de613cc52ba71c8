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
    if (s.role === "follower") s.progress.reset()
    if (ballot.replica !== s.me) {
      s.event({ _tag: "ViewChanged", view: ballot.round, leader: ballot.replica, cause: "higher-ballot" })
      s.event({ _tag: "Custom", name: "paxos/leader", data: { ballot: ballot.toString(), via: cause, fencingToken: B.fencingToken(ballot) } })
    }
  }
  if (s.role === "follower" && B.equals(ballot, s.leaderBallot)) {
    resetTimer(s)
    s.poll = undefined
  }
}

/** May this replica lead now? Members only, and not while a lease it granted still runs. */
const mayLead = (s: State): boolean =>
  s.configuration.at(s.applied + 1).members.includes(s.me) &&
  // a lease we granted (or lost in a restart) forbids promising anyone else, ourselves included
  s.now >= s.leaseHeldUntil

/** Run phase 1 with a fresh ballot, if this replica may lead. */
export const campaign = (s: State, cause: string): void => {
  resetTimer(s)
  s.poll = undefined
  if (!mayLead(s)) return
  const ballot = B.next(s.me, s.promised, s.seenBallot, s.leaderBallot, s.ballot)
  Acceptor.promise(s, ballot)
  see(s, ballot)
  s.role = "candidate"
  s.ballot = ballot
  s.campaignCause = cause
  s.event({ _tag: "Custom", name: "paxos/campaign", data: { ballot: ballot.toString(), cause } })
  Proposer.beginPhase1(s)
}

export const onTick = (s: State): void => {
  Learner.onTick(s)
  if (s.role === "leader") return Proposer.onLeaderTick(s)
  s.electionElapsed++
  if (s.role === "candidate") Proposer.retransmitPrepares(s)
  if (s.electionElapsed < s.electionTimeout) return
  if (!s.config.preVote) return campaign(s, s.role === "candidate" ? "election-retry" : "election-timeout")
  // a failed campaign polls again too, so a candidate that lost its peers does not inflate its ballot
  if (s.role === "candidate") Proposer.stepDown(s, "election-timeout")
  poll(s)
}

// ---------------------------------------------------------------------------
// Pre-vote

/** Ask the members whether they would take part in an election for our next ballot. */
const poll = (s: State): void => {
  resetTimer(s)
  if (!mayLead(s)) return
  const ballot = B.next(s.me, s.promised, s.seenBallot, s.leaderBallot, s.ballot)
  s.poll = { ballot, grants: new Set([s.me]) }
  s.send(s.configuration.members(), new M.Poll({ ballot }, true))
  checkPoll(s)
}

const checkPoll = (s: State): void => {
  const p = s.poll
  if (p === undefined) return
  const m = s.configuration.at(s.applied + 1)
  if (m.quorum.isQuorum("election", [...p.grants].filter((r) => m.members.includes(r)))) campaign(s, "election-timeout")
}

/** Grant a poll when we would promise its ballot and have no live leader of our own. */
export const onPoll = (s: State, from: PeerId, m: M.Poll): void => {
  if (peerReplica(from) !== m.ballot.replica) return s.rejected(from, "invalid", `poll for ballot ${m.ballot} signed by ${from}`)
  if (!s.configuration.isMember(m.ballot.replica)) return s.rejected(from, "not-member", `${from} is not a member`)
  const leaderAlive = s.role === "leader" ||
    (s.role === "follower" && B.greaterThan(s.leaderBallot, B.zero) && s.electionElapsed < s.config.electionTimeoutMinTicks)
  const leased = s.leaseHolder !== undefined && s.leaseHolder !== m.ballot.replica && s.now < s.leaseHeldUntil
  const granted = B.greaterThan(m.ballot, s.promised) && !leaderAlive && !leased
  s.send(from, new M.PollReply({ ballot: m.ballot, granted }, true))
}

export const onPollReply = (s: State, from: PeerId, m: M.PollReply): void => {
  const r = peerReplica(from)
  if (r === undefined) return s.rejected(from, "not-member", "poll replies come from replicas")
  if (s.poll === undefined || !B.equals(m.ballot, s.poll.ballot)) return s.rejected(from, "stale", `poll reply for ${m.ballot}`)
  if (!m.granted) return
  s.poll.grants.add(r)
  checkPoll(s)
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
