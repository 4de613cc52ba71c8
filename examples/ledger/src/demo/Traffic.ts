/**
 * The demo's clients: each owns one account and, until told to stop, sends
 * signed transfers of random amounts to random other accounts, one at a time
 * (PBFT's client model), recording every outcome:
 *
 *   applied   certified by f+1 matching signed replies: the money moved
 *   refused   certified too, but the ledger said no (e.g. insufficient funds)
 *   rejected  refused by the replicas before ordering: definitely not executed
 *   unknown   no certified answer (the client gave up or the run ended): may or may not have executed
 *
 * An unknown outcome is resolved at the end by submitting the same signed
 * transfer again: its id makes that idempotent, so the answer says whether
 * (and how) it was executed.
 */
import { Effect, Ref } from "effect"
import type { CliError } from "../CliError.js"
import type { Transfer } from "../Commands.js"
import { Prng } from "@synod/core/prng"
import type { Answer, LedgerClient } from "../LedgerClient.js"
import type { Wallet } from "../Wallet.js"

export type Outcome =
  | { readonly _tag: "Pending" }
  | { readonly _tag: "Applied"; readonly index: number; readonly replicas: ReadonlyArray<number>; readonly replayed: boolean }
  | { readonly _tag: "Refused"; readonly index: number; readonly error: string }
  | { readonly _tag: "Rejected"; readonly reason: string }
  | { readonly _tag: "Unknown"; readonly reason: string }

export interface TransferRecord {
  readonly client: string
  readonly transfer: Transfer
  readonly submittedAt: number
  outcome: Outcome
  completedAt: number | undefined
}

export class TrafficLog {
  readonly records: Array<TransferRecord> = []
  /** Completion times (ms) of certified answers, for the throughput figure. */
  private readonly certifiedAt: Array<number> = []

  add(record: TransferRecord): void {
    this.records.push(record)
  }

  certified(at: number): void {
    this.certifiedAt.push(at)
  }

  /** Certified answers per second over the last `windowMs`. */
  throughput(now: number, windowMs = 2000): number {
    let n = 0
    for (let i = this.certifiedAt.length - 1; i >= 0 && this.certifiedAt[i]! > now - windowMs; i--) n++
    return n / (windowMs / 1000)
  }

  count(tag: Outcome["_tag"]): number {
    return this.records.filter((r) => r.outcome._tag === tag).length
  }
}

/** The outcome an answer (or a failure to get one) means for a transfer. */
export const outcomeOf = (answer: Answer): Outcome => {
  const r = answer.result
  if (r._tag === "Applied") return { _tag: "Applied", index: answer.index, replicas: answer.replicas, replayed: r.replayed }
  if (r._tag === "Failed") return { _tag: "Refused", index: answer.index, error: r.error._tag }
  return { _tag: "Unknown", reason: `unexpected answer ${r._tag}` }
}

export const failureOutcome = (e: CliError): Outcome =>
  e.kind === "refused" ? { _tag: "Rejected", reason: e.detail } : { _tag: "Unknown", reason: e.detail }

export interface ClientLoop {
  readonly name: string
  readonly client: LedgerClient
  readonly wallet: Wallet
  /** Accounts to pay (not including its own). */
  readonly payees: ReadonlyArray<string>
  readonly seed: number
  /** Largest amount of one transfer. */
  readonly maxAmount: number
  /** Keep a certified answer (the demo appends it to the client's certificate file). */
  readonly keep: (answer: Answer, summary: string) => Effect.Effect<void>
}

/** Send transfers until `stopping` is set; the record of the transfer in flight stays Pending if interrupted. */
export const run = (loop: ClientLoop, log: TrafficLog, stopping: Ref.Ref<boolean>): Effect.Effect<void> =>
  Effect.gen(function*() {
    const rng = new Prng(loop.seed)
    for (let k = 1; !(yield* Ref.get(stopping)); k++) {
      const to = rng.pick(loop.payees)
      const amount = BigInt(1 + rng.int(loop.maxAmount))
      const transfer = loop.wallet.transfer(`${loop.name}-${k}`, loop.name, to, amount)
      const record: TransferRecord = { client: loop.name, transfer, submittedAt: Date.now(), outcome: { _tag: "Pending" }, completedAt: undefined }
      log.add(record)
      const result = yield* Effect.either(loop.client.submit(transfer))
      record.completedAt = Date.now()
      if (result._tag === "Right") {
        record.outcome = outcomeOf(result.right)
        log.certified(record.completedAt)
        yield* loop.keep(result.right, `transfer ${transfer.id} ${transfer.from} -> ${transfer.to} ${transfer.amount}`)
      } else {
        record.outcome = failureOutcome(result.left)
      }
    }
  })
