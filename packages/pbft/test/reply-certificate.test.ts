/**
 * Reply certificates (OSDI'99 §4.1, §5.1.3): f+1 matching signed replies for
 * an ordered request, 2f+1 for a read-only one, checkable offline by anyone
 * holding the cluster's public keys.
 */
import { Crypto, type ClientId, type LogIndex, type RequestSeq, TrustModel, type ReplicaId, clientPeer, replicaPeer } from "@synod/core"
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { Reply } from "../src/Messages.js"
import { verifyReplyCertificate } from "../src/ReplyCertificate.js"
import { Fixture, tamper, v } from "./support/Fixture.js"

const enc = new TextEncoder()
const reply = (result: string, opts: { readOnly?: boolean; index?: number; seq?: number; view?: number } = {}) =>
  new Reply({
    view: v(opts.view ?? 0),
    clientId: "c0" as ClientId,
    seq: (opts.seq ?? 7) as RequestSeq,
    index: (opts.index ?? 3) as LogIndex,
    readOnly: opts.readOnly ?? false,
    result: enc.encode(result)
  })

describe("reply certificates", () => {
  const f = new Fixture()

  it("f+1 matching replies from distinct replicas verify offline, and say what was certified", () => {
    const cert = [f.seal(1, reply("ok")), f.seal(3, reply("ok", { view: 2 }))]
    const verified = verifyReplyCertificate(cert, f.trust, f.keys)
    expect(Either.getOrThrow(verified)).toMatchObject({ clientId: "c0", seq: 7, index: 3, readOnly: false, replicas: [1, 3] })
  })

  it("a tampered certificate does not verify", () => {
    const cert = [f.seal(1, reply("ok")), f.seal(3, reply("ok"))]
    const bad = verifyReplyCertificate([cert[0]!, tamper(cert[1]!)], f.trust, f.keys)
    expect(Either.isLeft(bad) && bad.left.reason).toBe("bad-signature")
  })

  it.each([
    ["f replies", () => [f.seal(1, reply("ok"))]],
    ["two replies from one replica", () => [f.seal(1, reply("ok")), f.seal(1, reply("ok"))]],
    ["replies with different results", () => [f.seal(1, reply("ok")), f.seal(2, reply("no"))]],
    ["replies executed at different sequence numbers", () => [f.seal(1, reply("ok")), f.seal(2, reply("ok", { index: 4 }))]],
    ["replies for different requests", () => [f.seal(1, reply("ok")), f.seal(2, reply("ok", { seq: 8 }))]],
    ["a reply signed by a client", () => [f.seal(1, reply("ok")), f.seal("c1", reply("ok"))]],
    ["a read-only answer with only f+1 replies", () => [f.seal(1, reply("ok", { readOnly: true })), f.seal(2, reply("ok", { readOnly: true }))]],
    ["no replies", () => []]
  ])("%s are not a certificate", (_name, make) => {
    expect(Either.isLeft(verifyReplyCertificate(make(), f.trust, f.keys))).toBe(true)
  })

  it("a read-only answer needs 2f+1 matching replies; their sequence numbers may differ", () => {
    const cert = [0, 1, 2].map((r) => f.seal(r, reply("v", { readOnly: true, index: r })))
    expect(Either.isRight(verifyReplyCertificate(cert, f.trust, f.keys))).toBe(true)
  })

  it("checks keys, not names: replies signed with another key ring's keys fail", () => {
    const other = Crypto.simulatedKeyRing("another-seed", [0, 1, 2, 3].map(replicaPeer).concat([clientPeer("c0")]))
    const cert = [f.seal(1, reply("ok")), f.seal(2, reply("ok"))]
    expect(Either.isLeft(verifyReplyCertificate(cert, f.trust, other))).toBe(true)
  })

  it("counts voting power under a weighted trust model: a weak quorum holds more than 1/3 of it", () => {
    // total power 6: two light replicas (2/6) may all be faulty; the heavy one (3/6) alone cannot be
    const weighted = TrustModel.weighted("byzantine", new Map([[0, 1], [1, 1], [2, 1], [3, 3]] as Array<[ReplicaId, number]>))
    const light = [f.seal(0, reply("ok")), f.seal(1, reply("ok"))]
    expect(Either.isLeft(verifyReplyCertificate(light, weighted, f.keys))).toBe(true)
    expect(Either.isRight(verifyReplyCertificate([f.seal(3, reply("ok"))], weighted, f.keys))).toBe(true)
    expect(Either.isRight(verifyReplyCertificate([...light, f.seal(2, reply("ok"))], weighted, f.keys))).toBe(true)
  })

  it("pins the cluster when asked to", () => {
    const cert = [f.seal(1, reply("ok")), f.seal(2, reply("ok"))]
    expect(Either.isLeft(verifyReplyCertificate(cert, f.trust, f.keys, { clusterId: "elsewhere" }))).toBe(true)
  })
})
