/**
 * Every way a `synod-kv` command can fail, with its exit code. A user
 * mistake gets one sentence saying what is wrong and, where there is one, a
 * `hint` with the command that fixes it.
 *
 *   code  kind         examples
 *   1     internal     a bug, or an error nobody anticipated
 *   2     usage        unknown command or flag, a value that does not parse
 *   3     config       missing or damaged cluster directory, wrong key, database in use
 *   4     unreachable  no answer within the timeout: the outcome of a write is unknown
 *   5     refused      the cluster refused the request: it definitely had no effect
 *   6     cas-failed   compare-and-set found another value: nothing was written
 */
import { Data } from "effect"

export type CliErrorKind = "internal" | "usage" | "config" | "unreachable" | "refused" | "cas-failed"

export const EXIT_CODES: Record<CliErrorKind, number> = {
  internal: 1,
  usage: 2,
  config: 3,
  unreachable: 4,
  refused: 5,
  "cas-failed": 6
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

const make = (kind: CliErrorKind) => (detail: string, hint?: string) =>
  new CliError(hint === undefined ? { kind, detail } : { kind, detail, hint })

export const usage = make("usage")
export const config = make("config")
export const unreachable = make("unreachable")
export const refused = make("refused")
export const casFailed = make("cas-failed")
export const internal = make("internal")
