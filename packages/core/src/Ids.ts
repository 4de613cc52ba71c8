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
 *
 * The replica number is canonical decimal below 1024 (no leading zeros), so each
 * principal has exactly one PeerId: `replica/07` is not a second name for
 * `replica/7` that a KeyRing keyed by string would treat as a stranger.
 */
export const PeerId = Schema.String.pipe(
  Schema.pattern(/^(replica\/(0|[1-9][0-9]{0,2}|10[01][0-9]|102[0-3])|client\/[A-Za-z0-9._:-]{1,128})$/),
  Schema.brand("PeerId")
)
export type PeerId = typeof PeerId.Type

export const replicaPeer = (id: ReplicaId | number): PeerId => `replica/${id}` as PeerId
export const clientPeer = (id: ClientId | string): PeerId => `client/${id}` as PeerId

const CANONICAL_REPLICA = /^replica\/(0|[1-9][0-9]{0,3})$/

/** The replica behind a PeerId, or undefined for a client (or a string that is not a canonical replica PeerId). */
export const peerReplica = (peer: PeerId): ReplicaId | undefined => {
  if (!CANONICAL_REPLICA.test(peer)) return undefined
  const n = Number(peer.slice(8))
  return n < 1024 ? (n as ReplicaId) : undefined
}

const isClientId = Schema.is(ClientId)

/** The client behind a PeerId, or undefined for a replica (or a string that is not a valid client PeerId). */
export const peerClient = (peer: PeerId): ClientId | undefined => {
  if (!peer.startsWith("client/")) return undefined
  const id = peer.slice(7)
  return isClientId(id) ? id : undefined
}

/** Parse an untrusted string as a PeerId; undefined if it is not one. */
export const parsePeerId = (s: string): PeerId | undefined => (Schema.is(PeerId)(s) ? s : undefined)

export const makeReplicaId = (n: number): ReplicaId => ReplicaId.make(n)
export const makeClientId = (s: string): ClientId => ClientId.make(s)
