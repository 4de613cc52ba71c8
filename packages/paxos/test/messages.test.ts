import { describe, expect, it } from "@effect/vitest"
import { clientPeer, Crypto, Envelope, replicaPeer } from "@synod/core"
import { Either, Schema } from "effect"
import * as B from "../src/Ballot.js"
import * as M from "../src/Messages.js"

const keys = Crypto.simulatedKeyRing("messages", [replicaPeer(0), clientPeer("c")])
const ctx = M.envelope("messages")
const enc = new TextEncoder()

describe("Paxos messages", () => {
  it.prop("every message survives seal and open unchanged", [M.PaxosMessage], ([message]) => {
    const frame = Envelope.seal(ctx, Crypto.simulatedSigner("messages", replicaPeer(0)), message)
    const opened = Envelope.open(ctx, keys, frame, replicaPeer(0))
    expect(Either.isRight(opened)).toBe(true)
    expect(Either.getOrThrow(opened).message).toEqual(message)
  }, { fastCheck: { numRuns: 60 } })

  it("knows all of its message types", () => {
    expect([...M.codec.tags].sort()).toEqual([
      "Accept", "Accepted", "CatchUp", "Commit", "Decided", "Heartbeat", "HeartbeatAck", "InstallSnapshot", "Nack", "Poll", "PollReply", "Prepare", "Promise", "Reply", "Request"
    ])
  })

  it("rejects bytes that are not a well-formed Paxos message, with a reason", () => {
    const reasons = [
      enc.encode("{\"_tag\":\"PrePrepare\"}"),
      enc.encode("{\"_tag\":\"Prepare\",\"ballot\":{\"round\":-1,\"replica\":0},\"fromSlot\":1}"),
      enc.encode("{\"_tag\":\"Prepare\",\"ballot\":{\"round\":1,\"replica\":0},\"fromSlot\":1,\"extra\":true}"),
      enc.encode("{\"_tag\":\"Request\",\"clientId\":\"c\",\"seq\":0,\"ackedBelow\":0,\"op\":{\"_tag\":\"Reconfigure\",\"members\":[2,1]}}"),
      enc.encode("{\"_tag\":\"Request\",\"clientId\":\"c\",\"seq\":0,\"ackedBelow\":0,\"op\":{\"_tag\":\"Reconfigure\",\"members\":[]}}"),
      enc.encode("{\"_tag\":\"Commit\",\"ballot\":{\"round\":1,\"replica\":0},\"from\":1.5,\"to\":2}"),
      enc.encode("not json")
    ].map((bytes) => Either.match(M.codec.decode(bytes), { onLeft: (r) => r.reason, onRight: () => "accepted" }))
    expect(reasons).toEqual(["unknown-tag", "malformed", "malformed", "malformed", "malformed", "malformed", "malformed"])
  })

  it("caps the arrays a peer can send", () => {
    const ballot = B.make(1, 0 as never)
    const items = Array.from({ length: M.MAX_BATCH_ITEMS + 1 }, (_, i) => ({ _tag: "Command", clientId: "c", seq: i, ackedBelow: 0, command: "" }))
    const json = { _tag: "Accept", ballot: Schema.encodeSync(B.Ballot)(ballot), slot: 1, value: { ballot: Schema.encodeSync(B.Ballot)(ballot), items }, chosenThrough: 0 }
    const decoded = M.codec.decode(enc.encode(JSON.stringify(json)))
    expect(Either.isLeft(decoded) && decoded.left.reason).toBe("malformed")
  })

  it("hashes a batch by its canonical bytes", () => {
    const a = new M.Batch({ ballot: B.make(1, 0 as never), items: [] })
    const b = new M.Batch({ ballot: B.make(1, 0 as never), items: [] })
    expect(Crypto.sha256Hex(M.batchBytes(a))).toBe(Crypto.sha256Hex(M.batchBytes(b)))
    expect(Crypto.sha256Hex(M.batchBytes(a))).not.toBe(Crypto.sha256Hex(M.batchBytes(new M.Batch({ ballot: B.make(2, 0 as never), items: [] }))))
  })
})
