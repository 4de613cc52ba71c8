/**
 * The fast paths of the wire and of the simulator give exactly what the plain
 * paths give: the one-allocation seal, the one-shot simulated signature, the
 * interned header strings, and one open per sealed frame in the simulator.
 */
import { describe, expect, it } from "@effect/vitest"
import * as crypto from "node:crypto"
import { Either, FastCheck as fc, Schema } from "effect"
import { type Codec, makeCodec } from "../src/Codec.js"
import { ed25519Signer, generateEd25519, type Signer, simulatedKeyRing, simulatedSecret, simulatedSigner } from "../src/Crypto.js"
import { type EnvelopeContext, open, parseFrame, seal, sealPayload } from "../src/Envelope.js"
import { clientPeer, LogIndex, type PeerId, ReplicaId, replicaPeer } from "../src/Ids.js"
import * as Kv from "../src/testing/KvStateMachine.js"
import * as Reference from "../src/testing/ReferenceProtocol.js"
import type { SimProtocol } from "../src/testing/SimProtocol.js"
import * as Simulator from "../src/testing/Simulator.js"

class Note extends Schema.TaggedClass<Note>()("Note", {
  seq: LogIndex,
  replica: ReplicaId,
  text: Schema.String
}) {}
const NoteMessage = Schema.Union(Note)
const noteCodec = makeCodec(NoteMessage)
const ctx: EnvelopeContext<Note> = { clusterId: "fast", protocol: "note/1", codec: noteCodec }
const note = (text: string) => new Note({ seq: LogIndex.make(7), replica: ReplicaId.make(1), text })

/** `seal` as it was before the fast path: encode to bytes, then sign them. */
const plainSeal = <M>(c: EnvelopeContext<M>, signer: Signer, message: M): Uint8Array =>
  sealPayload(c, { peer: signer.peer, sign: (b) => signer.sign(b) }, (message as { _tag: string })._tag, c.codec.encode(message))

describe("seal fast path", () => {
  const signers: ReadonlyArray<[string, Signer]> = [
    ["simulated", simulatedSigner("fast", replicaPeer(1))],
    ["ed25519", ed25519Signer(replicaPeer(1), generateEd25519().privateKey)]
  ]

  for (const [name, signer] of signers) {
    it.prop(`writes the same bytes as encode-then-sign (${name}), for any text`, [fc.string({ unit: "binary" })], ([text]) => {
      expect(signer.signatureBytes).toBeDefined()
      const m = note(text)
      expect(seal(ctx, signer, m)).toEqual(plainSeal(ctx, signer, m))
    }, { fastCheck: { numRuns: 60 } })
  }

  it("still frames correctly when a signer returns another length than it declared", () => {
    const inner = simulatedSigner("fast", replicaPeer(1))
    const liar: Signer = { peer: inner.peer, sign: (b) => new Uint8Array([...inner.sign(b), 1, 2, 3]), signatureBytes: 16 }
    const frame = seal(ctx, liar, note("x"))
    const h = parseFrame(frame)
    expect(Either.isRight(h) && h.right.signature.byteLength).toBe(19)
    expect(frame).toEqual(plainSeal(ctx, liar, note("x")))
  })

  it("gives the same frame whether the codec offers encodeText or not", () => {
    const bytesOnly: Codec<Note> = { tags: noteCodec.tags, maxBytes: noteCodec.maxBytes, encode: noteCodec.encode, decode: noteCodec.decode }
    const signer = simulatedSigner("fast", replicaPeer(2))
    const m = note("héllo wörld ✓")
    expect(seal({ ...ctx, codec: bytesOnly }, signer, m)).toEqual(seal(ctx, signer, m))
  })
})

describe("simulated signature", () => {
  const reference = (seed: string, peer: PeerId, bytes: Uint8Array) =>
    new Uint8Array(crypto.createHash("sha256").update(simulatedSecret(seed, peer)).update(bytes).digest().subarray(0, 16))

  it("is the first 16 bytes of SHA-256(secret || bytes), for small and large inputs", () => {
    const signer = simulatedSigner("s", replicaPeer(0))
    const ring = simulatedKeyRing("s", [replicaPeer(0)])
    for (const size of [0, 1, 300, 5000, 70_000, 200_000]) {
      const bytes = new Uint8Array(size).map((_, i) => (i * 7 + size) & 0xff)
      const sig = signer.sign(bytes)
      expect(sig).toEqual(reference("s", replicaPeer(0), bytes))
      expect(ring.verify(replicaPeer(0), bytes, sig)).toBe(true)
      const wrong = sig.slice()
      wrong[15]! ^= 1
      expect(ring.verify(replicaPeer(0), bytes, wrong)).toBe(false)
    }
  })

  it("does not depend on what was signed before (the hash buffer is reused)", () => {
    const signer = simulatedSigner("s", replicaPeer(0))
    const short = new Uint8Array([1, 2, 3])
    const first = signer.sign(short)
    signer.sign(new Uint8Array(3000).fill(9))
    expect(signer.sign(short)).toEqual(first)
    expect(first).toEqual(reference("s", replicaPeer(0), short))
  })
})

