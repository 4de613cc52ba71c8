/**
 * The whole state of one Paxos replica, shared by the handler modules
 * (Acceptor, Proposer, Learner, Election). Only `Core.step` drives it, one
 * input at a time, so the handlers may mutate it freely.
 */
import {
  type Codec,
  type PeerId,
  type Protocol,
  type ReplicaId,
  type RejectionReason,
  reject,
  replicaPeer,
  type StateMachine
} from "@synod/core"
import type { Ballot } from "../Ballot.js"
import * as B from "../Ballot.js"
import type { PaxosConfig } from "../Config.js"
import type { Log } from "../Log.js"
import type * as M from "../Messages.js"
import type { ReadIndex } from "../ReadIndex.js"
import type { Configuration } from "../Reconfiguration.js"
import type { SessionTable } from "../Session.js"
import type { Prng } from "./Prng.js"
import { Progress } from "./Progress.js"

export type Role = "follower" | "candidate" | "leader"

/** What a candidate or leader learned from phase 1 of its ballot. */
export class Phase1 {
  readonly promisers = new Set<ReplicaId>()
  /** When a prepare was last sent to each replica asked. */
  readonly asked = new Map<ReplicaId, number>()
  /** Per slot, the highest-ballot accepted proposal any promise reported (P2c). */
  readonly merged = new Map<number, M.AcceptedEntry>()
  /** Highest slot any promise reported an accepted proposal in. */
  maxReported = 0
  /** Highest chosen prefix any promiser reported, and who. */
  chosenThrough = 0
  chosenThroughFrom: ReplicaId | undefined = undefined

  constructor(readonly start: number) {}
}

export interface Proposal {
  readonly value: M.Batch
  readonly members: ReadonlyArray<ReplicaId>
  readonly votes: Set<ReplicaId>
  sentAt: number
}

export interface QueuedItem {
  readonly item: M.Item
  readonly bytes: number
  readonly arrivedAt: number
}

export const requestKey = (clientId: string, seq: number): string => `${clientId}#${seq}`

export interface StateParams {
  readonly me: ReplicaId
  readonly config: PaxosConfig
  readonly sm: StateMachine.StateMachineInstance<unknown, unknown, unknown>
  readonly makeSm: () => StateMachine.StateMachineInstance<unknown, unknown, unknown>
  readonly commandCodec: Codec.Codec<unknown>
  readonly resultCodec: Codec.Codec<unknown>
  readonly snapshotCodec: Codec.Codec<unknown>
  readonly rng: Prng
  readonly universe: ReadonlyArray<ReplicaId>
  readonly log: Log
  readonly configuration: Configuration
  readonly sessions: SessionTable
  readonly reads: ReadIndex
}

export class State {
  readonly me: ReplicaId
  readonly peer: PeerId
  readonly config: PaxosConfig
  sm: StateMachine.StateMachineInstance<unknown, unknown, unknown>
  readonly makeSm: () => StateMachine.StateMachineInstance<unknown, unknown, unknown>
  readonly commandCodec: Codec.Codec<unknown>
  readonly resultCodec: Codec.Codec<unknown>
  readonly snapshotCodec: Codec.Codec<unknown>
  readonly rng: Prng
  /** Every replica that may hear from us: members and learners (every replica with a key). */
  universe: ReadonlyArray<ReplicaId>

  /** The Ready being filled by the current step. */
  out!: Protocol.ReadyBuffer<M.PaxosMessage>
  /** Ticks seen so far. */
  now = 0
  /** Recovery replays chosen slots without events or replies (they were reported before the crash). */
  replaying = false

  // ---- acceptor
  promised: Ballot = B.zero
  readonly log: Log

  // ---- learner
  applied = 0
  readonly configuration: Configuration
  readonly sessions: SessionTable
  fencing = 0
  snapshot: M.SnapshotRecord | undefined = undefined
  catchUp: { peer: ReplicaId; sentAt: number } | undefined = undefined
  /** The leader's chosen prefix at the previous heartbeat, to notice a lag that persists. */
  behindTarget = 0
  /**
   * The highest slot this replica knows to be chosen: its own chosen values and
   * the chosen prefixes peers reported (`commitIndex` in the status; never read
   * by the protocol).
   */
  chosenHorizon = 0

