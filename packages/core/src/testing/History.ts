/**
 * Key-value client histories (see `shared/history-format.md`): one JSON object
 * per line, one line per client operation. The key-value example's
 * `--history` and the simulator write them with `encodeOperation`; the
 * linearizability checker and `npm run check-history` read them with
 * `parseHistory`.
 */
// Submodules rather than the "effect" barrel: the check-history CLI starts in a fraction of the time.
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import { type JsonScalar, parseFlatObject } from "./internal/JsonLine.js"

/**
 * A register value: a JSON scalar other than null (null means "absent").
 * Integers outside the safe range are bigints so that they stay exact.
 */
export type Value = string | number | bigint | boolean

/**
 * A time from one monotonic clock, an integer (nanoseconds from
 * `process.hrtime.bigint()`, or simulator ticks). The parser yields bigints;
 * writers may pass plain integers.
 */
export type Time = bigint | number

/** The operation completed and the client saw its outcome. */
export interface Ok {
  readonly status: "ok"
  readonly returnNs: Time
}
export interface OkWith<R> extends Ok {
  readonly result: R
}
/** A definite failure with no effect (rejected before it was proposed); checkers drop it. */
export interface Failed {
  readonly status: "failed"
  readonly returnNs?: Time
}
/** The client never learned the outcome: it may take effect any time after its call, or never. */
export interface Unknown {
  readonly status: "unknown"
}

interface Recorded {
  readonly client: number
  readonly key: string
  readonly callNs: Time
  /** 1-based line in the file it was read from, when it was read from one. */
  readonly line?: number
}

export interface GetOperation extends Recorded {
  readonly op: "get"
  /** `result` is the value read, or null when the key was absent. */
  readonly outcome: OkWith<Value | null> | Failed | Unknown
}
export interface PutOperation extends Recorded {
  readonly op: "put"
  readonly value: Value
  readonly outcome: Ok | Failed | Unknown
}
export interface DeleteOperation extends Recorded {
  readonly op: "delete"
  readonly outcome: Ok | Failed | Unknown
}
export interface CasOperation extends Recorded {
  readonly op: "cas"
  readonly expected: Value
  readonly value: Value
  /** `result` is true if it swapped, false if the value differed from `expected` (absent differs from all). */
  readonly outcome: OkWith<boolean> | Failed | Unknown
}

export type HistoryOperation = GetOperation | PutOperation | DeleteOperation | CasOperation

/** An unreadable history line. `line` and `column` are 1-based. */
export class HistoryParseError extends Data.TaggedError("HistoryParseError")<{
  readonly line: number
  readonly column: number
  readonly reason: string
}> {
  override get message() {
    return `line ${this.line}, column ${this.column}: ${this.reason}`
  }
}

const NUMBER_PARTS = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/

/** Exact canonical form `<sign><digits>e<exponent>` of a JSON number literal, so 1, 1.0 and 1e0 agree. */
const canonicalNumber = (literal: string): { sign: string; digits: string; exponent: number } => {
  const parts = NUMBER_PARTS.exec(literal)
  if (parts === null) throw new RangeError(`not a JSON number: ${literal}`)
  const fraction = parts[3] ?? ""
  let digits = ((parts[2] ?? "") + fraction).replace(/^0+/, "")
  let exponent = Number(parts[4] ?? "0") - fraction.length
  if (digits === "") return { sign: "", digits: "0", exponent: 0 }
  const trimmed = digits.replace(/0+$/, "")
  exponent += digits.length - trimmed.length
  digits = trimmed
  return { sign: parts[1] ?? "", digits, exponent }
}

const numberKey = (literal: string): string => {
  const { digits, exponent, sign } = canonicalNumber(literal)
  return `${sign}${digits}e${exponent}`
}

/** A value as JSON text (bigints as integer literals). */
export const encodeValue = (value: Value): string => {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new RangeError(`history values must be finite numbers, got ${value}`)
    return JSON.stringify(value)
  }
  return typeof value === "bigint" ? value.toString() : JSON.stringify(value)
}

/**
 * The identity of a value for comparisons: its JSON encoding, with numbers
 * compared exactly by their mathematical value (1, 1.0 and 1e0 are one value;
 * "1" and 1 are two).
 */
export const valueKey = (value: Value): string =>
  typeof value === "number" || typeof value === "bigint" ? numberKey(encodeValue(value)) : JSON.stringify(value)

const encodeTime = (time: Time): string => {
  if ((typeof time === "number" && !Number.isSafeInteger(time)) || time < 0) {
    throw new RangeError(`history times must be non-negative integers, got ${time}`)
  }
  return time.toString()
}

/**
 * One history line (without the newline), in the member order of
 * `history-format.md`. Throws a RangeError for what the format cannot carry
 * (non-finite numbers, negative or fractional times or clients), which is a
 * bug of the recorder.
 */
