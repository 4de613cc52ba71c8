/**
 * The ledger in the deterministic simulator (`npm run sim -- --protocol pbft
 * --state-machine ledger`): a state machine with a fixed genesis, a workload
 * of signed operations, and a check of client histories.
 *
 * Keys are derived from fixed seeds, so every run (and every replay of a seed)
 * signs the same bytes. The workload, per request:
 *   70%  a transfer between two of the genesis accounts, signed by the owner
 *    8%  a mint by the genesis minter
 *    7%  a retry of an earlier signed transfer (same id: must not apply twice)
 *    5%  a transfer signed by the wrong key (must be refused: NotOwner)
 *   10%  a read: a balance or the totals (half of them on the read-only path)
 */
import { Crypto, Keys, type PeerId, type StateMachine } from "@synod/core"
import { type Checkers, Workload } from "@synod/core/testing"
import { AccountName, type Command, GetBalance, GetTotals, type Result, type Transfer } from "./Commands.js"
import { type LedgerSnapshot, makeLedger } from "./Ledger.js"
import { makeWallet, type Wallet } from "./Wallet.js"

const seeded = (label: string): Wallet =>
  makeWallet(Keys.keyPairFromSeed(`client/${label}` as PeerId, Crypto.fromHex(Crypto.sha256Hex(`synod-ledger-sim/${label}`))))

export const SIM_ACCOUNTS = ["a0", "a1", "a2", "a3"] as const
export const SIM_GENESIS_BALANCE = 1000n

const minter = seeded("minter")
const owners = new Map(SIM_ACCOUNTS.map((a) => [a, seeded(a)] as const))
const intruder = seeded("intruder")

/** The ledger the simulator runs: four funded accounts and one minter, all with seeded keys. */
export const ledgerSimStateMachine: StateMachine.StateMachine<Command, Result, LedgerSnapshot> = makeLedger({
  minters: [minter.publicKey],
  accounts: SIM_ACCOUNTS.map((name) => ({ name, owner: owners.get(name)!.publicKey, balance: SIM_GENESIS_BALANCE }))
})

const codec = Workload.commandCodec(ledgerSimStateMachine)

/** A fresh workload (workloads keep state: one per run). */
export const ledgerWorkload = (): Workload.Workload => {
  let counter = 0
  const sent: Array<Transfer> = []
  const op = (command: Command, readOnly = false): Workload.WorkloadOp => ({ command: codec.encodeCommand(command), readOnly })
  return {
    name: "ledger",
    next: (client, rng) => {
      const roll = rng.next()
      const from = SIM_ACCOUNTS[rng.int(SIM_ACCOUNTS.length)]!
      const others = SIM_ACCOUNTS.filter((a) => a !== from)
      const to = others[rng.int(others.length)]!
      const amount = BigInt(1 + rng.int(200))
      const id = `c${client}.${counter++}`
      if (roll < 0.7) {
        const t = owners.get(from)!.transfer(id, from, to, amount)
        if (sent.length < 256) sent.push(t)
        else sent[rng.int(sent.length)] = t
        return op(t)
      }
      if (roll < 0.78) return op(minter.mint(id, to, amount))
      if (roll < 0.85 && sent.length > 0) return op(sent[rng.int(sent.length)]!)
      if (roll < 0.9) return op(intruder.transfer(id, from, to, amount))
      const read = rng.next() < 0.5 ? new GetBalance({ account: AccountName.make(from) }) : new GetTotals()
      return op(read, rng.next() < 0.5)
    }
  }
}

/**
 * What client histories must show, whatever the interleaving: an operation id
 * is applied (not replayed) at most once; a transfer signed by the wrong key is
 * refused as NotOwner; every totals answer has supply equal to minted; no
 * balance answer is negative.
 */
export const ledgerHistoryCheck: Checkers.HistoryCheck = (ops) => {
  const problems: Array<string> = []
  const appliedBy = new Map<string, string>()
  for (const o of ops) {
    if (o.outcome?._tag !== "Committed") continue
    const command = codec.decodeCommand(o.command)
    const result: Result | undefined = codec.decodeResult(o.outcome.result)
    if (command === undefined || result === undefined) {
      problems.push(`${o.clientId}#${o.seq}: undecodable command or result`)
      continue
    }
    const where = `${o.clientId}#${o.seq}`
    if (result._tag === "Applied" && !result.replayed) {
      const earlier = appliedBy.get(result.id)
      if (earlier !== undefined) problems.push(`operation ${result.id} applied twice (${earlier} and ${where})`)
      appliedBy.set(result.id, where)
    }
    if (command._tag === "Transfer" && isIntruder(command) && !(result._tag === "Failed" && result.error._tag === "NotOwner")) {
      problems.push(`${where}: a transfer signed by the wrong key was answered ${result._tag === "Failed" ? result.error._tag : result._tag}`)
    }
    if (result._tag === "Totals" && result.supply !== result.minted) problems.push(`${where}: supply ${result.supply} differs from minted ${result.minted}`)
    if (result._tag === "Balance" && result.balance < 0n) problems.push(`${where}: negative balance ${result.balance}`)
  }
  return problems
}

/** Ed25519 signatures are deterministic: the intruder's signature over these fields is this one. */
const isIntruder = (t: Transfer): boolean => t.signature === intruder.transfer(t.id, t.from, t.to, t.amount).signature

/** What `npm run sim -- --state-machine ledger` loads (tools/sim.ts's state-machine registry). */
export const simStateMachine = (): {
  readonly stateMachine: StateMachine.AnyStateMachine
  readonly workload: () => Workload.Workload
  readonly history: Checkers.HistoryCheck
} => ({ stateMachine: ledgerSimStateMachine, workload: ledgerWorkload, history: ledgerHistoryCheck })
