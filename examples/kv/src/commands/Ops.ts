/**
 * `synod-kv get | put | delete | cas`: one operation as the client `cli`.
 *
 *   get <key>                     prints the value as JSON ("text", 12, true), or null when the key is absent
 *   put <key> <value>             stores the value
 *   delete <key>                  removes the key
 *   cas <key> <expected> <value>  stores the value if the current one is <expected> (exit 6 if not)
 *
 * Values are strings unless `--json` is given, in which case each value is a
 * JSON scalar (a string in quotes, a number, true or false; null means absent
 * and cannot be stored). Reads are linearizable (Paxos read index).
 */
import type { FileSystem } from "@effect/platform"
import type { ClientShell } from "@synod/core"
import { Kv } from "@synod/core/testing"
import { Effect, Either, Schema } from "effect"
import * as Args from "../Args.js"
import * as CliError from "../CliError.js"
import * as ClusterDir from "../ClusterDir.js"
import * as KvClient from "../KvClient.js"
import { Output } from "../Output.js"

export const spec = {
  dir: Args.text("dir", "cluster directory", ClusterDir.DEFAULT_DIR, "<path>"),
  json: Args.boolean("json", "values are JSON scalars (\"text\", 12, true) instead of plain strings"),
  timeout: Args.seconds("timeout", "give up when the cluster has not answered after this long", 10, { min: 0.1, max: 3600 })
}

export const summaries = {
  get: "read a key (linearizable)",
  put: "store a value under a key",
  delete: "remove a key",
  cas: "compare-and-set: store a value if the key holds the expected one"
} as const

export const arity = { get: ["<key>"], put: ["<key>", "<value>"], delete: ["<key>"], cas: ["<key>", "<expected>", "<value>"] } as const
export type OpName = keyof typeof arity

const isKey = Schema.is(Kv.Key)
const isValue = Schema.is(Kv.Value)

const parseKey = (raw: string): Either.Either<string, CliError.CliError> => {
  const length = raw.length
  return isKey(raw) ? Either.right(raw) : Either.left(CliError.usage(`the key must be 1 to ${Kv.MAX_KEY_LENGTH} characters, got ${length}`))
}

const parseValue = (raw: string, json: boolean, what: string): Either.Either<Kv.Value, CliError.CliError> => {
  let value: unknown = raw
  if (json) {
    try {
      value = JSON.parse(raw)
    } catch {
      return Either.left(CliError.usage(`${what} ${JSON.stringify(raw)} is not JSON (with --json, a string needs quotes: '"text"')`))
    }
    if (value === null) return Either.left(CliError.usage(`${what} cannot be null: null means an absent key`))
  }
  return isValue(value)
    ? Either.right(value)
    : Either.left(CliError.usage(`${what} must be a string of at most ${Kv.MAX_VALUE_LENGTH} characters, a finite number or a boolean`))
}

const show = (v: Kv.Value | undefined): string => (v === undefined ? "nothing (the key was absent)" : JSON.stringify(v))

/** The command a command line asks for. */
export const commandOf = (op: OpName, words: ReadonlyArray<string>, json: boolean): Either.Either<Kv.Command, CliError.CliError> =>
  Either.gen(function*() {
    const key = yield* parseKey(words[0]!)
    switch (op) {
      case "get":
        return { _tag: "Get", key } as const
      case "delete":
        return { _tag: "Delete", key } as const
      case "put":
        return { _tag: "Put", key, value: yield* parseValue(words[1]!, json, "the value") } as const
      case "cas":
        return { _tag: "Cas", key, expected: yield* parseValue(words[1]!, json, "the expected value"), value: yield* parseValue(words[2]!, json, "the value") } as const
    }
  })

const failure = (cluster: ClusterDir.Cluster, client: KvClient.KvClient, write: boolean, seconds: number) => (e: ClientShell.ClientError) =>
  Effect.gen(function*() {
    switch (e._tag) {
      case "ClientRejected":
        return CliError.refused(`the cluster refused the request (it had no effect): ${e.reason}`)
      case "ClientTimedOut":
      case "ClientOverloaded": {
        const connected = yield* client.connectedReplicas
        const n = cluster.config.replicas.length
        const outcome = write ? "; the write may or may not have taken effect" : ""
        const start = `start them with: synod-kv replica --dir ${cluster.layout.dir} --id <${n === 1 ? "0" : `0..${n - 1}`}> (one process each)`
        if (connected === 0) {
          return CliError.unreachable(`no answer within ${seconds} s: none of the ${n} replicas accepts connections (${cluster.config.replicas.map((r) => r.address).join(", ")})${outcome}`, start)
        }
        if (connected < Math.floor(n / 2) + 1) {
          return CliError.unreachable(`no answer within ${seconds} s: only ${connected} of ${n} replicas are reachable and Paxos needs a majority${outcome}`, start)
        }
        return CliError.unreachable(`no answer within ${seconds} s although ${connected} of ${n} replicas are connected (electing a leader?)${outcome}`, "try again, or give it longer with --timeout")
      }
      case "ClientClosed":
      case "ClientUndecodableResult":
        return CliError.internal(`the client failed: ${e._tag}: ${"detail" in e ? e.detail : ""}`)
    }
  })

export const run = (op: OpName) => (flags: Args.Parsed<typeof spec>, words: ReadonlyArray<string>): Effect.Effect<void, CliError.CliError, FileSystem.FileSystem | Output> =>
  Effect.scoped(Effect.gen(function*() {
    const out = yield* Output
    const command = yield* commandOf(op, words, flags.json)
    const cluster = yield* ClusterDir.load(flags.dir)
    const client = yield* KvClient.open(cluster, ClusterDir.CLI_CLIENT, { timeoutSeconds: flags.timeout })
    const result = yield* client.submit(command).pipe(
      Effect.catchAll((e) => Effect.flatMap(failure(cluster, client, command._tag !== "Get", flags.timeout)(e), Effect.fail))
    )
    switch (result._tag) {
      case "Got":
        return yield* out.out(result.value === undefined ? "null" : JSON.stringify(result.value))
      case "Stored":
        return yield* out.out(`stored; it replaced ${show(result.previous)}`)
      case "Deleted":
        return yield* out.out(result.previous === undefined ? "nothing to delete: the key was absent" : `deleted ${show(result.previous)}`)
      case "CasResult":
        if (result.ok) return yield* out.out(`swapped ${show(result.current)} for the new value`)
        return yield* CliError.casFailed(`not swapped: the key holds ${show(result.current)}, not the expected value`)
    }
  }))
