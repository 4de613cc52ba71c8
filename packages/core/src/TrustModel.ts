/**
 * Trust models as quorum systems. A protocol never counts votes itself: it asks
 * its `QuorumSystem` whether a set of replicas is a quorum of a given kind.
 *
 *   kind          crash majority   Byzantine (n >= 3f+1)   weighted            flexible Paxos
 *   "election"    > n/2            >= n - f (2f+1)         > 2/3 of power      |Q1|
 *   "replication" > n/2            >= n - f (2f+1)         > 2/3 of power      |Q2|
 *   "weak"        >= 1             >= f + 1                > 1/3 of power      >= 1
 *
 * "election" is Paxos phase 1 / a PBFT view-change (new-view) quorum;
 * "replication" is Paxos phase 2 / PBFT prepared, committed and checkpoint
 * certificates and read-only replies; "weak" is a set guaranteed to contain at
 * least one correct replica (PBFT f+1 reply certificate, view-change join).
 */
import type { ReplicaId } from "./Ids.js"

export type QuorumKind = "election" | "replication" | "weak"
export type FaultModel = "crash" | "byzantine"

export interface QuorumSystem {
  readonly name: string
  readonly faultModel: FaultModel
  /** The replicas, in configuration order (PBFT primary of view v is `replicas[v mod n]`). */
  readonly replicas: ReadonlyArray<ReplicaId>
  /** Largest number of faulty replicas tolerated. */
  readonly f: number
  /** Voting power of a replica (1 in unweighted systems; 0 for non-members). */
  weight(replica: ReplicaId): number
  isQuorum(kind: QuorumKind, members: Iterable<ReplicaId>): boolean
}

const range = (n: number): Array<ReplicaId> => Array.from({ length: n }, (_, i) => i as ReplicaId)

const distinctMembers = (all: ReadonlySet<ReplicaId>, members: Iterable<ReplicaId>): Set<ReplicaId> => {
  const s = new Set<ReplicaId>()
  for (const m of members) if (all.has(m)) s.add(m)
  return s
}

/** Check a replica list: exactly `n` distinct valid ids. Bad configurations are programmer errors. */
const checkReplicas = (who: string, n: number, replicas: ReadonlyArray<ReplicaId>): void => {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${who}: n must be a positive integer, got ${n}`)
  if (replicas.length !== n) throw new RangeError(`${who}: ${replicas.length} replicas listed for n=${n}`)
  if (new Set(replicas).size !== n) throw new RangeError(`${who}: replica ids are not distinct`)
  for (const r of replicas) {
    if (!Number.isInteger(r) || r < 0) throw new RangeError(`${who}: bad replica id ${r}`)
  }
}

const countingSystem = (
  name: string,
  faultModel: FaultModel,
  replicas: ReadonlyArray<ReplicaId>,
  f: number,
  sizes: Record<QuorumKind, number>
): QuorumSystem => {
  const all = new Set(replicas)
  return {
    name,
    faultModel,
    replicas,
    f,
    weight: (r) => (all.has(r) ? 1 : 0),
    isQuorum: (kind, members) => distinctMembers(all, members).size >= sizes[kind]
  }
}

/** Crash faults, majority quorums: n = 2f+1 tolerates f crashes. */
export const crashMajority = (n: number, replicas: ReadonlyArray<ReplicaId> = range(n)): QuorumSystem => {
  checkReplicas("crashMajority", n, replicas)
  const majority = Math.floor(n / 2) + 1
  return countingSystem(`crash-majority(n=${n})`, "crash", replicas, n - majority, {
    election: majority,
    replication: majority,
    weak: 1
  })
}

/** Byzantine faults: n >= 3f+1; quorums of n-f intersect in >= f+1 replicas. */
export const byzantine = (n: number, replicas: ReadonlyArray<ReplicaId> = range(n)): QuorumSystem => {
  checkReplicas("byzantine", n, replicas)
  const f = Math.floor((n - 1) / 3)
  return countingSystem(`byzantine(n=${n},f=${f})`, "byzantine", replicas, f, {
    election: n - f,
    replication: n - f,
    weak: f + 1
  })
}

/**
 * Flexible Paxos (Howard et al. 2016): phase-1 quorums of size q1 and phase-2
 * quorums of size q2 with q1 + q2 > n, so every phase-1 quorum meets every
 * phase-2 quorum. Crash faults only.
 */
export const flexible = (n: number, q1: number, q2: number, replicas: ReadonlyArray<ReplicaId> = range(n)): QuorumSystem => {
  checkReplicas("flexible", n, replicas)
  if (!Number.isInteger(q1) || !Number.isInteger(q2) || q1 < 1 || q2 < 1 || q1 > n || q2 > n || q1 + q2 <= n) {
    throw new RangeError(`flexible: need 1 <= q1,q2 <= n and q1 + q2 > n (n=${n}, q1=${q1}, q2=${q2})`)
  }
  // tolerates crashes as long as both quorum kinds can still form
  const f = n - Math.max(q1, q2)
  return countingSystem(`flexible(n=${n},q1=${q1},q2=${q2})`, "crash", replicas, f, {
    election: q1,
    replication: q2,
    weak: 1
  })
}

/**
 * Weighted voting power. Byzantine: a quorum holds more than 2/3 of the total
 * power, a weak set more than 1/3, tolerating faulty replicas holding less than
 * 1/3. Crash: a quorum holds more than 1/2.
 */
export const weighted = (faultModel: FaultModel, weights: ReadonlyMap<ReplicaId, number>): QuorumSystem => {
  const replicas = [...weights.keys()].sort((a, b) => a - b)
  let total = 0
  for (const [r, w] of weights) {
    if (!Number.isInteger(w) || w < 1) throw new RangeError(`weighted: replica ${r} has bad weight ${w}`)
    total += w
  }
  if (replicas.length === 0) throw new RangeError("weighted: no replicas")
  for (const r of replicas) {
    if (!Number.isInteger(r) || r < 0) throw new RangeError(`weighted: bad replica id ${r}`)
  }
  // 3 * power must stay an exact integer
  if (3 * total > Number.MAX_SAFE_INTEGER) throw new RangeError(`weighted: total power ${total} is too large`)
  const power = (members: Iterable<ReplicaId>) => {
    let p = 0
    for (const m of new Set(members)) p += weights.get(m) ?? 0
    return p
  }
  // quorum threshold as strict inequalities on integers: 3p > 2T (Byzantine), 2p > T (crash)
  const isQuorum = faultModel === "byzantine" ? (p: number) => 3 * p > 2 * total : (p: number) => 2 * p > total
  const isWeak = faultModel === "byzantine" ? (p: number) => 3 * p > total : (p: number) => p >= 1
  // f = largest number of replicas whose combined power stays below the tolerated fraction
  const sorted = [...weights.values()].sort((a, b) => a - b)
  let f = 0
  let acc = 0
  for (const w of sorted) {
    acc += w
    if (faultModel === "byzantine" ? 3 * acc < total : 2 * acc < total) f++
    else break
  }
  return {
    name: `weighted-${faultModel}(total=${total})`,
    faultModel,
    replicas,
    f,
    weight: (r) => weights.get(r) ?? 0,
    isQuorum: (kind, members) => {
      const p = power(members)
      return kind === "weak" ? isWeak(p) : isQuorum(p)
    }
  }
}
