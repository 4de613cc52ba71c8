/**
 * Every limit and timer of a Paxos replica, with its default. Time is in
 * ticks of the replica's logical clock (the shell's default tick is 10 ms).
 *
 * `pipelineWindow` doubles as the reconfiguration window alpha (Lamport,
 * "Paxos Made Simple" §3: the configuration of slot i + alpha is fixed by the
 * state after slot i), so it must be equal on every replica of a cluster.
 */
import { TrustModel, type ReplicaId } from "@synod/core"
import * as Messages from "./Messages.js"

export interface LeaseConfig {
  /** How long a follower that acked a heartbeat refuses other leaders' prepares. */
  readonly durationTicks: number
  /**
   * The largest amount, in ticks, by which a follower's clock may run ahead of
   * the leader's over `durationTicks`. The leader trusts its lease for
   * `durationTicks - driftTicks` ticks after the heartbeat it sent.
   */
  readonly driftTicks: number
}

export interface PaxosConfig {
  /** Randomized election timeout, drawn uniformly from [min, max] after each reset. Default 10..20. */
  readonly electionTimeoutMinTicks: number
  readonly electionTimeoutMaxTicks: number
  /**
   * Poll the members before campaigning (a "pre-vote"): a replica that timed
   * out starts phase 1 only if a quorum has not heard from a leader lately
   * either, so a replica cut off from the leader cannot depose it with a high
   * ballot when it returns. Default true.
   */
  readonly preVote: boolean
  /** Leader heartbeat period. Default 2. */
  readonly heartbeatIntervalTicks: number
  /** A leader that heard from no replication quorum for this long steps down. Default 30. */
  readonly leaderQuorumTimeoutTicks: number
  /** Re-send phase 1a / 2a to replicas that have not answered after this long. Default 6. */
  readonly retransmitTicks: number
  /** Most slots in flight at the leader beyond its applied index; also the reconfiguration alpha. Default 16. */
  readonly pipelineWindow: number
  /** Largest batch, in items and in command bytes. Defaults 64 and 256 KiB. */
  readonly maxBatchItems: number
  readonly maxBatchBytes: number
  /** Ticks a partial batch may wait for more commands (0: propose at the end of each step). Default 0. */
  readonly batchDelayTicks: number
  /** Client requests waiting at the leader for a slot. Default 1024. */
  readonly maxPendingRequests: number
  /** Largest command accepted from a client, in bytes. Default 64 KiB. */
  readonly maxCommandBytes: number
  /** Linearizable reads waiting at the leader. Default 1024. */
  readonly maxPendingReads: number
  /** An acceptor accepts slots up to its chosen prefix plus this window. Default 256. */
  readonly acceptorWindow: number
  /** Snapshot the state every this many applied slots. Default 64. */
  readonly snapshotIntervalSlots: number
  /** Chosen slots kept in the log below the latest snapshot, for cheap catch-up. Default 32. */
  readonly logRetentionSlots: number
  /** Most chosen values in one catch-up answer. Default 64. */
  readonly catchUpBatchSlots: number
  /** Re-ask for catch-up after this long without an answer. Default 8. */
  readonly catchUpRetryTicks: number
  /** Client sessions kept; the least recently active one is evicted beyond this. Default 10000. */
  readonly maxSessions: number
  /** Results remembered per client session (its in-flight window). Default 64. */
  readonly maxSessionResults: number
  /** Leader leases for local linearizable reads; off (undefined) by default. */
  readonly lease: LeaseConfig | undefined
  /** The quorum system of a membership adopted by reconfiguration. Default: crash majority. */
  readonly quorumFor: (members: ReadonlyArray<ReplicaId>) => TrustModel.QuorumSystem
}

