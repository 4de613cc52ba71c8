import { describe, expect, it } from "@effect/vitest"
import { Either, Schema } from "effect"
import type { ReplicaId } from "../src/Ids.js"
import { type Core, driverOf, type Input, type ReadyBuffer } from "../src/Protocol.js"
import * as Status from "../src/Status.js"

const r = (n: number) => n as ReplicaId

const leaderStatus: Status.ReplicaStatus = {
  role: "leader",
  view: 3,
  leader: r(0),
  commitIndex: 40,
  appliedIndex: 38,
  stableCheckpoint: 32,
  peers: [Status.peer(r(1), 41, 42), Status.peer(r(2), 30, 42)],
  extra: { windowUsed: 2 }
}

class StatusCore implements Core<never> {
  calls = 0
  step(_input: Input<never>, _out: ReadyBuffer<never>) {}
  appliedIndex() {
    return 38
  }
  stateDigest() {
    return "d"
  }
  status(): Status.ReplicaStatus {
    this.calls++
    return leaderStatus
  }
}

describe("Status", () => {
  it("computes a peer's lag against a reference index, never below zero", () => {
    expect(Status.peer(r(1), 41, 42)).toEqual({ replica: 1, matchIndex: 41, lag: 1 })
    expect(Status.peer(r(2), 50, 42)).toEqual({ replica: 2, matchIndex: 50, lag: 0 })
  })

  it("encodes the /status document and decodes it back", () => {
    const document = Status.encodeDocument({ replica: "replica/0", pid: 4242, uptimeMs: 1500, ...leaderStatus })
    const json = JSON.parse(JSON.stringify(document))
    expect(json).toEqual({
      replica: "replica/0",
      pid: 4242,
      uptimeMs: 1500,
      role: "leader",
      view: 3,
      leader: 0,
      commitIndex: 40,
      appliedIndex: 38,
      stableCheckpoint: 32,
      peers: [{ replica: 1, matchIndex: 41, lag: 1 }, { replica: 2, matchIndex: 30, lag: 12 }],
      extra: { windowUsed: 2 }
    })
    expect(Either.getOrThrow(Status.decodeDocument(json)).peers[1]!.lag).toBe(12)
  })

  it("refuses a status a protocol got wrong (negative index, unknown role, replica out of range)", () => {
    const decode = Schema.decodeUnknownEither(Status.ReplicaStatus)
    expect(Either.isLeft(decode({ ...leaderStatus, commitIndex: -1 }))).toBe(true)
    expect(Either.isLeft(decode({ ...leaderStatus, role: "king" }))).toBe(true)
    expect(Either.isLeft(decode({ ...leaderStatus, peers: [{ replica: 5000, matchIndex: 0, lag: 0 }] }))).toBe(true)
    expect(() => Status.encodeDocument({ replica: "x", pid: 1, uptimeMs: 0, ...leaderStatus, view: 1.5 })).toThrow()
  })

  it("builds the fallback status of a driver without one", () => {
    expect(Status.fallback({ appliedIndex: 5, commitIndex: 7, view: 2, leader: r(1) })).toEqual({
      role: "unknown",
      view: 2,
      leader: 1,
      commitIndex: 7,
      appliedIndex: 5,
      peers: []
    })
    // the commit index is never reported below what was applied; no view seen yet reads 0
    expect(Status.fallback({ appliedIndex: 5, commitIndex: 0, view: undefined, leader: undefined })).toEqual({
      role: "unknown",
      view: 0,
      commitIndex: 5,
      appliedIndex: 5,
      peers: []
    })
  })

  it("tells leading roles apart", () => {
    expect(Status.Role.literals.filter(Status.isLeaderRole)).toEqual(["leader", "primary"])
  })

  it("is forwarded by driverOf when the core has it, and absent otherwise", () => {
    const core = new StatusCore()
    const driver = driverOf(core)
    expect(driver.status?.()).toEqual(leaderStatus)
    expect(core.calls).toBe(1)
    const plain: Core<never> = { step: () => {}, appliedIndex: () => 0, stateDigest: () => "" }
    expect(driverOf(plain).status).toBeUndefined()
  })
})
