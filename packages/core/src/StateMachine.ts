/**
 * The application's replicated state machine.
 *
 * Replicas call it synchronously from the protocol core, in log order, so it
 * must be deterministic: no clock, no randomness, no I/O, no iteration over
 * unordered collections whose order can differ between processes. The
 * compliance suite in `@synod/core/testing` checks this.
 *
 * Commands and results cross the wire as bytes encoded by their Schemas; a
 * command that does not decode is answered with a deterministic rejection on
 * every replica, so a Byzantine client cannot make replicas diverge.
 */
import type { Schema } from "effect"

/** What the replica tells the state machine about the entry it applies. */
export interface ApplyContext {
  /** Log position (Paxos slot / PBFT sequence number) of the entry holding the command. */
  readonly index: number
  readonly clientId: string
  readonly seq: number
}

export interface StateMachineInstance<Command, Result, Snapshot> {
  /** Apply one committed command; return its result. Must be deterministic. */
  apply(command: Command, ctx: ApplyContext): Result
  /** Answer a read-only command without changing state. */
  query(command: Command): Result
  /** Whether `command` only reads (may be served by the read paths). */
  isReadOnly(command: Command): boolean
  /** A value from which `restore` rebuilds the same state. */
  snapshot(): Snapshot
  restore(snapshot: Snapshot): void
  /** Hex digest of the state; equal states give equal digests on every replica. */
  digest(): string
  /** Application invariants; return human-readable violations (empty when all hold). */
  invariants?(): ReadonlyArray<string>
}

export interface StateMachine<Command, Result, Snapshot> {
  readonly name: string
  readonly command: Schema.Schema<Command, any, never>
  readonly result: Schema.Schema<Result, any, never>
  readonly snapshot: Schema.Schema<Snapshot, any, never>
  /** A fresh instance in the initial (genesis) state. */
  make(): StateMachineInstance<Command, Result, Snapshot>
}

/** Any state machine, for code that only moves bytes. */
export type AnyStateMachine = StateMachine<any, any, any>
