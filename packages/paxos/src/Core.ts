/**
 * The pure, deterministic Multi-Paxos replica core: `step(input, out)`.
 *
 * It owns all of the replica's state (internal/State.ts) and routes each
 * input to the handler named after the paper's message; after every input it
 * fills the pipeline, announces chosen slots and answers the reads that
 * became answerable. No I/O, no clock, no `Math.random()`: time is `Tick`
 * inputs and randomness is a PRNG seeded by `seed`.
 *
 * Recovery: a core built from a non-empty `disk` restores the snapshot,
 * reloads the promise and the log, and replays the chosen slots above the
 * snapshot (silently: their events were reported before the crash).
 */
import { Codec, peerReplica, Protocol, type ReplicaId, type StateMachine, type Status as CoreStatus, type TrustModel } from "@synod/core"
import * as Acceptor from "./Acceptor.js"
import * as B from "./Ballot.js"
import * as Config from "./Config.js"
import * as Election from "./Election.js"
import { Prng } from "./internal/Prng.js"
import { State } from "./internal/State.js"
import * as Learner from "./Learner.js"
import { decodeBallotBytes, Log, PROMISED_KEY } from "./Log.js"
import * as M from "./Messages.js"
import * as Proposer from "./Proposer.js"
import { ReadIndex } from "./ReadIndex.js"
import { Configuration } from "./Reconfiguration.js"
import * as Requests from "./Requests.js"
import { SessionTable } from "./Session.js"
import * as Status from "./Status.js"

/** Largest snapshot payload decoded (the state machine's snapshot, as JSON). */
export const MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024

export interface CoreParams {
  readonly id: ReplicaId
  /** The initial membership and its quorum system (membership epoch 0). */
  readonly trust: TrustModel.QuorumSystem
  /** Replicas that receive leader traffic besides the members (learners waiting to be added). */
  readonly learners?: ReadonlyArray<ReplicaId>
  readonly stateMachine: StateMachine.AnyStateMachine
  /** What survived on this replica's disk (empty on first start). */
  readonly disk: ReadonlyMap<string, Uint8Array>
  /** Seed of the replica's own randomness (election timeouts). */
  readonly seed: number
  readonly config?: Partial<Config.PaxosConfig>
}

export class PaxosCore implements Protocol.Core<M.PaxosMessage> {
  readonly state: State
  /** Writes and events produced while recovering, handed out with the first Ready. */
  private recovery: Protocol.ReadyBuffer<M.PaxosMessage> | undefined
  /**
   * A client request arrived since the last proposal. Proposing is deferred to
   * the next `flushProposals` (the driver calls it before handing out a Ready),
   * so the requests of one shell mailbox batch share one slot instead of one
   * slot each; the simulator asks for a Ready after every step, so there the
   * timing is unchanged.
   */
  private proposalDeferred = false

  constructor(params: CoreParams) {
    const config = Config.make(params.config)
    const smDef = params.stateMachine
    const snapshotBytes = params.disk.get(Learner.SNAPSHOT_KEY)
    const snapshot = snapshotBytes === undefined ? undefined : Learner.decodeSnapshot(snapshotBytes)
    const truncated = snapshot === undefined ? 0 : Math.max(0, snapshot.index - config.logRetentionSlots)
    const { log, stale } = Log.load(params.disk, truncated)
    const universe = [...new Set([...params.trust.replicas, ...(params.learners ?? [])])].sort((a, b) => a - b)
    const s = new State({
      me: params.id,
      config,
      sm: smDef.make(),
      makeSm: () => smDef.make(),
      commandCodec: Codec.makeCodec(smDef.command),
      resultCodec: Codec.makeCodec(smDef.result),
      snapshotCodec: Codec.makeCodec(smDef.snapshot, { maxBytes: MAX_SNAPSHOT_BYTES }),
      rng: new Prng(params.seed),
      universe,
      log,
      configuration: new Configuration(params.trust, config.quorumFor, config.pipelineWindow),
      sessions: new SessionTable(config.maxSessions, config.maxSessionResults),
      reads: new ReadIndex()
    })
    this.state = s
    this.recovery = undefined
    s.out = new Protocol.ReadyBuffer<M.PaxosMessage>()
    for (const w of stale) s.persist(w)
    const promised = params.disk.get(PROMISED_KEY)
    if (promised !== undefined) s.promised = decodeBallotBytes(promised)
    s.seenBallot = s.promised
    if (snapshot !== undefined && !Learner.installSnapshot(s, snapshot, false)) {
      throw new Error(`paxos replica ${params.id}: the snapshot on disk at ${snapshot.index} does not restore`)
    }
    s.replaying = true
    Learner.applyChosen(s)
    s.replaying = false
    s.heardChosen(Math.max(s.applied, s.log.highestChosen()))
    if (config.lease !== undefined) {
      // leases granted before the crash are forgotten: honour them all by refusing every prepare for one lease
      s.leaseHolder = s.me
      s.leaseHeldUntil = config.lease.durationTicks
    }
    Election.resetTimer(s)
    if (!s.out.isEmpty()) this.recovery = s.out
  }

