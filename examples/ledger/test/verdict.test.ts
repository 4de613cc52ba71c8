import { describe, expect, it } from "@effect/vitest"
import { Crypto } from "@synod/core"
import * as Verdict from "../src/demo/Verdict.js"
import type { TransferRecord } from "../src/demo/Traffic.js"
import type { Genesis } from "../src/Ledger.js"
import type { LedgerView, ReplicaStatus } from "../src/ReplicaStatus.js"
import { makeWallet } from "../src/Wallet.js"

const alice = makeWallet(Crypto.generateEd25519())
const bob = makeWallet(Crypto.generateEd25519())
const genesis: Genesis = {
  minters: [],
  accounts: [{ name: "alice", owner: alice.publicKey, balance: 100n }, { name: "bob", owner: bob.publicKey, balance: 100n }]
}

const status = (replica: number, over: Partial<ReplicaStatus> = {}): ReplicaStatus => ({
  replica,
  peer: `replica/${replica}`,
  pid: 1,
  byzantine: null,
  role: "backup",
  view: 1,
  primary: 1,
  lastCommitted: 40,
  lastExecuted: 40,
  stableCheckpoint: { seq: 32, digest: "c" },
  stateDigest: "abc",
  supply: 200n,
  minted: 200n,
  accounts: 2,
  operations: 2,
  executed: 2,
  viewChanges: 1,
  evidence: 0,
  rejected: 0,
  stateTransfers: 0,
  byzantineActions: {},
  uptimeMs: 1,
  ...over
})

const record = (id: string, amount: bigint, outcome: TransferRecord["outcome"], from = "alice", to = "bob"): TransferRecord => ({
  client: from,
  transfer: (from === "alice" ? alice : bob).transfer(id, from, to, amount),
  submittedAt: 0,
  completedAt: 1,
  outcome
})
const applied = { _tag: "Applied", index: 1, replicas: [1, 2], replayed: false } as const
const refused = { _tag: "Refused", index: 2, error: "InsufficientFunds" } as const

/** A replica's ledger view after t1 (alice -> bob 30) and the refused t2. */
const view = (over: Partial<LedgerView> = {}): LedgerView => ({
  lastExecuted: 40,
  stateDigest: "abc",
  accounts: [
    { name: "alice", balance: 70n, history: [{ index: 0, id: "genesis", kind: "mint" }, { index: 5, id: "t1", kind: "debit" }] },
    { name: "bob", balance: 130n, history: [{ index: 0, id: "genesis", kind: "mint" }, { index: 5, id: "t1", kind: "credit" }] }
  ],
  operations: [{ id: "t1", applied: true }, { id: "t2", applied: false }],
  ...over
})

describe("demo verdict", () => {
  it("agreement holds only for the same digest at the same sequence number", () => {
    expect(Verdict.agreement([status(1), status(2), status(3)]).ok).toBe(true)
    const differs = Verdict.agreement([status(1), status(2, { stateDigest: "xyz" })])
    expect(differs.ok).toBe(false)
    expect(differs.detail).toContain("replica 2 at 40 has xyz")
    expect(Verdict.agreement([status(1), status(2, { lastExecuted: 39 })]).ok).toBe(false)
    expect(Verdict.agreement([]).ok).toBe(false)
  })

  it("supply must equal minted and the genesis supply on every correct replica", () => {
    expect(Verdict.supply([status(1), status(2)], 200n).ok).toBe(true)
    expect(Verdict.supply([status(1), status(2, { supply: 199n })], 200n).detail).toContain("replica 2: supply 199, minted 200, genesis 200")
    expect(Verdict.supply([status(1, { supply: 300n, minted: 300n })], 200n).ok).toBe(false)
  })

  it("exactly-once passes when every acknowledged transfer is applied once and balances match", () => {
    const records = [record("t1", 30n, applied), record("t2", 500n, refused)]
    const check = Verdict.exactlyOnce(genesis, records, new Map([[1, view()], [2, view()]]))
    expect(check).toEqual({
      name: "exactly-once",
      ok: true,
      detail: "1 acknowledged transfers applied exactly once on each of 2 correct replicas (1 refused, none applied); every balance matches"
    })
  })

  it("exactly-once finds a transfer applied twice, a missing one, a refused one applied, a phantom, an unresolved one", () => {
    const records = [record("t1", 30n, applied), record("t2", 500n, refused)]
    const twice = view({
      accounts: [
        { name: "alice", balance: 40n, history: [{ index: 5, id: "t1", kind: "debit" }, { index: 6, id: "t1", kind: "debit" }] },
        { name: "bob", balance: 160n, history: [{ index: 5, id: "t1", kind: "credit" }] }
      ]
    })
    const detail = Verdict.exactlyOnce(genesis, records, new Map([[3, twice]])).detail
    expect(detail).toContain("replica 3: t1 appears twice as debit of alice")
    expect(detail).toContain("replica 3: alice has 40, the acknowledged transfers give 70")

    const missing = view({ operations: [{ id: "t2", applied: false }] })
    expect(Verdict.exactlyOnce(genesis, records, new Map([[1, missing]])).detail).toContain("replica 1 has not applied acknowledged transfer t1")
    const refusedApplied = view({ operations: [{ id: "t1", applied: true }, { id: "t2", applied: true }] })
    expect(Verdict.exactlyOnce(genesis, records, new Map([[1, refusedApplied]])).detail).toContain("replica 1 applied t2, which was answered as not applied")
    const phantom = view({ operations: [{ id: "t1", applied: true }, { id: "zz", applied: true }] })
    expect(Verdict.exactlyOnce(genesis, records, new Map([[1, phantom]])).detail).toContain("replica 1 applied zz, which no client submitted")

    const unresolved = [...records, record("t3", 1n, { _tag: "Unknown", reason: "timeout" })]
    const u = Verdict.exactlyOnce(genesis, unresolved, new Map([[1, view()]]))
    expect(u.ok).toBe(false)
    expect(u.detail).toContain("1 transfers still have no certified outcome (e.g. t3)")
    expect(Verdict.exactlyOnce(genesis, records, new Map()).ok).toBe(false)
  })

  it("certificates: every certified answer kept and valid", () => {
    expect(Verdict.certificates(10, 10, 0).ok).toBe(true)
    expect(Verdict.certificates(10, 9, 0).ok).toBe(false)
    expect(Verdict.certificates(10, 10, 1).ok).toBe(false)
  })
})

describe("demo misbehaviour line", () => {
  it("says what the Byzantine replica did and what evidence the correct replicas kept", () => {
    const byz = status(0, { byzantine: "equivocate", byzantineActions: { "equivocate/split": 40, "equivocate/single": 2 } })
    expect(Verdict.misbehaviour(0, byz, [status(1, { evidence: 2 }), status(2, { evidence: 1 })])).toBe(
      "replica 0 (Byzantine) tampered with 42 messages since its last start (equivocate/single 2, equivocate/split 40); the correct replicas kept 3 pieces of signed evidence"
    )
    expect(Verdict.misbehaviour(0, status(0), [status(1)])).toBe("replica 0 (Byzantine) found nothing to tamper with in this run")
    expect(Verdict.misbehaviour(0, undefined, [])).toBe("replica 0 (Byzantine) did not answer at the end")
  })
})
