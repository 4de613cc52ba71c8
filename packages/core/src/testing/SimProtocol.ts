/**
 * What a protocol package hands the simulator: how to build replicas and
 * clients from the same code that runs in production, and how a Byzantine
 * replica may tamper with that protocol's messages.
 */
import type { ClientDriver } from "../Client.js"
import type { KeyRing, Signer } from "../Crypto.js"
import type { EnvelopeContext } from "../Envelope.js"
import type { ClientId, ReplicaId } from "../Ids.js"
import type { Driver } from "../Protocol.js"
import type { AnyStateMachine } from "../StateMachine.js"
import type { QuorumSystem } from "../TrustModel.js"

/** Deterministic random source handed to protocols and strategies (never Math.random). */
export interface Rng {
  /** Uniform float in [0, 1). */
  next(): number
  /** Uniform integer in [0, n). */
  int(n: number): number
  chance(p: number): boolean
  pick<A>(items: ReadonlyArray<A>): A
}

export interface ReplicaParams {
  readonly id: ReplicaId
  readonly trust: QuorumSystem
  readonly signer: Signer
  readonly keys: KeyRing
  readonly stateMachine: AnyStateMachine
  /** What survived on this replica's disk (empty on first start). */
  readonly disk: ReadonlyMap<string, Uint8Array>
  /** Seed for the replica's own randomness (election timeouts); derived from the run seed. */
  readonly seed: number
}

export interface ClientParams {
  readonly clientId: ClientId
  readonly trust: QuorumSystem
  readonly signer: Signer
  readonly keys: KeyRing
  readonly seed: number
}

export interface SimProtocol<M> {
  /** "paxos", "pbft" or a test protocol. */
  readonly name: string
  /** Protocol name, codec and limits; the simulator fills in the cluster id. */
  readonly envelope: Omit<EnvelopeContext<M>, "clusterId">
  /** The fault model this protocol tolerates (decides whether Byzantine replicas are allowed). */
  readonly faultModel: "crash" | "byzantine"
  /**
   * Replicas the adversary never controls, for test protocols whose fault model
   * assumes some replicas correct (the reference protocol's fixed sequencer).
   * Real protocols leave it out.
   */
  readonly alwaysCorrect?: ReadonlyArray<ReplicaId>
  makeReplica(params: ReplicaParams): Driver<M>
  makeClient(params: ClientParams): ClientDriver<M>
  /**
   * Byzantine tampering. Each returns a different but well-formed message of
   * the same kind, or undefined when the message has nothing to tamper with.
   */
  readonly tamper: {
    /** A conflicting message for the same view/sequence (different digest or value). */
    equivocate(message: M, rng: Rng): M | undefined
    /** The same message claiming another view/ballot (stale when delta < 0). */
    shiftView(message: M, delta: number): M | undefined
    /** A state-transfer or catch-up answer carrying wrong state. */
    lie(message: M, rng: Rng): M | undefined
  }
}
