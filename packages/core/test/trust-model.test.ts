import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import type { ReplicaId } from "../src/Ids.js"
import { byzantine, crashMajority, flexible, type QuorumKind, type QuorumSystem, weighted } from "../src/TrustModel.js"

const ids = (n: number) => Array.from({ length: n }, (_, i) => i as ReplicaId)
const intersection = (a: ReadonlyArray<ReplicaId>, b: ReadonlyArray<ReplicaId>) => a.filter((x) => b.includes(x))
const complement = (n: number, s: ReadonlyArray<ReplicaId>) => ids(n).filter((x) => !s.includes(x))
const kinds: ReadonlyArray<QuorumKind> = ["election", "replication", "weak"]

/** n in [min, max] and two random subsets of its replicas. */
const twoSets = (min: number, max: number) =>
  fc.integer({ min, max }).chain((n) =>
    fc.tuple(fc.constant(n), fc.shuffledSubarray(ids(n)), fc.shuffledSubarray(ids(n)))
  )

/** Random positive weights for 1..12 replicas. */
const weightsArb = fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 12 }).chain((ws) =>
  fc.tuple(fc.constant(new Map(ws.map((w, i) => [i as ReplicaId, w]))), fc.shuffledSubarray(ids(ws.length)), fc.shuffledSubarray(ids(ws.length)))
)

const power = (weights: ReadonlyMap<ReplicaId, number>, s: ReadonlyArray<ReplicaId>) =>
  s.reduce((p, r) => p + (weights.get(r) ?? 0), 0)
const totalOf = (weights: ReadonlyMap<ReplicaId, number>) => power(weights, [...weights.keys()])

const params = { fastCheck: { numRuns: 300 } }

/** Properties every system has, whatever its thresholds. */
const common = (q: QuorumSystem, s: ReadonlyArray<ReplicaId>) => {
  for (const kind of kinds) {
    expect(q.isQuorum(kind, q.replicas)).toBe(true)
    expect(q.isQuorum(kind, [])).toBe(false)
    // duplicates and non-members add nothing
    expect(q.isQuorum(kind, [...s, ...s, 1000 as ReplicaId, 1001 as ReplicaId])).toBe(q.isQuorum(kind, s))
    // monotone: adding members never breaks a quorum
    if (q.isQuorum(kind, s)) expect(q.isQuorum(kind, [...s, ...complement(q.replicas.length, s).slice(0, 1)])).toBe(true)
  }
}

describe("crashMajority", () => {
  it.prop("any two quorums intersect; quorums are exactly the majorities", [twoSets(1, 25)], ([[n, a, b]]) => {
    const q = crashMajority(n)
    expect(q.isQuorum("election", a)).toBe(2 * a.length > n)
    expect(q.isQuorum("replication", a)).toBe(2 * a.length > n)
    if (q.isQuorum("election", a) && q.isQuorum("replication", b)) expect(intersection(a, b).length).toBeGreaterThanOrEqual(1)
    if (q.isQuorum("election", a) && q.isQuorum("election", b)) expect(intersection(a, b).length).toBeGreaterThanOrEqual(1)
    common(q, a)
  }, params)

  it.prop("tolerates f = floor((n-1)/2) crashes: the survivors are a quorum, a weak set has a survivor", [twoSets(1, 25)], ([[n, crashed, w]]) => {
    const q = crashMajority(n)
    expect(q.f).toBe(Math.floor((n - 1) / 2))
    if (crashed.length <= q.f) {
      expect(q.isQuorum("election", complement(n, crashed))).toBe(true)
      expect(q.isQuorum("replication", complement(n, crashed))).toBe(true)
    }
    expect(q.isQuorum("weak", w)).toBe(w.length >= 1)
  }, params)
})

