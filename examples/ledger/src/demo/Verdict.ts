/**
 * The demo's final checks, as pure functions of what it observed: the correct
 * replicas' statuses and local ledgers, and every transfer's outcome. Each
 * check says what it proved or exactly what broke.
 *
 *   agreement     every correct replica executed up to the same sequence
 *                 number and has the same state digest there
 *   supply        on every correct replica, the sum of balances equals what was
 *                 minted, which equals the genesis supply (the demo mints nothing)
 *   exactly-once  every acknowledged transfer is in every correct replica's
 *                 ledger as applied, no refused or unknown one is, no operation
 *                 appears twice in any account's history, and every balance is
 *                 the genesis balance plus exactly the acknowledged transfers
 *   certificates  every certified answer was kept, and an audit of the kept
 *                 files verifies each against the replicas' public keys
 */
import type { Genesis } from "../Ledger.js"
import type { LedgerView, ReplicaStatus } from "../ReplicaStatus.js"
import type { TransferRecord } from "./Traffic.js"

export interface Check {
  readonly name: string
  readonly ok: boolean
  readonly detail: string
}

const short = (digest: string) => digest.slice(0, 12)

export const agreement = (statuses: ReadonlyArray<ReplicaStatus>): Check => {
  if (statuses.length === 0) return { name: "agreement", ok: false, detail: "no correct replica answered" }
  const first = statuses[0]!
  const differing = statuses.filter((s) => s.lastExecuted !== first.lastExecuted || s.stateDigest !== first.stateDigest)
  if (differing.length > 0) {
    return {
      name: "agreement",
      ok: false,
      detail: `correct replicas differ: ${statuses.map((s) => `replica ${s.replica} at ${s.lastExecuted} has ${short(s.stateDigest)}`).join("; ")}`
    }
  }
  return {
    name: "agreement",
    ok: true,
    detail: `${statuses.length} correct replicas (${statuses.map((s) => s.replica).join(", ")}) executed up to sequence ${first.lastExecuted} with state digest ${short(first.stateDigest)}`
  }
}

export const supply = (statuses: ReadonlyArray<ReplicaStatus>, genesisSupply: bigint): Check => {
  const bad = statuses.filter((s) => s.supply !== s.minted || s.supply !== genesisSupply)
  if (statuses.length === 0) return { name: "supply", ok: false, detail: "no correct replica answered" }
  if (bad.length > 0) {
    return {
      name: "supply",
      ok: false,
      detail: bad.map((s) => `replica ${s.replica}: supply ${s.supply}, minted ${s.minted}, genesis ${genesisSupply}`).join("; ")
    }
  }
  return { name: "supply", ok: true, detail: `${genesisSupply} units on every correct replica, equal to what genesis minted` }
}

/** Genesis balances plus exactly the applied transfers. */
export const expectedBalances = (genesis: Genesis, applied: ReadonlyArray<TransferRecord>): Map<string, bigint> => {
  const balances = new Map((genesis.accounts ?? []).map((a) => [a.name, a.balance] as const))
  for (const r of applied) {
    const t = r.transfer
    balances.set(t.from, (balances.get(t.from) ?? 0n) - t.amount)
    balances.set(t.to, (balances.get(t.to) ?? 0n) + t.amount)
  }
  return balances
}

const problemsOf = (replica: number, view: LedgerView, records: ReadonlyArray<TransferRecord>, expected: Map<string, bigint>): Array<string> => {
  const out: Array<string> = []
  const ops = new Map(view.operations.map((o) => [o.id, o.applied] as const))
  for (const r of records) {
    const id = r.transfer.id
    const found = ops.get(id)
    if (r.outcome._tag === "Applied" && found !== true) out.push(`replica ${replica} has not applied acknowledged transfer ${id}`)
    if ((r.outcome._tag === "Refused" || r.outcome._tag === "Rejected") && found === true) out.push(`replica ${replica} applied ${id}, which was answered as not applied`)
  }
  const submitted = new Set(records.map((r) => r.transfer.id as string))
  for (const [id, applied] of ops) if (applied && !submitted.has(id)) out.push(`replica ${replica} applied ${id}, which no client submitted`)
  for (const account of view.accounts) {
    const seen = new Set<string>()
    for (const e of account.history) {
      const key = `${e.kind}|${e.id}`
      if (seen.has(key)) out.push(`replica ${replica}: ${e.id} appears twice as ${e.kind} of ${account.name}`)
      seen.add(key)
    }
    const want = expected.get(account.name)
    if (want !== undefined && want !== account.balance) {
      out.push(`replica ${replica}: ${account.name} has ${account.balance}, the acknowledged transfers give ${want}`)
    }
  }
  return out
}

export const exactlyOnce = (
  genesis: Genesis,
  records: ReadonlyArray<TransferRecord>,
  views: ReadonlyMap<number, LedgerView>
): Check => {
  const unresolved = records.filter((r) => r.outcome._tag === "Unknown" || r.outcome._tag === "Pending")
  if (unresolved.length > 0) {
    return { name: "exactly-once", ok: false, detail: `${unresolved.length} transfers still have no certified outcome (e.g. ${unresolved[0]!.transfer.id})` }
  }
  if (views.size === 0) return { name: "exactly-once", ok: false, detail: "no correct replica served its ledger" }
  const applied = records.filter((r) => r.outcome._tag === "Applied")
  const expected = expectedBalances(genesis, applied)
  const problems: Array<string> = []
  for (const [replica, view] of views) problems.push(...problemsOf(replica, view, records, expected))
  if (problems.length > 0) {
    return { name: "exactly-once", ok: false, detail: `${problems.length} problems: ${problems.slice(0, 5).join("; ")}` }
  }
  const refused = records.length - applied.length
  return {
    name: "exactly-once",
    ok: true,
    detail: `${applied.length} acknowledged transfers applied exactly once on each of ${views.size} correct replicas ` +
      `(${refused} refused, none applied); every balance matches`
  }
}

/** `answers` certified answers were kept; the audit of the kept files found `valid` and `invalid` ones. */
export const certificates = (answers: number, valid: number, invalid: number): Check =>
  invalid === 0 && valid === answers
    ? { name: "certificates", ok: true, detail: `all ${valid} kept reply certificates verify against the replicas' public keys (f+1 signed replies each)` }
    : { name: "certificates", ok: false, detail: `${answers} certified answers kept, audit found ${valid} valid and ${invalid} invalid certificates` }

/**
 * What the Byzantine replica did and what the correct replicas caught (a
 * statement, not a check: a strategy may find nothing to act on, e.g.
 * stale-view before the first view change).
 */
export const misbehaviour = (
  replica: number,
  byzantine: ReplicaStatus | undefined,
  correct: ReadonlyArray<ReplicaStatus>
): string => {
  const evidence = correct.reduce((n, s) => n + s.evidence, 0)
  const caught = evidence > 0 ? `; the correct replicas kept ${evidence} piece${evidence === 1 ? "" : "s"} of signed evidence` : ""
  if (byzantine === undefined) return `replica ${replica} (Byzantine) did not answer at the end${caught}`
  const actions = Object.entries(byzantine.byzantineActions).sort(([a], [b]) => (a < b ? -1 : 1))
  const total = actions.reduce((n, [, k]) => n + k, 0)
  if (total === 0) return `replica ${replica} (Byzantine) found nothing to tamper with in this run${caught}`
  return `replica ${replica} (Byzantine) tampered with ${total} messages since its last start (${actions.map(([k, n]) => `${k} ${n}`).join(", ")})${caught}`
}
