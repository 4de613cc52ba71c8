/**
 * The handshake state machines without sockets: the happy path both ways, and
 * each attack the module comment claims to stop, each ending in the stated
 * `HandshakeFailure` reason. Nonces are fixed here; at the edge they are random.
 */
import { describe, expect, it } from "@effect/vitest"
import { clientPeer, Crypto, Keys, type PeerId, replicaPeer } from "@synod/core"
import { FastCheck as fc } from "effect"
import * as Frame from "../src/Frame.js"
import { type Handshake, type HandshakeStep, initiator, responder } from "../src/Handshake.js"

const r0 = Keys.generateKeyPair(replicaPeer(0))
const r1 = Keys.generateKeyPair(replicaPeer(1))
const r2 = Keys.generateKeyPair(replicaPeer(2))
const alice = Keys.generateKeyPair(clientPeer("alice"))
const stranger = Keys.generateKeyPair(clientPeer("mallory"))
const ring = Crypto.ed25519KeyRing(new Map([r0, r1, r2, alice].map((k) => [k.peer, k.publicKey] as const)))
const CLUSTER = "test-cluster"

const nonce = (b: number) => new Uint8Array(32).fill(b)

const mkInitiator = (pair: Keys.PeerKeyPair, expected: PeerId, n = nonce(1), clusterId = CLUSTER) =>
  initiator({ clusterId, signer: Keys.signerOf(pair), keys: ring, nonce: n, expected })
const mkResponder = (pair: Keys.PeerKeyPair, n = nonce(2), clusterId = CLUSTER) =>
  responder({ clusterId, signer: Keys.signerOf(pair), keys: ring, nonce: n })

/** Run a handshake to completion; returns both sides' last steps and every frame each side sent. */
const run = (i: Handshake, r: Handshake) => {
  const sentByI: Array<Uint8Array> = [...i.start()]
  const sentByR: Array<Uint8Array> = [...r.start()]
  let toR = [...sentByI]
  let toI: Array<Uint8Array> = []
  let iStep: HandshakeStep | undefined
  let rStep: HandshakeStep | undefined
  for (let round = 0; round < 4 && (toR.length > 0 || toI.length > 0); round++) {
    for (const f of toR) {
      if (rStep?._tag === "Failed") break
      rStep = r.receive(f)
      if (rStep._tag !== "Failed") toI.push(...rStep.send), sentByR.push(...rStep.send)
    }
    toR = []
    for (const f of toI) {
      if (iStep?._tag === "Failed") break
      iStep = i.receive(f)
      if (iStep._tag !== "Failed") toR.push(...iStep.send), sentByI.push(...iStep.send)
    }
    toI = []
  }
  return { iStep, rStep, sentByI, sentByR }
}

const failureOf = (step: HandshakeStep | undefined) => (step?._tag === "Failed" ? step.failure.reason : undefined)