describe("header strings", () => {
  it("parse back exactly, across many distinct senders (more than the intern table holds) and non-ASCII fields", () => {
    const signer = simulatedSigner("h", replicaPeer(0))
    const payload = new TextEncoder().encode("{}")
    for (let i = 0; i < 3000; i++) {
      const sender = i % 3 === 0 ? `client/c${i}` : i % 3 === 1 ? `client/ü${i}` : `x`.repeat(60 + (i % 10))
      const frame = sealPayload({ ...ctx, clusterId: `cluster-${i % 7}` }, signer, "Note", payload, sender)
      const h = parseFrame(frame)
      expect(Either.isRight(h)).toBe(true)
      if (Either.isRight(h)) {
        expect(h.right.sender).toBe(sender)
        expect(h.right.clusterId).toBe(`cluster-${i % 7}`)
        expect(h.right.type).toBe("Note")
      }
    }
  })

  it("tell apart fields of equal length whose bytes hash alike", () => {
    // these two PeerIds collide under the intern table's hash (FNV-1a seeded with the length)
    const a = simulatedSigner("h", clientPeer("c0671139"))
    const b = simulatedSigner("h", clientPeer("c1520906"))
    const ring = simulatedKeyRing("h", [a.peer, b.peer])
    for (let i = 0; i < 3; i++) {
      for (const s of [a, b]) {
        const opened = open(ctx, ring, seal(ctx, s, note("n")), s.peer)
        expect(Either.isRight(opened) && opened.right.from).toBe(s.peer)
      }
    }
  })
})

describe("Simulator.openOncePerFrame", () => {
  /** The reference protocol with its decodes counted. */
  const counted = (base: SimProtocol<Reference.Message>): { protocol: SimProtocol<Reference.Message>; decodes: () => number } => {
    let n = 0
    const codec = base.envelope.codec
    const protocol = {
      ...base,
      envelope: {
        ...base.envelope,
        codec: { ...codec, decode: (bytes: Uint8Array) => (n++, codec.decode(bytes)) }
      }
    }
    return { protocol, decodes: () => n }
  }
  const allFaults = { drop: 0.05, duplicate: 0.05, reorder: true, partitions: true, crashes: true, unsyncedLoss: 0.5, clockSkew: true }

  for (const [name, base, byzantine] of [
    ["reference, every fault", Reference.simProtocol(), 0],
    ["reference-bft with a Byzantine replica", Reference.simProtocol({ faultModel: "byzantine" }), 1]
  ] as const) {
    it(`changes no outcome, and decodes fewer payloads (${name})`, () => {
      for (const seed of [3, 4]) {
        const shared = counted(base)
        const each = counted(base)
        const options = { seed, replicas: 4, byzantine, requestsPerClient: 6, safetyTicks: 600, livenessTicks: 3000, faults: allFaults }
        const a = Simulator.make({ ...options, protocol: shared.protocol }).run()
        const b = Simulator.make({ ...options, protocol: each.protocol, openOncePerFrame: false }).run()
        expect(a.ok).toBe(true)
        expect(a.traceDigest).toBe(b.traceDigest)
        expect(a.stats).toEqual(b.stats)
        // every delivery that passed the header checks decoded its payload once per delivery...
        expect(each.decodes()).toBeGreaterThan(a.stats.commits)
        // ...and sharing skipped the decodes of a broadcast's other receivers and of duplicates
        expect(shared.decodes()).toBeLessThan(each.decodes())
      }
    })
  }
})

describe("KV state digest (cached between changes)", () => {
  const key = fc.constantFrom("k0", "k1", "k2")
  const value = fc.oneof(fc.constantFrom("a", "b"), fc.integer({ min: 0, max: 2 }), fc.boolean())
  const command: fc.Arbitrary<Kv.Command> = fc.oneof(
    key.map((k) => ({ _tag: "Get", key: k }) as const),
    fc.tuple(key, value).map(([k, v]) => ({ _tag: "Put", key: k, value: v }) as const),
    key.map((k) => ({ _tag: "Delete", key: k }) as const),
    fc.tuple(key, value, value).map(([k, e, v]) => ({ _tag: "Cas", key: k, expected: e, value: v }) as const)
  )

  it.prop("always equals the digest of a fresh instance holding the same state", [fc.array(command, { maxLength: 40 })], ([commands]) => {
    const sm = Kv.KvStateMachine.make()
    for (const c of commands) {
      sm.apply(c, { index: 1, clientId: "c0", seq: 1 })
      const fresh = Kv.KvStateMachine.make()
      fresh.restore(sm.snapshot())
      expect(sm.digest()).toBe(fresh.digest())
    }
    const other = Kv.KvStateMachine.make()
    other.restore([["k9", "z"]])
    sm.restore(other.snapshot())
    expect(sm.digest()).toBe(other.digest())
  })
})
