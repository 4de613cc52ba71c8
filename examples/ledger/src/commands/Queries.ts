/** `synod-ledger balance` and `history`: reads through PBFT's read-only path (2f+1 matching replies). */
import type { FileSystem } from "@effect/platform"
import { Effect, Schema } from "effect"
import * as Args from "../Args.js"
import * as CertificateStore from "../CertificateStore.js"
import * as CliError from "../CliError.js"
import { AccountName, GetBalance, GetHistory, HistoryEntry } from "../Commands.js"
import type { Cluster } from "../ClusterDir.js"
import { GENESIS_ENTRY_ID } from "../Ledger.js"
import { Output } from "../Terminal.js"
import { describeError, replicaList } from "./Describe.js"
import { commonFlags, withClient } from "./Session.js"

const asFlag = Args.optionalText("as", "client that asks (default: the account's own client, else the first client)", "<client>")

export const balanceSpec = { as: asFlag, ...commonFlags }
export const historySpec = {
  as: asFlag,
  limit: Args.integer("limit", "most recent entries to show", 20, { min: 1, max: 1000 }),
  ...commonFlags
}

export const balanceSummary = "show an account's balance"
export const historySummary = "show an account's recent entries"

const accountArg = (positionals: ReadonlyArray<string>, command: string): Effect.Effect<string, CliError.CliError> => {
  const account = positionals[0]
  if (account === undefined) return Effect.fail(CliError.usage(`${command} needs an account name, e.g. synod-ledger ${command} alice`))
  if (!Schema.is(AccountName)(account)) return Effect.fail(CliError.usage(`${JSON.stringify(account)} is not an account name`))
  return Effect.succeed(account)
}

export const balance = (
  flags: Args.Parsed<typeof balanceSpec>,
  positionals: ReadonlyArray<string>
): Effect.Effect<void, CliError.CliError, FileSystem.FileSystem | Output> =>
  Effect.gen(function*() {
    const out = yield* Output
    const account = yield* accountArg(positionals, "balance")
    yield* withClient(session(flags, account), (client, cluster) =>
      Effect.gen(function*() {
        const answer = yield* client.submit(new GetBalance({ account: AccountName.make(account) }))
        yield* CertificateStore.append(cluster, CertificateStore.recordOf(client.name, answer, `balance ${account}`, new Date()))
        const r = answer.result
        if (r._tag === "Failed") return yield* CliError.refused(describeError(r.error))
        if (r._tag !== "Balance") return yield* CliError.internal(`unexpected answer ${r._tag} to a balance query`)
        yield* out.out(`${out.style.bold(account)}: ${r.balance} units`)
        yield* out.out(out.style.dim(`  certified by ${replicaList(answer.replicas)} (read at sequence ${answer.index})`))
      }))
  })

export const history = (
  flags: Args.Parsed<typeof historySpec>,
  positionals: ReadonlyArray<string>
): Effect.Effect<void, CliError.CliError, FileSystem.FileSystem | Output> =>
  Effect.gen(function*() {
    const out = yield* Output
    const account = yield* accountArg(positionals, "history")
    yield* withClient(session(flags, account), (client, cluster) =>
      Effect.gen(function*() {
        const answer = yield* client.submit(new GetHistory({ account: AccountName.make(account), limit: flags.limit }))
        yield* CertificateStore.append(cluster, CertificateStore.recordOf(client.name, answer, `history ${account}`, new Date()))
        const r = answer.result
        if (r._tag === "Failed") return yield* CliError.refused(describeError(r.error))
        if (r._tag !== "History") return yield* CliError.internal(`unexpected answer ${r._tag} to a history query`)
        if (r.entries.length === 0) yield* out.out(`${account} has no entries yet`)
        for (const line of historyTable(r.entries)) yield* out.out(line)
        yield* out.out(out.style.dim(`  certified by ${replicaList(answer.replicas)} (read at sequence ${answer.index})`))
      }))
  })

/** Aligned rows: sequence, operation id, what happened, counterparty, amount, balance after. */
export const historyTable = (entries: ReadonlyArray<HistoryEntry>): ReadonlyArray<string> => {
  if (entries.length === 0) return []
  const rows = entries.map((e) => [
    e.index === 0 && e.id === GENESIS_ENTRY_ID ? "genesis" : String(e.index),
    e.id,
    e.kind === "debit" ? `to ${e.counterparty}` : e.kind === "credit" ? `from ${e.counterparty}` : "minted",
    `${e.kind === "debit" ? "-" : "+"}${e.amount}`,
    String(e.balanceAfter)
  ])
  const header = ["seq", "operation", "", "amount", "balance"]
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (i >= 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd()
  return [line(header), ...rows.map(line)]
}

/** The client that asks: --as, else the account's own client, else the cluster's first client. */
const askerFor = (as: string | undefined, account: string) => (cluster: Cluster): string =>
  as ?? (cluster.config.clients.some((c) => c.id === account) ? account : cluster.config.clients[0]?.id ?? account)

const session = (flags: { readonly dir: string; readonly key: string | undefined; readonly timeout: number; readonly as: string | undefined }, account: string) => ({
  dir: flags.dir,
  client: askerFor(flags.as, account),
  key: flags.key,
  timeoutSeconds: flags.timeout
})
