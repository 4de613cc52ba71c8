/**
 * Linearizability of key-value histories (`History.ts`), one register per
 * key: keys are independent, so each key's operations are checked on their
 * own (Herlihy & Wing's locality). Each key is searched with Wing & Gong's
 * algorithm and Lowe's configuration cache, in the shape of Porcupine; see
 * `internal/Search.ts`.
 *
 * What the history means here (`shared/history-format.md`): `failed`
 * operations and unknown gets are dropped; other unknown operations may take
 * effect at any time after their call, or never, and are never required;
 * intervals are closed (operations that touch are concurrent); values are
 * compared by their JSON encoding ("1" differs from 1).
 *
 * Per key: a linear pass for reads that no write can explain (values never
 * written, stale reads, read inversions; `internal/StaleReads.ts`); then the
 * search with a small budget, which settles most histories; then, if that
 * ran out, windows of 64 consecutive operations checked on their own (a
 * cheap refutation of local violations, `internal/Witness.ts`); then the
 * search with the whole budget. A violation is explained by a small witness
 * (see `Witness`).
 *
 * Bounds: a step examines one candidate, scans one configuration or
 * backtracks, each costing at most a pass over the operations open at that
 * point (a few hundred nanoseconds in practice). A key's verdict takes at
 * most 2 × `maxSteps` steps (the quick search and the windows share one
 * `maxSteps`, the final search has its own), and its witness at most
 * `witnessSteps` more; past that the verdict is `Inconclusive`, never a wait
 * without end. The search's cache grows by at most one configuration (a few
 * dozen bytes) per step. Measured at the default budget, a history the search
 * cannot settle (20,000 operations of 24 clients on one register, 3% of them
 * pending) ends `Inconclusive` after a few seconds of CPU and about 250 MB.
 */
import type { HistoryOperation, Time, Value } from "./History.js"
import { encodeValue, valueKey } from "./History.js"
import type { CheckOp } from "./internal/Partition.js"
import { compile } from "./internal/Partition.js"
import { ABSENT, CAS_FAILED, CAS_SWAPPED, DELETE, GET, PUT } from "./internal/Register.js"
import { search } from "./internal/Search.js"
import { findImpossibleRead } from "./internal/StaleReads.js"
import type { MinimalWitness } from "./internal/Witness.js"
import { findFailingWindow, minimizeWitness, Relaxer } from "./internal/Witness.js"

export interface CheckOptions {
  /** Steps for one key's search (see the bounds above). Default 20,000,000: seconds of work. */
  readonly maxSteps?: number
  /** Steps allowed for shrinking the witness of a failing key. Default 5,000,000. */
  readonly witnessSteps?: number
}

/**
 * Why a key is not linearizable: `operations` (in call order) cannot be
 * linearized whatever the key held when the first of them was called
 * (`initial: "absent"` when no operation of the key had returned by then:
 * the key was absent), even if every other write to the key that had not
 * returned by then took effect at any time after its call, or never. When
 * `minimal`, removing any one of them makes that claim false.
 */
export interface Witness {
  readonly operations: ReadonlyArray<HistoryOperation>
  /** The operation of `operations` that the search could not place before its return. */
  readonly blocked: HistoryOperation
  readonly initial: "absent" | "unconstrained"
  /** False when the witness budget ran out before no single operation could be removed. */
  readonly minimal: boolean
}

export type CheckResult =
  | { readonly _tag: "Linearizable"; readonly linearizable: true; readonly keys: number }
  | { readonly _tag: "NotLinearizable"; readonly linearizable: false; readonly key: string; readonly witness: Witness }
  /** The step budget ran out on `key` (and no other key failed): neither proved nor refuted. */
  | { readonly _tag: "Inconclusive"; readonly linearizable: undefined; readonly key: string; readonly steps: number }

const DEFAULT_MAX_STEPS = 20_000_000
const DEFAULT_WITNESS_STEPS = 5_000_000

