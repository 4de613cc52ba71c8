/** `synod-ledger transfer`: a signed transfer, ordered by PBFT, with its reply certificate kept. */
import type { FileSystem } from "@effect/platform"
import { Effect, Schema } from "effect"
import * as crypto from "node:crypto"
import * as Args from "../Args.js"
import * as CertificateStore from "../CertificateStore.js"
import * as CliError from "../CliError.js"
import * as ClusterDir from "../ClusterDir.js"
import { AccountName, OperationId } from "../Commands.js"
import { clientPeer } from "@synod/core"
import { Output } from "../Terminal.js"
import { makeWallet } from "../Wallet.js"
import { describeError, replicaList } from "./Describe.js"
import { commonFlags, withClient } from "./Session.js"

export const spec = {
  from: Args.requiredText("from", "account to debit; the client of the same name signs", "<account>"),
  to: Args.requiredText("to", "account to credit", "<account>"),
  amount: Args.amount("amount", "units to move: a whole number, at least 1"),
  id: Args.optionalText("id", "operation id; repeating a transfer with the same id applies it at most once (default: fresh)", "<id>"),
  ...commonFlags
}

export const summary = "move units from one account to another"

export const freshId = (from: string): string => `${from}-${Date.now().toString(36)}-${crypto.randomBytes(4).toString("hex")}`

export const run = (flags: Args.Parsed<typeof spec>): Effect.Effect<void, CliError.CliError, FileSystem.FileSystem | Output> =>
  Effect.gen(function*() {
    const out = yield* Output
    const s = out.style
    if (!Schema.is(AccountName)(flags.to)) return yield* CliError.usage(`--to: ${JSON.stringify(flags.to)} is not an account name`)
    if (!Schema.is(AccountName)(flags.from)) return yield* CliError.usage(`--from: ${JSON.stringify(flags.from)} is not an account name`)
    const id = flags.id ?? freshId(flags.from)
    if (!Schema.is(OperationId)(id)) return yield* CliError.usage(`--id: ${JSON.stringify(id)} is not an operation id (1 to 128 letters, digits, '.', '_', ':' or '-')`)
    const session = { dir: flags.dir, client: flags.from, key: flags.key, timeoutSeconds: flags.timeout }
    yield* withClient(session, (client, cluster) =>
      Effect.gen(function*() {
        const pair = yield* ClusterDir.privateKey(cluster, clientPeer(flags.from), flags.key)
        const transfer = makeWallet(pair).transfer(id, flags.from, flags.to, flags.amount)
        const answer = yield* client.submit(transfer)
        const summaryLine = `transfer ${id} ${flags.from} -> ${flags.to} ${flags.amount}`
        yield* CertificateStore.append(cluster, CertificateStore.recordOf(flags.from, answer, summaryLine, new Date()))
        const proof = `certified by ${replicaList(answer.replicas)} at sequence ${answer.index}; kept in ${CertificateStore.fileOf(cluster, flags.from)}`
        const r = answer.result
        if (r._tag === "Applied") {
          yield* out.out(
            r.replayed
              ? `${s.yellow("already done")}: transfer ${id} was applied before; nothing moved again (${flags.from} has ${r.balance} units)`
              : `${s.green("transferred")} ${flags.amount} from ${flags.from} to ${flags.to}; ${flags.from} now has ${r.balance} units (transfer ${id})`
          )
          yield* out.out(s.dim(`  ${proof}`))
          return
        }
        if (r._tag === "Failed") {
          yield* out.out(s.dim(`  ${proof}`))
          return yield* CliError.refused(`the ledger refused the transfer: ${describeError(r.error)}`)
        }
        return yield* CliError.internal(`unexpected answer ${r._tag} to a transfer`)
      }))
  })