  step(input: Protocol.Input<M.PaxosMessage>, out: Protocol.ReadyBuffer<M.PaxosMessage>): void {
    const s = this.state
    s.out = out
    if (this.recovery !== undefined) {
      out.persist.push(...this.recovery.persist)
      out.events.push(...this.recovery.events)
      this.recovery = undefined
    }
    if (input._tag === "Tick") {
      s.now++
      Election.onTick(s)
    } else {
      this.receive(input.envelope)
    }
    if (input._tag === "Receive" && input.envelope.message._tag === "Request") {
      this.proposalDeferred = true
    } else {
      this.proposalDeferred = false
      Proposer.propose(s)
    }
    Proposer.flushCommits(s)
    Requests.serveReads(s)
  }

  /** Propose what deferred client requests queued (see `proposalDeferred`). Deterministic; idempotent. */
  flushProposals(): void {
    if (!this.proposalDeferred) return
    this.proposalDeferred = false
    Proposer.propose(this.state)
  }

  private receive(env: Protocol.Verified<M.PaxosMessage>): void {
    const s = this.state
    const m = env.message
    const from = env.from
    if (m._tag === "Request") return Requests.onRequest(s, from, m)
    if (m._tag === "Reply") return s.rejected(from, "invalid", "replicas do not take replies")
    if (peerReplica(from) === undefined) return s.rejected(from, "not-member", `${from} is not a replica; ${m._tag} is replica traffic`)
    if (peerReplica(from) === s.me) return s.rejected(from, "invalid", "a message from ourselves")
    switch (m._tag) {
      case "Prepare":
        return Acceptor.onPrepare(s, from, m)
      case "Promise":
        return Proposer.onPromise(s, from, m)
      case "Accept":
        return Acceptor.onAccept(s, from, m)
      case "Accepted":
        return Proposer.onAccepted(s, from, m)
      case "Nack":
        return Proposer.onNack(s, from, m)
      case "Poll":
        return Election.onPoll(s, from, m)
      case "PollReply":
        return Election.onPollReply(s, from, m)
      case "Commit":
        return Learner.onCommit(s, from, m)
      case "Heartbeat":
        return Election.onHeartbeat(s, from, m)
      case "HeartbeatAck":
        return Proposer.onHeartbeatAck(s, from, m)
      case "CatchUp":
        return Learner.onCatchUp(s, from, m)
      case "Decided":
        return Learner.onDecided(s, from, m)
      case "InstallSnapshot":
        return Learner.onInstallSnapshot(s, from, m)
    }
  }

  appliedIndex(): number {
    return this.state.applied
  }

  stateDigest(): string {
    return this.state.sm.digest()
  }

  invariants(): ReadonlyArray<string> {
    return this.state.sm.invariants?.() ?? []
  }

  /** What this replica reports to operators (see `Status.ts`); cheap, and changes nothing. */
  status(): CoreStatus.ReplicaStatus {
    return Status.of(this.state)
  }

  /** The ballot this replica leads or follows. */
  currentBallot(): B.Ballot {
    const s = this.state
    return s.role === "follower" ? s.leaderBallot : s.ballot
  }
}
