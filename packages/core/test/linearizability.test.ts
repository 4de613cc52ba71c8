import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import type { HistoryOperation, Value } from "../src/testing/History.js"
import { parseHistory, valueKey } from "../src/testing/History.js"
import type { CheckOp } from "../src/testing/internal/Partition.js"
import { CAS_FAILED, CAS_SWAPPED, DELETE, GET, PUT } from "../src/testing/internal/Register.js"
import { Relaxer } from "../src/testing/internal/Witness.js"
import { type CheckResult, checkHistory, describeOperation, formatCheckResult } from "../src/testing/Linearizability.js"

// ---------------------------------------------------------------------------
// Building histories: times are [call, return], or [call] for an unknown outcome.
type Span = readonly [number, number] | readonly [number]
const outcome = (span: Span) => span.length === 2 ? { status: "ok" as const, returnNs: span[1] } : { status: "unknown" as const }
const put = (client: number, value: Value, span: Span, key = "x"): HistoryOperation =>
  ({ client, key, op: "put", value, callNs: span[0], outcome: outcome(span) })
const del = (client: number, span: Span, key = "x"): HistoryOperation =>
  ({ client, key, op: "delete", callNs: span[0], outcome: outcome(span) })
const get = (client: number, result: Value | null, span: Span, key = "x"): HistoryOperation => ({
  client,
  key,
  op: "get",
  callNs: span[0],
  outcome: span.length === 2 ? { status: "ok", returnNs: span[1], result } : { status: "unknown" }
})
const cas = (client: number, expected: Value, value: Value, result: boolean, span: Span, key = "x"): HistoryOperation => ({
  client,
  key,
  op: "cas",
  expected,
  value,
  callNs: span[0],
  outcome: span.length === 2 ? { status: "ok", returnNs: span[1], result } : { status: "unknown" }
})
const failed = (op: HistoryOperation): HistoryOperation => ({ ...op, outcome: { status: "failed" } }) as HistoryOperation

const verdict = (ops: ReadonlyArray<HistoryOperation>) => checkHistory(ops)._tag
const witnessOf = (result: CheckResult) => {
  if (result._tag !== "NotLinearizable") throw new Error(`expected NotLinearizable, got ${result._tag}`)
  return result.witness
}

// ---------------------------------------------------------------------------
// An independent oracle for tiny single-key histories: try every order that
// respects real time, with unknown operations optional, from `initial`.
type OracleState = string // valueKey, or "" for absent
const bruteForce = (ops: ReadonlyArray<HistoryOperation>, initial: OracleState | "any" = ""): boolean => {
  const live = ops.filter((op) => op.outcome.status !== "failed" && !(op.op === "get" && op.outcome.status === "unknown"))
  const ret = (op: HistoryOperation) => (op.outcome.status === "ok" ? op.outcome.returnNs : Infinity)
  const definite = live.filter((op) => op.outcome.status === "ok")
  const stepOf = (op: HistoryOperation, state: OracleState): OracleState | undefined => {
    const o = op.outcome
    switch (op.op) {
      case "get":
        return o.status === "ok" && "result" in o && (o.result === null ? "" : valueKey(o.result as Value)) === state ? state : undefined
      case "put":
        return valueKey(op.value)
      case "delete":
        return ""
      case "cas": {
        const matches = state === valueKey(op.expected)
        if (o.status === "unknown") return matches ? valueKey(op.value) : state
        const swapped = "result" in o && o.result === true
        return swapped === matches ? (swapped ? valueKey(op.value) : state) : undefined
      }
    }
  }
  const seen = new Set<string>()
  const go = (done: ReadonlyArray<boolean>, state: OracleState): boolean => {
    if (definite.every((op) => done[live.indexOf(op)])) return true
    const memo = `${done.map((d) => (d ? 1 : 0)).join("")}|${state}`
    if (seen.has(memo)) return false
    seen.add(memo)
    return live.some((op, i) => {
      if (done[i]) return false
      // Every operation that returned before this one was called comes first.
      if (live.some((p, j) => !done[j] && j !== i && ret(p) < op.callNs)) return false
      const next = stepOf(op, state)
      return next !== undefined && go(done.map((d, j) => d || j === i), next)
    })
  }
  const starts = initial !== "any"
    ? [initial]
    : ["", "fresh", ...live.flatMap((op) => op.op === "get" && op.outcome.status === "ok" && "result" in op.outcome && op.outcome.result !== null ? [valueKey(op.outcome.result as Value)] : op.op === "cas" ? [valueKey(op.expected)] : op.op === "put" ? [valueKey(op.value)] : [])]
  return starts.some((start) => {
    seen.clear()
    return go(live.map(() => false), start)
  })
}

