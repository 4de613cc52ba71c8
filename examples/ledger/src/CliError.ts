/**
 * Every way a `synod-ledger` command can fail, with the exit code it gives.
 * A user mistake gets one sentence saying what is wrong and, where there is
 * one, a `hint` with the command that fixes it.
 *
 *   code  kind         examples
 *   1     internal     a bug, or an error nobody anticipated
 *   2     usage        unknown command or flag, bad amount, bad number
 *   3     config       missing cluster directory, damaged files, wrong key
 *   4     unreachable  no reply from a quorum of replicas within the timeout
 *   5     refused      the ledger executed the command and said no (insufficient funds, ...)
 *   6     audit        a kept reply certificate does not verify
 */
import { Data } from "effect"

export type CliErrorKind = "internal" | "usage" | "config" | "unreachable" | "refused" | "audit"

export const EXIT_CODES: Record<CliErrorKind, number> = {
  internal: 1,
  usage: 2,
  config: 3,
  unreachable: 4,
  refused: 5,
  audit: 6
}

export class CliError extends Data.TaggedError("CliError")<{
  readonly kind: CliErrorKind
  readonly detail: string
  readonly hint?: string
}> {
  override get message() {
    return this.detail
  }

  get exitCode(): number {
    return EXIT_CODES[this.kind]
  }
}

export const usage = (detail: string, hint?: string) => new CliError(hint === undefined ? { kind: "usage", detail } : { kind: "usage", detail, hint })
export const config = (detail: string, hint?: string) => new CliError(hint === undefined ? { kind: "config", detail } : { kind: "config", detail, hint })
export const unreachable = (detail: string, hint?: string) =>
  new CliError(hint === undefined ? { kind: "unreachable", detail } : { kind: "unreachable", detail, hint })
export const refused = (detail: string) => new CliError({ kind: "refused", detail })
export const auditFailed = (detail: string) => new CliError({ kind: "audit", detail })
export const internal = (detail: string) => new CliError({ kind: "internal", detail })