describe("byzantine", () => {
  it.prop("any two quorums intersect in at least f+1 replicas; quorums have n-f members", [twoSets(1, 25)], ([[n, a, b]]) => {
    const q = byzantine(n)
    expect(q.f).toBe(Math.floor((n - 1) / 3))
    expect(q.isQuorum("election", a)).toBe(a.length >= n - q.f)
    expect(q.isQuorum("replication", a)).toBe(a.length >= n - q.f)
    for (const [ka, kb] of [["election", "election"], ["replication", "replication"], ["election", "replication"]] as const) {
      if (q.isQuorum(ka, a) && q.isQuorum(kb, b)) expect(intersection(a, b).length).toBeGreaterThanOrEqual(q.f + 1)
    }
    common(q, a)
  }, params)

  it.prop("a weak set holds a correct replica when at most f are faulty; the correct ones are a quorum", [twoSets(1, 25)], ([[n, faulty, w]]) => {
    const q = byzantine(n)
    expect(q.isQuorum("weak", w)).toBe(w.length >= q.f + 1)
    if (faulty.length <= q.f) {
      if (q.isQuorum("weak", w)) expect(w.some((r) => !faulty.includes(r))).toBe(true)
      expect(q.isQuorum("election", complement(n, faulty))).toBe(true)
      expect(q.isQuorum("replication", complement(n, faulty))).toBe(true)
    }
  }, params)

  it("has the paper's sizes for n = 3f+1", () => {
    for (const f of [0, 1, 2, 3, 10]) {
      const q = byzantine(3 * f + 1)
      expect(q.f).toBe(f)
      expect(q.isQuorum("replication", ids(2 * f + 1))).toBe(true)
      expect(q.isQuorum("replication", ids(2 * f))).toBe(false)
      expect(q.isQuorum("weak", ids(f + 1))).toBe(true)
      expect(q.isQuorum("weak", ids(f))).toBe(false)
    }
  })
})

const flexibleArb = fc.integer({ min: 1, max: 20 }).chain((n) =>
  fc.integer({ min: 1, max: n }).chain((q1) =>
    fc.tuple(fc.constant(n), fc.constant(q1), fc.integer({ min: n - q1 + 1, max: n }), fc.shuffledSubarray(ids(n)), fc.shuffledSubarray(ids(n)))
  )
)

describe("flexible", () => {
  it.prop("every election quorum meets every replication quorum; sizes are q1 and q2", [flexibleArb], ([[n, q1, q2, a, b]]) => {
    const q = flexible(n, q1, q2)
    expect(q.isQuorum("election", a)).toBe(a.length >= q1)
    expect(q.isQuorum("replication", b)).toBe(b.length >= q2)
    if (q.isQuorum("election", a) && q.isQuorum("replication", b)) expect(intersection(a, b).length).toBeGreaterThanOrEqual(1)
    common(q, a)
  }, params)

  it.prop("with at most f crashes both kinds of quorum can still form", [flexibleArb], ([[n, q1, q2, crashed]]) => {
    const q = flexible(n, q1, q2)
    if (crashed.length <= q.f) {
      expect(q.isQuorum("election", complement(n, crashed))).toBe(true)
      expect(q.isQuorum("replication", complement(n, crashed))).toBe(true)
    }
    // and f is the largest such number
    expect(q.isQuorum("election", ids(n - q.f - 1)) && q.isQuorum("replication", ids(n - q.f - 1))).toBe(false)
  }, params)
})

