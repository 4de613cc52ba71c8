/**
 * The Multi-Paxos wire messages, as `Schema.TaggedClass`es in one
 * `Schema.Union`, encoded with `makeCodec` and signed with `Envelope.seal`
 * under the protocol name "paxos/1".
 *
 * Names follow Lamport, "Paxos Made Simple" (2001): phase 1 is `Prepare`
 * (1a) and `Promise` (1b), phase 2 is `Accept` (2a) and `Accepted` (2b).
 * Everything else (Nack, Commit, Heartbeat, catch-up, client messages) is
 * Multi-Paxos engineering the paper only sketches; see GLOSSARY.md.
 *
 * The sender is never a field: the envelope names and authenticates it. The
 * proposer of a ballot is `ballot.replica`, and cores check that it signed.
 *
 * The durable records (log entries, snapshots) are Schemas here as well, so
 * that the disk and the wire share one validated encoding.
 */
import { ClientId, Codec, type Envelope, LogIndex, ReplicaId, RequestSeq } from "@synod/core"
import { Schema } from "effect"
import { Ballot } from "./Ballot.js"

/** Protocol name and version written into every envelope. */
export const PROTOCOL = "paxos/1"

/** Hard wire limits; the configurable limits in `Config.ts` must stay within them. */
export const MAX_BATCH_ITEMS = 1024
export const MAX_PROMISE_ENTRIES = 4096
export const MAX_DECIDED_ENTRIES = 1024
export const MAX_COMMIT_RANGE = 4096
export const MAX_MEMBERS = 128
export const MAX_SESSION_RESULTS = 1024
export const MAX_SESSIONS = 1_000_000
export const MAX_REASON_LENGTH = 200

/** Bytes on the wire (base64 inside the JSON payload). */
export const Bytes = Schema.Uint8ArrayFromBase64

/** A configuration's replicas: distinct, ascending, non-empty. */
export const Members = Schema.Array(ReplicaId).pipe(
  Schema.minItems(1),
  Schema.maxItems(MAX_MEMBERS),
  Schema.filter((ms) => ms.every((m, i) => i === 0 || ms[i - 1]! < m), {
    message: () => "members must be distinct and ascending"
  })
)

// ---------------------------------------------------------------------------
// Values: what a slot holds

/** A client's state-machine command, executed at most once per (clientId, seq). */
export class Command extends Schema.TaggedClass<Command>()("Command", {
  clientId: ClientId,
  seq: RequestSeq,
  /** Every seq below this has completed at the client; the session may forget them. */
  ackedBelow: RequestSeq,
  command: Bytes
}) {}

/** A membership change, ordered through the log like a command (see Reconfiguration.ts). */
export class Reconfigure extends Schema.TaggedClass<Reconfigure>()("Reconfigure", {
  clientId: ClientId,
  seq: RequestSeq,
  ackedBelow: RequestSeq,
  members: Members
}) {}

export const Item = Schema.Union(Command, Reconfigure)
export type Item = typeof Item.Type

/**
 * The value of one slot: a batch of client items (empty: a no-op). `ballot`
 * is the ballot of the leader that first proposed the batch; a later leader
 * that re-proposes it keeps it, so it is part of the value and the same on
 * every replica (it is where the fencing token comes from).
 */
export class Batch extends Schema.Class<Batch>("Batch")({
  ballot: Ballot,
  items: Schema.Array(Item).pipe(Schema.maxItems(MAX_BATCH_ITEMS))
}) {}

export class AcceptedEntry extends Schema.Class<AcceptedEntry>("AcceptedEntry")({
  slot: LogIndex,
  ballot: Ballot,
  value: Batch
}) {}

export class DecidedEntry extends Schema.Class<DecidedEntry>("DecidedEntry")({
  slot: LogIndex,
  value: Batch
}) {}

// ---------------------------------------------------------------------------
// Replicated state records (in snapshots)

export const SessionResult = Schema.Union(
  Schema.TaggedStruct("Ok", { index: LogIndex, result: Bytes }),
  Schema.TaggedStruct("Refused", { index: LogIndex, reason: Schema.String.pipe(Schema.maxLength(MAX_REASON_LENGTH)) })
)
export type SessionResult = typeof SessionResult.Type

