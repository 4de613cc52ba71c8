/**
 * A reference key-value state machine: get / put / delete / compare-and-set on
 * string keys with JSON-scalar values. The simulator's default state machine
 * whose client histories the simulator checks for linearizability (`toHistory`,
 * `checkLinearizable`); the kv example reuses it.
 *
 * Deterministic by construction: state is a Map, but its digest and snapshot
 * iterate keys in sorted order, never insertion order.
 */
import { Schema } from "effect"
import { sha256Hex } from "../Crypto.js"
import type { StateMachine, StateMachineInstance } from "../StateMachine.js"
import type { ClientOp, HistoryCheck } from "./Checkers.js"
import type { HistoryOperation } from "./History.js"
import { checkHistory, formatCheckResult } from "./Linearizability.js"

/** Largest key, in UTF-16 code units. */
export const MAX_KEY_LENGTH = 256
/** Largest string value, in UTF-16 code units. */
export const MAX_VALUE_LENGTH = 4096

export const Key = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(MAX_KEY_LENGTH))
/**
 * A JSON scalar other than null: as in the history format (`History.ts`), null
 * means "absent", so it cannot also be a stored value.
 */
export const Value = Schema.Union(Schema.String.pipe(Schema.maxLength(MAX_VALUE_LENGTH)), Schema.Finite, Schema.Boolean)
export type Value = typeof Value.Type

export const Get = Schema.TaggedStruct("Get", { key: Key })
export const Put = Schema.TaggedStruct("Put", { key: Key, value: Value })
export const Delete = Schema.TaggedStruct("Delete", { key: Key })
/** Set `key` to `value` if its current value is `expected` (an absent key differs from every value). */
export const Cas = Schema.TaggedStruct("Cas", { key: Key, expected: Value, value: Value })

export const Command = Schema.Union(Get, Put, Delete, Cas)
export type Command = typeof Command.Type

export const Got = Schema.TaggedStruct("Got", { value: Schema.optional(Value) })
export const Stored = Schema.TaggedStruct("Stored", { previous: Schema.optional(Value) })
export const Deleted = Schema.TaggedStruct("Deleted", { previous: Schema.optional(Value) })
export const CasResult = Schema.TaggedStruct("CasResult", { ok: Schema.Boolean, current: Schema.optional(Value) })

export const Result = Schema.Union(Got, Stored, Deleted, CasResult)
export type Result = typeof Result.Type

/** Entries in ascending key order. */
export const Snapshot = Schema.Array(Schema.Tuple(Key, Value))
export type Snapshot = typeof Snapshot.Type

/** The state transition, shared by the replicas' instance and the linearizability model. */
export const transition = (state: ReadonlyMap<string, Value>, command: Command): { readonly result: Result; readonly next?: Value | undefined; readonly writes: boolean } => {
  const current = state.get(command.key)
  const had = state.has(command.key)
  const opt = <K extends string>(field: K, v: Value | undefined) => (had ? { [field]: v } : {}) as { [P in K]?: Value }
  switch (command._tag) {
    case "Get":
      return { result: { _tag: "Got", ...opt("value", current) }, writes: false }
    case "Put":
      return { result: { _tag: "Stored", ...opt("previous", current) }, next: command.value, writes: true }
    case "Delete":
      return { result: { _tag: "Deleted", ...opt("previous", current) }, next: undefined, writes: true }
    case "Cas": {
      const ok = had && current === command.expected
      return ok
        ? { result: { _tag: "CasResult", ok: true, ...opt("current", current) }, next: command.value, writes: true }
        : { result: { _tag: "CasResult", ok: false, ...opt("current", current) }, writes: false }
    }
  }
}

const sortedEntries = (map: ReadonlyMap<string, Value>): Array<[string, Value]> =>
  [...map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))

/** Carry out transition `t` of `command` on `map`; true when the map changed. */
const write = (map: Map<string, Value>, command: Command, t: ReturnType<typeof transition>): boolean => {
  if (!t.writes) return false
  if (t.next === undefined) map.delete(command.key)
  else map.set(command.key, t.next)
  return true
}

export const applyTo = (map: Map<string, Value>, command: Command): Result => {
  const t = transition(map, command)
  write(map, command, t)
  return t.result
}

const makeInstance = (): StateMachineInstance<Command, Result, Snapshot> => {
  let map = new Map<string, Value>()
  /** The digest of `map` until it next changes: the simulator asks after every applied request, reads and failed cas included. */
  let digest: string | undefined
  return {
    apply: (command) => {
      const t = transition(map, command)
      if (write(map, command, t)) digest = undefined
      return t.result
    },
    query: (command) => transition(map, command).result,
    isReadOnly: (command) => command._tag === "Get",
    snapshot: () => sortedEntries(map),
    restore: (snapshot) => {
      map = new Map(snapshot)
      digest = undefined
    },
    digest: () => (digest ??= sha256Hex(JSON.stringify(sortedEntries(map)))),
    invariants: () => []
  }
}