  // ---- election
  role: Role = "follower"
  /** Our own ballot while candidate or leader. */
  ballot: Ballot = B.zero
  /** The highest ballot of a leader we heard from (heartbeat, accept, commit). */
  leaderBallot: Ballot = B.zero
  /** The highest ballot seen anywhere (nacks included): the next campaign goes above it. */
  seenBallot: Ballot = B.zero
  electionElapsed = 0
  electionTimeout = 0
  /** Why the current (or last) campaign started: the `cause` of the `ViewChanged` when it wins (see GLOSSARY). */
  campaignCause = "election-timeout"
  /** A pre-vote in progress: the ballot we would campaign with and who would take part. */
  poll: { readonly ballot: Ballot; readonly grants: Set<ReplicaId> } | undefined = undefined
  /** Leases: prepares of other proposers are refused until this tick. */
  leaseHeldUntil = -1
  leaseHolder: ReplicaId | undefined = undefined

  // ---- proposer (candidate / leader)
  phase1: Phase1 | undefined = undefined
  nextSlot = 1
  readonly inFlight = new Map<number, Proposal>()
  /** Requests in an in-flight proposal, by request key. */
  readonly inFlightKeys = new Map<string, number>()
  queue: Array<QueuedItem> = []
  /** Clients waiting for an answer from this replica (the leader that admitted them). */
  readonly waiters = new Map<string, PeerId>()
  /** Slots this leader saw chosen during the current step (for Commit messages). */
  chosenThisStep: Array<number> = []
  readonly lastHeard = new Map<ReplicaId, number>()
  /**
   * How far each peer's log reaches (status only): kept while candidate or
   * leader for every peer, and as follower for the leader it follows.
   */
  readonly progress: Progress
  leaderSince = 0
  heartbeatElapsed = 0
  readonly reads: ReadIndex

  constructor(p: StateParams) {
    this.me = p.me
    this.peer = replicaPeer(p.me)
    this.config = p.config
    this.sm = p.sm
    this.makeSm = p.makeSm
    this.commandCodec = p.commandCodec
    this.resultCodec = p.resultCodec
    this.snapshotCodec = p.snapshotCodec
    this.rng = p.rng
    this.universe = p.universe
    this.log = p.log
    this.configuration = p.configuration
    this.sessions = p.sessions
    this.reads = p.reads
    this.progress = new Progress(p.config.acceptorWindow)
  }

  // ---- output helpers

  /** Messages that vouch for nothing durable. */
  send(to: ReadonlyArray<ReplicaId> | PeerId, message: M.PaxosMessage): void {
    const peers = typeof to === "string" ? [to] : this.peersOf(to)
    if (peers.length > 0) this.out.send.push({ to: peers, message })
  }

  /** Messages that vouch for state written in this Ready (promises, votes, commits, replies). */
  sendAfterPersist(to: ReadonlyArray<ReplicaId> | PeerId, message: M.PaxosMessage): void {
    const peers = typeof to === "string" ? [to] : this.peersOf(to)
    if (peers.length > 0) this.out.sendAfterPersist.push({ to: peers, message })
  }

  persist(write: Protocol.StorageWrite | undefined): void {
    if (write !== undefined) this.out.persist.push(write)
  }

  event(e: Protocol.ProtocolEvent): void {
    if (!this.replaying) this.out.events.push(e)
  }

  /**
   * A client request reached `phase` here (see `Protocol.RequestPhase` and the
   * README's "Observability"). Nothing is reported while replaying.
   */
  phase(clientId: string, seq: number, phase: Protocol.RequestPhase, index?: number): void {
    if (this.replaying) return
    this.out.events.push(
      index === undefined
        ? { _tag: "RequestPhase", clientId, seq, phase }
        : { _tag: "RequestPhase", clientId, seq, phase, index }
    )
  }

  /** Some replica reported that every slot up to `slot` (or `slot` itself) is chosen. */
  heardChosen(slot: number): void {
    if (slot > this.chosenHorizon) this.chosenHorizon = slot
  }

  rejected(from: PeerId, reason: RejectionReason, detail: string): void {
    this.out.events.push({ _tag: "Rejected", from, rejection: reject(reason, detail) })
  }

  private peersOf(ids: ReadonlyArray<ReplicaId>): Array<PeerId> {
    const peers: Array<PeerId> = []
    for (const id of ids) if (id !== this.me) peers.push(replicaPeer(id))
    return peers
  }

  /** Every replica but us that should hear leader traffic (members and learners). */
  others(): Array<ReplicaId> {
    const all = new Set<ReplicaId>(this.universe)
    for (const m of this.configuration.members()) all.add(m)
    all.delete(this.me)
    return [...all].sort((a, b) => a - b)
  }

  /** Who we believe leads, for hints to clients. */
  leaderHint(): ReplicaId | undefined {
    if (this.role === "leader") return this.me
    return B.compare(this.leaderBallot, B.zero) > 0 ? this.leaderBallot.replica : undefined
  }
}
