/**
 * Suite `core`: the per-message costs every replica pays on the wire path, and
 * quorum counting. The message is a PBFT-style pre-prepare of about 200 bytes
 * once encoded (ids, a 64-hex digest, a client id and a small opaque operation).
 */
import { Codec, Crypto, Envelope, TrustModel } from "@synod/core"
import { ClientId, LogIndex, type ReplicaId, ReplicaId as ReplicaIdSchema, RequestSeq, replicaPeer, ViewNumber } from "@synod/core"
import { Either, Schema } from "effect"
import { blackhole, type Figure, measure } from "./harness.js"

export const name = "core"
export const description = "codec, envelopes, Ed25519, SHA-256 and quorum checks on a ~200-byte message"

class PrePrepare extends Schema.TaggedClass<PrePrepare>()("PrePrepare", {
  view: ViewNumber,
  seq: LogIndex,
  replica: ReplicaIdSchema,
  digest: Schema.String,
  client: ClientId,
  requestSeq: RequestSeq,
  op: Schema.Uint8ArrayFromBase64
}) {}
class Commit extends Schema.TaggedClass<Commit>()("Commit", {
  view: ViewNumber,
  seq: LogIndex,
  replica: ReplicaIdSchema,
  digest: Schema.String
}) {}
const Message = Schema.Union(PrePrepare, Commit)

export const run = async (): Promise<ReadonlyArray<Figure>> => {
  const codec = Codec.makeCodec(Message)
  const message = new PrePrepare({
    view: ViewNumber.make(7),
    seq: LogIndex.make(123_456),
    replica: ReplicaIdSchema.make(1),
    digest: Crypto.sha256Hex("batch 123456"),
    client: ClientId.make("ledger-client-42"),
    requestSeq: RequestSeq.make(9_001),
    op: new TextEncoder().encode("transfer 250 alice->bob")
  })
  const payload = codec.encode(message)

  const ctx: Envelope.EnvelopeContext<typeof Message.Type> = { clusterId: "bench-cluster", protocol: "pbft/1", codec }
  const keys = Crypto.generateEd25519()
  const signer = Crypto.ed25519Signer(replicaPeer(1), keys.privateKey)
  const ring = Crypto.ed25519KeyRing(new Map([[replicaPeer(1), keys.publicKey]]))
  const frame = Envelope.seal(ctx, signer, message)
  const simSigner = Crypto.simulatedSigner("bench", replicaPeer(1))
  const simRing = Crypto.simulatedKeyRing("bench", [replicaPeer(1)])
  const simFrame = Envelope.seal(ctx, simSigner, message)
  for (const [r, f] of [[ring, frame], [simRing, simFrame]] as const) {
    if (Either.isLeft(Envelope.open(ctx, r, f))) throw new Error("bench setup: frame does not open")
  }
  const signature = signer.sign(payload)

  const byz4 = TrustModel.byzantine(4)
  const votes4: ReadonlyArray<ReplicaId> = [0, 2, 3] as Array<ReplicaId>
  const weighted7 = TrustModel.weighted("byzantine", new Map([0, 1, 2, 3, 4, 5, 6].map((r) => [r as ReplicaId, r + 1] as const)))
  const votes7: ReadonlyArray<ReplicaId> = [6, 5, 4, 3] as Array<ReplicaId>

  return [
    { name: "message payload", value: payload.byteLength, unit: "bytes", note: "JSON, as encoded by the codec" },
    { name: "sealed frame (Ed25519)", value: frame.byteLength, unit: "bytes", note: "header + payload + 64-byte signature" },
    measure("codec encode", () => codec.encode(message).byteLength),
    measure("codec decode", () => blackhole(codec.decode(payload))),
    measure("seal (encode + Ed25519 sign)", () => Envelope.seal(ctx, signer, message).byteLength),
    measure("open (Ed25519 verify + decode)", () => blackhole(Envelope.open(ctx, ring, frame))),
    measure("seal, simulated scheme", () => Envelope.seal(ctx, simSigner, message).byteLength),
    measure("open, simulated scheme", () => blackhole(Envelope.open(ctx, simRing, simFrame))),
    measure("Ed25519 sign (payload)", () => signer.sign(payload).byteLength),
    measure("Ed25519 verify (payload)", () => ring.verify(replicaPeer(1), payload, signature)),
    measure("sha256Hex (payload)", () => Crypto.sha256Hex(payload).length),
    measure("isQuorum byzantine n=4", () => byz4.isQuorum("replication", votes4)),
    measure("isQuorum weighted n=7", () => weighted7.isQuorum("replication", votes7))
  ]
}