export const KvStateMachine: StateMachine<Command, Result, Snapshot> = {
  name: "kv",
  command: Command,
  result: Result,
  snapshot: Snapshot,
  make: makeInstance
}

const encodeCommandJson = Schema.encodeSync(Command)
const decodeCommandJson = Schema.decodeUnknownEither(Command)
const decodeResultJson = Schema.decodeUnknownEither(Result)
const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()

/** Command bytes as clients submit them: the Schema-encoded command as UTF-8 JSON. */
export const encodeCommand = (command: Command): Uint8Array => textEncoder.encode(JSON.stringify(encodeCommandJson(command)))

const parseJson = (bytes: Uint8Array): unknown => {
  try {
    return JSON.parse(textDecoder.decode(bytes))
  } catch {
    return undefined
  }
}

/** Decode command bytes; undefined when they are not a KV command. */
export const decodeCommand = (bytes: Uint8Array): Command | undefined => {
  const r = decodeCommandJson(parseJson(bytes))
  return r._tag === "Right" ? r.right : undefined
}

/** Decode result bytes; undefined when they are not a KV result. */
export const decodeResult = (bytes: Uint8Array): Result | undefined => {
  const r = decodeResultJson(parseJson(bytes))
  return r._tag === "Right" ? r.right : undefined
}

/** Steps the linearizability search may take per key before calling a history inconclusive. */
const HISTORY_MAX_STEPS = 2_000_000

/** An operation as the history format records it; undefined (with a reason) when its bytes are not a KV command. */
const toOperation = (op: ClientOp): HistoryOperation | string => {
  const command = decodeCommand(op.command)
  if (command === undefined) return `${op.clientId}#${op.seq}: submitted bytes are not a KV command`
  const base = { client: op.client, key: command.key, callNs: op.invokedAt }
  const o = op.outcome
  const unknown = { status: "unknown" } as const
  const failed = { status: "failed", ...(op.completedAt !== undefined ? { returnNs: op.completedAt } : {}) } as const
  if (o === undefined || o._tag === "TimedOut" || o._tag === "Rejected") {
    const outcome = o?._tag === "Rejected" ? failed : unknown
    switch (command._tag) {
      case "Get":
        return { ...base, op: "get", outcome }
      case "Put":
        return { ...base, op: "put", value: command.value, outcome }
      case "Delete":
        return { ...base, op: "delete", outcome }
      case "Cas":
        return { ...base, op: "cas", expected: command.expected, value: command.value, outcome }
    }
  }
  const returnNs = op.completedAt ?? op.invokedAt
  const result = decodeResult(o.result)
  const bad = `${op.clientId}#${op.seq}: result ${new TextDecoder().decode(o.result).slice(0, 80)} does not answer ${command._tag}`
  switch (command._tag) {
    case "Get":
      return result?._tag === "Got" ? { ...base, op: "get", outcome: { status: "ok", returnNs, result: result.value ?? null } } : bad
    case "Put":
      return result?._tag === "Stored" ? { ...base, op: "put", value: command.value, outcome: { status: "ok", returnNs } } : bad
    case "Delete":
      return result?._tag === "Deleted" ? { ...base, op: "delete", outcome: { status: "ok", returnNs } } : bad
    case "Cas":
      return result?._tag === "CasResult"
        ? { ...base, op: "cas", expected: command.expected, value: command.value, outcome: { status: "ok", returnNs, result: result.ok } }
        : bad
  }
}

/**
 * Simulated client operations as a key-value history: times are simulated
 * time units; a timed-out or still pending request is `unknown`, a rejected
 * one `failed` (no effect), a committed one `ok` with what it read.
 */
export const toHistory = (ops: ReadonlyArray<ClientOp>): { readonly history: Array<HistoryOperation>; readonly problems: Array<string> } => {
  const history: Array<HistoryOperation> = []
  const problems: Array<string> = []
  for (const op of ops) {
    const h = toOperation(op)
    if (typeof h === "string") problems.push(h)
    else history.push(h)
  }
  return { history, problems }
}

/** The simulator's linearizability check for KV histories. An inconclusive search is not a violation. */
export const checkLinearizable: HistoryCheck = (ops) => {
  const { history, problems } = toHistory(ops)
  const result = checkHistory(history, { maxSteps: HISTORY_MAX_STEPS })
  return result._tag === "NotLinearizable" ? [...problems, formatCheckResult(result)] : problems
}