/** relaxed(W) as Linearizability.ts states it, for the oracle. */
const relaxedWitness = (ops: ReadonlyArray<HistoryOperation>, witness: ReadonlyArray<HistoryOperation>) => {
  const a = Math.min(...witness.map((op) => Number(op.callNs)))
  const others = ops.filter((op) => !witness.includes(op) && op.outcome.status !== "failed")
  const isWrite = (op: HistoryOperation) =>
    op.op === "put" || op.op === "delete" || (op.op === "cas" && (op.outcome.status === "unknown" || ("result" in op.outcome && op.outcome.result)))
  const running = others.filter((op) => isWrite(op) && (op.outcome.status !== "ok" || Number(op.outcome.returnNs) >= a))
  return [...witness, ...running.map((op) => ({ ...op, outcome: { status: "unknown" } }) as HistoryOperation)]
}

// ---------------------------------------------------------------------------

describe("linearizability of small histories", () => {
  it("a sequential put then get", () => {
    expect(verdict([put(0, 1, [0, 1]), get(1, 1, [2, 3])])).toBe("Linearizable")
  })

  it("a read of the old value after an overwrite completed", () => {
    const ops = [put(0, 1, [0, 1]), put(1, 2, [2, 3]), get(2, 1, [4, 5])]
    const witness = witnessOf(checkHistory(ops))
    expect(witness.operations).toEqual([ops[1], ops[2]])
    expect(witness.blocked).toBe(ops[2])
    expect(witness.minimal).toBe(true)
    expect(witness.initial).toBe("unconstrained")
  })

  it("a read concurrent with a write may see either value", () => {
    expect(verdict([put(0, 1, [0, 1]), put(1, 2, [2, 6]), get(2, 1, [3, 4]), get(3, 2, [3, 5])])).toBe("Linearizable")
    expect(verdict([put(0, 1, [0, 1]), put(1, 2, [2, 6]), get(2, 2, [3, 4]), get(3, 1, [5, 7])])).toBe("NotLinearizable")
  })

  it("intervals are closed: operations that touch are concurrent", () => {
    expect(verdict([put(0, 1, [0, 10]), get(1, null, [10, 20])])).toBe("Linearizable")
    expect(verdict([put(0, 1, [0, 10]), get(1, null, [11, 20])])).toBe("NotLinearizable")
    expect(verdict([get(1, 1, [0, 10]), put(0, 1, [10, 20])])).toBe("Linearizable")
    expect(verdict([get(1, 1, [0, 9]), put(0, 1, [10, 20])])).toBe("NotLinearizable")
  })

  it("reads null when absent, and after a delete", () => {
    expect(verdict([get(0, null, [0, 1]), put(0, "a", [2, 3]), del(1, [4, 5]), get(2, null, [6, 7])])).toBe("Linearizable")
    expect(verdict([put(0, "a", [2, 3]), del(1, [4, 5]), get(2, "a", [6, 7])])).toBe("NotLinearizable")
    expect(verdict([get(0, "a", [0, 1])])).toBe("NotLinearizable")
  })

  it("cas swaps only when the value equals expected, and absent equals nothing", () => {
    expect(verdict([put(0, 1, [0, 1]), cas(1, 1, 2, true, [2, 3]), get(0, 2, [4, 5])])).toBe("Linearizable")
    expect(verdict([put(0, 1, [0, 1]), cas(1, 1, 2, false, [2, 3])])).toBe("NotLinearizable")
    expect(verdict([put(0, 1, [0, 1]), cas(1, 3, 2, false, [2, 3]), get(0, 1, [4, 5])])).toBe("Linearizable")
    expect(verdict([cas(1, 1, 2, true, [0, 1])])).toBe("NotLinearizable")
    expect(verdict([cas(1, 1, 2, false, [0, 1]), get(0, null, [2, 3])])).toBe("Linearizable")
  })

  it("values of different JSON types differ", () => {
    expect(verdict([put(0, "1", [0, 1]), get(1, 1, [2, 3])])).toBe("NotLinearizable")
    expect(verdict([put(0, 1, [0, 1]), get(1, "1", [2, 3])])).toBe("NotLinearizable")
    expect(verdict([put(0, true, [0, 1]), get(1, "true", [2, 3])])).toBe("NotLinearizable")
    expect(verdict([put(0, 1, [0, 1]), cas(1, "1", 2, false, [2, 3]), get(1, 1, [4, 5])])).toBe("Linearizable")
    expect(verdict([put(0, 9007199254740993n, [0, 1]), get(1, 9007199254740992n, [2, 3])])).toBe("NotLinearizable")
    expect(verdict([put(0, 2 ** 53, [0, 1]), get(1, 9007199254740992n, [2, 3])])).toBe("Linearizable")
  })

  it("failed operations have no effect", () => {
    expect(verdict([put(0, 1, [0, 1]), failed(put(1, 2, [2, 3])), get(2, 1, [4, 5])])).toBe("Linearizable")
    expect(verdict([failed(put(1, 2, [0, 1])), get(2, 2, [4, 5])])).toBe("NotLinearizable")
  })

  describe("unknown (pending) operations", () => {
    it("may take effect any time after their call", () => {
      expect(verdict([put(0, 1, [0]), get(1, null, [5, 6]), get(1, 1, [100, 101])])).toBe("Linearizable")
    })
    it("may never take effect", () => {
      expect(verdict([put(0, 1, [0]), get(1, null, [5, 6]), get(1, null, [100, 101])])).toBe("Linearizable")
    })
    it("cannot take effect before their call", () => {
      expect(verdict([get(1, 1, [0, 1]), put(0, 1, [2])])).toBe("NotLinearizable")
    })
    it("take effect at most once", () => {
      expect(verdict([put(0, 1, [0, 1]), put(1, 2, [2]), get(2, 2, [5, 6]), get(2, 1, [7, 8])])).toBe("NotLinearizable")
      expect(verdict([put(0, 1, [0, 1]), put(1, 2, [2]), put(3, 2, [2]), put(4, 1, [3, 9]), get(2, 2, [5, 6]), get(2, 1, [7, 8]), get(2, 2, [10, 11])]))
        .toBe("Linearizable")
    })
    it("an unknown get carries no information", () => {
      expect(verdict([put(0, 1, [0, 1]), get(1, "nonsense", [2]), get(1, 1, [3, 4])])).toBe("Linearizable")
    })
    it("an unknown cas swaps only from its expected value, possibly after another unknown write", () => {
      expect(verdict([put(0, 1, [0, 1]), cas(1, 1, 2, true, [2]), get(2, 2, [5, 6])])).toBe("Linearizable")
      expect(verdict([put(0, 1, [0, 1]), cas(1, 3, 2, true, [2]), get(2, 2, [5, 6])])).toBe("NotLinearizable")
      expect(verdict([put(0, 1, [0, 1]), put(3, 3, [1]), cas(1, 3, 2, true, [2]), get(2, 2, [5, 6])])).toBe("Linearizable")
      expect(verdict([put(0, 1, [0, 1]), put(3, 3, [1]), cas(1, 3, 2, true, [2]), get(2, 2, [5, 6]), get(2, 1, [7, 8])]))
        .toBe("NotLinearizable")
    })
    it("a delete may be pending too", () => {
      expect(verdict([put(0, 1, [0, 1]), del(1, [2]), get(2, null, [5, 6])])).toBe("Linearizable")
    })
  })

  it("checks keys independently and names the failing one", () => {
    const ops = [put(0, 1, [0, 1], "a"), get(1, 1, [2, 3], "a"), put(0, 1, [0, 1], "b"), get(1, 2, [2, 3], "b")]
    const result = checkHistory(ops)
    expect(result._tag).toBe("NotLinearizable")
    expect(result._tag === "NotLinearizable" && result.key).toBe("b")
    // The same operations on one key interleave differently.
    expect(verdict([put(0, 1, [0, 1]), put(0, 2, [0, 1]), get(1, 1, [2, 3]), get(1, 2, [2, 3])])).toBe("NotLinearizable")
  })

  it("an empty history, and one with only unknown or failed operations, is linearizable", () => {
    expect(verdict([])).toBe("Linearizable")
    expect(verdict([put(0, 1, [0]), failed(get(1, 5, [0, 1]))])).toBe("Linearizable")
  })

  it("stops at the step budget with an inconclusive verdict", () => {
    const ops = generate(3, { clients: 8, operations: 400, keys: 1, values: 3, unknown: 0, failed: 0 })
    const result = checkHistory(ops, { maxSteps: 5 })
    expect(result._tag).toBe("Inconclusive")
    expect(result.linearizable).toBeUndefined()
    expect(result._tag === "Inconclusive" && result.key).toBe("k0")
  })

  it("describes the witness for people", () => {
    const ops = parsed([
      `{"client":0,"op":"put","key":"x","value":"1","call_ns":0,"return_ns":100,"ok":true}`,
      `{"client":1,"op":"put","key":"x","value":1,"call_ns":110,"return_ns":120,"ok":true}`,
      `{"client":2,"op":"get","key":"x","call_ns":130,"return_ns":150,"ok":true,"result":"1"}`
    ])
    expect(describeOperation(ops[2]!)).toBe(`line 3, client 2, [130, 150]: get "x" => "1"`)
    expect(formatCheckResult(checkHistory(ops))).toBe([
      `not linearizable: key "x"`,
      `  These 2 operations cannot be linearized, whatever "x" held when the first of them was called,`,
      `  even if every other write to "x" not returned by then took effect at any time after its call, or never:`,
      `    line 2, client 1, [110, 120]: put "x" 1 => ok`,
      `    line 3, client 2, [130, 150]: get "x" => "1"`,
      `  No order places line 3, client 2, [130, 150] before it returns.`
    ].join("\n"))
    expect(formatCheckResult(checkHistory(ops.slice(0, 2)))).toBe("linearizable")
  })
})

