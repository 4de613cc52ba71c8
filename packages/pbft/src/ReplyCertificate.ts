/**
 * Reply certificates: the signed replies a client accepted (OSDI'99 §4.1:
 * f+1 matching replies from distinct replicas, a weak quorum; §5.1.3: 2f+1
 * for a read-only answer, a replication quorum). Anyone holding the cluster's
 * public keys can check one later, offline, without trusting the client that
 * kept it.
 */
import { Crypto, Envelope, type Rejection, reject, type ReplicaId, peerReplica, type PeerId, type TrustModel } from "@synod/core"
import { Either } from "effect"
import { codec, PROTOCOL, type Reply } from "./Messages.js"

/** What the replies agree on; replies match when their keys are equal. */
export const replyKey = (r: Reply): string =>
  r.readOnly
    ? `r|${r.clientId}|${r.seq}|${r.rejected ?? ""}|${Crypto.toHex(r.result)}`
    : `o|${r.clientId}|${r.seq}|${r.index}|${r.rejected ?? ""}|${Crypto.toHex(r.result)}`

export interface CertifiedReply {
  readonly clusterId: string
  readonly clientId: string
  readonly seq: number
  readonly readOnly: boolean
  /** The sequence number that executed it (ordered requests). */
  readonly index: number
  readonly result: Uint8Array
  readonly rejected: string | undefined
  readonly replicas: ReadonlyArray<ReplicaId>
}

export interface VerifyOptions {
  /** Require this cluster id (default: whatever the frames agree on). */
  readonly clusterId?: string
}

/**
 * Check a reply certificate: every frame is a PBFT Reply whose signature
 * verifies under `keys`, from distinct member replicas, all matching, and
 * together a quorum of the kind the request needs.
 */
export const verifyReplyCertificate = (
  certificate: ReadonlyArray<Uint8Array>,
  trust: TrustModel.QuorumSystem,
  keys: Crypto.KeyRing,
  options: VerifyOptions = {}
): Either.Either<CertifiedReply, Rejection> => {
  if (certificate.length === 0) return Either.left(reject("invalid", "empty reply certificate"))
  let first: { reply: Reply; clusterId: string } | undefined
  const replicas = new Set<ReplicaId>()
  for (const frame of certificate) {
    const h = Envelope.verifyFrame(keys, frame)
    if (Either.isLeft(h)) return Either.left(h.left)
    const { protocol, clusterId, type, sender, payload } = h.right
    if (protocol !== PROTOCOL || type !== "Reply") return Either.left(reject("invalid", `certificate frame is ${protocol.slice(0, 32)} ${type.slice(0, 32)}, not a PBFT reply`))
    if (options.clusterId !== undefined && clusterId !== options.clusterId) return Either.left(reject("wrong-cluster", `reply of cluster ${clusterId.slice(0, 64)}`))
    const decoded = codec.decode(payload)
    if (Either.isLeft(decoded)) return Either.left(decoded.left)
    if (decoded.right._tag !== "Reply") return Either.left(reject("malformed", "payload is not a reply"))
    const reply = decoded.right
    const replica = peerReplica(sender as PeerId)
    if (replica === undefined || trust.weight(replica) <= 0) return Either.left(reject("not-member", `reply signed by ${sender.slice(0, 140)}`))
    if (replicas.has(replica)) return Either.left(reject("invalid", `two replies from replica ${replica}`))
    if (first === undefined) first = { reply, clusterId }
    else if (clusterId !== first.clusterId || replyKey(reply) !== replyKey(first.reply)) {
      return Either.left(reject("invalid", "replies in the certificate do not match"))
    }
    replicas.add(replica)
  }
  const r = first!.reply
  if (!trust.isQuorum(r.readOnly ? "replication" : "weak", replicas)) {
    return Either.left(reject("invalid", `${replicas.size} replies are not a ${r.readOnly ? "replication" : "weak"} quorum`))
  }
  return Either.right({
    clusterId: first!.clusterId,
    clientId: r.clientId,
    seq: r.seq,
    readOnly: r.readOnly,
    index: r.index,
    result: r.result,
    rejected: r.rejected,
    replicas: [...replicas].sort((a, b) => a - b)
  })
}