/** The search's view of an operation, or undefined when it carries no information. */
const toCheckOp = (op: HistoryOperation, source: number, intern: (v: Value | null) => number): CheckOp | undefined => {
  const outcome = op.outcome
  if (outcome.status === "failed") return undefined
  const unknown = outcome.status === "unknown"
  const ret: Time | undefined = outcome.status === "ok" ? outcome.returnNs : undefined
  if (ret !== undefined && ret < op.callNs) {
    throw new RangeError(`operation of client ${op.client} on "${op.key}" returns before its call`)
  }
  const base = { unknown, call: op.callNs, ret, source }
  switch (op.op) {
    case "get":
      return op.outcome.status === "ok" ? { ...base, kind: GET, a1: intern(op.outcome.result), a2: 0 } : undefined
    case "put":
      return { ...base, kind: PUT, a1: intern(op.value), a2: 0 }
    case "delete":
      return { ...base, kind: DELETE, a1: 0, a2: 0 }
    case "cas": {
      const swapped = op.outcome.status !== "ok" || op.outcome.result
      return { ...base, kind: swapped ? CAS_SWAPPED : CAS_FAILED, a1: intern(op.expected), a2: intern(op.value) }
    }
  }
}

type KeyVerdict =
  | { readonly _tag: "Linearizable" }
  | { readonly _tag: "NotLinearizable"; readonly witness: MinimalWitness }
  | { readonly _tag: "Budget"; readonly steps: number }

/** Steps for the first, quick attempt at a whole key, per operation. */
const QUICK_STEPS_PER_OPERATION = 200
/** Steps for looking for a failing window, per operation. */
const WINDOW_STEPS_PER_OPERATION = 50

/**
 * One key. First a linear pass for reads no write can explain (most
 * violations); then a quick search, which settles most histories; if it runs
 * out, windows of the history are checked on their own (a cheap way to
 * refute); only then does the search get its whole budget.
 */
const checkKey = (ops: ReadonlyArray<CheckOp>, maxSteps: number, witnessSteps: number): KeyVerdict => {
  const partition = compile(ops)
  let relaxer: Relaxer | undefined
  const relaxed = () => (relaxer ??= new Relaxer(ops))
  /** `blocked` indexes `ops`. */
  const fromSearch = (blocked: number): KeyVerdict => {
    // Operations called after the blocked one returned rarely matter.
    const definite = relaxed().definite
    const horizon = ops[blocked]!.ret!
    const early = definite.filter((i) => ops[i]!.call <= horizon)
    const trial = relaxed().trial(early, Math.min(maxSteps, witnessSteps))
    const start = trial.fails
      ? { members: early, found: trial }
      : { members: definite, found: { blocked, initial: "absent" as const } }
    const witness = minimizeWitness(relaxed(), start.members, start.found, maxSteps, witnessSteps - trial.steps)
    return { _tag: "NotLinearizable", witness }
  }

  const impossible = findImpossibleRead(partition)
  if (impossible !== undefined) {
    const read = partition.source[impossible.read]!
    const seed = impossible.evidence === -1
      ? relaxed().definite.filter((i) => ops[i]!.call <= ops[read]!.ret!)
      : [partition.source[impossible.evidence]!, read]
    const trial = relaxed().trial(seed, Math.min(maxSteps, witnessSteps))
    if (trial.fails) {
      return { _tag: "NotLinearizable", witness: minimizeWitness(relaxed(), seed, trial, maxSteps, witnessSteps - trial.steps) }
    }
  }
  const quickSteps = Math.min(maxSteps, QUICK_STEPS_PER_OPERATION * ops.length + 10_000)
  const quick = search(partition, ABSENT, quickSteps)
  if (quick._tag === "Linearizable") return quick
  if (quick._tag === "NotLinearizable") return fromSearch(partition.source[quick.blocked]!)
  const windows = findFailingWindow(relaxed(), Math.min(maxSteps - quick.steps, WINDOW_STEPS_PER_OPERATION * ops.length))
  if (windows.window !== undefined && windows.trial !== undefined) {
    const witness = minimizeWitness(relaxed(), windows.window, windows.trial, maxSteps, witnessSteps)
    return { _tag: "NotLinearizable", witness }
  }
  // With the same budget the final search would repeat the quick one.
  if (quickSteps === maxSteps) return { _tag: "Budget", steps: quick.steps + windows.steps }
  const full = search(partition, ABSENT, maxSteps)
  if (full._tag === "Linearizable") return full
  if (full._tag === "NotLinearizable") return fromSearch(partition.source[full.blocked]!)
  return { _tag: "Budget", steps: quick.steps + windows.steps + full.steps }
}