// ---------------------------------------------------------------------------

/** Tiny random single-key histories; `dense` draws from fewer values, with more cas and pending operations. */
const tinyHistories = (dense: boolean): fc.Arbitrary<Array<HistoryOperation>> => fc.array(
  fc.record({
    client: fc.nat({ max: 3 }),
    kind: dense ? fc.constantFrom("get", "put", "cas", "cas") : fc.constantFrom("get", "get", "put", "put", "delete", "cas"),
    call: fc.nat({ max: 12 }),
    length: fc.nat({ max: 6 }),
    status: dense ? fc.constantFrom("ok", "ok", "unknown") : fc.constantFrom("ok", "ok", "ok", "ok", "unknown", "failed"),
    value: dense ? fc.constantFrom<Value>(1, 2) : fc.constantFrom<Value>(1, 2, "1"),
    expected: dense ? fc.constantFrom<Value>(1, 2) : fc.constantFrom<Value>(1, 2, "1"),
    read: dense ? fc.constantFrom<Value | null>(1, 2) : fc.constantFrom<Value | null>(null, 1, 2, "1"),
    swapped: fc.boolean()
  }).map((r): HistoryOperation => {
    const span: Span = r.status === "unknown" ? [r.call] : [r.call, r.call + r.length]
    const op = r.kind === "get"
      ? get(r.client, r.read, span)
      : r.kind === "put"
      ? put(r.client, r.value, span)
      : r.kind === "delete"
      ? del(r.client, span)
      : cas(r.client, r.expected, r.value, r.swapped, span)
    return r.status === "failed" ? failed(op) : op
  }),
  { maxLength: 7 }
)

