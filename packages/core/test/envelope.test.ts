import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc, Schema } from "effect"
import { makeCodec } from "../src/Codec.js"
import { ed25519KeyRing, ed25519Signer, generateEd25519, type KeyRing, type Signer, simulatedKeyRing, simulatedSigner } from "../src/Crypto.js"
import { authenticate, type EnvelopeContext, MAGIC, open, parseFrame, seal, sealPayload, verifyFrame } from "../src/Envelope.js"
import { ClientId, clientPeer, LogIndex, type PeerId, ReplicaId, replicaPeer, ViewNumber } from "../src/Ids.js"
import { RejectionReason } from "../src/Rejection.js"

class Prepare extends Schema.TaggedClass<Prepare>()("Prepare", {
  view: ViewNumber,
  seq: LogIndex,
  replica: ReplicaId,
  digest: Schema.String.pipe(Schema.maxLength(64))
}) {}
class Request extends Schema.TaggedClass<Request>()("Request", {
  client: ClientId,
  amount: Schema.BigInt,
  op: Schema.Uint8ArrayFromBase64.pipe(Schema.filter((b) => b.byteLength <= 64))
}) {}
const Message = Schema.Union(Prepare, Request)
type Message = typeof Message.Type

const codec = makeCodec(Message, { maxBytes: 4096 })
const ctx: EnvelopeContext<Message> = { clusterId: "test-cluster", protocol: "test/1", codec }
const prepare = new Prepare({ view: ViewNumber.make(1), seq: LogIndex.make(42), replica: ReplicaId.make(0), digest: "cd".repeat(32) })

const members: ReadonlyArray<PeerId> = [replicaPeer(0), replicaPeer(1), replicaPeer(2), replicaPeer(3), clientPeer("alice")]

interface Scheme {
  readonly name: string
  readonly signer: (peer: PeerId) => Signer
  readonly ring: KeyRing
}

const ed25519Scheme = (): Scheme => {
  const pairs = new Map([...members, replicaPeer(9)].map((p) => [p, generateEd25519()] as const))
  return {
    name: "ed25519",
    signer: (peer) => ed25519Signer(peer, pairs.get(peer)!.privateKey),
    ring: ed25519KeyRing(new Map(members.map((p) => [p, pairs.get(p)!.publicKey] as const)))
  }
}
const simulatedScheme = (): Scheme => ({
  name: "simulated",
  signer: (peer) => simulatedSigner("seed-1", peer),
  ring: simulatedKeyRing("seed-1", members)
})

const reasonOf = (r: Either.Either<unknown, { readonly reason: string }>) => (Either.isLeft(r) ? r.left.reason : "accepted")

