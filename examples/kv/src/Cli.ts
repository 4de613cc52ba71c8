/**
 * `synod-kv`: the key-value store's command line, as an Effect program.
 *
 *   synod-kv init      create a cluster directory
 *   synod-kv replica   run one replica
 *   synod-kv get | put | delete | cas
 *   synod-kv load      closed-loop load with a history for the linearizability checker
 *
 * `run(argv)` never fails: every error is printed (with a hint where there
 * is one) and becomes the exit code of `CliError.ts`.
 */
import type { FileSystem } from "@effect/platform"
import { Cause, Effect, Either, type Scope } from "effect"
import * as Args from "./Args.js"
import * as CliError from "./CliError.js"
import * as Init from "./commands/Init.js"
import * as Load from "./commands/Load.js"
import * as Ops from "./commands/Ops.js"
import * as Replica from "./commands/Replica.js"
import { Output } from "./Output.js"

type Env = FileSystem.FileSystem | Output | Scope.Scope

interface CommandDef {
  readonly name: string
  readonly summary: string
  readonly usage: string
  readonly spec: Args.Spec
  /** Bare words: how many, and their names for messages. */
  readonly words: readonly string[]
  readonly run: (flags: any, words: ReadonlyArray<string>) => Effect.Effect<void, CliError.CliError, Env>
}

const command = <S extends Args.Spec>(def: {
  readonly name: string
  readonly summary: string
  readonly usage: string
  readonly spec: S
  readonly words?: readonly string[]
  readonly run: (flags: Args.Parsed<S>, words: ReadonlyArray<string>) => Effect.Effect<void, CliError.CliError, Env>
}): CommandDef => ({ ...def, words: def.words ?? [] })

const op = (name: Ops.OpName): CommandDef =>
  command({
    name,
    summary: Ops.summaries[name],
    usage: `${name} ${Ops.arity[name].join(" ")} [--dir <path>] [--json] [--timeout <seconds>]`,
    spec: Ops.spec,
    words: Ops.arity[name],
    run: Ops.run(name)
  })

export const commands: ReadonlyArray<CommandDef> = [
  command({ name: "init", summary: Init.summary, usage: "init [--dir <path>] [--replicas 3] [--base-port 7100]", spec: Init.spec, run: Init.run }),
  command({ name: "replica", summary: Replica.summary, usage: "replica --id <n> [--dir <path>] [--status-port <port>]", spec: Replica.spec, run: Replica.run }),
  op("get"),
  op("put"),
  op("delete"),
  op("cas"),
  command({
    name: "load",
    summary: Load.summary,
    usage: "load [--dir <path>] [--clients 8] [--duration 10] [--keys 16] [--history <file>]",
    spec: Load.spec,
    run: Load.run
  })
]

const overview: ReadonlyArray<string> = [
  "synod-kv: a linearizable key-value store on Multi-Paxos",
  "",
  "usage: synod-kv <command> [options]",
  "",
  ...commands.map((c) => `  ${c.name.padEnd(8)} ${c.summary}`),
  "",
  "first steps:",
  "  synod-kv init                                # writes ./kv-cluster (3 replicas on 127.0.0.1:7100-7102)",
  "  synod-kv replica --id 0   (and 1, 2, each in its own terminal)",
  "  synod-kv put greeting hello && synod-kv get greeting",
  "  synod-kv load --clients 16 --duration 10 --history history.jsonl",
  "",
  "synod-kv help <command> shows a command's options."
]

const commandHelp = (c: CommandDef): ReadonlyArray<string> => [`synod-kv ${c.usage}`, "", `  ${c.summary}`, "", "options:", ...Args.helpLines(c.spec)]

const isHelp = (a: string) => a === "--help" || a === "-h"

const dispatch = (argv: ReadonlyArray<string>): Effect.Effect<void, CliError.CliError, Env> =>
  Effect.gen(function*() {
    const out = yield* Output
    const [name, ...rest] = argv
    if (name === undefined || isHelp(name) || (name === "help" && rest.length === 0)) {
      for (const line of overview) yield* out.out(line)
      return
    }
    const wanted = name === "help" ? rest[0]! : name
    const def = commands.find((c) => c.name === wanted)
    if (def === undefined) {
      return yield* CliError.usage(`unknown command ${JSON.stringify(wanted)}`, `commands: ${commands.map((c) => c.name).join(", ")} (synod-kv help)`)
    }
    if (name === "help" || rest.some(isHelp)) {
      for (const line of commandHelp(def)) yield* out.out(line)
      return
    }
    const words = { min: def.words.length, max: def.words.length, names: def.words.join(" ") }
    const parsed = Args.parse(def.name, def.spec, rest, words)
    if (Either.isLeft(parsed)) return yield* parsed.left
    yield* def.run(parsed.right.flags, parsed.right.positionals)
  })

/** Run a command line; succeeds with the process exit code. */
export const run = (argv: ReadonlyArray<string>): Effect.Effect<number, never, FileSystem.FileSystem | Output> =>
  Effect.gen(function*() {
    const out = yield* Output
    const report = (e: CliError.CliError) =>
      Effect.gen(function*() {
        yield* out.err(`error: ${e.detail}`)
        if (e.hint !== undefined) yield* out.err(`hint: ${e.hint}`)
        return e.exitCode
      })
    return yield* Effect.scoped(dispatch(argv)).pipe(
      Effect.as(0),
      Effect.catchAll(report),
      Effect.catchAllCause((cause) =>
        Cause.isInterruptedOnly(cause)
          ? Effect.succeed(130)
          : report(CliError.internal(`internal error: ${Cause.pretty(cause)}`))
      )
    )
  })
