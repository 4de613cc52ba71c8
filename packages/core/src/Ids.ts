/**
 * Identifiers shared by every protocol. All are branded Schemas so that a
 * `ReplicaId` can never be passed where a sequence number is expected, and so
 * that decoding a peer's message validates them.
 */
import { Schema } from "effect"

/** A replica's index in the cluster configuration (0-based). */
export const ReplicaId = Schema.Int.pipe(Schema.nonNegative(), Schema.lessThan(1024), Schema.brand("ReplicaId"))
export type ReplicaId = typeof ReplicaId.Type

/** A client's name; printable, bounded, stable across reconnects. */
export const ClientId = Schema.String.pipe(
  Schema.minLength(1),
  Schema.maxLength(128),
  Schema.pattern(/^[A-Za-z0-9._:-]+$/),
  Schema.brand("ClientId")
)
export type ClientId = typeof ClientId.Type

/** Per-client request sequence number: strictly increasing per client session. */
export const RequestSeq = Schema.Int.pipe(Schema.nonNegative(), Schema.brand("RequestSeq"))
export type RequestSeq = typeof RequestSeq.Type

/** A client request's identity: `(clientId, seq)` is executed at most once. */
export class RequestId extends Schema.Class<RequestId>("RequestId")({
  clientId: ClientId,
  seq: RequestSeq
}) {}

/** Log position: a Paxos slot or a PBFT sequence number. */
export const LogIndex = Schema.Int.pipe(Schema.nonNegative(), Schema.brand("LogIndex"))
export type LogIndex = typeof LogIndex.Type

/** A PBFT view or the round of a Paxos ballot. */
export const ViewNumber = Schema.Int.pipe(Schema.nonNegative(), Schema.brand("ViewNumber"))
export type ViewNumber = typeof ViewNumber.Type

/** Identifies the cluster; mixed into every signature so keys cannot be replayed across clusters. */
export const ClusterId = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64), Schema.brand("ClusterId"))
export type ClusterId = typeof ClusterId.Type

/**
 * A transport address and signing principal: `replica/<n>` or `client/<name>`.
 * The envelope names its sender with a PeerId and the KeyRing maps it to a key.
 */
export const PeerId = Schema.String.pipe(
  Schema.pattern(/^(replica\/[0-9]{1,4}|client\/[A-Za-z0-9._:-]{1,128})$/),
  Schema.brand("PeerId")
)
export type PeerId = typeof PeerId.Type

export const replicaPeer = (id: ReplicaId | number): PeerId => `replica/${id}` as PeerId
export const clientPeer = (id: ClientId | string): PeerId => `client/${id}` as PeerId

/** The replica behind a PeerId, or undefined for a client. */
export const peerReplica = (peer: PeerId): ReplicaId | undefined =>
  peer.startsWith("replica/") ? (Number(peer.slice(8)) as ReplicaId) : undefined

/** The client behind a PeerId, or undefined for a replica. */
export const peerClient = (peer: PeerId): ClientId | undefined =>
  peer.startsWith("client/") ? (peer.slice(7) as ClientId) : undefined

export const makeReplicaId = (n: number): ReplicaId => ReplicaId.make(n)
export const makeClientId = (s: string): ClientId => ClientId.make(s)
