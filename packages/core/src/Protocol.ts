/**
 * The shape shared by every protocol core, in the style of etcd-raft's
 * `Ready`/`Advance`: a pure core consumes `Input`s and accumulates a `Ready`
 * that the driver (simulator) or shell (Effect actor) carries out.
 *
 * Ordering contract of a `Ready`, which every caller must honour:
 *   1. write `persist` durably (one batch, atomically);
 *   2. send `send` (may also go before or in parallel with 1: nothing in it vouches for state);
 *   3. send `sendAfterPersist` only after 1 completed (votes, promises, prepares, commits);
 *   4. report `events` (observability, checkers); then call `advance()`.
 * The core never places a message that depends on unpersisted state in `send`.
 */
import type { PeerId, ReplicaId } from "./Ids.js"
import type { Rejection } from "./Rejection.js"
import type { ReplicaStatus } from "./Status.js"

/**
 * A message whose envelope was decoded and whose signature was verified against
 * the KeyRing. Only `Envelope.open` creates one; cores accept nothing else.
 * `frame` is the exact signed bytes, kept so cores can forward them as proofs
 * (PBFT certificates, reply certificates, evidence).
 */
export interface Verified<M> {
  readonly from: PeerId
  readonly message: M
  readonly frame: Uint8Array
  readonly _verified: unique symbol
}

/** One input to a protocol core. Time is logical: a `Tick` is one tick of the replica's clock. */
export type Input<M> =
  | { readonly _tag: "Receive"; readonly envelope: Verified<M> }
  | { readonly _tag: "Tick" }

/** A message to send to one or more peers; sealed (encoded + signed) once by the caller. */
export interface Outbound<M> {
  readonly to: ReadonlyArray<PeerId>
  readonly message: M
}

/** A durable write. `value: null` deletes the key. Keys are protocol-namespaced strings. */
export interface StorageWrite {
  readonly key: string
  readonly value: Uint8Array | null
}

/**
 * The phases of a client request at one replica, in order. A protocol reports
 * the ones it has (PBFT: pre-prepared is `proposed`); a phase may be skipped
 * (a backup never `received` a request that reached it inside a pre-prepare).
 *
 *   received   the request reached the core and passed its guards
 *   proposed   ordered at an index (Paxos accept sent, PBFT pre-prepare)
 *   prepared   a quorum agreed on the order (Paxos: not reported; PBFT: prepared certificate)
 *   committed  decided (Paxos chosen, PBFT committed-local)
 *   executed   applied to the state machine
 *   replied    the reply to the client was handed to the shell
 */
export const REQUEST_PHASES = ["received", "proposed", "prepared", "committed", "executed", "replied"] as const
export type RequestPhase = typeof REQUEST_PHASES[number]

/**
 * What happened inside a core, for checkers, metrics and logs. Protocol packages
 * may add their own `Custom` payloads; the tags below are the ones the
 * simulator's checkers and the metrics rely on.
 */
export type ProtocolEvent =
  /**
   * A log position was decided and executed: `entryDigest` identifies its content (a batch).
   * `commandDigest` is `Crypto.sha256Hex(command)` over the command bytes exactly as the
   * client submitted them; the simulator's validity checker compares it with what clients sent.
   */
  | {
    readonly _tag: "Committed"
    readonly index: number
    readonly entryDigest: string
    readonly requests: ReadonlyArray<{ readonly clientId: string; readonly seq: number; readonly commandDigest: string }>
  }
  /** A client request was executed against the state machine (exactly once per replica). */
  | { readonly _tag: "Executed"; readonly index: number; readonly clientId: string; readonly seq: number }
  /** Leadership / view changed. `cause` is a short stable word (timeout, evidence, higher-ballot, ...). */
  | { readonly _tag: "ViewChanged"; readonly view: number; readonly leader: ReplicaId; readonly cause: string }
  | { readonly _tag: "Checkpoint"; readonly index: number; readonly stateDigest: string; readonly stable: boolean }
  | { readonly _tag: "StateTransferred"; readonly index: number; readonly stateDigest: string }
  | { readonly _tag: "Rejected"; readonly from: PeerId; readonly rejection: Rejection }
  | { readonly _tag: "Evidence"; readonly against: PeerId; readonly kind: string; readonly frames: ReadonlyArray<Uint8Array> }
  /**
   * A client request reached `phase` at this replica (`index`: its log position once known).
   * The shell turns these into one trace span per request and the commit-latency histogram
   * (see `Tracing`). Emit each phase at most once per request and replica, in the order above;
   * a retransmitted request that is answered from the session table may report `received`
   * and `replied` again.
   */
  | {
    readonly _tag: "RequestPhase"
    readonly clientId: string
    readonly seq: number
    readonly phase: RequestPhase
    readonly index?: number
  }
  | { readonly _tag: "Custom"; readonly name: string; readonly data: unknown }

