/**
 * Ballots ("proposal numbers" in Lamport, "Paxos Made Simple" §2.2): a pair
 * (round, replica) ordered lexicographically, so two proposers never issue the
 * same ballot (§2.5: "different proposers choose their numbers from disjoint
 * sets"). Round 0 is never used by a proposer: `Ballot.zero` is "no ballot".
 *
 * The fencing token is the ballot flattened to one integer that grows with
 * the ballot order; replica ids are below 1024 (`ReplicaId`), so
 * `round * 1024 + replica` is strictly monotone and exact below 2^53.
 */
import { ReplicaId } from "@synod/core"
import { Schema } from "effect"

/** Largest round: keeps `fencingToken` an exact integer. */
export const MAX_ROUND = 2 ** 40

export class Ballot extends Schema.Class<Ballot>("Ballot")({
  round: Schema.Int.pipe(Schema.between(0, MAX_ROUND)),
  replica: ReplicaId
}) {
  override toString(): string {
    return `${this.round}.${this.replica}`
  }
}

/** The ballot below every ballot a proposer uses. */
export const zero: Ballot = new Ballot({ round: 0, replica: 0 as ReplicaId }, true)

export const make = (round: number, replica: ReplicaId): Ballot => new Ballot({ round, replica }, true)

/** Negative, zero or positive as `a` is below, equal to or above `b`. */
export const compare = (a: Ballot, b: Ballot): number => a.round !== b.round ? a.round - b.round : a.replica - b.replica

export const equals = (a: Ballot, b: Ballot): boolean => a.round === b.round && a.replica === b.replica
export const greaterThan = (a: Ballot, b: Ballot): boolean => compare(a, b) > 0
export const lessThan = (a: Ballot, b: Ballot): boolean => compare(a, b) < 0
export const max = (a: Ballot, b: Ballot): Ballot => (compare(a, b) >= 0 ? a : b)

/** The smallest ballot of `replica` above every round in `seen`. */
export const next = (replica: ReplicaId, ...seen: ReadonlyArray<Ballot>): Ballot => {
  let round = 0
  for (const b of seen) round = Math.max(round, b.round)
  return make(round + 1, replica)
}

/** The ballot as one monotone integer (see the module comment). */
export const fencingToken = (b: Ballot): number => b.round * 1024 + b.replica
