import { describe, expect, it } from "@effect/vitest"
import type { ReplicaId } from "@synod/core"
import { Schema } from "effect"
import * as B from "../src/Ballot.js"

const Round = Schema.Int.pipe(Schema.between(0, 1_000_000))
const Replica = Schema.Int.pipe(Schema.between(0, 1023))
const r = (n: number) => n as ReplicaId

describe("Ballot", () => {
  it("orders by round, then by replica", () => {
    expect(B.compare(B.make(1, r(2)), B.make(2, r(0)))).toBeLessThan(0)
    expect(B.compare(B.make(2, r(1)), B.make(2, r(0)))).toBeGreaterThan(0)
    expect(B.equals(B.make(3, r(1)), B.make(3, r(1)))).toBe(true)
    expect(B.greaterThan(B.make(1, r(0)), B.zero)).toBe(true)
    expect(B.max(B.make(1, r(5)), B.make(1, r(6)))).toEqual(B.make(1, r(6)))
  })

  it.prop("the fencing token orders ballots exactly as compare does", [Round, Replica, Round, Replica], ([ra, ia, rb, ib]) => {
    const a = B.make(ra, r(ia))
    const b = B.make(rb, r(ib))
    expect(Math.sign(B.fencingToken(a) - B.fencingToken(b))).toBe(Math.sign(B.compare(a, b)))
  })

  // Paxos Made Simple §2.5: "different proposers choose their numbers from disjoint sets of numbers"
  it.prop("next() belongs to its proposer and exceeds every ballot seen", [Replica, Round, Replica, Round, Replica], ([me, r1, i1, r2, i2]) => {
    const seen = [B.make(r1, r(i1)), B.make(r2, r(i2))]
    const n = B.next(r(me), ...seen)
    expect(n.replica).toBe(me)
    for (const s of seen) expect(B.greaterThan(n, s)).toBe(true)
  })

  it("decodes only well-formed ballots from the wire", () => {
    const decode = Schema.decodeUnknownEither(B.Ballot)
    expect(decode({ round: 3, replica: 1 })._tag).toBe("Right")
    expect(decode({ round: -1, replica: 1 })._tag).toBe("Left")
    expect(decode({ round: 1.5, replica: 1 })._tag).toBe("Left")
    expect(decode({ round: 1, replica: 1024 })._tag).toBe("Left")
    expect(decode({ round: B.MAX_ROUND + 1, replica: 0 })._tag).toBe("Left")
  })
})
