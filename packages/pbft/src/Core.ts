/**
 * The pure PBFT replica core: `step(input) -> Ready`, deterministic, no I/O,
 * no clock. Inputs are verified messages and logical ticks; output is the
 * `ReadyBuffer` (durable writes, messages, events).
 *
 * Handlers live in `internal/` by phase and are named after the paper's
 * messages: onRequest, onPrePrepare, onPrepare, onCommit (normal case,
 * OSDI'99 §4.2), onCheckpoint (§4.3), onViewChange, onNewView (§4.4),
 * onFetchState, onStateReply (TOCS'02 §5.3), plus onBatch / onFetchBatch
 * (requests sent separately from pre-prepares), onStatus and onRelay
 * (retransmission).
 */
import { type Crypto, Protocol, type ReplicaId, type StateMachine, type Status, type TrustModel } from "@synod/core"
import { Checkpoints } from "./Checkpoints.js"
import * as Config from "./Config.js"
import type { PbftConfig } from "./Config.js"
import { EvidenceLog, type Evidence } from "./Evidence.js"
import { Log } from "./Log.js"
import type { PbftMessage } from "./Messages.js"
import * as StateTransfer from "./StateTransfer.js"
import * as PbftStatus from "./Status.js"
import { Batches } from "./internal/Batches.js"
import { onCheckpoint, onFetchState, onStateReply, retryTransfer } from "./internal/Checkpointing.js"
import * as Commands from "./internal/Commands.js"
import { Frames } from "./internal/Frames.js"
import { fetchMissingBatches, onBatch, onFetchBatch, propose } from "./internal/Batching.js"
import { onCommit, onPrepare, onPrePrepare, onRequest } from "./internal/Normal.js"
import { recover } from "./internal/Recovery.js"
import { onRelay, onStatus, sendStatus } from "./internal/Retransmit.js"
import { ReplicaState, type Stable } from "./internal/State.js"
import { onNewView, onViewChange, startViewChange } from "./internal/ViewChanges.js"

export interface PbftReplicaParams {
  readonly id: ReplicaId
  readonly trust: TrustModel.QuorumSystem
  readonly signer: Crypto.Signer
  readonly keys: Crypto.KeyRing
  readonly stateMachine: StateMachine.AnyStateMachine
  /** What survived on this replica's disk (empty or absent on first start). */
  readonly disk?: ReadonlyMap<string, Uint8Array>
  readonly config?: Partial<PbftConfig>
}

type V<M> = Protocol.Verified<M>

export class PbftCore implements Protocol.Core<PbftMessage> {
  /** The replica's state; read it in tests and tools, never mutate it from outside `step`. */
  readonly state: ReplicaState

  constructor(params: PbftReplicaParams) {
    const config = Config.make(params.config)
    if (params.trust.faultModel !== "byzantine") throw new RangeError(`pbft needs a Byzantine trust model, got ${params.trust.name}`)
    const log = new Log(config.logWindow)
    const instance = params.stateMachine.make()
    const genesis = StateTransfer.stateDigest(instance, new Map())
    this.state = new ReplicaState(
      params.id,
      params.trust,
      config,
      params.stateMachine,
      instance,
      Commands.make(params.stateMachine),
      new Frames(params.keys, params.signer, config.clusterId, undefined),
      log,
      new Batches(log, config.maxInFlightBatches * 4),
      new Checkpoints(config.logWindow / config.checkpointInterval + 2),
      new EvidenceLog(config.maxEvidence),
      genesis,
      new Protocol.ReadyBuffer<PbftMessage>()
    )
    this.state.dispatch = (env, relayed) => dispatch(this.state, env, relayed)
    if (params.disk !== undefined && params.disk.size > 0) recover(this.state, params.disk)
  }

  step(input: Protocol.Input<PbftMessage>, out: Protocol.ReadyBuffer<PbftMessage>): void {
    const r = this.state
    r.out = out
    if (input._tag === "Tick") return onTick(r)
    r.frames.learnFrom(input.envelope.frame)
    dispatch(r, input.envelope, false)
  }

  /** Propose what deferred client requests queued (see `ReplicaState.proposalDeferred`). Deterministic. */
  flushProposals(): void {
    const r = this.state
    if (!r.proposalDeferred) return
    r.proposalDeferred = false
    propose(r)
  }

  appliedIndex(): number {
    return this.state.lastExecuted
  }

  stateDigest(): string {
    return this.state.instance.digest()
  }

  invariants(): ReadonlyArray<string> {
    return this.state.instance.invariants?.() ?? []
  }

  /** What the replica reports to operators (see `Status.ts`); cheap, changes nothing. */
  status(): Status.ReplicaStatus {
    return PbftStatus.of(this.state)
  }

  // ---- inspection -------------------------------------------------------------------------

  view(): number {
    return this.state.view
  }

  /** false while a view change is in progress. */
  isNormal(): boolean {
    return this.state.normal
  }

  primary(): ReplicaId {
    return this.state.primary()
  }

  isPrimary(): boolean {
    return this.state.isPrimary()
  }

  stableCheckpoint(): Stable {
    return this.state.stable
  }

  /** Conflicting signed messages this replica received, kept as verifiable evidence. */
  evidence(): ReadonlyArray<Evidence> {
    return this.state.evidence.list()
  }

  /** The state machine instance (read-only use: queries in tests). */
  instance(): StateMachine.StateMachineInstance<any, any, any> {
    return this.state.instance
  }
}

const dispatch = (r: ReplicaState, env: V<PbftMessage>, relayed: boolean): void => {
  const m = env.message
  switch (m._tag) {
    case "Request":
      return onRequest(r, env as V<typeof m>, relayed)
    case "PrePrepare":
      return onPrePrepare(r, env as V<typeof m>, relayed)
    case "Batch":
      return onBatch(r, env as V<typeof m>)
    case "FetchBatch":
      return onFetchBatch(r, env as V<typeof m>)
    case "Prepare":
      return onPrepare(r, env as V<typeof m>, relayed)
    case "Commit":
      return onCommit(r, env as V<typeof m>, relayed)
    case "Checkpoint":
      return onCheckpoint(r, env as V<typeof m>)
    case "ViewChange":
      return onViewChange(r, env as V<typeof m>)
    case "NewView":
      return onNewView(r, env as V<typeof m>)
    case "FetchState":
      return onFetchState(r, env as V<typeof m>)
    case "StateReply":
      return onStateReply(r, env as V<typeof m>)
    case "Status":
      return onStatus(r, env as V<typeof m>)
    case "Relay":
      return relayed ? r.reject(env.from, "invalid", "relay inside a relay") : onRelay(r, env as V<typeof m>)
    case "Reply":
      return r.reject(env.from, "invalid", "replicas do not take replies")
  }
}

/** One tick of logical time: timers, batching delay, status, retries. */
const onTick = (r: ReplicaState): void => {
  r.now++
  if (r.normal) {
    if (r.vcDeadline !== undefined && r.now >= r.vcDeadline) {
      // a replica fetching state is behind, not evidence that the primary is faulty
      if (r.transfer !== undefined) r.vcDeadline = r.now + r.vcTimeout
      else startViewChange(r, r.view + 1, "timeout")
    }
    propose(r)
  } else if (r.now >= r.newViewDeadline) {
    startViewChange(r, r.view + 1, "new-view-timeout")
  }
  if (r.now >= r.nextStatusAt) {
    r.nextStatusAt = r.now + r.config.statusIntervalTicks
    sendStatus(r)
    fetchMissingBatches(r)
  }
  retryTransfer(r)
}
