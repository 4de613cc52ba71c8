/**
 * The synchronous driver of a Paxos replica (etcd-raft's RawNode shape): the
 * core wrapped by `driverOf`, plus read-only accessors for tests, the
 * simulator and applications (leadership, ballots, the fencing token).
 */
import { Protocol, type ReplicaId, type Status } from "@synod/core"
import type { Ballot } from "./Ballot.js"
import * as B from "./Ballot.js"
import { type CoreParams, PaxosCore } from "./Core.js"
import type { Role } from "./internal/State.js"
import type * as M from "./Messages.js"
import * as Requests from "./Requests.js"

export type { CoreParams as DriverParams, Role }

export interface PaxosDriver extends Protocol.Driver<M.PaxosMessage> {
  readonly id: ReplicaId
  /** What the replica reports to operators (see `Status.ts`); always present for Paxos. */
  status(): Status.ReplicaStatus
  role(): Role
  isLeader(): boolean
  /** The ballot this replica leads (or campaigns with), else the highest leader ballot it follows. */
  ballot(): Ballot
  /** The acceptor's promise (durable). */
  promised(): Ballot
  /** Who this replica believes leads. */
  leaderHint(): ReplicaId | undefined
  /**
   * Leader fencing token: the current leader ballot as one monotone integer
   * (`Ballot.fencingToken`). Applications pass it to external resources, which
   * refuse tokens lower than the highest they have seen.
   */
  fencingToken(): number
  /** The fencing token of the applied state (max over applied slots' proposer ballots); also in `ApplyContext`. */
  appliedFencingToken(): number
  /** Membership of the next slot and the scheduled one, if any. */
  membership(): { readonly current: ReadonlyArray<ReplicaId>; readonly epoch: number; readonly pending?: { readonly members: ReadonlyArray<ReplicaId>; readonly effectiveFrom: number } }
  /** Index of the latest snapshot (0: none). */
  snapshotIndex(): number
  /** Slots held in the log (bounded by snapshots and truncation). */
  logSize(): number
  /** Slots proposed and not yet chosen (leader only). */
  inFlight(): number
  /**
   * Operator API: propose changing the membership to `members` (leader only;
   * false when not leading or while another change is under way). The change
   * is ordered through the log and governs slots from its slot + pipelineWindow.
   * The work is picked up by the next `step` (a tick at the latest).
   */
  reconfigure(members: ReadonlyArray<ReplicaId>): boolean
  /** The core itself, for white-box tests. */
  readonly core: PaxosCore
}

export const make = (params: CoreParams): PaxosDriver => {
  const core = new PaxosCore(params)
  const s = core.state
  const base = Protocol.driverOf(core)
  return {
    ...base,
    // deferred proposals are made before the caller looks at or takes the Ready
    hasReady: () => {
      core.flushProposals()
      return base.hasReady()
    },
    ready: () => {
      core.flushProposals()
      return base.ready()
    },
    id: params.id,
    status: () => core.status(),
    core,
    role: () => s.role,
    isLeader: () => s.role === "leader",
    ballot: () => core.currentBallot(),
    promised: () => s.promised,
    leaderHint: () => s.leaderHint(),
    fencingToken: () => B.fencingToken(core.currentBallot()),
    appliedFencingToken: () => s.fencing,
    membership: () => {
      const m = s.configuration
      return m.pending === undefined
        ? { current: m.current.members, epoch: m.current.epoch }
        : { current: m.current.members, epoch: m.current.epoch, pending: { members: m.pending.members, effectiveFrom: m.pending.effectiveFrom } }
    },
    snapshotIndex: () => s.snapshot?.index ?? 0,
    logSize: () => s.log.size,
    inFlight: () => s.inFlight.size,
    reconfigure: (members) => Requests.proposeReconfiguration(s, members)
  }
}
