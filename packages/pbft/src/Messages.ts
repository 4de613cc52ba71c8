/**
 * The PBFT wire messages (Castro & Liskov, OSDI'99 §4, TOCS'02 §2-§5), as
 * `Schema.TaggedClass`es in one `Schema.Union`, encoded with `makeCodec` and
 * signed with `Envelope.seal` under the protocol name "pbft/1".
 *
 * A message that proves something with other principals' messages carries
 * their signed frames (the exact bytes `Envelope.open` verified), never a
 * re-encoding: a receiver re-verifies each frame (see `internal/Frames.ts`).
 *
 * Deviations from the paper's message formats are listed in GLOSSARY.md; the
 * main one is that a message's sender `i` is not a field: the envelope names
 * and authenticates the sender.
 */
import { ClientId, Codec, type Envelope, LogIndex, RequestSeq, ViewNumber } from "@synod/core"
import { Schema } from "effect"

/** Protocol name and version written into every envelope. */
export const PROTOCOL = "pbft/1"

/** Hard wire limits; the configurable limits in `Config.ts` must stay below them. */
export const MAX_BATCH_REQUESTS = 1024
export const MAX_PROOF_FRAMES = 1024
export const MAX_PREPARED_PROOFS = 4096
export const MAX_RELAY_FRAMES = 256

/** Lower-case hex SHA-256. */
export const Digest = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/), Schema.brand("Digest"))
export type Digest = typeof Digest.Type

/** Bytes on the wire (base64 inside the JSON payload). */
const Bytes = Schema.Uint8ArrayFromBase64
const Frames = (max: number) => Schema.Array(Bytes).pipe(Schema.maxItems(max))

/** ⟨REQUEST, o, t, c⟩σc — `seq` is the paper's timestamp t. Signed by the client. */
export class Request extends Schema.TaggedClass<Request>()("Request", {
  clientId: ClientId,
  seq: RequestSeq,
  command: Bytes,
  /** Ask for the read-only path (OSDI'99 §5.1): answered from current state, no ordering. */
  readOnly: Schema.Boolean
}) {}

/**
 * ⟨PRE-PREPARE, v, n, d⟩σp — the primary's assignment of sequence number n in
 * view v to the batch with digest d. The batch itself travels separately in a
 * `Batch` (OSDI'99 §4.2: "requests can be sent separately"), so that
 * certificates, view-changes and new-views stay small. The digest of the
 * empty batch (`Digest.NULL_DIGEST`) is the paper's null request.
 */
export class PrePrepare extends Schema.TaggedClass<PrePrepare>()("PrePrepare", {
  view: ViewNumber,
  seq: LogIndex,
  digest: Digest
}) {}

/**
 * The requests of a batch: the clients' signed request frames, in order.
 * Authenticated by `digest` (= `Digest.batchDigest` of the frames) and by each
 * client's signature, not by who sent it, so any replica may pass it on.
 */
export class Batch extends Schema.TaggedClass<Batch>()("Batch", {
  digest: Digest,
  requests: Frames(MAX_BATCH_REQUESTS)
}) {}

/** Ask peers for the batch with `digest` (missing after a view change or a lost `Batch`). */
export class FetchBatch extends Schema.TaggedClass<FetchBatch>()("FetchBatch", {
  digest: Digest
}) {}

/** ⟨PREPARE, v, n, d, i⟩σi (PBFT's prepare; not Paxos's). */
export class Prepare extends Schema.TaggedClass<Prepare>()("Prepare", {
  view: ViewNumber,
  seq: LogIndex,
  digest: Digest
}) {}

/** ⟨COMMIT, v, n, d, i⟩σi */
export class Commit extends Schema.TaggedClass<Commit>()("Commit", {
  view: ViewNumber,
  seq: LogIndex,
  digest: Digest
}) {}

/**
 * ⟨REPLY, v, t, c, i, r⟩σi. `index` is the sequence number that executed the
 * request (for a read-only reply: the replica's last executed sequence number).
 * `rejected` is set instead of a result when the command did not decode, the
 * same deterministic answer on every correct replica.
 */
export class Reply extends Schema.TaggedClass<Reply>()("Reply", {
  view: ViewNumber,
  clientId: ClientId,
  seq: RequestSeq,
  index: LogIndex,
  readOnly: Schema.Boolean,
  result: Bytes,
  rejected: Schema.optional(Schema.String.pipe(Schema.maxLength(256)))
}) {}

