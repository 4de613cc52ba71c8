/**
 * A Paxos replica as an Effect actor: the generic shell (`Replica.recover`
 * from @synod/core) around the Paxos driver, with Paxos' envelope context
 * ("paxos/1" and its codec). The shell loads the disk, builds the driver from
 * it, and carries out its Readys (persist, then send, then sendAfterPersist).
 */
import { type Envelope, type Keys, Replica, type ReplicaId, type StateMachine, type Storage, type Transport, type TrustModel } from "@synod/core"
import { Effect, type Scope } from "effect"
import type { PaxosConfig } from "./Config.js"
import * as Driver from "./Driver.js"
import * as M from "./Messages.js"

export interface PaxosReplicaOptions {
  readonly id: ReplicaId
  readonly clusterId: string
  /** The initial membership and its quorum system. */
  readonly trust: TrustModel.QuorumSystem
  /** Replicas outside the membership that follow the log (to be added later). */
  readonly learners?: ReadonlyArray<ReplicaId>
  readonly stateMachine: StateMachine.AnyStateMachine
  /** Seed of the election-timeout randomness; any per-replica value (e.g. from the id and a boot counter). */
  readonly seed: number
  readonly config?: Partial<PaxosConfig>
  /** Largest frame accepted from the network (default `Envelope.DEFAULT_MAX_FRAME_BYTES`). */
  readonly maxFrameBytes?: number
  /** The generic shell's settings: supervisor, tick interval, mailbox. */
  readonly shell: Omit<Replica.ReplicaConfig<M.PaxosMessage>, "envelope">
}

export interface PaxosReplicaHandle extends Replica.ReplicaHandle {
  readonly isLeader: Effect.Effect<boolean>
  readonly leaderHint: Effect.Effect<ReplicaId | undefined>
  /** The current leader ballot as a monotone fencing token (see `Driver.PaxosDriver.fencingToken`). */
  readonly fencingToken: Effect.Effect<number>
  /** Operator API: propose a membership change at this replica (false unless it leads and no change is under way). */
  reconfigure(members: ReadonlyArray<ReplicaId>): Effect.Effect<boolean>
}

export const envelopeFor = (clusterId: string, maxFrameBytes?: number): Envelope.EnvelopeContext<M.PaxosMessage> =>
  M.envelope(clusterId, maxFrameBytes)

/** Recover the replica from `Storage` and run it in the current scope. */
export const run = (
  options: PaxosReplicaOptions
): Effect.Effect<
  PaxosReplicaHandle,
  Storage.StorageError,
  Scope.Scope | Transport.Transport | Storage.Storage | Keys.SignerService | Keys.KeyRingService
> =>
  Effect.gen(function*() {
    let driver: Driver.PaxosDriver | undefined
    const makeDriver = (disk: ReadonlyMap<string, Uint8Array>) => {
      driver = Driver.make({
        id: options.id,
        trust: options.trust,
        ...(options.learners !== undefined ? { learners: options.learners } : {}),
        stateMachine: options.stateMachine,
        disk,
        seed: options.seed,
        ...(options.config !== undefined ? { config: options.config } : {})
      })
      return driver
    }
    const handle = yield* Replica.recover(makeDriver, { ...options.shell, envelope: envelopeFor(options.clusterId, options.maxFrameBytes) })
    const d = driver!
    return {
      ...handle,
      isLeader: Effect.sync(() => d.isLeader()),
      leaderHint: Effect.sync(() => d.leaderHint()),
      fencingToken: Effect.sync(() => d.fencingToken()),
      reconfigure: (members) => Effect.sync(() => d.reconfigure(members))
    }
  })
