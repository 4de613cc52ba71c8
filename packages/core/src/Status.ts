/**
 * What a replica reports about itself to operators: a protocol-neutral
 * `ReplicaStatus` that protocol cores fill in (`Core.status` / `Driver.status`),
 * the shell snapshots after every completed batch (`ReplicaHandle.replicaStatus`),
 * turns into gauges (see `Metrics`) and serves at `GET /status`
 * (`Observability.serve`).
 *
 * Fields, and what each protocol puts there:
 *
 * | field            | Multi-Paxos                                  | PBFT                                          |
 * | ---------------- | -------------------------------------------- | --------------------------------------------- |
 * | role             | leader / follower / candidate (phase 1 open) | primary / backup / view-changing              |
 * | view             | round of the current ballot                  | current view                                  |
 * | leader           | leader of that ballot, if known              | primary of the view                           |
 * | commitIndex      | highest slot known chosen                    | highest sequence number committed-local       |
 * | appliedIndex     | highest slot executed                        | last executed sequence number                 |
 * | stableCheckpoint | snapshot index (log truncated below)         | last stable checkpoint                        |
 * | peers            | leader: each follower's accepted index       | highest sequence number each replica has      |
 * |                  | (followers may list only the leader)         | shown to have prepared/committed (or checkpointed) |
 * | extra            | e.g. windowUsed, sessions                    | e.g. lowWatermark, highWatermark              |
 *
 * `peers[].lag` is how far that peer is behind this replica's own log, in
 * slots or sequence numbers: `max(0, reference - matchIndex)` where the
 * reference is this replica's last log index (a leader's) or `commitIndex`.
 * It is 0 for a peer that is caught up, grows while a peer is partitioned or
 * slow, and returns to 0 after catch-up. Peers are the configured replicas
 * other than this one (bounded by the configuration; `ReplicaId` < 1024).
 *
 * A driver without `status()` still gets a status from the shell (`fallback`):
 * role `unknown`, view and leader from its last `ViewChanged` event, commit
 * index from its `Committed` events, and no peers.
 */
import { Schema } from "effect"
import { ReplicaId } from "./Ids.js"

const Index = Schema.Int.pipe(Schema.nonNegative())

export const Role = Schema.Literal(
  "leader",        // Paxos: holds a ballot whose phase 1 completed
  "follower",      // Paxos: accepts from a leader
  "candidate",     // Paxos: running phase 1 for its own ballot
  "primary",       // PBFT: primary of the current view
  "backup",        // PBFT: backup in the current view
  "view-changing", // PBFT: between view-change and new-view
  "recovering",    // loading state or fetching it from peers (state transfer, catch-up)
  "unknown"        // the driver does not report a status
)
export type Role = typeof Role.Type

/** Roles that order requests (a leader or primary). */
export const isLeaderRole = (role: Role): boolean => role === "leader" || role === "primary"

export const PeerStatus = Schema.Struct({
  replica: ReplicaId,
  /** Highest log index known to be held (accepted, prepared, acknowledged) by the peer. */
  matchIndex: Index,
  /** Slots or sequence numbers the peer is behind this replica; 0 when caught up. */
  lag: Index
})
export type PeerStatus = typeof PeerStatus.Type

export const ReplicaStatus = Schema.Struct({
  role: Role,
  /** A PBFT view or the round of a Paxos ballot. */
  view: Index,
  leader: Schema.optional(ReplicaId),
  commitIndex: Index,
  appliedIndex: Index,
  stableCheckpoint: Schema.optional(Index),
  peers: Schema.Array(PeerStatus),
  /** Protocol-specific figures (a small, fixed set of names per protocol). */
  extra: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Number }))
})
export type ReplicaStatus = typeof ReplicaStatus.Type

/** The `GET /status` document: the replica's status and the process around it. */
export const StatusDocument = Schema.Struct({
  /** The replica's name (its PeerId unless configured otherwise). */
  replica: Schema.String,
  pid: Schema.Int,
  uptimeMs: Index,
  ...ReplicaStatus.fields
})
export type StatusDocument = typeof StatusDocument.Type

export const encodeDocument = Schema.encodeSync(StatusDocument)
export const decodeDocument = Schema.decodeUnknownEither(StatusDocument)

/** A peer's entry, with its lag against `reference` (this replica's last index or commit index). */
export const peer = (replica: ReplicaId, matchIndex: number, reference: number): PeerStatus => ({
  replica,
  matchIndex,
  lag: Math.max(0, reference - matchIndex)
})

/** The status of a driver that does not report one (see the module comment). */
export const fallback = (options: {
  readonly appliedIndex: number
  readonly commitIndex: number
  readonly view: number | undefined
  readonly leader: ReplicaId | undefined
}): ReplicaStatus => ({
  role: "unknown",
  view: options.view ?? 0,
  ...(options.leader !== undefined ? { leader: options.leader } : {}),
  commitIndex: Math.max(options.commitIndex, options.appliedIndex),
  appliedIndex: options.appliedIndex,
  peers: []
})