describe("relaxed sub-histories (witness trials)", () => {
  const op = (kind: number, a1: number, a2: number, call: number, ret: number | undefined, source: number): CheckOp =>
    ({ kind, a1, a2, call, ret, unknown: ret === undefined, source })

  it("try the start values that only a pending cas of the background expects", () => {
    // put 1; a pending cas 1 -> 2; then W: a cas expecting 2 fails, a get reads 2.
    // Only a start of 1 explains W (the failed cas, then the pending cas, then the get).
    const ops = [op(PUT, 1, 0, 0, 1, 0), op(CAS_SWAPPED, 1, 2, 2, undefined, 1), op(CAS_FAILED, 2, 3, 3, 4, 2), op(GET, 2, 0, 5, 6, 3)]
    const relaxer = new Relaxer(ops)
    expect(relaxer.trial([2, 3], 10_000)).toMatchObject({ fails: false, initial: "unconstrained" })
    // Without the pending cas nothing makes 2 after the failed cas.
    expect(new Relaxer([ops[0]!, ops[2]!, ops[3]!].map((o, i) => ({ ...o, source: i }))).trial([1, 2], 10_000))
      .toMatchObject({ fails: true, blocked: 2 })
  })
})

describe("against a brute-force oracle on tiny histories", () => {
  for (const dense of [false, true]) {
    it.prop(`same verdict as trying every order${dense ? " (few values, many cas)" : ""}`, [tinyHistories(dense)], ([ops]) => {
      const result = checkHistory(ops)
      expect(result._tag).toBe(bruteForce(ops) ? "Linearizable" : "NotLinearizable")
    }, { fastCheck: { numRuns: 2000 } })
  }

  it.prop("a witness trial fails exactly when relaxed(W) has no linearization", [tinyHistories(true), fc.array(fc.nat(), { minLength: 1, maxLength: 4 })], ([ops, picks]) => {
    // The checker's view of the operations (as Linearizability.ts builds it).
    const ids = new Map<string, number>()
    const intern = (v: Value | null) => v === null ? 0 : ids.get(valueKey(v)) ?? (ids.set(valueKey(v), ids.size + 1), ids.size)
    const live = ops.filter((op) => op.outcome.status !== "failed" && !(op.op === "get" && op.outcome.status === "unknown"))
    const checkOps = live.map((op, source): CheckOp => {
      const o = op.outcome
      const base = { unknown: o.status === "unknown", call: op.callNs, ret: o.status === "ok" ? o.returnNs : undefined, source }
      if (op.op === "get") return { ...base, kind: GET, a1: intern("result" in o ? o.result as Value | null : null), a2: 0 }
      if (op.op === "put") return { ...base, kind: PUT, a1: intern(op.value), a2: 0 }
      if (op.op === "delete") return { ...base, kind: DELETE, a1: 0, a2: 0 }
      const swapped = o.status === "unknown" || ("result" in o && o.result === true)
      return { ...base, kind: swapped ? CAS_SWAPPED : CAS_FAILED, a1: intern(op.expected), a2: intern(op.value) }
    })
    const definite = checkOps.flatMap((op, k) => (op.unknown ? [] : [k]))
    if (definite.length === 0) return
    const witness = [...new Set(picks.map((pick) => definite[pick % definite.length]!))]
    const trial = new Relaxer(checkOps).trial(witness, 1_000_000)
    const chosen = witness.map((k) => live[k]!)
    const a = Math.min(...chosen.map((op) => Number(op.callNs)))
    const cut = live.some((op) => op.outcome.status === "ok" && Number(op.outcome.returnNs) < a)
    expect(trial.exhausted).toBe(false)
    expect(trial.initial).toBe(cut ? "unconstrained" : "absent")
    expect(trial.fails).toBe(!bruteForce(relaxedWitness(live, chosen), cut ? "any" : ""))
  }, { fastCheck: { numRuns: 3000 } })

  it.prop("every witness is sound and 1-minimal", [fc.oneof(tinyHistories(false), tinyHistories(true))], ([ops]) => {
    const result = checkHistory(ops)
    if (result._tag !== "NotLinearizable") return
    const { witness } = result
    const start = witness.initial === "absent" ? "" : "any"
    expect(witness.operations.every((op) => ops.includes(op))).toBe(true)
    expect(witness.operations).toContain(witness.blocked)
    expect(witness.minimal).toBe(true)
    expect(bruteForce(relaxedWitness(ops, witness.operations), start)).toBe(false)
    for (const dropped of witness.operations) {
      const rest = witness.operations.filter((op) => op !== dropped)
      if (rest.length === 0) continue
      const a = Math.min(...rest.map((op) => Number(op.callNs)))
      const cut = ops.some((op) => op.outcome.status === "ok" && Number(op.outcome.returnNs) < a)
      expect(bruteForce(relaxedWitness(ops, rest), cut ? "any" : "")).toBe(true)
    }
  }, { fastCheck: { numRuns: 1500 } })
})