export const encodeOperation = (operation: HistoryOperation): string => {
  if (!Number.isSafeInteger(operation.client) || operation.client < 0) {
    throw new RangeError(`history clients must be non-negative integers, got ${operation.client}`)
  }
  const parts = [
    `"client":${JSON.stringify(operation.client)}`,
    `"op":"${operation.op}"`,
    `"key":${JSON.stringify(operation.key)}`
  ]
  if (operation.op === "cas") parts.push(`"expected":${encodeValue(operation.expected)}`)
  if (operation.op === "put" || operation.op === "cas") parts.push(`"value":${encodeValue(operation.value)}`)
  parts.push(`"call_ns":${encodeTime(operation.callNs)}`)
  const outcome = operation.outcome
  switch (outcome.status) {
    case "ok": {
      parts.push(`"return_ns":${encodeTime(outcome.returnNs)}`, `"ok":true`)
      if (operation.op === "get" && "result" in outcome) {
        parts.push(`"result":${outcome.result === null ? "null" : encodeValue(outcome.result)}`)
      } else if (operation.op === "cas" && "result" in outcome) {
        parts.push(`"result":${outcome.result}`)
      }
      break
    }
    case "failed": {
      if (outcome.returnNs !== undefined) parts.push(`"return_ns":${encodeTime(outcome.returnNs)}`)
      parts.push(`"ok":false`)
      break
    }
    case "unknown": {
      parts.push(`"unknown":true`)
    }
  }
  return `{${parts.join(",")}}`
}

/** A whole history file: one line per operation, each ending in a newline. */
export const encodeHistory = (operations: Iterable<HistoryOperation>): string => {
  let text = ""
  for (const operation of operations) text += encodeOperation(operation) + "\n"
  return text
}

const MEMBERS = new Set(["client", "op", "key", "value", "expected", "call_ns", "return_ns", "ok", "unknown", "result"])
const NATURAL = /^(0|[1-9]\d*)$/
const MAX_EXPONENT = 4096

type Decoded<A> = { readonly ok: A } | { readonly reason: string }

/** Integers within 2^53 become numbers, larger ones bigints; other numbers must fit a double exactly. */
const decodeNumber = (literal: string): Decoded<number | bigint> => {
  const { digits, exponent, sign } = canonicalNumber(literal)
  const asNumber = Number(literal)
  if (exponent >= 0) {
    if (Number.isSafeInteger(asNumber)) return { ok: asNumber }
    if (exponent > MAX_EXPONENT) return { reason: "is too large" }
    return { ok: BigInt(`${sign}${digits}${"0".repeat(exponent)}`) }
  }
  if (Number.isFinite(asNumber) && numberKey(JSON.stringify(asNumber)) === numberKey(literal)) return { ok: asNumber }
  return { reason: "is a number that a double cannot hold exactly" }
}

const decodeValue = (name: string, token: JsonScalar | undefined): Decoded<Value> => {
  if (token === undefined) return { reason: `missing "${name}"` }
  switch (token.kind) {
    case "string":
    case "boolean":
      return { ok: token.value }
    case "null":
      return { reason: `"${name}" must not be null (null means an absent key)` }
    case "number": {
      const decoded = decodeNumber(token.literal)
      return "ok" in decoded ? decoded : { reason: `"${name}" ${decoded.reason}` }
    }
  }
}

const decodeTime = (name: string, token: JsonScalar | undefined): Decoded<bigint> => {
  if (token === undefined) return { reason: `missing "${name}"` }
  if (token.kind !== "number" || !NATURAL.test(token.literal)) return { reason: `"${name}" must be a non-negative integer` }
  return { ok: BigInt(token.literal) }
}

