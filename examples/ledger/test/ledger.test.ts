import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck, Schema } from "effect"
import { Crypto } from "@synod/core"
import { Command, GetBalance, GetHistory, GetTotals, makeLedger, makeWallet, Result, Transfer } from "../src/index.js"
import type { Wallet } from "../src/index.js"

const alice = makeWallet(Crypto.generateEd25519())
const bob = makeWallet(Crypto.generateEd25519())
const mallory = makeWallet(Crypto.generateEd25519())
const bank = makeWallet(Crypto.generateEd25519())
const ledger = makeLedger({ minters: [bank.publicKey] })

const setup = () => {
  const sm = ledger.make()
  let index = 0
  const run = (c: Command) => sm.apply(c, { index: ++index, clientId: "c", seq: index })
  expect(run(alice.open("alice"))._tag).toBe("Opened")
  expect(run(bob.open("bob"))._tag).toBe("Opened")
  expect(run(bank.mint("m1", "alice", 1000n))).toMatchObject({ _tag: "Applied", balance: 1000n })
  return { sm, run }
}

const balance = (sm: ReturnType<typeof ledger.make>, account: string) => {
  const r = sm.query(new GetBalance({ account: account as never }))
  return r._tag === "Balance" ? r.balance : undefined
}

const errorTag = (r: Result) => (r._tag === "Failed" ? r.error._tag : r._tag)

describe("ledger state machine", () => {
  it("moves funds with the owner's signature and keeps supply", () => {
    const { sm, run } = setup()
    expect(run(alice.transfer("t1", "alice", "bob", 300n))).toMatchObject({ _tag: "Applied", balance: 700n, replayed: false })
    expect(balance(sm, "alice")).toBe(700n)
    expect(balance(sm, "bob")).toBe(300n)
    expect(sm.query(new GetTotals())).toMatchObject({ supply: 1000n, minted: 1000n, accounts: 2 })
    expect(sm.invariants?.()).toEqual([])
  })

  it("refuses a transfer signed by someone other than the owner", () => {
    const { sm, run } = setup()
    expect(errorTag(run(mallory.transfer("t1", "alice", "bob", 1n)))).toBe("NotOwner")
    expect(balance(sm, "alice")).toBe(1000n)
    // the forged attempt must not burn the id: the owner can still use it
    expect(run(alice.transfer("t1", "alice", "bob", 1n))._tag).toBe("Applied")
  })

  it("refuses a transfer whose signed fields were altered", () => {
    const { sm, run } = setup()
    const t = alice.transfer("t1", "alice", "bob", 1n)
    const tampered = new Transfer({ ...t, amount: 999n as Transfer["amount"] })
    expect(errorTag(run(tampered))).toBe("NotOwner")
    expect(balance(sm, "bob")).toBe(0n)
  })

  it("only genesis minters mint", () => {
    const { sm, run } = setup()
    expect(errorTag(run(mallory.mint("m2", "alice", 5n)))).toBe("NotMinter")
    expect(balance(sm, "alice")).toBe(1000n)
  })

  it("answers a retried transfer id with the original outcome and applies it once", () => {
    const { sm, run } = setup()
    const t = alice.transfer("t1", "alice", "bob", 100n)
    expect(run(t)).toMatchObject({ _tag: "Applied", balance: 900n, replayed: false })
    expect(run(t)).toMatchObject({ _tag: "Applied", balance: 900n, replayed: true })
    expect(balance(sm, "bob")).toBe(100n)
    expect(errorTag(run(alice.transfer("t1", "alice", "bob", 5n)))).toBe("DuplicateId")
  })

  it("gives typed errors for insufficient funds, unknown accounts, same account, duplicate open", () => {
    const { run } = setup()
    expect(errorTag(run(bob.transfer("t2", "bob", "alice", 1n)))).toBe("InsufficientFunds")
    expect(errorTag(run(alice.transfer("t3", "alice", "nobody", 1n)))).toBe("UnknownAccount")
    expect(errorTag(run(alice.transfer("t4", "nobody", "alice", 1n)))).toBe("UnknownAccount")
    expect(errorTag(run(alice.transfer("t5", "alice", "alice", 1n)))).toBe("SameAccount")
    expect(errorTag(run(mallory.open("alice")))).toBe("AccountExists")
  })

  it("rejects amounts that are not positive integers at decode time", () => {
    const decode = Schema.decodeUnknownEither(Command)
    const base = Schema.encodeSync(Command)(alice.transfer("t1", "alice", "bob", 1n)) as Record<string, unknown>
    for (const amount of ["0", "-5", "1.5", "1e3", "9223372036854775808", "abc"]) {
      expect(Either.isLeft(decode({ ...base, amount })), amount).toBe(true)
    }
    expect(Either.isRight(decode(base))).toBe(true)
  })

  it("keeps a bounded, ordered history per account", () => {
    const { sm, run } = setup()
    run(alice.transfer("t1", "alice", "bob", 10n))
    run(alice.transfer("t2", "alice", "bob", 20n))
    const h = sm.query(new GetHistory({ account: "bob" as never, limit: 10 }))
    expect(h._tag).toBe("History")
    if (h._tag === "History") expect(h.entries.map((e) => [e.id, e.kind, e.balanceAfter])).toEqual([["t1", "credit", 10n], ["t2", "credit", 30n]])
  })

  it.prop("random operations conserve supply, never go negative, and snapshot round-trips", [
    FastCheck.array(FastCheck.tuple(FastCheck.integer({ min: 0, max: 3 }), FastCheck.integer({ min: 0, max: 3 }), FastCheck.bigInt({ min: 1n, max: 500n }), FastCheck.integer({ min: 0, max: 30 })), { maxLength: 60 })
  ], ([ops]) => {
    const wallets: Array<[string, Wallet]> = [["a0", alice], ["a1", bob], ["a2", mallory], ["a3", bank]]
    const sm = ledger.make()
    let i = 0
    for (const [name, w] of wallets) sm.apply(w.open(name), { index: ++i, clientId: "c", seq: i })
    sm.apply(bank.mint("seed", "a0", 1000n), { index: ++i, clientId: "c", seq: i })
    for (const [from, to, amount, id] of ops) {
      const [fromName, w] = wallets[from]!
      sm.apply(w.transfer(`x${id}`, fromName, wallets[to]![0], amount), { index: ++i, clientId: "c", seq: i })
      expect(sm.invariants?.()).toEqual([])
    }
    const copy = ledger.make()
    const encoded = Schema.encodeSync(ledger.snapshot)(sm.snapshot())
    copy.restore(Schema.decodeUnknownSync(ledger.snapshot)(JSON.parse(JSON.stringify(encoded))))
    expect(copy.digest()).toBe(sm.digest())
  }, { fastCheck: { numRuns: 30 } })
})