export class SessionRecord extends Schema.Class<SessionRecord>("SessionRecord")({
  clientId: ClientId,
  ackedBelow: RequestSeq,
  /** Slot of the client's most recent item: the least recently active session is evicted first. */
  lastIndex: LogIndex,
  results: Schema.Array(Schema.Struct({ seq: RequestSeq, result: SessionResult })).pipe(
    Schema.maxItems(MAX_SESSION_RESULTS)
  )
}) {}

export class Membership extends Schema.Class<Membership>("Membership")({
  epoch: Schema.Int.pipe(Schema.nonNegative()),
  members: Members
}) {}

export class PendingMembership extends Schema.Class<PendingMembership>("PendingMembership")({
  epoch: Schema.Int.pipe(Schema.nonNegative()),
  members: Members,
  /** First slot governed by this membership. */
  effectiveFrom: LogIndex
}) {}

export class ConfigRecord extends Schema.Class<ConfigRecord>("ConfigRecord")({
  current: Membership,
  pending: Schema.optional(PendingMembership)
}) {}

/** Everything the replicated state is made of at `index`: state machine, sessions, membership, fencing. */
export class SnapshotRecord extends Schema.Class<SnapshotRecord>("SnapshotRecord")({
  index: LogIndex,
  state: Bytes,
  stateDigest: Schema.String,
  sessions: Schema.Array(SessionRecord).pipe(Schema.maxItems(MAX_SESSIONS)),
  config: ConfigRecord,
  fencing: Schema.Int.pipe(Schema.nonNegative())
}) {}

// ---------------------------------------------------------------------------
// Phase 1 (§2.2 "Phase 1 (a)/(b)")

/** 1a: "prepare request with number n", for every slot from `fromSlot` on. */
export class Prepare extends Schema.TaggedClass<Prepare>()("Prepare", {
  ballot: Ballot,
  fromSlot: LogIndex
}) {}

/**
 * 1b: the promise not to accept ballots below `ballot`, with every proposal
 * the acceptor accepted in slots >= max(fromSlot, chosenThrough + 1).
 * Slots up to `chosenThrough` are chosen and known to this acceptor, so the
 * proposer learns them by catch-up instead of re-proposing them.
 */
export class Promise extends Schema.TaggedClass<Promise>()("Promise", {
  ballot: Ballot,
  fromSlot: LogIndex,
  chosenThrough: LogIndex,
  accepted: Schema.Array(AcceptedEntry).pipe(Schema.maxItems(MAX_PROMISE_ENTRIES))
}) {}

// ---------------------------------------------------------------------------
// Phase 2 (§2.2 "Phase 2 (a)/(b)")

/** 2a: "accept request" for `value` in `slot`. `chosenThrough` tells lagging acceptors to catch up. */
export class Accept extends Schema.TaggedClass<Accept>()("Accept", {
  ballot: Ballot,
  slot: LogIndex,
  value: Batch,
  chosenThrough: LogIndex
}) {}

/** 2b: the acceptor accepted `ballot`'s value in `slot`. */
export class Accepted extends Schema.TaggedClass<Accepted>()("Accepted", {
  ballot: Ballot,
  slot: LogIndex
}) {}

/** The refusal §2.2 suggests ("inform the proposer, who should then abandon its proposal"). */
export class Nack extends Schema.TaggedClass<Nack>()("Nack", {
  ballot: Ballot,
  promised: Ballot
}) {}

/**
 * Before campaigning with `ballot`, ask whether the members would take part:
 * no promise is made, only the election is avoided when a leader is alive.
 */
export class Poll extends Schema.TaggedClass<Poll>()("Poll", {
  ballot: Ballot
}) {}

export class PollReply extends Schema.TaggedClass<PollReply>()("PollReply", {
  ballot: Ballot,
  granted: Schema.Boolean
}) {}

// ---------------------------------------------------------------------------
// Learning (§2.3) and catch-up

/** Slots `from..to` were chosen with the values `ballot` proposed in them. */
export class Commit extends Schema.TaggedClass<Commit>()("Commit", {
  ballot: Ballot,
  from: LogIndex,
  to: LogIndex
}) {}

/** Leader liveness, commit index and read-index round. */
export class Heartbeat extends Schema.TaggedClass<Heartbeat>()("Heartbeat", {
  ballot: Ballot,
  chosenThrough: LogIndex,
  round: Schema.Int.pipe(Schema.nonNegative())
}) {}