// ---------------------------------------------------------------------------
// A correct register served to concurrent clients: each operation takes effect
// at a point inside its interval (so the history is linearizable), or, when
// its outcome is unknown, at such a point or never.

const prng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Load {
  readonly clients: number
  readonly operations: number
  readonly keys: number
  /** Distinct values per type (numbers and strings); ignored when `unique`. */
  readonly values: number
  readonly unknown: number
  readonly failed: number
  readonly unique?: boolean
}

function generate(seed: number, load: Load): Array<HistoryOperation> {
  const random = prng(seed)
  const int = (n: number) => Math.floor(random() * n)
  let counter = 0
  const value = (): Value => load.unique ? `v${counter++}` : int(2) === 0 ? int(load.values) : String(int(load.values))
  const clock: Array<number> = Array.from({ length: load.clients }, () => 0)
  const planned = Array.from({ length: load.operations }, (_, n) => {
    const client = n % load.clients
    const call = clock[client]! + int(3)
    const point = call + int(8)
    const ret = point + int(8)
    clock[client] = ret + int(2) // the next call may touch this return
    const r = random()
    const fate = r < load.unknown ? "unknown" : r < load.unknown + load.failed ? "failed" : "ok"
    return {
      client,
      key: `k${int(load.keys)}`,
      kind: (["get", "get", "put", "cas", "delete"] as const)[int(5)]!,
      value: value(),
      expected: value(),
      call,
      point,
      ret,
      fate,
      effect: fate === "ok" || (fate === "unknown" && int(2) === 0)
    }
  })
  const store = new Map<string, Value>()
  const results = new Map<number, Value | null | boolean>()
  const byPoint = planned.map((_, i) => i).sort((x, y) => planned[x]!.point - planned[y]!.point || x - y)
  for (const i of byPoint) {
    const p = planned[i]!
    if (!p.effect) continue
    const current = store.get(p.key)
    if (p.kind === "get") results.set(i, current ?? null)
    else if (p.kind === "put") store.set(p.key, p.value)
    else if (p.kind === "delete") store.delete(p.key)
    else {
      const swap = current !== undefined && valueKey(current) === valueKey(p.expected)
      if (swap) store.set(p.key, p.value)
      results.set(i, swap)
    }
  }
  return planned.map((p, i): HistoryOperation => {
    const base = { client: p.client, key: p.key, callNs: BigInt(p.call) }
    const returnNs = BigInt(p.ret)
    const other = p.fate === "unknown" ? { status: "unknown" as const } : { status: "failed" as const, returnNs }
    switch (p.kind) {
      case "get":
        return { ...base, op: "get", outcome: p.fate === "ok" ? { status: "ok", returnNs, result: results.get(i) as Value | null } : other }
      case "put":
        return { ...base, op: "put", value: p.value, outcome: p.fate === "ok" ? { status: "ok", returnNs } : other }
      case "delete":
        return { ...base, op: "delete", outcome: p.fate === "ok" ? { status: "ok", returnNs } : other }
      default:
        return {
          ...base,
          op: "cas",
          expected: p.expected,
          value: p.value,
          outcome: p.fate === "ok" ? { status: "ok", returnNs, result: results.get(i) as boolean } : other
        }
    }
  })
}

