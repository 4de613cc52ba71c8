/** The wire format: every PBFT message survives encode/decode, and hostile bytes become typed rejections. */
import { Envelope } from "@synod/core"
import { it } from "@effect/vitest"
import { Either } from "effect"
import { describe, expect } from "vitest"
import { Checkpoint, codec, Commit, FetchState, Prepare, PrePrepare, Reply, Request, Status } from "../src/Messages.js"
import { envelope } from "./support/Cluster.js"
import { Fixture } from "./support/Fixture.js"

describe("codec", () => {
  it.prop("request, pre-prepare, prepare, commit, checkpoint, reply, status and fetch round-trip", [Request, PrePrepare, Prepare, Commit, Checkpoint, Reply, Status, FetchState], (messages) => {
    for (const m of messages) {
      const decoded = codec.decode(codec.encode(m))
      expect(Either.getOrThrow(decoded)).toEqual(m)
    }
  }, { fastCheck: { numRuns: 50 } })

  it("bytes that are not a PBFT message are rejected with a reason, never thrown", () => {
    const f = new Fixture()
    const good = f.seal(1, new Prepare({ view: 0 as never, seq: 1 as never, digest: "a".repeat(64) as never }))
    const cases: Array<[Uint8Array, string]> = [
      [new TextEncoder().encode(`{"_tag":"Prepare","view":-1,"seq":1,"digest":"${"a".repeat(64)}"}`), "malformed"],
      [new TextEncoder().encode(`{"_tag":"Prepare","view":0,"seq":1,"digest":"xyz"}`), "malformed"],
      [new TextEncoder().encode(`{"_tag":"Prepare","view":0,"seq":1,"digest":"${"a".repeat(64)}","extra":1}`), "malformed"],
      [new TextEncoder().encode(`{"_tag":"Elect"}`), "unknown-tag"],
      [new Uint8Array([0xff, 0xfe]), "malformed"]
    ]
    for (const [bytes, reason] of cases) {
      const d = codec.decode(bytes)
      expect(Either.isLeft(d) && d.left.reason).toBe(reason)
    }
    expect(Either.isRight(Envelope.open(envelope, f.keys, good))).toBe(true)
  })
})
