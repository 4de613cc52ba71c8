/**
 * The ledger as a replicated state machine (`StateMachine` from @synod/core).
 *
 * Invariants, checked by the simulator through `invariants()`:
 *   - total supply (sum of balances) equals total minted;
 *   - no balance is negative.
 * Transfers and mints are idempotent by their operation id: re-applying an id
 * with the same content returns the original outcome (`replayed: true`); the
 * same id with different content is `DuplicateId`. The id table is part of the
 * state and of snapshots, so idempotence survives checkpoints and state
 * transfer. Limits: HISTORY_LIMIT entries kept per account (older ones
 * dropped); the id table grows with the number of operations (documented cost
 * of exactly-once by client-chosen id).
 */
import { Schema } from "effect"
import { Crypto, type StateMachine } from "@synod/core"
import { mintSigningBytes, openSigningBytes, transferSigningBytes, verifySignature } from "./Authorization.js"
import {
  AccountExists,
  AccountName,
  Applied,
  Balance,
  BadSignature,
  Command,
  DuplicateId,
  Failed,
  History,
  HistoryEntry,
  InsufficientFunds,
  type LedgerError,
  MAX_AMOUNT,
  NotMinter,
  NotOwner,
  Opened,
  Overflow,
  PublicKey,
  Result,
  SameAccount,
  Totals,
  UnknownAccount
} from "./Commands.js"
import type { Mint, OpenAccount, Transfer } from "./Commands.js"

export const HISTORY_LIMIT = 1000

/** An account that exists from the start, funded at genesis (its balance counts as minted). */
export interface GenesisAccount {
  readonly name: string
  /** Owner's raw Ed25519 public key, base64url (as in `OpenAccount.owner`). */
  readonly owner: string
  readonly balance: bigint
}

/** Who may mint, and the accounts that exist at genesis. Identical on every replica. */
export interface Genesis {
  readonly minters: ReadonlyArray<string>
  readonly accounts?: ReadonlyArray<GenesisAccount>
}

/** The id of the history entry that records a genesis balance. */
export const GENESIS_ENTRY_ID = "genesis"

/** Why a genesis is unusable (duplicate or malformed account, balance out of range); empty when valid. */
export const genesisProblems = (genesis: Genesis): ReadonlyArray<string> => {
  const out: Array<string> = []
  const names = new Set<string>()
  let total = 0n
  for (const a of genesis.accounts ?? []) {
    if (!Schema.is(AccountName)(a.name)) out.push(`genesis account name ${JSON.stringify(a.name)} is not a valid account name`)
    if (!Schema.is(PublicKey)(a.owner)) out.push(`genesis account ${a.name}: owner is not a base64url Ed25519 public key`)
    if (names.has(a.name)) out.push(`genesis account ${a.name} listed twice`)
    if (a.balance < 0n || a.balance > MAX_AMOUNT) out.push(`genesis account ${a.name}: balance ${a.balance} out of range`)
    names.add(a.name)
    total += a.balance
  }
  if (total > MAX_AMOUNT) out.push(`genesis balances total ${total}, more than ${MAX_AMOUNT}`)
  return out
}

interface Account {
  readonly owner: string
  balance: bigint
  history: Array<HistoryEntry>
}

/** Remembered outcome of an operation id, with a fingerprint of its content. */
interface Done {
  readonly fingerprint: string
  readonly result: Result
}

export class LedgerSnapshot extends Schema.Class<LedgerSnapshot>("LedgerSnapshot")({
  accounts: Schema.Array(Schema.Struct({
    name: Schema.String,
    owner: Schema.String,
    balance: Schema.BigInt,
    history: Schema.Array(HistoryEntry)
  })),
  done: Schema.Array(Schema.Struct({ id: Schema.String, fingerprint: Schema.String, result: Result })),
  minted: Schema.BigInt
}) {}

const fail = (error: LedgerError): Result => new Failed({ error })