/** Parses one history line; `line` is its 1-based number, used in errors and kept on the operation. */
export const parseOperation = (text: string, line: number): Either.Either<HistoryOperation, HistoryParseError> => {
  const parsed = parseFlatObject(text)
  if ("error" in parsed) return Either.left(new HistoryParseError({ line, ...parsed.error }))
  const fields = parsed.fields
  const fail = (reason: string, at?: JsonScalar) =>
    Either.left(new HistoryParseError({ line, column: at?.column ?? 1, reason }))
  for (const [name, token] of fields) {
    if (!MEMBERS.has(name)) return fail(`unknown member "${name}"`, token)
  }
  const field = <A>(name: string, decode: (name: string, token: JsonScalar | undefined) => Decoded<A>) => {
    const token = fields.get(name)
    const decoded = decode(name, token)
    return "ok" in decoded ? decoded : fail(decoded.reason, token)
  }

  const op = fields.get("op")
  const client = fields.get("client")
  const key = fields.get("key")
  if (op?.kind !== "string" || !["get", "put", "delete", "cas"].includes(op.value)) {
    return fail(`"op" must be one of "get", "put", "delete", "cas"`, op)
  }
  if (client?.kind !== "number" || !NATURAL.test(client.literal) || !Number.isSafeInteger(Number(client.literal))) {
    return fail(`"client" must be a non-negative integer`, client)
  }
  if (key?.kind !== "string") return fail(`"key" must be a string`, key)
  const callNs = field("call_ns", decodeTime)
  if (!("ok" in callNs)) return callNs

  const outcome = decodeOutcome(fields, callNs.ok)
  if ("reason" in outcome) return fail(outcome.reason, outcome.at)
  const status = outcome.ok.status
  const resultToken = fields.get("result")
  if (resultToken !== undefined && (status !== "ok" || op.value === "put" || op.value === "delete")) {
    return fail(`"result" belongs only to a completed get or cas`, resultToken)
  }
  for (const name of ["value", "expected"]) {
    const allowed = name === "value" ? op.value === "put" || op.value === "cas" : op.value === "cas"
    const token = fields.get(name)
    if (!allowed && token !== undefined) return fail(`"${name}" does not belong to a ${op.value}`, token)
  }
  const base = { client: Number(client.literal), key: key.value, callNs: callNs.ok, line }

  switch (op.value) {
    case "get": {
      if (outcome.ok.status !== "ok") return Either.right({ ...base, op: "get", outcome: outcome.ok })
      if (resultToken === undefined) return fail(`a completed get needs "result" (null when absent)`)
      if (resultToken.kind === "null") return Either.right({ ...base, op: "get", outcome: { ...outcome.ok, result: null } })
      const result = field("result", decodeValue)
      if (!("ok" in result)) return result
      return Either.right({ ...base, op: "get", outcome: { ...outcome.ok, result: result.ok } })
    }
    case "put": {
      const value = field("value", decodeValue)
      if (!("ok" in value)) return value
      return Either.right({ ...base, op: "put", value: value.ok, outcome: outcome.ok })
    }
    case "delete":
      return Either.right({ ...base, op: "delete", outcome: outcome.ok })
    default: {
      const expected = field("expected", decodeValue)
      if (!("ok" in expected)) return expected
      const value = field("value", decodeValue)
      if (!("ok" in value)) return value
      const cas = { ...base, op: "cas" as const, expected: expected.ok, value: value.ok }
      if (outcome.ok.status !== "ok") return Either.right({ ...cas, outcome: outcome.ok })
      if (resultToken?.kind !== "boolean") return fail(`a completed cas needs "result": true or false`, resultToken)
      return Either.right({ ...cas, outcome: { ...outcome.ok, result: resultToken.value } })
    }
  }
}

/** `ok`/`unknown`/`return_ns`: exactly one of completed, failed or unknown. */
const decodeOutcome = (
  fields: ReadonlyMap<string, JsonScalar>,
  callNs: bigint
): { readonly ok: Ok | Failed | Unknown } | { readonly reason: string; readonly at?: JsonScalar } => {
  const ok = fields.get("ok")
  const unknown = fields.get("unknown")
  const returnToken = fields.get("return_ns")
  if (ok !== undefined && ok.kind !== "boolean") return { reason: `"ok" must be true or false`, at: ok }
  if (unknown !== undefined && unknown.kind !== "boolean") return { reason: `"unknown" must be true or false`, at: unknown }
  if (unknown?.kind === "boolean" && unknown.value) {
    if (ok !== undefined) return { reason: `an unknown operation has no "ok"`, at: ok }
    if (returnToken !== undefined) return { reason: `an unknown operation has no "return_ns"`, at: returnToken }
    return { ok: { status: "unknown" } }
  }
  if (ok?.kind !== "boolean") return { reason: `missing "ok" (or "unknown":true)` }
  if (returnToken === undefined) {
    return ok.value ? { reason: `a completed operation needs "return_ns"` } : { ok: { status: "failed" } }
  }
  const returnNs = decodeTime("return_ns", returnToken)
  if (!("ok" in returnNs)) return { reason: returnNs.reason, at: returnToken }
  if (returnNs.ok < callNs) return { reason: `"return_ns" is before "call_ns"`, at: returnToken }
  return { ok: ok.value ? { status: "ok", returnNs: returnNs.ok } : { status: "failed", returnNs: returnNs.ok } }
}

/**
 * Parses a whole history file. Blank lines are skipped; the first unreadable
 * line stops the parse with a `HistoryParseError` naming it.
 */
export const parseHistory = (text: string): Either.Either<Array<HistoryOperation>, HistoryParseError> => {
  const lines = text.replace(/^\uFEFF/, "").split("\n")
  const operations: Array<HistoryOperation> = []
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]!
    if (line.trim() === "") continue
    const parsed = parseOperation(line, index + 1)
    if (Either.isLeft(parsed)) return Either.left(parsed.left)
    operations.push(parsed.right)
  }
  return Either.right(operations)
}
