/**
 * The client side of a protocol, as a pure driver like the replica's: the
 * PaxosClient / PbftClient shells and the simulator both drive it.
 *
 * Every submission ends in exactly one `ClientCompletion`; nothing is silently
 * lost. A client retries the same `(clientId, seq)` so replicas execute it at
 * most once and answer a retry with the original result.
 */
import type { ClientId, ReplicaId } from "./Ids.js"
import type { Input, Ready } from "./Protocol.js"

export type ClientOutcome =
  /** The command was committed (or, for reads, answered by enough replicas); `result` is the encoded Result. */
  | { readonly _tag: "Committed"; readonly result: Uint8Array; readonly index: number; readonly certificate?: ReadonlyArray<Uint8Array> }
  /** Definitely not executed: rejected before ordering (bad command, not authorized, overloaded). */
  | { readonly _tag: "Rejected"; readonly reason: string; readonly leaderHint?: ReplicaId }
  /** Outcome unknown: the client gave up after its retry budget. It may or may not have executed. */
  | { readonly _tag: "TimedOut" }

export interface ClientCompletion {
  readonly clientId: ClientId
  readonly seq: number
  readonly readOnly: boolean
  readonly outcome: ClientOutcome
}

export interface SubmitOptions {
  /** Use the protocol's read path (no log write) when the command is read-only. */
  readonly readOnly?: boolean
}

export interface ClientDriver<M> {
  readonly clientId: ClientId
  /** Start a request; returns its sequence number. Fails (returns undefined) when the in-flight limit is reached. */
  submit(command: Uint8Array, options?: SubmitOptions): number | undefined
  step(input: Input<M>): void
  hasReady(): boolean
  /** Only `send` and `events` are used by clients; `persist` is always empty. */
  ready(): Ready<M>
  advance(): void
  /** Completions since the last call, in completion order. */
  takeCompletions(): ReadonlyArray<ClientCompletion>
  /** Requests submitted and not yet completed. */
  inFlight(): number
}