/** The history with its middle completed get answering `result` instead. */
const mutateRead = (ops: ReadonlyArray<HistoryOperation>, choose: (index: number) => Value): { ops: Array<HistoryOperation>; mutated: HistoryOperation } => {
  const index = ops.findIndex((op, i) => i >= ops.length / 2 && op.op === "get" && op.outcome.status === "ok" && "result" in op.outcome && op.outcome.result !== null)
  const read = ops[index] as Extract<HistoryOperation, { op: "get" }> & { outcome: { status: "ok"; returnNs: bigint } }
  const mutated: HistoryOperation = { ...read, outcome: { ...read.outcome, result: choose(index) } }
  return { ops: ops.map((op, i) => (i === index ? mutated : op)), mutated }
}

describe("generated histories", () => {
  it.prop("a correct register with concurrent clients is linearizable", [fc.integer(), fc.integer({ min: 2, max: 8 })], ([seed, clients]) => {
    const ops = generate(seed, { clients, operations: 150, keys: 2, values: 3, unknown: 0.05, failed: 0.05 })
    expect(checkHistory(ops)._tag).toBe("Linearizable")
  }, { fastCheck: { numRuns: 40 } })

  it.prop("a read of a value never written is caught, with a small witness", [fc.integer()], ([seed]) => {
    const { mutated, ops } = mutateRead(generate(seed, { clients: 5, operations: 150, keys: 1, values: 3, unknown: 0.05, failed: 0.05 }), () => "never")
    const witness = witnessOf(checkHistory(ops))
    expect(witness.operations).toContain(mutated)
    expect(witness.operations.length).toBeLessThanOrEqual(3)
  }, { fastCheck: { numRuns: 30 } })

  it("20,000 operations of 16 clients on one key, with pending and failed ones, are linearizable", () => {
    const ops = generate(1, { clients: 16, operations: 20_000, keys: 1, values: 5, unknown: 0.03, failed: 0.02 })
    expect(checkHistory(ops)._tag).toBe("Linearizable")
  })

  it("30,000 operations of 64 clients on 8 keys are linearizable", () => {
    const ops = generate(2, { clients: 64, operations: 30_000, keys: 8, values: 5, unknown: 0.03, failed: 0.02 })
    expect(checkHistory(ops)._tag).toBe("Linearizable")
  })

  it("one read of a value never written, among 20,000 operations, is caught", () => {
    const correct = generate(4, { clients: 16, operations: 20_000, keys: 1, values: 5, unknown: 0, failed: 0.02 })
    const { mutated, ops } = mutateRead(correct, () => "never")
    const witness = witnessOf(checkHistory(ops))
    expect(witness.operations).toContain(mutated)
    expect(witness.minimal).toBe(true)
    expect(witness.operations.length).toBeLessThanOrEqual(3)
  })

  it("one stale read, among 20,000 operations with unique values, is caught", () => {
    const correct = generate(5, { clients: 16, operations: 20_000, keys: 1, values: 0, unknown: 0.02, failed: 0.02, unique: true })
    // The value of a put that returned long before the read was called, and was overwritten since.
    const { mutated, ops } = mutateRead(correct, (index) => {
      const old = correct.slice(0, index - 500).reverse().find((op) => op.op === "put" && op.outcome.status === "ok")
      return (old as Extract<HistoryOperation, { op: "put" }>).value
    })
    const witness = witnessOf(checkHistory(ops))
    expect(witness.operations).toContain(mutated)
    expect(witness.minimal).toBe(true)
    expect(witness.operations.length).toBeLessThanOrEqual(3)
  })
})