describe("Handshake", () => {
  it("authenticates both sides: each learns the other's PeerId", () => {
    const { iStep, rStep } = run(mkInitiator(r0, r1.peer), mkResponder(r1))
    expect(iStep).toMatchObject({ _tag: "Done", peer: r1.peer })
    expect(rStep).toMatchObject({ _tag: "Done", peer: r0.peer })
  })

  it("authenticates a client that does not listen", () => {
    const { iStep, rStep } = run(mkInitiator(alice, r0.peer), mkResponder(r0))
    expect(iStep?._tag).toBe("Done")
    expect(rStep).toMatchObject({ _tag: "Done", peer: alice.peer })
  })

  it("refuses an initiator whose key is not in the KeyRing (unknown-peer), before signing anything", () => {
    const r = mkResponder(r1)
    const hello = mkInitiator(stranger, r1.peer).start()[0]!
    const step = r.receive(hello)
    expect(failureOf(step)).toBe("unknown-peer")
  })

  it("refuses an initiator that claims another identity without its key (bad-proof)", () => {
    // mallory claims to be replica/2 but signs with her own key
    const impostor = initiator({ clusterId: CLUSTER, signer: { peer: r2.peer, sign: Keys.signerOf(stranger).sign }, keys: ring, nonce: nonce(1), expected: r1.peer })
    const { rStep } = run(impostor, mkResponder(r1))
    expect(failureOf(rStep)).toBe("bad-proof")
  })

  it("refuses a responder that claims another identity without its key (bad-proof at the initiator)", () => {
    const impostor = responder({ clusterId: CLUSTER, signer: { peer: r1.peer, sign: Keys.signerOf(r2).sign }, keys: ring, nonce: nonce(2) })
    const { iStep } = run(mkInitiator(r0, r1.peer), impostor)
    expect(failureOf(iStep)).toBe("bad-proof")
  })

  it("refuses a responder that is not the peer we dialed (unexpected-peer)", () => {
    const { iStep } = run(mkInitiator(r0, r1.peer), mkResponder(r2))
    expect(failureOf(iStep)).toBe("unexpected-peer")
  })

  it("refuses a peer of another cluster on both sides (wrong-cluster)", () => {
    expect(failureOf(run(mkInitiator(r0, r1.peer, nonce(1), "other"), mkResponder(r1)).rStep)).toBe("wrong-cluster")
    const r = mkResponder(r1, nonce(2), "other")
    const i = mkInitiator(r0, r1.peer)
    i.start()
    const replies = r.receive(mkInitiator(r0, r1.peer, nonce(1), "other").start()[0]!)
    expect(replies._tag).toBe("Continue")
    expect(failureOf(i.receive((replies as { send: ReadonlyArray<Uint8Array> }).send[0]!))).toBe("wrong-cluster")
  })

  it("refuses a peer that claims our own identity (unexpected-peer)", () => {
    const step = mkResponder(r1).receive(mkInitiator(r1, r0.peer).start()[0]!)
    expect(failureOf(step)).toBe("unexpected-peer")
  })

  it("refuses a replay of a recorded initiator handshake: the responder's fresh nonce differs (bad-proof)", () => {
    const recorded = run(mkInitiator(r0, r1.peer, nonce(1)), mkResponder(r1, nonce(2)))
    expect(recorded.rStep?._tag).toBe("Done")
    const victim = mkResponder(r1, nonce(3))
    const [hello, proof] = recorded.sentByI
    expect(victim.receive(hello!)._tag).toBe("Continue")
    expect(failureOf(victim.receive(proof!))).toBe("bad-proof")
  })

  it("refuses a replay of a recorded responder handshake to a new dial (bad-proof)", () => {
    const recorded = run(mkInitiator(r0, r1.peer, nonce(1)), mkResponder(r1, nonce(2)))
    const victim = mkInitiator(r0, r1.peer, nonce(4))
    victim.start()
    const [hello, proof] = recorded.sentByR
    expect(victim.receive(hello!)._tag).toBe("Continue")
    expect(failureOf(victim.receive(proof!))).toBe("bad-proof")
  })

  it("refuses a reflected proof: the responder's own proof sent back as the initiator's (bad-proof)", () => {
    // the responder's proof and the initiator's proof cover the same names and nonces; only the role byte differs
    const r = mkResponder(r1, nonce(2))
    const helloFromR0 = mkInitiator(r0, r1.peer, nonce(1)).start()[0]!
    const step = r.receive(helloFromR0)
    const [, responderProof] = (step as { send: ReadonlyArray<Uint8Array> }).send
    expect(failureOf(r.receive(responderProof!))).toBe("bad-proof")
  })

  it("refuses frames out of order and after the end (malformed)", () => {
    expect(failureOf(mkResponder(r1).receive(Frame.encodeProof(new Uint8Array(64))))).toBe("malformed")
    const i = mkInitiator(r0, r1.peer)
    const r = mkResponder(r1)
    const replies = r.receive(i.start()[0]!) as { send: ReadonlyArray<Uint8Array> }
    // the responder's proof where its hello belongs
    expect(failureOf(i.receive(replies.send[1]!))).toBe("malformed")
    // anything after the handshake ended
    const [i2, r2done] = [mkInitiator(r0, r1.peer), mkResponder(r1)]
    expect(run(i2, r2done).rStep?._tag).toBe("Done")
    expect(failureOf(r2done.receive(replies.send[0]!))).toBe("malformed")
    expect(failureOf(i2.receive(replies.send[0]!))).toBe("malformed")
  })

  it("refuses another handshake version (version)", () => {
    const hello = mkInitiator(r0, r1.peer).start()[0]!.slice()
    hello[1] = 2
    expect(failureOf(mkResponder(r1).receive(hello))).toBe("version")
  })

  it.prop("arbitrary bytes as a first frame: a typed failure, never an exception", [fc.uint8Array({ maxLength: 700 })], ([bytes]) => {
    const step = mkResponder(r1).receive(bytes)
    expect(step._tag).toBe("Failed")
  })

  it.prop(
    "a HELLO cut short or extended by any amount is malformed",
    [fc.integer({ min: -200, max: 40 }).filter((d) => d !== 0)],
    ([delta]) => {
      const hello = mkInitiator(r0, r1.peer).start()[0]!
      const changed = delta < 0 ? hello.subarray(0, Math.max(0, hello.byteLength + delta)) : new Uint8Array([...hello, ...new Uint8Array(delta)])
      expect(failureOf(mkResponder(r1).receive(changed))).toBe("malformed")
    }
  )

  it.prop("a proof with any single bit flipped does not verify", [fc.nat(), fc.integer({ min: 0, max: 7 })], ([at, bit]) => {
    const i = mkInitiator(r0, r1.peer)
    const r = mkResponder(r1)
    const replies = r.receive(i.start()[0]!) as { send: ReadonlyArray<Uint8Array> }
    expect(i.receive(replies.send[0]!)._tag).toBe("Continue")
    const proof = replies.send[1]!.slice()
    const index = 2 + (at % (proof.byteLength - 2))
    proof[index] = proof[index]! ^ (1 << bit)
    expect(failureOf(i.receive(proof))).toBe("bad-proof")
  })
})

describe("Frame", () => {
  it("HELLO round-trips", () => {
    const hello = { role: "responder" as const, clusterId: "c-1", peer: "replica/3", nonce: nonce(9) }
    expect(Frame.decodeHello(Frame.encodeHello(hello))).toMatchObject({ _tag: "Right", right: { ...hello, version: 1 } })
  })

  it("transcripts differ in every field (length prefixes: no two field splits collide)", () => {
    const base: Parameters<typeof Frame.transcript>[0] = { signer: "initiator", clusterId: "ab", initiator: "replica/1", responder: "replica/2", initiatorNonce: nonce(1), responderNonce: nonce(2) }
    const variants: Array<typeof base> = [
      { ...base, signer: "responder" },
      { ...base, clusterId: "a", initiator: "breplica/1" },
      { ...base, initiator: "replica/2", responder: "replica/1" },
      { ...base, initiatorNonce: nonce(2), responderNonce: nonce(1) }
    ]
    const hex = (t: typeof base) => Buffer.from(Frame.transcript(t)).toString("hex")
    for (const v of variants) expect(hex(v)).not.toBe(hex(base))
  })
})
