/**
 * `synod-ledger audit`: re-verify, offline, every reply certificate the
 * clients kept, with nothing but the cluster file's public keys. Exits 6 if
 * any certificate fails.
 */
import type { FileSystem } from "@effect/platform"
import { ClusterConfig } from "@synod/core"
import { Effect } from "effect"
import * as Args from "../Args.js"
import * as CertificateStore from "../CertificateStore.js"
import * as CliError from "../CliError.js"
import * as ClusterDir from "../ClusterDir.js"
import { Output } from "../Terminal.js"

export const spec = {
  dir: Args.text("dir", "cluster directory", ClusterDir.DEFAULT_DIR, "<path>"),
  as: Args.optionalText("as", "audit only this client's certificates (default: every client)", "<client>"),
  verbose: Args.boolean("verbose", "list every certificate, not only the failures")
}

export const summary = "verify every kept reply certificate against the replicas' public keys"

export const run = (flags: Args.Parsed<typeof spec>): Effect.Effect<void, CliError.CliError, FileSystem.FileSystem | Output> =>
  Effect.gen(function*() {
    const out = yield* Output
    const s = out.style
    const cluster = yield* ClusterDir.load(flags.dir)
    if (flags.as !== undefined) yield* ClusterDir.clientEntry(cluster, flags.as)
    const clients = flags.as !== undefined ? [flags.as] : cluster.config.clients.map((c) => c.id as string)
    const trust = ClusterConfig.quorumSystem(cluster.config)
    yield* out.out(
      `auditing reply certificates of ${cluster.config.clusterId}: a write needs ${trust.f + 1} matching signed replies, a read ${2 * trust.f + 1}`
    )
    let valid = 0
    let invalid = 0
    for (const client of clients) {
      const report = yield* CertificateStore.audit(cluster, client)
      if (report.verdicts.length === 0) continue
      const bad = report.verdicts.filter((v) => v._tag === "Invalid")
      const good = report.verdicts.length - bad.length
      valid += good
      invalid += bad.length
      yield* out.out(
        `  ${s.bold(client.padEnd(12))} ${good} valid${bad.length > 0 ? `, ${s.red(`${bad.length} INVALID`)}` : ""} (${report.file})`
      )
      for (const v of report.verdicts) {
        if (v._tag === "Invalid") yield* out.out(`    ${s.red("✗")} line ${v.line}: ${v.summary}: ${v.reason}`)
        else if (flags.verbose) yield* out.out(`    ${s.green("✓")} ${v.record.summary} (sequence ${v.record.index}, replicas ${v.replicas.join(", ")})`)
      }
    }
    if (valid + invalid === 0) {
      yield* out.out(`no certificates kept yet in ${flags.dir}/clients (every transfer, balance and history answer adds one)`)
      return
    }
    if (invalid > 0) return yield* CliError.auditFailed(`${invalid} of ${valid + invalid} reply certificates do not verify`)
    yield* out.out(`${s.green("✓")} all ${valid} reply certificates verify`)
  })
