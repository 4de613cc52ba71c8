/**
 * The mutable state of one PBFT replica and the small helpers every handler
 * uses to emit output. Only `PbftCore.step` (through the handlers) mutates it.
 */
import {
  type PeerId,
  type Protocol,
  reject,
  type RejectionReason,
  type ReplicaId,
  replicaPeer,
  type StateMachine,
  type TrustModel
} from "@synod/core"
import { type Checkpoints } from "../Checkpoints.js"
import type { PbftConfig } from "../Config.js"
import type { Digest } from "../Digest.js"
import type { EvidenceLog } from "../Evidence.js"
import type { Log } from "../Log.js"
import type { PbftMessage, Request } from "../Messages.js"
import type { CapturedState, ReplyTable } from "../StateTransfer.js"
import type { StableCheckpoint, ValidViewChange } from "../ViewChange.js"
import type { Batches } from "./Batches.js"
import { Fifo } from "./Fifo.js"
import { RequestPhases } from "./Phases.js"
import { Progress } from "./Progress.js"
import { RateLimit } from "./RateLimit.js"
import type { Frames, Signed } from "./Frames.js"
import type { Commands } from "./Commands.js"

/** A client request this replica knows and has not executed (one outstanding per client, §4.1). */
export interface KnownRequest {
  readonly verified: Protocol.Verified<Request>
  readonly digest: string
  readonly since: number
}

export interface Stable extends StableCheckpoint {
  /** The state at the checkpoint, kept to serve state transfers; undefined until we have it. */
  readonly snapshot: Uint8Array | undefined
}

export interface Transfer {
  readonly target: number
  retryAt: number
}

export const requestKey = (clientId: string, seq: number): string => `${clientId}#${seq}`

export class ReplicaState {
  readonly self: PeerId
  /** Every other replica, in configuration order. */
  readonly others: ReadonlyArray<PeerId>
  now = 0
  nextStatusAt: number

  // views (§4.4)
  view = 0
  normal = true
  viewChangeCause = "start"
  /** Current view-change timeout; doubles with each failed view change (§4.5.2). */
  vcTimeout: number
  /** When the backup's request timer fires (normal status). */
  vcDeadline: number | undefined = undefined
  /** The waiting request the timer runs for. */
  timedRequest: { readonly clientId: string; readonly seq: number } | undefined = undefined
  /** When waiting for a new-view gives up (view-change status). */
  newViewDeadline = 0
  ownViewChange: Signed<PbftMessage & { _tag: "ViewChange" }> | undefined = undefined
  newViewFrame: Uint8Array | undefined = undefined
  /** The latest valid view-change of each replica. */
  readonly viewChanges = new Map<ReplicaId, ValidViewChange>()

  // ordering (§4.2)
  /** Highest sequence number the primary assigned in this view. */
  nextSeq = 0
  /**
   * A client request was queued at the primary since the last proposal. Proposing waits for
   * `PbftCore.flushProposals` (the driver calls it before handing out a Ready), so the requests
   * of one shell mailbox batch share a sequence number instead of one each; the simulator asks
   * for a Ready after every step, so there the timing is unchanged.
   */
  proposalDeferred = false
  /** Highest sequence number with an accepted pre-prepare in this view. */
  maxAccepted = 0

  // execution
  /** Highest sequence number that became committed-local here (any view; for the status). */
  maxCommitted = 0
  lastExecuted = 0
  replies: ReplyTable = new Map()

  // checkpoints (§4.3)
  readonly ownCheckpoints = new Map<number, CapturedState>()
  stable: Stable

  // requests
  readonly waiting = new Map<string, KnownRequest>()
  /** The primary's queue of requests for the next batches. */
  readonly pending = new Fifo<KnownRequest>()
  readonly pendingKeys = new Set<string>()
  readonly assigned = new Map<string, number>()