/** ⟨CHECKPOINT, n, d, i⟩σi — `stateDigest` covers the state machine and the last reply per client. */
export class Checkpoint extends Schema.TaggedClass<Checkpoint>()("Checkpoint", {
  seq: LogIndex,
  stateDigest: Digest
}) {}

/** One element of a view-change's P set: a prepared certificate as signed frames. */
export class PreparedProof extends Schema.Class<PreparedProof>("PreparedProof")({
  /** The primary's PrePrepare frame. */
  prePrepare: Bytes,
  /** 2f matching Prepare frames from distinct backups. */
  prepares: Frames(MAX_PROOF_FRAMES)
}) {}

/**
 * ⟨VIEW-CHANGE, v+1, n, C, P, i⟩σi — `stableSeq`/`stableDigest` are n and the
 * digest C proves with `checkpointProof` (empty for the genesis checkpoint);
 * `prepared` is P: for each sequence number above n, the prepared certificate
 * of the highest view this replica prepared in (digests only: batches are
 * fetched separately).
 */
export class ViewChange extends Schema.TaggedClass<ViewChange>()("ViewChange", {
  view: ViewNumber,
  stableSeq: LogIndex,
  stableDigest: Digest,
  checkpointProof: Frames(MAX_PROOF_FRAMES),
  prepared: Schema.Array(PreparedProof).pipe(Schema.maxItems(MAX_PREPARED_PROOFS))
}) {}

/**
 * ⟨NEW-VIEW, v+1, V, O⟩σp — `viewChanges` are the ViewChange frames of V,
 * `prePrepares` the PrePrepare frames of O, each signed by the new primary.
 */
export class NewView extends Schema.TaggedClass<NewView>()("NewView", {
  view: ViewNumber,
  viewChanges: Frames(MAX_PROOF_FRAMES),
  prePrepares: Frames(MAX_PREPARED_PROOFS)
}) {}

/** State transfer (TOCS'02 §5.3.2, simplified to whole checkpoints): ask for a stable checkpoint at or above `seq`. */
export class FetchState extends Schema.TaggedClass<FetchState>()("FetchState", {
  seq: LogIndex
}) {}

/**
 * The state at a stable checkpoint: `snapshot` (see `StateTransfer.ts`) with the
 * checkpoint certificate that fixes its digest. A receiver trusts nothing here
 * but the certificate's signatures and the digest it recomputes.
 */
export class StateReply extends Schema.TaggedClass<StateReply>()("StateReply", {
  seq: LogIndex,
  stateDigest: Digest,
  snapshot: Bytes,
  checkpointProof: Frames(MAX_PROOF_FRAMES)
}) {}

/**
 * Periodic status (the retransmission mechanism of Castro's implementation,
 * TOCS'02 §6.2 "Status messages"): peers answer with what the sender is missing.
 */
export class Status extends Schema.TaggedClass<Status>()("Status", {
  view: ViewNumber,
  /** false while the sender is changing views. */
  normal: Schema.Boolean,
  stableSeq: LogIndex,
  lastExecuted: LogIndex
}) {}

/**
 * Frames signed by others, forwarded as they are: a backup forwarding a
 * client's request to the primary, or retransmission of pre-prepares, prepares,
 * commits, checkpoint proofs and new-views to a replica that missed them.
 * Receivers open each frame as if it came from its signer.
 */
export class Relay extends Schema.TaggedClass<Relay>()("Relay", {
  frames: Frames(MAX_RELAY_FRAMES)
}) {}

export const PbftMessage = Schema.Union(
  Request,
  PrePrepare,
  Batch,
  FetchBatch,
  Prepare,
  Commit,
  Reply,
  Checkpoint,
  ViewChange,
  NewView,
  FetchState,
  StateReply,
  Status,
  Relay
)
export type PbftMessage = typeof PbftMessage.Type

/** The codec of every PBFT message (payload limit: `Codec.DEFAULT_MAX_PAYLOAD_BYTES`). */
export const codec: Codec.Codec<PbftMessage> = Codec.makeCodec(PbftMessage)

/** Envelope context of a PBFT cluster. */
export const envelopeContext = (clusterId: string, maxFrameBytes?: number): Envelope.EnvelopeContext<PbftMessage> =>
  maxFrameBytes === undefined
    ? { clusterId, protocol: PROTOCOL, codec }
    : { clusterId, protocol: PROTOCOL, codec, maxFrameBytes }