describe("weighted", () => {
  it.prop("Byzantine: two quorums share more than 1/3 of the power", [weightsArb], ([[weights, a, b]]) => {
    const q = weighted("byzantine", weights)
    const total = totalOf(weights)
    expect(q.isQuorum("election", a)).toBe(3 * power(weights, a) > 2 * total)
    if (q.isQuorum("election", a) && q.isQuorum("replication", b)) {
      expect(3 * power(weights, intersection(a, b))).toBeGreaterThan(total)
    }
    common(q, a)
  }, params)

  it.prop("Byzantine: with faulty power below 1/3, a weak set holds a correct replica and the correct ones are a quorum", [weightsArb], ([[weights, faulty, w]]) => {
    const q = weighted("byzantine", weights)
    const total = totalOf(weights)
    expect(q.isQuorum("weak", w)).toBe(3 * power(weights, w) > total)
    if (3 * power(weights, faulty) < total) {
      if (q.isQuorum("weak", w)) expect(w.some((r) => !faulty.includes(r))).toBe(true)
      expect(q.isQuorum("election", complement(weights.size, faulty))).toBe(true)
    }
  }, params)

  it.prop("Byzantine and crash: f counts the lightest replicas whose power stays below the tolerated share", [weightsArb], ([[weights]]) => {
    const total = totalOf(weights)
    const lightest = [...weights.entries()].sort((x, y) => x[1] - y[1]).map(([r]) => r)
    const byz = weighted("byzantine", weights)
    expect(3 * power(weights, lightest.slice(0, byz.f))).toBeLessThan(total)
    if (byz.f < lightest.length) expect(3 * power(weights, lightest.slice(0, byz.f + 1))).toBeGreaterThanOrEqual(total)
    const crash = weighted("crash", weights)
    expect(2 * power(weights, lightest.slice(0, crash.f))).toBeLessThan(total)
    if (crash.f < lightest.length) expect(2 * power(weights, lightest.slice(0, crash.f + 1))).toBeGreaterThanOrEqual(total)
  }, params)

  it.prop("crash: two quorums intersect; survivors holding more than half the power are a quorum", [weightsArb], ([[weights, a, b]]) => {
    const q = weighted("crash", weights)
    const total = totalOf(weights)
    expect(q.isQuorum("replication", a)).toBe(2 * power(weights, a) > total)
    if (q.isQuorum("election", a) && q.isQuorum("replication", b)) expect(intersection(a, b).length).toBeGreaterThanOrEqual(1)
    if (2 * power(weights, a) < total) expect(q.isQuorum("election", complement(weights.size, a))).toBe(true)
    expect(q.isQuorum("weak", b)).toBe(b.length >= 1)
    common(q, a)
  }, params)

  it("reports each replica's weight, and 0 for non-members", () => {
    const q = weighted("byzantine", new Map([[0 as ReplicaId, 5], [3 as ReplicaId, 2]]))
    expect(q.replicas).toEqual([0, 3])
    expect(q.weight(0 as ReplicaId)).toBe(5)
    expect(q.weight(1 as ReplicaId)).toBe(0)
  })
})

describe("invalid constructions", () => {
  const bad: ReadonlyArray<readonly [string, () => QuorumSystem]> = [
    ["crash n=0", () => crashMajority(0)],
    ["crash n not an integer", () => crashMajority(2.5)],
    ["crash replica count differs from n", () => crashMajority(3, ids(2))],
    ["crash duplicate replicas", () => crashMajority(3, [0, 0, 1] as Array<ReplicaId>)],
    ["byzantine n<0", () => byzantine(-1)],
    ["byzantine negative replica id", () => byzantine(2, [0, -1] as Array<ReplicaId>)],
    ["flexible q1+q2 = n", () => flexible(5, 2, 3)],
    ["flexible q1 = 0", () => flexible(5, 0, 5)],
    ["flexible q1 > n", () => flexible(5, 6, 1)],
    ["flexible q1 not an integer", () => flexible(5, 2.5, 3)],
    ["flexible n=0", () => flexible(0, 1, 1)],
    ["weighted empty", () => weighted("byzantine", new Map())],
    ["weighted zero weight", () => weighted("crash", new Map([[0 as ReplicaId, 0]]))],
    ["weighted fractional weight", () => weighted("crash", new Map([[0 as ReplicaId, 1.5]]))],
    ["weighted negative weight", () => weighted("byzantine", new Map([[0 as ReplicaId, -1]]))],
    ["weighted power too large", () => weighted("byzantine", new Map([[0 as ReplicaId, Number.MAX_SAFE_INTEGER]]))]
  ]
  for (const [name, make] of bad) {
    it(`throws RangeError: ${name}`, () => {
      expect(make).toThrow(RangeError)
    })
  }
})
