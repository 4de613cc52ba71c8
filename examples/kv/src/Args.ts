/**
 * A small typed command-line parser: each flag is a value with a name, a help
 * line and a parse function, and `parse` returns a record typed by the spec.
 * Flags are `--name value` or `--name=value`; booleans are `--name`. Every
 * mistake (unknown flag, missing value, a value that does not parse, too many
 * or too few arguments) is a usage `CliError` naming the flag.
 */
import { Either } from "effect"
import * as CliError from "./CliError.js"

export interface Flag<A> {
  readonly name: string
  readonly help: string
  /** Shown in help, e.g. `<n>`; absent for booleans. */
  readonly valueName?: string
  /** `raw` is undefined when the flag is absent, "" for a present boolean. */
  readonly parse: (raw: string | undefined) => Either.Either<A, string>
}

export type Spec = Record<string, Flag<any>>
export type Parsed<S extends Spec> = { readonly [K in keyof S]: S[K] extends Flag<infer A> ? A : never }

const right = Either.right
const left = Either.left

export const text = (name: string, help: string, fallback: string, valueName = "<text>"): Flag<string> => ({
  name,
  help: `${help} (default: ${fallback})`,
  valueName,
  parse: (raw) => right(raw ?? fallback)
})

export const optionalText = (name: string, help: string, valueName = "<text>"): Flag<string | undefined> => ({
  name,
  help,
  valueName,
  parse: right
})

const parseWhole = (name: string, raw: string, min: number, max: number): Either.Either<number, string> => {
  if (!/^[0-9]+$/.test(raw)) return left(`--${name} must be a whole number, got ${JSON.stringify(raw)}`)
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < min || n > max) return left(`--${name} must be from ${min} to ${max}, got ${raw}`)
  return right(n)
}

export interface Range {
  readonly min: number
  readonly max: number
}

export const integer = (name: string, help: string, fallback: number, range: Range): Flag<number> => ({
  name,
  help: `${help} (default: ${fallback})`,
  valueName: "<n>",
  parse: (raw) => (raw === undefined ? right(fallback) : parseWhole(name, raw, range.min, range.max))
})

export const optionalInteger = (name: string, help: string, range: Range): Flag<number | undefined> => ({
  name,
  help,
  valueName: "<n>",
  parse: (raw) => (raw === undefined ? right(undefined) : parseWhole(name, raw, range.min, range.max))
})

/** Seconds, possibly fractional (`--duration 2.5`). */
export const seconds = (name: string, help: string, fallback: number, range: Range): Flag<number> => ({
  name,
  help: `${help} (default: ${fallback})`,
  valueName: "<seconds>",
  parse: (raw) => {
    if (raw === undefined) return right(fallback)
    if (!/^[0-9]+(\.[0-9]+)?$/.test(raw)) return left(`--${name} must be a number of seconds, got ${JSON.stringify(raw)}`)
    const n = Number(raw)
    return n < range.min || n > range.max ? left(`--${name} must be from ${range.min} to ${range.max} seconds, got ${raw}`) : right(n)
  }
})

export const boolean = (name: string, help: string): Flag<boolean> => ({
  name,
  help,
  parse: (raw) => right(raw !== undefined)
})

export interface ParsedArgs<S extends Spec> {
  readonly flags: Parsed<S>
  readonly positionals: ReadonlyArray<string>
}

/**
 * Parse `argv` (after the command name) against `spec`, with between
 * `positionals.min` and `positionals.max` bare words. A bare `--` ends the
 * flags: what follows is positional even if it starts with `--`.
 */
export const parse = <S extends Spec>(
  command: string,
  spec: S,
  argv: ReadonlyArray<string>,
  positionals: { readonly min: number; readonly max: number; readonly names: string } = { min: 0, max: 0, names: "" }
): Either.Either<ParsedArgs<S>, CliError.CliError> => {
  const byName = new Map<string, [key: string, flag: Flag<any>]>()
  for (const [key, flag] of Object.entries(spec)) byName.set(flag.name, [key, flag])
  const raw = new Map<string, string>()
  const words: Array<string> = []
  const helpHint = `see: synod-kv ${command} --help`
  let flagsEnded = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (flagsEnded || !arg.startsWith("--")) {
      words.push(arg)
      continue
    }
    if (arg === "--") {
      flagsEnded = true
      continue
    }
    const eq = arg.indexOf("=")
    const name = arg.slice(2, eq === -1 ? undefined : eq)
    const entry = byName.get(name)
    if (entry === undefined) return left(CliError.usage(`unknown option --${name} for ${command}`, helpHint))
    const [key, flag] = entry
    if (raw.has(key)) return left(CliError.usage(`--${name} is given twice`, helpHint))
    if (flag.valueName === undefined) {
      if (eq !== -1) return left(CliError.usage(`--${name} takes no value`, helpHint))
      raw.set(key, "")
      continue
    }
    const value = eq !== -1 ? arg.slice(eq + 1) : argv[++i]
    if (value === undefined || (eq === -1 && value.startsWith("--"))) {
      return left(CliError.usage(`--${name} needs a value ${flag.valueName}`, helpHint))
    }
    raw.set(key, value)
  }
  if (words.length > positionals.max) {
    return left(CliError.usage(`unexpected argument ${JSON.stringify(words[positionals.max])} for ${command}`, helpHint))
  }
  if (words.length < positionals.min) {
    return left(CliError.usage(`${command} needs ${positionals.names}`, helpHint))
  }
  const flags: Record<string, unknown> = {}
  for (const [key, flag] of Object.entries(spec)) {
    const parsed = flag.parse(raw.get(key))
    if (Either.isLeft(parsed)) return left(CliError.usage(parsed.left, helpHint))
    flags[key] = parsed.right
  }
  return right({ flags: flags as Parsed<S>, positionals: words })
}

/** Help lines for a spec, aligned. */
export const helpLines = (spec: Spec): ReadonlyArray<string> => {
  const rows = Object.values(spec).map((f) => [`--${f.name}${f.valueName !== undefined ? ` ${f.valueName}` : ""}`, f.help] as const)
  const width = Math.max(0, ...rows.map(([l]) => l.length))
  return rows.map(([l, h]) => `  ${l.padEnd(width)}  ${h}`)
}