/** Checks every key of `history`; reports the first key (in order of appearance) that is not linearizable. */
export const checkHistory = (history: Iterable<HistoryOperation>, options: CheckOptions = {}): CheckResult => {
  const maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS
  const witnessSteps = options.witnessSteps ?? DEFAULT_WITNESS_STEPS
  const all = Array.from(history)
  const byKey = new Map<string, Array<number>>()
  all.forEach((op, i) => {
    const list = byKey.get(op.key)
    if (list === undefined) byKey.set(op.key, [i])
    else list.push(i)
  })

  let inconclusive: { key: string; steps: number } | undefined
  for (const [key, indices] of byKey) {
    const ids = new Map<string, number>()
    const intern = (v: Value | null): number => {
      if (v === null) return ABSENT
      const k = valueKey(v)
      let id = ids.get(k)
      if (id === undefined) ids.set(k, (id = ids.size + 1))
      return id
    }
    const ops: Array<CheckOp> = []
    const origin: Array<number> = [] // ops[k] is all[origin[k]]
    for (const i of indices) {
      const op = toCheckOp(all[i]!, ops.length, intern)
      if (op === undefined) continue
      ops.push(op)
      origin.push(i)
    }
    if (ops.every((op) => op.unknown)) continue
    const verdict = checkKey(ops, maxSteps, witnessSteps)
    if (verdict._tag === "Linearizable") continue
    if (verdict._tag === "Budget") {
      inconclusive ??= { key, steps: verdict.steps }
      continue
    }
    const original = (k: number) => all[origin[k]!]!
    const found = verdict.witness
    return {
      _tag: "NotLinearizable",
      linearizable: false,
      key,
      witness: {
        operations: found.operations.map(original),
        blocked: original(found.blocked),
        initial: found.initial,
        minimal: found.minimal
      }
    }
  }
  return inconclusive === undefined
    ? { _tag: "Linearizable", linearizable: true, keys: byKey.size }
    : { _tag: "Inconclusive", linearizable: undefined, ...inconclusive }
}

const show = (value: Value | null): string => (value === null ? "null" : encodeValue(value))

/** Where an operation was read from, who ran it and when: `line 12, client 3, [100, 150]`. */
export const locateOperation = (op: HistoryOperation): string => {
  const outcome = op.outcome
  const until = outcome.status === "unknown" ? "?" : outcome.returnNs?.toString() ?? "?"
  return `${op.line === undefined ? "" : `line ${op.line}, `}client ${op.client}, [${op.callNs}, ${until}]`
}

/** One operation for people: `line 12, client 3, [100, 150]: cas "x" 1 -> 2 => true`. */
export const describeOperation = (op: HistoryOperation): string => {
  const key = JSON.stringify(op.key)
  const call = op.op === "get" || op.op === "delete"
    ? `${op.op} ${key}`
    : op.op === "put"
    ? `put ${key} ${show(op.value)}`
    : `cas ${key} ${show(op.expected)} -> ${show(op.value)}`
  const outcome = op.outcome
  const result = outcome.status !== "ok"
    ? outcome.status
    : "result" in outcome
    ? typeof outcome.result === "boolean" ? String(outcome.result) : show(outcome.result)
    : "ok"
  return `${locateOperation(op)}: ${call} => ${result}`
}

/** A check result for people: the verdict on the first line, then the witness if any. */
export const formatCheckResult = (result: CheckResult): string => {
  switch (result._tag) {
    case "Linearizable":
      return "linearizable"
    case "Inconclusive":
      return `unknown: the search on key ${JSON.stringify(result.key)} stopped after ${result.steps} steps (budget)`
    case "NotLinearizable": {
      const { key, witness } = result
      const k = JSON.stringify(key)
      const start = witness.initial === "absent"
        ? `starting from an absent ${k}`
        : `whatever ${k} held when the first of them was called`
      const count = witness.operations.length
      return [
        `not linearizable: key ${k}`,
        `  ${count === 1 ? "This operation" : `These ${count} operations`} cannot be linearized, ${start},`,
        `  even if every other write to ${k} not returned by then took effect at any time after its call, or never:`,
        ...witness.operations.map((op) => `    ${describeOperation(op)}`),
        `  No order places ${locateOperation(witness.blocked)} before it returns.`,
        ...(witness.minimal ? [] : [`  (The witness budget ran out: it may not be minimal.)`])
      ].join("\n")
    }
  }
}
