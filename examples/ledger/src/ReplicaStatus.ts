/**
 * What a replica process reports about itself at `GET /status`, and the
 * tracker that keeps the figures that come from protocol events.
 *
 * Fields (JSON; bigints as decimal strings):
 *   replica, peer, pid          who is answering
 *   byzantine                   the strategy it runs, or null for a correct replica
 *   role                        primary | backup | view-change (changing views right now)
 *   view, primary               current view and its primary
 *   lastCommitted               highest sequence number committed here
 *   lastExecuted                highest sequence number executed against the ledger
 *   stableCheckpoint            last stable checkpoint (seq, digest)
 *   stateDigest                 digest of the ledger state at lastExecuted
 *   supply, minted, accounts, operations   ledger totals (GetTotals) at lastExecuted
 *   executed, viewChanges, evidence, rejected, stateTransfers   counts since the process started
 *   byzantineActions            what the Byzantine decorator did (empty for correct replicas)
 *   uptimeMs
 * A Byzantine replica reports honestly here: the status endpoint is an
 * operator's tool, not part of the protocol, and the demo never trusts it for
 * a verdict about Byzantine replicas.
 */
import type { Protocol } from "@synod/core"
import { Schema } from "effect"

export const Role = Schema.Literal("primary", "backup", "view-change")
export type Role = typeof Role.Type

export const ReplicaStatus = Schema.Struct({
  replica: Schema.Int,
  peer: Schema.String,
  pid: Schema.Int,
  byzantine: Schema.NullOr(Schema.String),
  role: Role,
  view: Schema.Int,
  primary: Schema.Int,
  lastCommitted: Schema.Int,
  lastExecuted: Schema.Int,
  stableCheckpoint: Schema.Struct({ seq: Schema.Int, digest: Schema.String }),
  stateDigest: Schema.String,
  supply: Schema.BigInt,
  minted: Schema.BigInt,
  accounts: Schema.Int,
  operations: Schema.Int,
  executed: Schema.Int,
  viewChanges: Schema.Int,
  evidence: Schema.Int,
  rejected: Schema.Int,
  stateTransfers: Schema.Int,
  byzantineActions: Schema.Record({ key: Schema.String, value: Schema.Int }),
  uptimeMs: Schema.Int
})
export type ReplicaStatus = typeof ReplicaStatus.Type

export const encodeStatus = Schema.encodeSync(ReplicaStatus)
export const decodeStatus = Schema.decodeUnknownEither(ReplicaStatus)

/** Counts and high-water marks taken from a replica's event stream. */
export class EventTally {
  lastCommitted = 0
  executed = 0
  viewChanges = 0
  evidence = 0
  rejected = 0
  stateTransfers = 0
  /** Evidence kinds seen, bounded by the protocol's small set of kinds. */
  readonly evidenceKinds = new Map<string, number>()

  record(event: Protocol.ProtocolEvent): void {
    switch (event._tag) {
      case "Committed":
        if (event.index > this.lastCommitted) this.lastCommitted = event.index
        return
      case "Executed":
        this.executed++
        return
      case "ViewChanged":
        this.viewChanges++
        return
      case "Evidence":
        this.evidence++
        this.evidenceKinds.set(event.kind, (this.evidenceKinds.get(event.kind) ?? 0) + 1)
        return
      case "Rejected":
        this.rejected++
        return
      case "StateTransferred":
        this.stateTransfers++
        if (event.index > this.lastCommitted) this.lastCommitted = event.index
        return
      default:
        return
    }
  }
}

/**
 * A replica's local copy of the ledger at `GET /ledger` (for the demo's final
 * checks and for operators; not consensus — ask the cluster for that). Served
 * only while the ledger holds at most `MAX_LEDGER_VIEW_OPERATIONS` operations.
 */
export const MAX_LEDGER_VIEW_OPERATIONS = 200_000

export const LedgerView = Schema.Struct({
  lastExecuted: Schema.Int,
  stateDigest: Schema.String,
  accounts: Schema.Array(Schema.Struct({
    name: Schema.String,
    balance: Schema.BigInt,
    history: Schema.Array(Schema.Struct({ index: Schema.Int, id: Schema.String, kind: Schema.String }))
  })),
  /** Every operation id the ledger executed, with whether it moved money (`applied`) or was refused. */
  operations: Schema.Array(Schema.Struct({ id: Schema.String, applied: Schema.Boolean }))
})
export type LedgerView = typeof LedgerView.Type

export const encodeLedgerView = Schema.encodeSync(LedgerView)
export const decodeLedgerView = Schema.decodeUnknownEither(LedgerView)
