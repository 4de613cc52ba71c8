import { describe, expect, it } from "@effect/vitest"
import { type ReplicaId, TrustModel } from "@synod/core"
import * as Config from "../src/Config.js"
import { Configuration } from "../src/Reconfiguration.js"

const ids = (...xs: Array<number>) => xs as Array<ReplicaId>
const alpha = 4

describe("Configuration (membership through the log)", () => {
  // Paxos Made Simple §3: the servers of instance i + alpha are fixed by the state after instance i
  it("schedules a change chosen at slot s for slots >= s + alpha, and only then adopts it", () => {
    const c = new Configuration(TrustModel.crashMajority(3), Config.defaults.quorumFor, alpha)
    expect(c.change(ids(1, 2, 3), 10)._tag).toBe("Scheduled")
    expect(c.at(13).members).toEqual([0, 1, 2])
    expect(c.at(14).members).toEqual([1, 2, 3])
    expect(c.members()).toEqual([0, 1, 2, 3])
    expect(c.enter(13)).toBe(false)
    expect(c.current.members).toEqual([0, 1, 2])
    expect(c.enter(14)).toBe(true)
    expect(c.current).toMatchObject({ epoch: 1, members: [1, 2, 3] })
    expect(c.pending).toBeUndefined()
  })

  it("allows one change at a time and refuses empty changes, deterministically", () => {
    const c = new Configuration(TrustModel.crashMajority(3), Config.defaults.quorumFor, alpha)
    expect(c.change(ids(0, 1, 2), 1)).toEqual({ _tag: "Refused", reason: "no-change" })
    expect(c.change(ids(0, 1), 2)._tag).toBe("Scheduled")
    expect(c.change(ids(0, 1, 2, 3), 3)).toEqual({ _tag: "Refused", reason: "change-pending" })
    const failing = new Configuration(TrustModel.crashMajority(3), () => {
      throw new RangeError("no")
    }, alpha)
    expect(failing.change(ids(5), 1)).toEqual({ _tag: "Refused", reason: "invalid-membership" })
  })

  it("keeps the cluster's own quorum system for the first membership and builds later ones with quorumFor", () => {
    const flexible = TrustModel.flexible(4, 3, 2)
    const c = new Configuration(flexible, Config.defaults.quorumFor, alpha)
    expect(c.at(1).quorum).toBe(flexible)
    expect(c.at(1).quorum.isQuorum("replication", ids(0, 1))).toBe(true) // |Q2| = 2
    expect(c.at(1).quorum.isQuorum("election", ids(0, 1))).toBe(false) // |Q1| = 3
    c.change(ids(0, 1, 2), 1)
    expect(c.at(1 + alpha).quorum.isQuorum("replication", ids(0, 1))).toBe(true) // majority of 3
    expect(c.at(1 + alpha).quorum.isQuorum("replication", ids(0, 3))).toBe(false) // 3 is no member
  })

  it("round-trips through its record (snapshots)", () => {
    const c = new Configuration(TrustModel.crashMajority(3), Config.defaults.quorumFor, alpha)
    c.change(ids(0, 1, 2, 3), 7)
    const d = new Configuration(TrustModel.crashMajority(3), Config.defaults.quorumFor, alpha)
    d.restore(c.toRecord())
    expect(d.at(11).members).toEqual([0, 1, 2, 3])
    expect(d.at(10).members).toEqual([0, 1, 2])
  })
})