export class HeartbeatAck extends Schema.TaggedClass<HeartbeatAck>()("HeartbeatAck", {
  ballot: Ballot,
  round: Schema.Int.pipe(Schema.nonNegative()),
  chosenThrough: LogIndex
}) {}

/** Ask a peer for the chosen values from `fromSlot` on. */
export class CatchUp extends Schema.TaggedClass<CatchUp>()("CatchUp", {
  fromSlot: LogIndex
}) {}

/** Chosen values, in ascending slot order, and how far the sender knows the log is chosen. */
export class Decided extends Schema.TaggedClass<Decided>()("Decided", {
  entries: Schema.Array(DecidedEntry).pipe(Schema.maxItems(MAX_DECIDED_ENTRIES)),
  chosenThrough: LogIndex
}) {}

/** The sender's latest snapshot, for a replica too far behind for `Decided`. */
export class InstallSnapshot extends Schema.TaggedClass<InstallSnapshot>()("InstallSnapshot", {
  snapshot: SnapshotRecord,
  chosenThrough: LogIndex
}) {}

// ---------------------------------------------------------------------------
// Clients

export const ReadConsistency = Schema.Literal("linearizable", "stale")
export type ReadConsistency = typeof ReadConsistency.Type

export const Operation = Schema.Union(
  Schema.TaggedStruct("Write", { command: Bytes }),
  Schema.TaggedStruct("Read", { command: Bytes, consistency: ReadConsistency }),
  Schema.TaggedStruct("Reconfigure", { members: Members })
)
export type Operation = typeof Operation.Type

/** A client request, signed by `client/<clientId>`. */
export class Request extends Schema.TaggedClass<Request>()("Request", {
  clientId: ClientId,
  seq: RequestSeq,
  ackedBelow: RequestSeq,
  op: Operation
}) {}

export const Outcome = Schema.Union(
  /** Executed (or, for reads, answered) at `index`. */
  Schema.TaggedStruct("Committed", { result: Bytes, index: LogIndex }),
  /** Ordered and refused deterministically, or refused at admission: definitely not executed. */
  Schema.TaggedStruct("Rejected", { reason: Schema.String.pipe(Schema.maxLength(MAX_REASON_LENGTH)) }),
  /** This replica does not lead; try `leaderHint`. Definitely not executed. */
  Schema.TaggedStruct("NotLeader", { leaderHint: Schema.optional(ReplicaId) }),
  /** The leader changed while the request was in flight: it may or may not execute; retry it. */
  Schema.TaggedStruct("Dropped", { leaderHint: Schema.optional(ReplicaId) }),
  /** A bounded queue is full; not executed. Retry later. */
  Schema.TaggedStruct("Overloaded", {}),
  /** The session no longer remembers this seq (the client acknowledged it or exceeded its window): outcome unknown. */
  Schema.TaggedStruct("Expired", {})
)
export type Outcome = typeof Outcome.Type

export class Reply extends Schema.TaggedClass<Reply>()("Reply", {
  clientId: ClientId,
  seq: RequestSeq,
  outcome: Outcome
}) {}

// ---------------------------------------------------------------------------

export const PaxosMessage = Schema.Union(
  Prepare,
  Promise,
  Accept,
  Accepted,
  Nack,
  Poll,
  PollReply,
  Commit,
  Heartbeat,
  HeartbeatAck,
  CatchUp,
  Decided,
  InstallSnapshot,
  Request,
  Reply
)
export type PaxosMessage = typeof PaxosMessage.Type

export const codec = Codec.makeCodec(PaxosMessage)

/** The envelope context for "paxos/1" in cluster `clusterId`. */
export const envelope = (clusterId: string, maxFrameBytes?: number): Envelope.EnvelopeContext<PaxosMessage> =>
  maxFrameBytes === undefined
    ? { clusterId, protocol: PROTOCOL, codec }
    : { clusterId, protocol: PROTOCOL, codec, maxFrameBytes }

// ---------------------------------------------------------------------------
// Encodings used outside envelopes (disk records, digests)

const textEncoder = new TextEncoder()
const encodeBatchJson = Schema.encodeSync(Batch)

/** Canonical bytes of a batch: what `entryDigest` hashes. */
export const batchBytes = (batch: Batch): Uint8Array => textEncoder.encode(JSON.stringify(encodeBatchJson(batch)))

