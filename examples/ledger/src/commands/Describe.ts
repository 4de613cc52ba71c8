/** Plain-language sentences for ledger results, shared by the client commands. */
import type { LedgerError } from "../Commands.js"

export const describeError = (e: LedgerError): string => {
  switch (e._tag) {
    case "UnknownAccount":
      return `there is no account named ${e.account}`
    case "AccountExists":
      return `an account named ${e.account} already exists`
    case "InsufficientFunds":
      return `${e.account} has ${e.balance} units, not enough to move ${e.amount}`
    case "NotOwner":
      return `the key that signed this does not own the account ${e.account}`
    case "NotMinter":
      return "the key that signed this mint is not a genesis minter"
    case "BadSignature":
      return `the signature does not verify (${e.detail})`
    case "DuplicateId":
      return `the operation id ${e.id} was already used for a different operation`
    case "SameAccount":
      return `cannot move money from ${e.account} to itself`
    case "Overflow":
      return `the balance of ${e.account} would exceed the largest amount`
    case "BadCommand":
      return `the replicas could not read the command (${e.detail})`
  }
}

/** `[3, 0]` -> "replicas 0 and 3" */
export const replicaList = (replicas: ReadonlyArray<number>): string => {
  const sorted = [...replicas].sort((a, b) => a - b).map(String)
  if (sorted.length === 1) return `replica ${sorted[0]}`
  return `replicas ${sorted.slice(0, -1).join(", ")} and ${sorted[sorted.length - 1]}`
}
