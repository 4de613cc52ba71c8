/**
 * The reply certificates a client keeps, one JSON line per answered request,
 * in `<dir>/clients/<name>/certificates.jsonl`:
 *
 *   {"format":"synod-ledger-certificate/1","at":"2025-01-01T00:00:00.000Z","client":"alice",
 *    "seq":1736..., "index":812, "readOnly":false, "summary":"transfer t-1 alice -> bob 10",
 *    "command":"<base64>", "result":"<base64>", "certificate":["<base64 signed PBFT reply>", ...]}
 *
 * `audit` re-verifies each line with nothing but the cluster file: the
 * signatures of the replies (against the replicas' public keys), that they
 * come from distinct replicas forming the quorum the request needed, that
 * they agree, and that they certify this client, this request number and
 * exactly the result bytes the client recorded.
 */
import { FileSystem } from "@effect/platform"
import { ClusterConfig } from "@synod/core"
import { verifyReplyCertificate } from "@synod/pbft"
import { Effect, Either, Schema } from "effect"
import * as path from "node:path"
import * as CliError from "./CliError.js"
import type { Cluster } from "./ClusterDir.js"
import type { Answer } from "./LedgerClient.js"
import { resultCodec } from "./LedgerClient.js"

export const CERTIFICATE_FORMAT = "synod-ledger-certificate/1"
export const CERTIFICATES_FILE = "certificates.jsonl"
/** Largest certificate file `audit` reads. */
export const MAX_CERTIFICATE_FILE_BYTES = 256 * 1024 * 1024

const Bytes = Schema.Uint8ArrayFromBase64

export const CertificateRecord = Schema.Struct({
  format: Schema.Literal(CERTIFICATE_FORMAT),
  at: Schema.String,
  client: Schema.String,
  seq: Schema.NonNegativeInt,
  index: Schema.NonNegativeInt,
  readOnly: Schema.Boolean,
  summary: Schema.String,
  command: Bytes,
  result: Bytes,
  certificate: Schema.Array(Bytes)
})
export type CertificateRecord = typeof CertificateRecord.Type

const encodeRecord = Schema.encodeSync(CertificateRecord)
const decodeRecord = Schema.decodeUnknownEither(CertificateRecord, { onExcessProperty: "error" })

export const fileOf = (cluster: Cluster, client: string): string => path.join(cluster.layout.clientDir(client), CERTIFICATES_FILE)

export const recordOf = (client: string, answer: Answer, summary: string, at: Date): CertificateRecord => ({
  format: CERTIFICATE_FORMAT,
  at: at.toISOString(),
  client,
  seq: answer.seq,
  index: answer.index,
  readOnly: answer.readOnly,
  summary,
  command: answer.command,
  result: answer.resultBytes,
  certificate: answer.certificate
})

/** Append one record (creating the client's directory and file as needed). */
export const append = (cluster: Cluster, record: CertificateRecord): Effect.Effect<void, CliError.CliError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const file = fileOf(cluster, record.client)
    const fail = (e: { readonly message: string }) => CliError.config(`cannot keep the reply certificate in ${file}: ${e.message}`)
    yield* fs.makeDirectory(path.dirname(file), { recursive: true }).pipe(Effect.mapError(fail))
    yield* fs.writeFileString(file, JSON.stringify(encodeRecord(record)) + "\n", { flag: "a", mode: 0o644 }).pipe(Effect.mapError(fail))
  })

export type Verdict =
  | { readonly _tag: "Valid"; readonly record: CertificateRecord; readonly replicas: ReadonlyArray<number> }
  | { readonly _tag: "Invalid"; readonly line: number; readonly summary: string; readonly reason: string }

/** Check one record against the cluster's keys and quorum system. */
export const verifyRecord = (cluster: Cluster, record: CertificateRecord, line: number): Verdict => {
  const invalid = (reason: string): Verdict => ({ _tag: "Invalid", line, summary: record.summary, reason })
  const certified = verifyReplyCertificate(
    record.certificate,
    ClusterConfig.quorumSystem(cluster.config),
    ClusterConfig.keyRing(cluster.config),
    { clusterId: cluster.config.clusterId }
  )
  if (Either.isLeft(certified)) return invalid(`${certified.left.reason}: ${certified.left.detail}`)
  const c = certified.right
  if (c.clientId !== record.client) return invalid(`the replies are for client ${c.clientId}, not ${record.client}`)
  if (c.seq !== record.seq) return invalid(`the replies are for request ${c.seq}, not ${record.seq}`)
  if (c.readOnly !== record.readOnly) return invalid("the replies are for another kind of request (read-only flag differs)")
  if (!record.readOnly && c.index !== record.index) return invalid(`the replies say sequence number ${c.index}, the record ${record.index}`)
  if (!Buffer.from(c.result).equals(Buffer.from(record.result))) return invalid("the replies certify a different result than the one recorded")
  if (Either.isLeft(resultCodec.decode(record.result))) return invalid("the certified result is not a ledger result")
  return { _tag: "Valid", record, replicas: c.replicas }
}

export interface AuditReport {
  readonly client: string
  readonly file: string
  readonly verdicts: ReadonlyArray<Verdict>
}

/** Read and verify every record a client kept. A missing file is an empty report. */
export const audit = (cluster: Cluster, client: string): Effect.Effect<AuditReport, CliError.CliError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const file = fileOf(cluster, client)
    const exists = yield* fs.exists(file).pipe(Effect.orElseSucceed(() => false))
    if (!exists) return { client, file, verdicts: [] }
    const info = yield* fs.stat(file).pipe(Effect.mapError((e) => CliError.config(`cannot read ${file}: ${e.message}`)))
    if (info.size > BigInt(MAX_CERTIFICATE_FILE_BYTES)) return yield* CliError.config(`${file} is larger than ${MAX_CERTIFICATE_FILE_BYTES} bytes`)
    const text = yield* fs.readFileString(file).pipe(Effect.mapError((e) => CliError.config(`cannot read ${file}: ${e.message}`)))
    const verdicts: Array<Verdict> = []
    text.split("\n").forEach((raw, i) => {
      if (raw.trim() === "") return
      let json: unknown
      try {
        json = JSON.parse(raw)
      } catch {
        verdicts.push({ _tag: "Invalid", line: i + 1, summary: "(unreadable line)", reason: "not JSON" })
        return
      }
      const record = decodeRecord(json)
      if (Either.isLeft(record)) {
        verdicts.push({ _tag: "Invalid", line: i + 1, summary: "(unreadable line)", reason: "not a certificate record" })
        return
      }
      verdicts.push(verifyRecord(cluster, record.right, i + 1))
    })
    return { client, file, verdicts }
  })
