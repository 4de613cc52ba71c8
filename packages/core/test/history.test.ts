import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import {
  encodeHistory,
  encodeOperation,
  type HistoryOperation,
  HistoryParseError,
  parseHistory,
  parseOperation,
  valueKey
} from "../src/testing/History.js"

const parseOk = (text: string): Array<HistoryOperation> => Either.getOrThrow(parseHistory(text))
const parseError = (text: string): HistoryParseError => {
  const parsed = parseHistory(text)
  if (Either.isRight(parsed)) throw new Error(`expected a parse error for ${text}`)
  return parsed.left
}

describe("history format", () => {
  it("reads the example of history-format.md", () => {
    const ops = parseOk([
      `{"client":0,"op":"put","key":"x","value":"1","call_ns":0,"return_ns":100,"ok":true}`,
      `{"client":1,"op":"get","key":"x","call_ns":50,"return_ns":150,"ok":true,"result":null}`,
      `{"client":2,"op":"cas","key":"x","expected":"1","value":"2","call_ns":210,"return_ns":300,"ok":true,"result":true}`,
      `{"client":1,"op":"put","key":"x","value":"9","call_ns":20,"unknown":true}`,
      `{"client":3,"op":"delete","key":"x","call_ns":400,"return_ns":480,"ok":true}`
    ].join("\n"))
    expect(ops).toEqual([
      { client: 0, op: "put", key: "x", value: "1", callNs: 0n, line: 1, outcome: { status: "ok", returnNs: 100n } },
      { client: 1, op: "get", key: "x", callNs: 50n, line: 2, outcome: { status: "ok", returnNs: 150n, result: null } },
      {
        client: 2,
        op: "cas",
        key: "x",
        expected: "1",
        value: "2",
        callNs: 210n,
        line: 3,
        outcome: { status: "ok", returnNs: 300n, result: true }
      },
      { client: 1, op: "put", key: "x", value: "9", callNs: 20n, line: 4, outcome: { status: "unknown" } },
      { client: 3, op: "delete", key: "x", callNs: 400n, line: 5, outcome: { status: "ok", returnNs: 480n } }
    ])
  })

  it("keeps times above 2^53 exact (process.hrtime.bigint values)", () => {
    const [op] = parseOk(
      `{"client":0,"op":"get","key":"k","call_ns":9007199254740993,"return_ns":18446744073709551615,"ok":true,"result":1}`
    )
    expect(op?.callNs).toBe(9007199254740993n)
    expect(op?.outcome).toEqual({ status: "ok", returnNs: 18446744073709551615n, result: 1 })
  })

  it("reads failed operations with or without a return time", () => {
    const ops = parseOk([
      `{"client":0,"op":"put","key":"k","value":1,"call_ns":5,"ok":false}`,
      `{"client":0,"op":"put","key":"k","value":1,"call_ns":5,"return_ns":7,"ok":false}`
    ].join("\n"))
    expect(ops.map((op) => op.outcome)).toEqual([{ status: "failed" }, { status: "failed", returnNs: 7n }])
  })

  it("skips blank lines but counts them in line numbers", () => {
    const ops = parseOk(`\n{"client":0,"op":"delete","key":"k","call_ns":1,"return_ns":2,"ok":true}\n\n   \n` +
      `{"client":0,"op":"get","key":"k","call_ns":3,"return_ns":4,"ok":true,"result":null}\n`)
    expect(ops.map((op) => op.line)).toEqual([2, 5])
    expect(parseError(`\n\n{"client":0}`).line).toBe(3)
  })

  describe("values are compared by their JSON encoding", () => {
    it("a string is not a number", () => expect(valueKey("1")).not.toBe(valueKey(1)))
    it("a boolean is not a string", () => expect(valueKey(true)).not.toBe(valueKey("true")))
    it("1, 1.0, 1e0 and 10e-1 are one number", () => {
      const [a, b, c, d] = parseOk([1, "1.0", "1e0", "10e-1"].map((v) =>
        `{"client":0,"op":"put","key":"k","value":${v},"call_ns":0,"return_ns":1,"ok":true}`
      ).join("\n")).map((op) => valueKey((op as { value: number }).value))
      expect(new Set([a, b, c, d]).size).toBe(1)
    })
    it("integers beyond 2^53 stay distinct (as bigints)", () => {
      const ops = parseOk(["9007199254740992", "9007199254740993", "1e30"].map((v) =>
        `{"client":0,"op":"put","key":"k","value":${v},"call_ns":0,"return_ns":1,"ok":true}`
      ).join("\n"))
      const values = ops.map((op) => (op as { value: unknown }).value)
      expect(values).toEqual([9007199254740992n, 9007199254740993n, 10n ** 30n])
      expect(valueKey(9007199254740992n)).not.toBe(valueKey(9007199254740993n))
      expect(valueKey(2 ** 53)).toBe(valueKey(9007199254740992n))
    })
  })

  describe("unreadable lines are typed errors naming the line", () => {
    const base = `{"client":0,"op":"get","key":"k","call_ns":0,"return_ns":1,"ok":true,"result":null}`
    const cases: ReadonlyArray<readonly [string, string, string]> = [
      ["not JSON", `get k`, "expected '{'"],
      ["truncated object", `{"client":0,"op":"get"`, "expected ',' or '}'"],
      ["trailing text", `${base} x`, "unexpected text"],
      ["an array", `[1,2]`, "expected '{'"],
      ["a nested value", `{"client":0,"op":"get","key":{"a":1}}`, "must be a scalar"],
      ["a duplicate member", `{"client":0,"client":1}`, `duplicate member "client"`],
      ["an unknown member", base.replace(`"ok":true`, `"ok":true,"extra":1`), `unknown member "extra"`],
      ["an unknown op", base.replace(`"get"`, `"scan"`), `"op" must be one of`],
      ["a missing key", base.replace(`"key":"k",`, ""), `"key" must be a string`],
      ["a numeric key", base.replace(`"key":"k"`, `"key":1`), `"key" must be a string`],
      ["a negative client", base.replace(`"client":0`, `"client":-1`), `"client" must be a non-negative integer`],
      ["a fractional time", base.replace(`"call_ns":0`, `"call_ns":0.5`), `"call_ns" must be a non-negative integer`],
      ["a string time", base.replace(`"call_ns":0`, `"call_ns":"0"`), `"call_ns" must be a non-negative integer`],
      ["a return before the call", base.replace(`"call_ns":0`, `"call_ns":5`), `"return_ns" is before "call_ns"`],
      ["no ok and no unknown", base.replace(`,"ok":true`, ""), `missing "ok"`],
      ["ok as a string", base.replace(`"ok":true`, `"ok":"yes"`), `"ok" must be true or false`],
      ["a completed operation without return", base.replace(`"return_ns":1,`, ""), `needs "return_ns"`],
      [
        "an unknown operation with a return",
        `{"client":0,"op":"put","key":"k","value":1,"call_ns":0,"return_ns":1,"unknown":true}`,
        `an unknown operation has no "return_ns"`
      ],
      [
        "an unknown operation with ok",
        `{"client":0,"op":"put","key":"k","value":1,"call_ns":0,"ok":true,"unknown":true}`,
        `an unknown operation has no "ok"`
      ],
      ["a get without result", base.replace(`,"result":null`, ""), `needs "result"`],
      ["a put without value", `{"client":0,"op":"put","key":"k","call_ns":0,"return_ns":1,"ok":true}`, `missing "value"`],
      ["a null value", `{"client":0,"op":"put","key":"k","value":null,"call_ns":0,"return_ns":1,"ok":true}`, "must not be null"],
      ["a put with a result", `{"client":0,"op":"put","key":"k","value":1,"call_ns":0,"return_ns":1,"ok":true,"result":1}`, `"result" belongs only`],
      ["a get with a value", base.replace(`"key":"k"`, `"key":"k","value":1`), `"value" does not belong to a get`],
      ["a put with expected", `{"client":0,"op":"put","key":"k","expected":0,"value":1,"call_ns":0,"return_ns":1,"ok":true}`, `"expected" does not belong`],
      [
        "a cas with a non-boolean result",
        `{"client":0,"op":"cas","key":"k","expected":0,"value":1,"call_ns":0,"return_ns":1,"ok":true,"result":1}`,
        `needs "result": true or false`
      ],
      ["a cas without expected", `{"client":0,"op":"cas","key":"k","value":1,"call_ns":0,"return_ns":1,"ok":true,"result":true}`, `missing "expected"`],
      ["a failed get with a result", base.replace(`"ok":true`, `"ok":false`), `"result" belongs only`],
      ["an inexact decimal", `{"client":0,"op":"put","key":"k","value":0.10000000000000000001,"call_ns":0,"return_ns":1,"ok":true}`, "cannot hold exactly"],
      ["a bad escape", `{"client":0,"op":"get","key":"\\x","call_ns":0,"return_ns":1,"ok":true,"result":null}`, "invalid string"]
    ]
    for (const [name, line, reason] of cases) {
      it(`rejects ${name}`, () => {
        const error = parseError(`${base}\n${base}\n${line}\n${base}`)
        expect(error).toBeInstanceOf(HistoryParseError)
        expect(error._tag).toBe("HistoryParseError")
        expect(error.line).toBe(3)
        expect(error.reason).toContain(reason)
        expect(error.message).toMatch(/^line 3, column \d+: /)
      })
    }

    it("points the column at the offending member", () => {
      const line = `{"client":0,"op":"get","key":"k","call_ns":"x","return_ns":1,"ok":true,"result":null}`
      const parsed = parseOperation(line, 7)
      if (Either.isRight(parsed)) throw new Error("expected a parse error")
      expect(parsed.left.line).toBe(7)
      expect(parsed.left.column).toBe(line.indexOf(`"x"`) + 1)
    })
  })

  describe("writer", () => {
    it("writes the members in the documented order, times as integers", () => {
      const op: HistoryOperation = {
        client: 2,
        op: "cas",
        key: "x",
        expected: "1",
        value: 2,
        callNs: 18446744073709551615n,
        outcome: { status: "ok", returnNs: 18446744073709551616n, result: false }
      }
      expect(encodeOperation(op)).toBe(
        `{"client":2,"op":"cas","key":"x","expected":"1","value":2,"call_ns":18446744073709551615,"return_ns":18446744073709551616,"ok":true,"result":false}`
      )
      expect(encodeOperation({ client: 0, op: "put", key: "k", value: true, callNs: 3, outcome: { status: "unknown" } })).toBe(
        `{"client":0,"op":"put","key":"k","value":true,"call_ns":3,"unknown":true}`
      )
      expect(encodeOperation({ client: 0, op: "delete", key: "k", callNs: 3, outcome: { status: "failed" } })).toBe(
        `{"client":0,"op":"delete","key":"k","call_ns":3,"ok":false}`
      )
    })

    it("refuses values and times the format cannot carry", () => {
      expect(() => encodeOperation({ client: 0, op: "put", key: "k", value: NaN, callNs: 0, outcome: { status: "unknown" } }))
        .toThrow(RangeError)
      expect(() => encodeOperation({ client: 0, op: "delete", key: "k", callNs: 0.5, outcome: { status: "unknown" } }))
        .toThrow(RangeError)
      expect(() => encodeOperation({ client: 0, op: "delete", key: "k", callNs: -1n, outcome: { status: "unknown" } }))
        .toThrow(RangeError)
      expect(() => encodeOperation({ client: 1.5, op: "delete", key: "k", callNs: 0, outcome: { status: "unknown" } }))
        .toThrow(RangeError)
    })

    // Integer-valued doubles beyond 2^53 read back as bigints (the same value, another type).
    const value = fc.oneof(
      fc.string(),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true })
        .filter((d) => !Object.is(d, -0) && (!Number.isInteger(d) || Number.isSafeInteger(d))),
      fc.boolean(),
      fc.bigInt({ min: 2n ** 53n, max: 2n ** 70n })
    )
    const time = fc.bigInt({ min: 0n, max: 2n ** 64n })
    const operation: fc.Arbitrary<HistoryOperation> = fc.record({
      client: fc.nat(),
      key: fc.string(),
      callNs: time,
      span: fc.bigInt({ min: 0n, max: 1000n }),
      status: fc.constantFrom("ok", "failed", "failed-at", "unknown"),
      kind: fc.constantFrom("get", "put", "delete", "cas"),
      value,
      expected: value,
      read: fc.option(value, { nil: null }),
      swapped: fc.boolean()
    }).map((r): HistoryOperation => {
      const base = { client: r.client, key: r.key, callNs: r.callNs }
      const returnNs = r.callNs + r.span
      const other = r.status === "unknown"
        ? { status: "unknown" as const }
        : r.status === "failed"
        ? { status: "failed" as const }
        : { status: "failed" as const, returnNs }
      switch (r.kind) {
        case "get":
          return { ...base, op: "get", outcome: r.status === "ok" ? { status: "ok", returnNs, result: r.read } : other }
        case "put":
          return { ...base, op: "put", value: r.value, outcome: r.status === "ok" ? { status: "ok", returnNs } : other }
        case "delete":
          return { ...base, op: "delete", outcome: r.status === "ok" ? { status: "ok", returnNs } : other }
        default:
          return {
            ...base,
            op: "cas",
            expected: r.expected,
            value: r.value,
            outcome: r.status === "ok" ? { status: "ok", returnNs, result: r.swapped } : other
          }
      }
    })

    it.prop("parse(encode(history)) gives the history back", [fc.array(operation, { maxLength: 8 })], ([ops]) => {
      const parsed = parseOk(encodeHistory(ops))
      expect(parsed.map(({ line: _line, ...op }) => op)).toEqual(ops)
      expect(parsed.map((op) => op.line)).toEqual(ops.map((_, i) => i + 1))
    })
  })
})