export const defaults: PaxosConfig = {
  electionTimeoutMinTicks: 10,
  electionTimeoutMaxTicks: 20,
  preVote: true,
  heartbeatIntervalTicks: 2,
  leaderQuorumTimeoutTicks: 30,
  retransmitTicks: 6,
  pipelineWindow: 16,
  maxBatchItems: 64,
  maxBatchBytes: 256 * 1024,
  batchDelayTicks: 0,
  maxPendingRequests: 1024,
  maxCommandBytes: 64 * 1024,
  maxPendingReads: 1024,
  acceptorWindow: 256,
  snapshotIntervalSlots: 64,
  logRetentionSlots: 32,
  catchUpBatchSlots: 64,
  catchUpRetryTicks: 8,
  maxSessions: 10_000,
  maxSessionResults: 64,
  lease: undefined,
  quorumFor: (members) => TrustModel.crashMajority(members.length, members)
}

const positive = (name: string, v: number) => {
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`PaxosConfig.${name} must be a positive integer, got ${v}`)
}

/** Defaults overridden by `partial`, validated; a RangeError names the first bad field. */
export const make = (partial: Partial<PaxosConfig> = {}): PaxosConfig => {
  const c: PaxosConfig = { ...defaults, ...partial }
  for (
    const k of [
      "electionTimeoutMinTicks",
      "electionTimeoutMaxTicks",
      "heartbeatIntervalTicks",
      "leaderQuorumTimeoutTicks",
      "retransmitTicks",
      "pipelineWindow",
      "maxBatchItems",
      "maxBatchBytes",
      "maxPendingRequests",
      "maxCommandBytes",
      "maxPendingReads",
      "acceptorWindow",
      "snapshotIntervalSlots",
      "catchUpBatchSlots",
      "catchUpRetryTicks",
      "maxSessions",
      "maxSessionResults"
    ] as const
  ) positive(k, c[k])
  if (!Number.isSafeInteger(c.batchDelayTicks) || c.batchDelayTicks < 0) throw new RangeError("PaxosConfig.batchDelayTicks must be >= 0")
  if (!Number.isSafeInteger(c.logRetentionSlots) || c.logRetentionSlots < 0) throw new RangeError("PaxosConfig.logRetentionSlots must be >= 0")
  if (c.electionTimeoutMaxTicks < c.electionTimeoutMinTicks) throw new RangeError("PaxosConfig: election timeout max < min")
  if (c.heartbeatIntervalTicks >= c.electionTimeoutMinTicks) {
    throw new RangeError("PaxosConfig: heartbeatIntervalTicks must be below electionTimeoutMinTicks")
  }
  if (c.maxBatchItems > Messages.MAX_BATCH_ITEMS) throw new RangeError(`PaxosConfig.maxBatchItems exceeds ${Messages.MAX_BATCH_ITEMS}`)
  if (c.maxSessionResults > Messages.MAX_SESSION_RESULTS) {
    throw new RangeError(`PaxosConfig.maxSessionResults exceeds ${Messages.MAX_SESSION_RESULTS}`)
  }
  if (c.catchUpBatchSlots > Messages.MAX_DECIDED_ENTRIES) {
    throw new RangeError(`PaxosConfig.catchUpBatchSlots exceeds ${Messages.MAX_DECIDED_ENTRIES}`)
  }
  // a promise reports at most `acceptorWindow` slots above the acceptor's chosen prefix
  if (c.acceptorWindow > Messages.MAX_PROMISE_ENTRIES) {
    throw new RangeError(`PaxosConfig.acceptorWindow exceeds ${Messages.MAX_PROMISE_ENTRIES}`)
  }
  if (c.acceptorWindow < c.pipelineWindow) throw new RangeError("PaxosConfig.acceptorWindow must be >= pipelineWindow")
  if (c.pipelineWindow > Messages.MAX_COMMIT_RANGE) throw new RangeError(`PaxosConfig.pipelineWindow exceeds ${Messages.MAX_COMMIT_RANGE}`)
  if (c.maxSessions > Messages.MAX_SESSIONS) throw new RangeError(`PaxosConfig.maxSessions exceeds ${Messages.MAX_SESSIONS}`)
  if (c.lease !== undefined) {
    positive("lease.durationTicks", c.lease.durationTicks)
    if (!Number.isSafeInteger(c.lease.driftTicks) || c.lease.driftTicks < 0 || c.lease.driftTicks >= c.lease.durationTicks) {
      throw new RangeError("PaxosConfig.lease.driftTicks must be in [0, durationTicks)")
    }
  }
  return c
}