export interface Ready<M> {
  readonly persist: ReadonlyArray<StorageWrite>
  readonly send: ReadonlyArray<Outbound<M>>
  readonly sendAfterPersist: ReadonlyArray<Outbound<M>>
  readonly events: ReadonlyArray<ProtocolEvent>
}

export const emptyReady: Ready<never> = { persist: [], send: [], sendAfterPersist: [], events: [] }

export const isEmptyReady = <M>(r: Ready<M>): boolean =>
  r.persist.length === 0 && r.send.length === 0 && r.sendAfterPersist.length === 0 && r.events.length === 0

/**
 * The synchronous driver of a protocol replica (etcd-raft's RawNode). The
 * simulator calls it directly; the Effect shell wraps it. Deterministic: the
 * same construction and the same sequence of calls give the same Readys.
 */
export interface Driver<M> {
  /** Feed one input. Never throws for bad peer input: that becomes a `Rejected` event. */
  step(input: Input<M>): void
  /** Whether `ready()` has anything to do. */
  hasReady(): boolean
  /** Take the accumulated work. Calling it again before `advance()` returns the same work. */
  ready(): Ready<M>
  /** Acknowledge that the last `ready()` was carried out in full (persisted, sent). */
  advance(): void
  /** Highest log position executed against the state machine. */
  appliedIndex(): number
  /** Digest of the state machine state at `appliedIndex()`. */
  stateDigest(): string
  /**
   * The state machine's application invariants (`StateMachineInstance.invariants`),
   * as human-readable violations; empty or absent when all hold. The simulator's
   * invariant checker calls it on correct replicas.
   */
  invariants?(): ReadonlyArray<string>
  /**
   * What the replica reports to operators (role, view or ballot, commit and
   * applied index, peers and their lag); see `Status`. Protocols fill it;
   * the shell calls it after every completed batch, so it must be cheap
   * (O(peers)) and must not change the core's state.
   */
  status?(): ReplicaStatus
}

/** Readys accumulate; the core appends here and `take` swaps the buffers. */
export class ReadyBuffer<M> {
  persist: Array<StorageWrite> = []
  send: Array<Outbound<M>> = []
  sendAfterPersist: Array<Outbound<M>> = []
  events: Array<ProtocolEvent> = []

  isEmpty(): boolean {
    return this.persist.length === 0 && this.send.length === 0 && this.sendAfterPersist.length === 0 &&
      this.events.length === 0
  }

  take(): Ready<M> {
    const r: Ready<M> = {
      persist: this.persist,
      send: this.send,
      sendAfterPersist: this.sendAfterPersist,
      events: this.events
    }
    this.persist = []
    this.send = []
    this.sendAfterPersist = []
    this.events = []
    return r
  }
}

/**
 * What a protocol core implements. `driverOf` turns it into a `Driver` with the
 * ready/advance bookkeeping done once for every protocol.
 */
export interface Core<M> {
  step(input: Input<M>, out: ReadyBuffer<M>): void
  appliedIndex(): number
  stateDigest(): string
  /** Passed through as `Driver.invariants` (typically the state machine instance's). */
  invariants?(): ReadonlyArray<string>
  /** Passed through as `Driver.status`. */
  status?(): ReplicaStatus
}

export const driverOf = <M>(core: Core<M>): Driver<M> => {
  const out = new ReadyBuffer<M>()
  let pending: Ready<M> | undefined
  const invariants = core.invariants === undefined ? {} : { invariants: () => core.invariants!() }
  const status = core.status === undefined ? {} : { status: () => core.status!() }
  return {
    ...invariants,
    ...status,
    step: (input) => core.step(input, out),
    hasReady: () => pending !== undefined || !out.isEmpty(),
    ready: () => {
      if (pending === undefined) pending = out.take()
      return pending
    },
    advance: () => {
      pending = undefined
    },
    appliedIndex: () => core.appliedIndex(),
    stateDigest: () => core.stateDigest()
  }
}