const fingerprint = (c: Mint | Transfer): string =>
  c._tag === "Mint" ? `mint|${c.to}|${c.amount}|${c.minter}` : `transfer|${c.from}|${c.to}|${c.amount}`

const pushHistory = (account: Account, entry: HistoryEntry) => {
  account.history.push(entry)
  if (account.history.length > HISTORY_LIMIT) account.history.splice(0, account.history.length - HISTORY_LIMIT)
}

/** Throws a RangeError for an unusable genesis (see `genesisProblems`): a configuration bug, caught at load. */
export const makeLedger = (genesis: Genesis): StateMachine.StateMachine<Command, Result, LedgerSnapshot> => {
  const problems = genesisProblems(genesis)
  if (problems.length > 0) throw new RangeError(`invalid ledger genesis: ${problems.join("; ")}`)
  return ledgerOf(genesis)
}

const ledgerOf = (genesis: Genesis): StateMachine.StateMachine<Command, Result, LedgerSnapshot> => ({
  name: "ledger",
  command: Command,
  result: Result,
  snapshot: LedgerSnapshot,
  make: () => {
    const minters = new Set(genesis.minters)
    let accounts = new Map<string, Account>()
    let done = new Map<string, Done>()
    let minted = 0n
    for (const g of genesis.accounts ?? []) {
      const history = g.balance > 0n
        ? [new HistoryEntry({ index: 0, id: GENESIS_ENTRY_ID, kind: "mint", counterparty: GENESIS_ENTRY_ID, amount: g.balance, balanceAfter: g.balance })]
        : []
      accounts.set(g.name, { owner: g.owner, balance: g.balance, history })
      minted += g.balance
    }

    const remember = (id: string, c: Mint | Transfer, result: Result): Result => {
      done.set(id, { fingerprint: fingerprint(c), result })
      return result
    }

    /** Same id seen before: the original outcome, or DuplicateId if the content differs. */
    const replay = (c: Mint | Transfer): Result | undefined => {
      const prior = done.get(c.id)
      if (prior === undefined) return undefined
      if (prior.fingerprint !== fingerprint(c)) return fail(new DuplicateId({ id: c.id }))
      return prior.result._tag === "Applied"
        ? new Applied({ id: prior.result.id, balance: prior.result.balance, replayed: true })
        : prior.result
    }

    const open = (c: OpenAccount): Result => {
      if (accounts.has(c.account)) return fail(new AccountExists({ account: c.account }))
      if (!verifySignature(c.owner, openSigningBytes(c), c.signature)) {
        return fail(new BadSignature({ detail: "owner signature on open" }))
      }
      accounts.set(c.account, { owner: c.owner, balance: 0n, history: [] })
      return new Opened({ account: c.account })
    }

    const mint = (c: Mint, index: number): Result => {
      const prior = replay(c)
      if (prior !== undefined) return prior
      if (!minters.has(c.minter)) return fail(new NotMinter({ minter: c.minter }))
      if (!verifySignature(c.minter, mintSigningBytes(c), c.signature)) {
        return fail(new BadSignature({ detail: "minter signature" }))
      }
      const to = accounts.get(c.to)
      if (to === undefined) return remember(c.id, c, fail(new UnknownAccount({ account: c.to })))
      if (to.balance + c.amount > MAX_AMOUNT) return remember(c.id, c, fail(new Overflow({ account: c.to })))
      to.balance += c.amount
      minted += c.amount
      pushHistory(to, new HistoryEntry({ index, id: c.id, kind: "mint", counterparty: c.minter, amount: c.amount, balanceAfter: to.balance }))
      return remember(c.id, c, new Applied({ id: c.id, balance: to.balance, replayed: false }))
    }

    const transfer = (c: Transfer, index: number): Result => {
      const prior = replay(c)
      if (prior !== undefined) return prior
      const from = accounts.get(c.from)
      if (from === undefined) return fail(new UnknownAccount({ account: c.from }))
      // Authorization before anything is remembered: an unsigned attempt must not burn the id.
      if (!verifySignature(from.owner, transferSigningBytes(c), c.signature)) {
        return fail(new NotOwner({ account: c.from }))
      }
      if (c.from === c.to) return remember(c.id, c, fail(new SameAccount({ account: c.from })))
      const to = accounts.get(c.to)
      if (to === undefined) return remember(c.id, c, fail(new UnknownAccount({ account: c.to })))
      if (from.balance < c.amount) {
        return remember(c.id, c, fail(new InsufficientFunds({ account: c.from, balance: from.balance, amount: c.amount })))
      }
      if (to.balance + c.amount > MAX_AMOUNT) return remember(c.id, c, fail(new Overflow({ account: c.to })))
      from.balance -= c.amount
      to.balance += c.amount
      pushHistory(from, new HistoryEntry({ index, id: c.id, kind: "debit", counterparty: c.to, amount: c.amount, balanceAfter: from.balance }))
      pushHistory(to, new HistoryEntry({ index, id: c.id, kind: "credit", counterparty: c.from, amount: c.amount, balanceAfter: to.balance }))
      return remember(c.id, c, new Applied({ id: c.id, balance: from.balance, replayed: false }))
    }

    const query = (c: Command): Result => {
      switch (c._tag) {
        case "GetBalance": {
          const a = accounts.get(c.account)
          return a === undefined ? fail(new UnknownAccount({ account: c.account })) : new Balance({ account: c.account, owner: a.owner, balance: a.balance })
        }
        case "GetHistory": {
          const a = accounts.get(c.account)
          return a === undefined
            ? fail(new UnknownAccount({ account: c.account }))
            : new History({ account: c.account, entries: a.history.slice(-c.limit) })
        }
        case "GetTotals": {
          let supply = 0n
          for (const a of accounts.values()) supply += a.balance
          return new Totals({ accounts: accounts.size, supply, minted, operations: done.size })
        }
        default:
          throw new Error(`query called with a writing command ${c._tag}`)
      }
    }

    const snapshot = (): LedgerSnapshot =>
      new LedgerSnapshot({
        accounts: [...accounts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, a]) => ({
          name,
          owner: a.owner,
          balance: a.balance,
          history: a.history
        })),
        done: [...done.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([id, d]) => ({
          id,
          fingerprint: d.fingerprint,
          result: d.result
        })),
        minted
      })

    const encodeSnapshot = Schema.encodeSync(LedgerSnapshot)

    return {
      apply: (c, ctx) => {
        switch (c._tag) {
          case "OpenAccount":
            return open(c)
          case "Mint":
            return mint(c, ctx.index)
          case "Transfer":
            return transfer(c, ctx.index)
          default:
            return query(c)
        }
      },
      query,
      isReadOnly: (c) => c._tag === "GetBalance" || c._tag === "GetHistory" || c._tag === "GetTotals",
      snapshot,
      restore: (s) => {
        accounts = new Map(s.accounts.map((a) => [a.name, { owner: a.owner, balance: a.balance, history: [...a.history] }]))
        done = new Map(s.done.map((d) => [d.id, { fingerprint: d.fingerprint, result: d.result }]))
        minted = s.minted
      },
      // Canonical: snapshot() sorts every collection, so equal states encode to equal bytes.
      digest: () => Crypto.sha256Hex(JSON.stringify(encodeSnapshot(snapshot()))),
      invariants: () => {
        const violations: Array<string> = []
        let supply = 0n
        for (const [name, a] of accounts) {
          if (a.balance < 0n) violations.push(`account ${name} has negative balance ${a.balance}`)
          supply += a.balance
        }
        if (supply !== minted) violations.push(`supply ${supply} differs from minted ${minted}`)
        return violations
      }
    }
  }
})