  transfer: Transfer | undefined = undefined
  future: Array<{ readonly envelope: Protocol.Verified<PbftMessage>; readonly relayed: boolean }> = []
  readonly futureBySender = new Map<PeerId, number>()
  readonly persistedSeqs = new Set<number>()
  lastStatusAt = 0
  /** A peer's status showed it ahead of us: our next status asks it for what we miss. */
  peerAhead = false
  /** The last executed sequence number each peer reported in its status. */
  readonly peerExecuted = new Map<ReplicaId, number>()
  /** Highest sequence number this replica prepared (any view): the barrier of read-only requests. */
  maxPrepared = 0
  /** Read-only requests waiting until everything prepared before them has executed (§5.1.3). */
  reads: Array<{ readonly envelope: Protocol.Verified<Request>; readonly barrier: number }> = []
  /** Requests this replica knows, by request digest (skips re-verifying a client signature in a batch). */
  readonly waitingByDigest = new Map<string, KnownRequest>()
  readonly limits = new RateLimit()
  /** How far each peer's log reaches, as its own signed messages show (status only). */
  readonly progress: Progress
  /** Which `RequestPhase` each open request reported (observability only). */
  readonly phases: RequestPhases
  /** Handles a verified message (set by the core; used to replay buffered and relayed messages). */
  dispatch: (envelope: Protocol.Verified<PbftMessage>, relayed: boolean) => void = () => {}

  constructor(
    readonly id: ReplicaId,
    readonly trust: TrustModel.QuorumSystem,
    readonly config: PbftConfig,
    readonly machine: StateMachine.AnyStateMachine,
    public instance: StateMachine.StateMachineInstance<any, any, any>,
    readonly commands: Commands,
    readonly frames: Frames,
    readonly log: Log,
    readonly batches: Batches,
    readonly checkpoints: Checkpoints,
    readonly evidence: EvidenceLog,
    readonly genesisDigest: Digest,
    public out: Protocol.ReadyBuffer<PbftMessage>
  ) {
    this.self = replicaPeer(id)
    this.others = trust.replicas.filter((r) => r !== id).map(replicaPeer)
    this.vcTimeout = config.viewChangeTimeoutTicks
    this.nextStatusAt = config.statusIntervalTicks
    this.stable = { seq: 0, digest: genesisDigest, proof: [], snapshot: undefined }
    this.progress = new Progress(config.logWindow)
    this.phases = new RequestPhases(config.maxWaitingClients + config.maxInFlightBatches * config.maxBatchSize)
  }

  primary(view = this.view): ReplicaId {
    return this.trust.replicas[view % this.trust.replicas.length]!
  }

  isPrimary(view = this.view): boolean {
    return this.primary(view) === this.id
  }

  reject(from: PeerId, reason: RejectionReason, detail: string): void {
    this.out.events.push({ _tag: "Rejected", from, rejection: reject(reason, detail) })
  }

  event(e: Protocol.ProtocolEvent): void {
    this.out.events.push(e)
  }

  /** Report that a client request reached `phase` here, unless it did already (see `Phases.ts`). */
  phase(clientId: string, seq: number, phase: Protocol.RequestPhase, index?: number): void {
    if (!this.phases.advance(this.replies, clientId, seq, phase)) return
    this.out.events.push(
      index === undefined ? { _tag: "RequestPhase", clientId, seq, phase } : { _tag: "RequestPhase", clientId, seq, phase, index }
    )
  }

  /** Report `phase` for every request of a batch assigned to sequence number `index`. */
  batchPhase(requests: ReadonlyArray<Request>, phase: Protocol.RequestPhase, index: number): void {
    for (const q of requests) this.phase(q.clientId, q.seq, phase, index)
  }

  /** A message that vouches for nothing durable. */
  send(to: ReadonlyArray<PeerId>, message: PbftMessage): void {
    if (to.length > 0) this.out.send.push({ to, message })
  }

  /** A vote (pre-prepare, prepare, commit, view-change, new-view): leaves only after this Ready's writes. */
  sendAfterPersist(to: ReadonlyArray<PeerId>, message: PbftMessage): void {
    if (to.length > 0) this.out.sendAfterPersist.push({ to, message })
  }

  persist(key: string, value: Uint8Array | null): void {
    this.out.persist.push({ key, value })
  }

  seal<M extends PbftMessage>(message: M): Signed<M> {
    return this.frames.seal(this.id, message)
  }

  addWaiting(k: KnownRequest): void {
    const earlier = this.waiting.get(k.verified.message.clientId)
    if (earlier !== undefined) this.waitingByDigest.delete(earlier.digest)
    this.waiting.set(k.verified.message.clientId, k)
    this.waitingByDigest.set(k.digest, k)
  }

  /** Forget the client's waiting request if it is at or below `seq` (executed). */
  doneWaiting(clientId: string, seq: number): void {
    const w = this.waiting.get(clientId)
    if (w !== undefined && w.verified.message.seq <= seq) {
      this.waiting.delete(clientId)
      this.waitingByDigest.delete(w.digest)
    }
  }
}