// ---------------------------------------------------------------------------
// The Jepsen etcd histories (shared/testdata), next to the repository root in
// every checkout: <repo>/../shared/testdata/jepsen-etcd.

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url))
const jepsen = `${repoRoot}../shared/testdata/jepsen-etcd`

function parsed(lines: ReadonlyArray<string>): Array<HistoryOperation> {
  return Either.getOrThrow(parseHistory(lines.join("\n")))
}

describe("Jepsen etcd histories", () => {
  const verdicts = JSON.parse(readFileSync(`${jepsen}/verdicts.json`, "utf8")) as Record<string, string>
  const files = readdirSync(jepsen).filter((file) => file.endsWith(".jsonl")).sort()

  it("has all 102 histories and their verdicts", () => {
    expect(files).toHaveLength(102)
    expect(Object.keys(verdicts).sort()).toEqual(files)
  })

  for (const file of files) {
    it(`${file} is ${verdicts[file]}`, () => {
      const ops = Either.getOrThrow(parseHistory(readFileSync(`${jepsen}/${file}`, "utf8")))
      const result = checkHistory(ops)
      expect(result._tag === "Linearizable" ? "linearizable" : result._tag === "NotLinearizable" ? "not linearizable" : "unknown")
        .toBe(verdicts[file])
      if (result._tag === "NotLinearizable") {
        expect(result.witness.minimal).toBe(true)
        expect(result.witness.operations.every((op) => ops.includes(op))).toBe(true)
      }
    })
  }
})
