/**
 * What a Paxos replica reports to operators: `@synod/core`'s protocol-neutral
 * `Status.ReplicaStatus`, built from the replica's state by `PaxosCore.status()`
 * (forwarded as `Driver.status()`). The shell calls it after every batch, so
 * it reads fields and counts only: O(peers), no change to the state.
 *
 *   role              leader (phase 1 of its ballot completed), candidate (phase 1
 *                     open), follower
 *   view              round of the ballot it leads, campaigns with or follows
 *   leader            the leader of that ballot: itself when leading; the ballot's
 *                     replica when following one; absent for a candidate and for
 *                     a follower that knows no other leader (e.g. just stepped down)
 *   commitIndex       the highest slot it knows to be chosen: its own chosen values
 *                     and the chosen prefixes peers reported (heartbeats, commits,
 *                     promises, catch-up answers); at least `appliedIndex`
 *   appliedIndex      the highest slot applied to the state machine
 *   stableCheckpoint  index of its latest snapshot (0: none); the log is truncated
 *                     below it (keeping `logRetentionSlots`)
 *   peers             leader and candidate: every other replica of the membership
 *                     and the learners, with `matchIndex` the highest slot the peer
 *                     is known to hold with every slot below it (see
 *                     `internal/Progress.ts`: its acknowledged chosen prefix, then
 *                     its votes for this ballot's proposals) and `lag` measured from
 *                     the leader's last proposed slot (a candidate's: its
 *                     `commitIndex`). A peer not heard from at this ballot has
 *                     matchIndex 0. Follower: only the leader it follows, with the
 *                     chosen prefix that leader last reported and lag against its
 *                     own commitIndex (so 0 unless the leader is behind it); none
 *                     when it follows no one.
 *   extra             inFlight       slots proposed and not yet chosen (<= pipelineWindow)
 *                     pipelineWindow the configured window
 *                     queued         client items waiting for a slot (<= maxPendingRequests)
 *                     waiters        clients this replica owes an answer
 *                     pendingReads   linearizable reads waiting for their read index
 *                     sessions       client sessions in the session table (<= maxSessions)
 *                     logSlots       slots held in the log
 *                     epoch          membership epoch of the next slot
 *                     promisedRound  round of the acceptor's promise
 */
import { type ReplicaId, Status } from "@synod/core"
import * as B from "./Ballot.js"
import type { State } from "./internal/State.js"

export const of = (s: State): Status.ReplicaStatus => {
  const ballot = s.role === "follower" ? s.leaderBallot : s.ballot
  const leader = leaderOf(s)
  const commitIndex = Math.max(s.chosenHorizon, s.applied)
  return {
    role: s.role,
    view: ballot.round,
    ...(leader !== undefined ? { leader } : {}),
    commitIndex,
    appliedIndex: s.applied,
    stableCheckpoint: s.snapshot?.index ?? 0,
    peers: peersOf(s, leader, commitIndex),
    extra: {
      inFlight: s.inFlight.size,
      pipelineWindow: s.config.pipelineWindow,
      queued: s.queue.length,
      waiters: s.waiters.size,
      pendingReads: s.reads.pending.length,
      sessions: s.sessions.size,
      logSlots: s.log.size,
      epoch: s.configuration.current.epoch,
      promisedRound: s.promised.round
    }
  }
}

const leaderOf = (s: State): ReplicaId | undefined => {
  switch (s.role) {
    case "leader":
      return s.me
    case "candidate":
      return undefined
    case "follower":
      // our own ballot after a step-down is not a leader we follow
      return B.greaterThan(s.leaderBallot, B.zero) && s.leaderBallot.replica !== s.me ? s.leaderBallot.replica : undefined
  }
}

const peersOf = (s: State, leader: ReplicaId | undefined, commitIndex: number): Array<Status.PeerStatus> => {
  if (s.role === "follower") {
    return leader === undefined ? [] : [Status.peer(leader, s.progress.match(leader), commitIndex)]
  }
  const reference = s.role === "leader" ? Math.max(s.nextSlot - 1, s.applied) : commitIndex
  return s.others().map((r) => Status.peer(r, s.progress.match(r), reference))
}