describe.each([ed25519Scheme(), simulatedScheme()])("Envelope ($name)", (scheme) => {
  const r0 = scheme.signer(replicaPeer(0))
  const frame = seal(ctx, r0, prepare)

  it("seal then open gives the sender, the message and the exact frame", () => {
    const v = Either.getOrThrow(open(ctx, scheme.ring, frame))
    expect(v.from).toBe("replica/0")
    expect(v.message).toEqual(prepare)
    expect(v.frame).toBe(frame)
  })

  it.prop("round trip of generated messages from every member", [Message, fc.constantFrom(...members)], ([m, peer]) => {
    const v = open(ctx, scheme.ring, seal(ctx, scheme.signer(peer), m), peer)
    expect(Either.isRight(v) && v.right.from).toBe(peer)
    expect(Either.isRight(v) && v.right.message).toEqual(m)
  }, { fastCheck: { numRuns: 50 } })

  it("parseFrame exposes the signed header fields", () => {
    const h = Either.getOrThrow(parseFrame(frame))
    expect([h.clusterId, h.protocol, h.type, h.sender]).toEqual(["test-cluster", "test/1", "Prepare", "replica/0"])
    expect(h.payload).toEqual(codec.encode(prepare))
    expect(h.signed.byteLength + 1 + h.signature.byteLength).toBe(frame.byteLength)
  })

  it.prop("random bytes never throw and are always rejected", [fc.uint8Array({ maxLength: 400 })], ([bytes]) => {
    for (const candidate of [bytes, new Uint8Array([...MAGIC, ...bytes])]) {
      const r = open(ctx, scheme.ring, candidate)
      expect(Either.isLeft(r) && Schema.is(RejectionReason)(r.left.reason)).toBe(true)
    }
  })

  it("a frame truncated at every byte offset is rejected as truncated", () => {
    for (let k = 0; k < frame.byteLength; k++) {
      expect(reasonOf(open(ctx, scheme.ring, frame.slice(0, k))), `prefix of ${k} bytes`).toBe("truncated")
    }
  })

  it("a flipped bit anywhere in the frame is rejected", () => {
    const reasons = new Set<string>()
    for (let bit = 0; bit < frame.byteLength * 8; bit++) {
      const bad = frame.slice()
      bad[bit >> 3]! ^= 1 << (bit & 7)
      const reason = reasonOf(open(ctx, scheme.ring, bad))
      expect(reason, `bit ${bit}`).not.toBe("accepted")
      reasons.add(reason)
    }
    // magic/protocol, cluster, sender, payload and signature bits each fail their own check
    for (const r of ["wrong-protocol", "wrong-cluster", "unknown-sender", "bad-signature", "truncated"]) {
      expect(reasons).toContain(r)
    }
  })

  it("a frame over maxFrameBytes is oversized; one at the limit is accepted", () => {
    expect(reasonOf(open({ ...ctx, maxFrameBytes: frame.byteLength }, scheme.ring, frame))).toBe("accepted")
    expect(reasonOf(open({ ...ctx, maxFrameBytes: frame.byteLength - 1 }, scheme.ring, frame))).toBe("oversized")
  })

  it("a frame for another cluster is wrong-cluster; another protocol or version is wrong-protocol", () => {
    expect(reasonOf(open(ctx, scheme.ring, seal({ ...ctx, clusterId: "other" }, r0, prepare)))).toBe("wrong-cluster")
    expect(reasonOf(open(ctx, scheme.ring, seal({ ...ctx, protocol: "test/2" }, r0, prepare)))).toBe("wrong-protocol")
    const badMagic = frame.slice()
    badMagic[3] = 0x32 // "SYN2"
    expect(reasonOf(open(ctx, scheme.ring, badMagic))).toBe("wrong-protocol")
  })

  it("a frame relabelled to another cluster keeps a signature that no longer verifies", () => {
    // the cluster id is signed: rewrite it in the header, keep payload and signature
    const h = Either.getOrThrow(parseFrame(frame))
    const relabelled = sealPayload({ ...ctx, clusterId: "test-clustex" }, { peer: r0.peer, sign: () => h.signature }, h.type, h.payload)
    expect(reasonOf(open({ ...ctx, clusterId: "test-clustex" }, scheme.ring, relabelled))).toBe("bad-signature")
  })

  it("authenticate checks cluster, protocol and signature without decoding the payload", () => {
    const undecodable = sealPayload(ctx, r0, "Prepare", new TextEncoder().encode("{not json"))
    const h = Either.getOrThrow(authenticate(ctx, scheme.ring, undecodable, replicaPeer(0)))
    expect([h.from, h.type]).toEqual(["replica/0", "Prepare"])
    expect(reasonOf(open(ctx, scheme.ring, undecodable))).toBe("malformed")
    const elsewhere = seal({ ...ctx, clusterId: "other" }, r0, prepare)
    expect(reasonOf(authenticate(ctx, scheme.ring, elsewhere))).toBe("wrong-cluster")
    expect(reasonOf(verifyFrame(scheme.ring, elsewhere))).toBe("accepted") // signature only, as documented
  })

  it("a header field with a leading byte-order mark is not the same field", () => {
    const bom = seal({ ...ctx, clusterId: "\uFEFFtest-cluster" }, r0, prepare)
    expect(reasonOf(open(ctx, scheme.ring, bom))).toBe("wrong-cluster")
  })

  it("a sender without a key is unknown-sender", () => {
    const stranger = scheme.name === "ed25519" ? scheme.signer(replicaPeer(9)) : simulatedSigner("seed-1", replicaPeer(9))
    expect(reasonOf(open(ctx, scheme.ring, seal(ctx, stranger, prepare)))).toBe("unknown-sender")
  })

  it("a frame signed by one member claiming to be another is bad-signature", () => {
    const forged = sealPayload(ctx, scheme.signer(replicaPeer(1)), "Prepare", codec.encode(prepare), replicaPeer(0))
    expect(reasonOf(open(ctx, scheme.ring, forged))).toBe("bad-signature")
    expect(reasonOf(verifyFrame(scheme.ring, forged))).toBe("bad-signature")
  })

  it("a frame whose transport sender differs from its signer is sender-mismatch", () => {
    expect(reasonOf(open(ctx, scheme.ring, frame, replicaPeer(1)))).toBe("sender-mismatch")
    expect(reasonOf(open(ctx, scheme.ring, frame, replicaPeer(0)))).toBe("accepted")
  })

  it("a header type that does not match the payload is rejected", () => {
    const payload = codec.encode(prepare)
    expect(reasonOf(open(ctx, scheme.ring, sealPayload(ctx, r0, "Request", payload)))).toBe("malformed")
    expect(reasonOf(open(ctx, scheme.ring, sealPayload(ctx, r0, "Commit", payload)))).toBe("unknown-tag")
  })

  it("a signed but undecodable payload is rejected with the codec's reason", () => {
    const enc = new TextEncoder()
    expect(reasonOf(open(ctx, scheme.ring, sealPayload(ctx, r0, "Prepare", enc.encode("{bad"))))).toBe("malformed")
    expect(reasonOf(open(ctx, scheme.ring, sealPayload(ctx, r0, "Prepare", enc.encode("{\"_tag\":\"Nope\"}"))))).toBe("unknown-tag")
    expect(reasonOf(open({ ...ctx, codec: makeCodec(Message, { maxBytes: 8 }) }, scheme.ring, frame))).toBe("oversized")
  })

  describe("length fields that lie", () => {
    const h = Either.getOrThrow(parseFrame(frame))
    const payloadLengthAt = h.signed.byteLength - h.payload.byteLength - 4
    const withU32 = (at: number, value: number) => {
      const bad = frame.slice()
      new DataView(bad.buffer).setUint32(at, value)
      return bad
    }
    const withU16 = (at: number, value: number) => {
      const bad = frame.slice()
      new DataView(bad.buffer).setUint16(at, value)
      return bad
    }

    it("a payload length reaching past the frame is truncated", () => {
      // payload + signature length byte + signature is what follows the length field
      const rest = h.payload.byteLength + 1 + h.signature.byteLength
      expect(reasonOf(open(ctx, scheme.ring, withU32(payloadLengthAt, rest)))).toBe("truncated")
      expect(reasonOf(open(ctx, scheme.ring, withU32(payloadLengthAt, 0xffffffff)))).toBe("truncated")
    })

    it("a payload length that swallows part of the signature is rejected", () => {
      // which check fires depends on the signature byte read as a length: never accepted
      for (let extra = 1; extra <= h.signature.byteLength; extra++) {
        const reason = reasonOf(open(ctx, scheme.ring, withU32(payloadLengthAt, h.payload.byteLength + extra)))
        expect(reason, `+${extra}`).not.toBe("accepted")
      }
    })

    it("a shorter payload length is rejected", () => {
      for (const len of [0, 1, h.payload.byteLength - 1]) {
        expect(reasonOf(open(ctx, scheme.ring, withU32(payloadLengthAt, len))), `len ${len}`).not.toBe("accepted")
      }
    })

    it("a header field length beyond the frame is truncated; a different one is rejected", () => {
      expect(reasonOf(open(ctx, scheme.ring, withU16(MAGIC.byteLength, 0xffff)))).toBe("truncated")
      for (const len of [0, 11, 13]) {
        expect(reasonOf(open(ctx, scheme.ring, withU16(MAGIC.byteLength, len))), `len ${len}`).not.toBe("accepted")
      }
    })

    it("a signature length that disagrees with the frame is rejected", () => {
      const at = h.signed.byteLength
      const longer = frame.slice()
      longer[at] = h.signature.byteLength + 1
      expect(reasonOf(open(ctx, scheme.ring, longer))).toBe("truncated")
      const shorter = frame.slice()
      shorter[at] = h.signature.byteLength - 1
      expect(reasonOf(open(ctx, scheme.ring, shorter))).toBe("malformed")
      expect(reasonOf(open(ctx, scheme.ring, new Uint8Array([...frame, 0])))).toBe("malformed")
    })
  })
})

describe("Envelope sealing limits", () => {
  it("refuses a header field that does not fit its u16 length", () => {
    const signer = simulatedSigner("s", replicaPeer(0))
    expect(() => seal({ ...ctx, clusterId: "x".repeat(0x10000) }, signer, prepare)).toThrow(RangeError)
  })

  it("refuses a signature that does not fit its u8 length", () => {
    const signer: Signer = { peer: replicaPeer(0), sign: () => new Uint8Array(256) }
    expect(() => seal(ctx, signer, prepare)).toThrow(RangeError)
  })
})
