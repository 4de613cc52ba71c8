/**
 * `synod-ledger`: the ledger's command line, as an Effect program.
 *
 *   synod-ledger init      create a cluster directory
 *   synod-ledger replica   run one replica
 *   synod-ledger transfer  move units between accounts
 *   synod-ledger balance   an account's balance
 *   synod-ledger history   an account's recent entries
 *   synod-ledger audit     verify the kept reply certificates
 *
 * `run(argv)` never fails: every error is printed (with a hint where there
 * is one) and becomes the exit code of `CliError.ts`.
 */
import type { FileSystem } from "@effect/platform"
import { Cause, Effect, Either, type Scope } from "effect"
import * as Args from "./Args.js"
import * as CliError from "./CliError.js"
import * as Audit from "./commands/Audit.js"
import * as Init from "./commands/Init.js"
import * as Queries from "./commands/Queries.js"
import * as Replica from "./commands/Replica.js"
import * as Transfer from "./commands/Transfer.js"
import { Output } from "./Terminal.js"

type Env = FileSystem.FileSystem | Output | Scope.Scope

interface CommandDef {
  readonly name: string
  readonly summary: string
  readonly usage: string
  readonly spec: Record<string, Args.Flag<any>>
  readonly positionals: number
  readonly run: (flags: any, positionals: ReadonlyArray<string>) => Effect.Effect<void, CliError.CliError, Env>
}

const command = <S extends Record<string, Args.Flag<any>>>(def: {
  readonly name: string
  readonly summary: string
  readonly usage: string
  readonly spec: S
  readonly positionals?: number
  readonly run: (flags: Args.Parsed<S>, positionals: ReadonlyArray<string>) => Effect.Effect<void, CliError.CliError, Env>
}): CommandDef => ({ ...def, positionals: def.positionals ?? 0 })

export const commands: ReadonlyArray<CommandDef> = [
  command({ name: "init", summary: Init.summary, usage: "init [--dir <path>] [--replicas 4] [--clients a,b,c]", spec: Init.spec, run: Init.run }),
  command({ name: "replica", summary: Replica.summary, usage: "replica --id <n> [--dir <path>] [--byzantine <strategy>]", spec: Replica.spec, run: Replica.run }),
  command({ name: "transfer", summary: Transfer.summary, usage: "transfer --from <account> --to <account> --amount <units>", spec: Transfer.spec, run: Transfer.run }),
  command({ name: "balance", summary: Queries.balanceSummary, usage: "balance <account>", spec: Queries.balanceSpec, positionals: 1, run: Queries.balance }),
  command({ name: "history", summary: Queries.historySummary, usage: "history <account> [--limit 20]", spec: Queries.historySpec, positionals: 1, run: Queries.history }),
  command({ name: "audit", summary: Audit.summary, usage: "audit [--dir <path>] [--as <client>]", spec: Audit.spec, run: Audit.run })
]

const overview = (): ReadonlyArray<string> => [
  "synod-ledger: a Byzantine-tolerant ledger on PBFT",
  "",
  "usage: synod-ledger <command> [options]",
  "",
  ...commands.map((c) => `  ${c.name.padEnd(9)} ${c.summary}`),
  "",
  "first steps:",
  "  synod-ledger init                                   # writes ./ledger-cluster",
  "  synod-ledger replica --id 0   (and 1, 2, 3, each in its own terminal)",
  "  synod-ledger transfer --from alice --to bob --amount 10",
  "",
  "synod-ledger help <command> shows a command's options."
]

const commandHelp = (c: CommandDef): ReadonlyArray<string> => [
  `synod-ledger ${c.usage}`,
  "",
  `  ${c.summary}`,
  "",
  "options:",
  ...Args.helpLines(c.spec)
]

const isHelp = (a: string) => a === "--help" || a === "-h"

const dispatch = (argv: ReadonlyArray<string>): Effect.Effect<void, CliError.CliError, Env> =>
  Effect.gen(function*() {
    const out = yield* Output
    const [name, ...rest] = argv
    if (name === undefined || isHelp(name) || (name === "help" && rest.length === 0)) {
      for (const line of overview()) yield* out.out(line)
      return
    }
    const wanted = name === "help" ? rest[0]! : name
    const def = commands.find((c) => c.name === wanted)
    if (def === undefined) {
      return yield* CliError.usage(`unknown command ${JSON.stringify(wanted)}`, `commands: ${commands.map((c) => c.name).join(", ")} (synod-ledger help)`)
    }
    if (name === "help" || rest.some(isHelp)) {
      for (const line of commandHelp(def)) yield* out.out(line)
      return
    }
    const parsed = Args.parse(def.name, def.spec, rest, def.positionals)
    if (Either.isLeft(parsed)) return yield* parsed.left
    yield* def.run(parsed.right.flags, parsed.right.positionals)
  })

/** Run a command line; succeeds with the process exit code. */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<number, never, FileSystem.FileSystem | Output> =>
  Effect.gen(function*() {
    const out = yield* Output
    const s = out.style
    const report = (e: CliError.CliError) =>
      Effect.gen(function*() {
        yield* out.err(`${s.red("error:")} ${e.detail}`)
        if (e.hint !== undefined) yield* out.err(`${s.dim("hint:")} ${e.hint}`)
        return e.exitCode
      })
    return yield* Effect.scoped(dispatch(argv)).pipe(
      Effect.as(0),
      Effect.catchAll(report),
      Effect.catchAllDefect((defect) =>
        report(CliError.internal(`internal error: ${defect instanceof Error ? defect.stack ?? defect.message : String(defect)}`))
      ),
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause) ? Effect.succeed(130) : report(CliError.internal(`internal error: ${Cause.pretty(cause)}`))
      )
    )
  })
