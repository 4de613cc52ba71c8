import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import {
  ClientId,
  clientPeer,
  ClusterId,
  parsePeerId,
  PeerId,
  peerClient,
  peerReplica,
  ReplicaId,
  replicaPeer,
  RequestId
} from "../src/Ids.js"

const isPeerId = Schema.is(PeerId)

describe("Ids", () => {
  it.prop("replicaPeer and peerReplica are inverse, and the PeerId is valid", [ReplicaId], ([r]) => {
    const peer = replicaPeer(r)
    expect(isPeerId(peer)).toBe(true)
    expect(peerReplica(peer)).toBe(r)
    expect(peerClient(peer)).toBeUndefined()
  })

  it.prop("clientPeer and peerClient are inverse, and the PeerId is valid", [ClientId], ([c]) => {
    const peer = clientPeer(c)
    expect(isPeerId(peer)).toBe(true)
    expect(peerClient(peer)).toBe(c)
    expect(peerReplica(peer)).toBeUndefined()
  })

  it("each replica has exactly one PeerId: no leading zeros, below 1024", () => {
    for (const bad of ["replica/07", "replica/00", "replica/1024", "replica/9999", "replica/", "replica/-1", "replica/1.0"]) {
      expect(isPeerId(bad), bad).toBe(false)
      expect(parsePeerId(bad), bad).toBeUndefined()
      expect(peerReplica(bad as PeerId), bad).toBeUndefined()
    }
    for (const good of ["replica/0", "replica/9", "replica/10", "replica/999", "replica/1000", "replica/1019", "replica/1023"]) {
      expect(parsePeerId(good), good).toBe(good)
    }
  })

  it("rejects client PeerIds that are empty, too long or contain other characters", () => {
    for (const bad of ["client/", "client/a/b", "client/a b", `client/${"x".repeat(129)}`, "Client/a", "alice", ""]) {
      expect(isPeerId(bad), bad).toBe(false)
      expect(peerClient(bad as PeerId), bad).toBeUndefined()
    }
    expect(parsePeerId(`client/${"x".repeat(128)}`)).toBeDefined()
  })

  it("ReplicaId, ClientId and ClusterId enforce their bounds on decode", () => {
    const decodes = <A, I>(s: Schema.Schema<A, I>, v: unknown) => Either.isRight(Schema.decodeUnknownEither(s)(v))
    expect([0, 1023].map((v) => decodes(ReplicaId, v))).toEqual([true, true])
    expect([-1, 1024, 1.5, "1"].map((v) => decodes(ReplicaId, v))).toEqual([false, false, false, false])
    expect(["a", "x".repeat(128)].map((v) => decodes(ClientId, v))).toEqual([true, true])
    expect(["", "x".repeat(129), "a/b"].map((v) => decodes(ClientId, v))).toEqual([false, false, false])
    expect(["c", "x".repeat(65)].map((v) => decodes(ClusterId, v))).toEqual([true, false])
  })

  it("RequestId decodes from its encoded form and rejects a negative seq", () => {
    const id = Schema.decodeUnknownSync(RequestId)({ clientId: "alice", seq: 3 })
    expect(id).toBeInstanceOf(RequestId)
    expect([id.clientId, id.seq]).toEqual(["alice", 3])
    expect(Either.isLeft(Schema.decodeUnknownEither(RequestId)({ clientId: "alice", seq: -1 }))).toBe(true)
  })
})
