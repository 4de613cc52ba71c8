/**
 * A PBFT replica as an Effect actor: the generic shell (`Replica.recover` from
 * @synod/core) around the PBFT driver, with PBFT's envelope context ("pbft/1"
 * and its codec). The shell loads the disk, builds the driver from it, opens
 * and verifies every frame before the core sees it, turns the clock into
 * ticks, and carries out each Ready (persist, send, sendAfterPersist).
 */
import { Keys, Replica, type ReplicaId, type StateMachine, type Storage, type Transport, type TrustModel } from "@synod/core"
import { Effect, type Scope } from "effect"
import type { PbftConfig } from "./Config.js"
import * as Driver from "./Driver.js"
import type { Evidence } from "./Evidence.js"
import { envelopeContext, type PbftMessage } from "./Messages.js"

export interface PbftReplicaOptions {
  readonly id: ReplicaId
  readonly clusterId: string
  readonly trust: TrustModel.QuorumSystem
  readonly stateMachine: StateMachine.AnyStateMachine
  readonly config?: Partial<Omit<PbftConfig, "clusterId">>
  /** Largest frame accepted from the network (default `Envelope.DEFAULT_MAX_FRAME_BYTES`). */
  readonly maxFrameBytes?: number
  /** The generic shell's settings: supervisor, tick interval, mailbox. */
  readonly shell: Omit<Replica.ReplicaConfig<PbftMessage>, "envelope">
}

export interface PbftReplicaHandle extends Replica.ReplicaHandle {
  readonly view: Effect.Effect<number>
  readonly isPrimary: Effect.Effect<boolean>
  /** Verifiable evidence of equivocation and lying collected so far. */
  readonly evidence: Effect.Effect<ReadonlyArray<Evidence>>
}

/** Recover the replica from `Storage` and run it in the current scope. */
export const run = (
  options: PbftReplicaOptions
): Effect.Effect<
  PbftReplicaHandle,
  Storage.StorageError,
  Scope.Scope | Transport.Transport | Storage.Storage | Keys.SignerService | Keys.KeyRingService
> =>
  Effect.gen(function*() {
    const signer = yield* Keys.SignerService
    const keys = yield* Keys.KeyRingService
    let driver: Driver.PbftDriver | undefined
    const makeDriver = (disk: ReadonlyMap<string, Uint8Array>) => {
      driver = Driver.make({
        id: options.id,
        trust: options.trust,
        signer,
        keys,
        stateMachine: options.stateMachine,
        disk,
        config: { ...options.config, clusterId: options.clusterId }
      })
      return driver
    }
    const handle = yield* Replica.recover(makeDriver, { ...options.shell, envelope: envelopeContext(options.clusterId, options.maxFrameBytes) })
    const d = driver!
    return {
      ...handle,
      view: Effect.sync(() => d.view()),
      isPrimary: Effect.sync(() => d.isPrimary()),
      evidence: Effect.sync(() => d.evidence())
    }
  })
