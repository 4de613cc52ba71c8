import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import type { ClientOp } from "../src/testing/Checkers.js"
import * as Kv from "../src/testing/KvStateMachine.js"
import { Prng } from "../src/testing/Prng.js"
import { stateMachineSuite } from "../src/testing/StateMachineSuite.js"
import * as Workload from "../src/testing/Workload.js"

const ctx = { index: 1, clientId: "c", seq: 1 }
const enc = new TextEncoder()

const keyArb = fc.constantFrom("a", "b", "c")
const valueArb = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean())
const commandArb: fc.Arbitrary<Kv.Command> = fc.oneof(
  keyArb.map((key) => ({ _tag: "Get", key }) as const),
  fc.tuple(keyArb, valueArb).map(([key, value]) => ({ _tag: "Put", key, value }) as const),
  keyArb.map((key) => ({ _tag: "Delete", key }) as const),
  fc.tuple(keyArb, valueArb, valueArb).map(([key, expected, value]) => ({ _tag: "Cas", key, expected, value }) as const)
)

stateMachineSuite("kv", Kv.KvStateMachine, { commands: fc.array(commandArb, { maxLength: 30 }), numRuns: 30 })

describe("KvStateMachine", () => {
  it("gets, puts, deletes and compares-and-sets", () => {
    const kv = Kv.KvStateMachine.make()
    expect(kv.apply({ _tag: "Get", key: "x" }, ctx)).toEqual({ _tag: "Got" })
    expect(kv.apply({ _tag: "Put", key: "x", value: 1 }, ctx)).toEqual({ _tag: "Stored" })
    expect(kv.apply({ _tag: "Put", key: "x", value: "two" }, ctx)).toEqual({ _tag: "Stored", previous: 1 })
    expect(kv.apply({ _tag: "Cas", key: "x", expected: 1, value: 3 }, ctx)).toEqual({ _tag: "CasResult", ok: false, current: "two" })
    expect(kv.apply({ _tag: "Cas", key: "x", expected: "two", value: true }, ctx)).toEqual({ _tag: "CasResult", ok: true, current: "two" })
    expect(kv.query({ _tag: "Get", key: "x" })).toEqual({ _tag: "Got", value: true })
    expect(kv.apply({ _tag: "Delete", key: "x" }, ctx)).toEqual({ _tag: "Deleted", previous: true })
    expect(kv.apply({ _tag: "Delete", key: "x" }, ctx)).toEqual({ _tag: "Deleted" })
    // an absent key differs from every expected value
    expect(kv.apply({ _tag: "Cas", key: "x", expected: false, value: 1 }, ctx)).toEqual({ _tag: "CasResult", ok: false })
    expect(kv.isReadOnly({ _tag: "Get", key: "x" })).toBe(true)
    expect(kv.isReadOnly({ _tag: "Delete", key: "x" })).toBe(false)
    expect(kv.invariants?.()).toEqual([])
  })

  it("digests by content, not by insertion order", () => {
    const a = Kv.KvStateMachine.make()
    const b = Kv.KvStateMachine.make()
    a.apply({ _tag: "Put", key: "p", value: 1 }, ctx)
    a.apply({ _tag: "Put", key: "q", value: 2 }, ctx)
    b.apply({ _tag: "Put", key: "q", value: 2 }, ctx)
    b.apply({ _tag: "Put", key: "p", value: 1 }, ctx)
    expect(a.digest()).toBe(b.digest())
    expect(a.snapshot()).toEqual([["p", 1], ["q", 2]])
    b.apply({ _tag: "Put", key: "p", value: "1" }, ctx) // the string "1" is not the number 1
    expect(a.digest()).not.toBe(b.digest())
  })

  it("round-trips commands and results as bytes and refuses bytes that are not KV commands", () => {
    const cmd: Kv.Command = { _tag: "Cas", key: "k", expected: 1, value: "v" }
    expect(Kv.decodeCommand(Kv.encodeCommand(cmd))).toEqual(cmd)
    expect(Kv.decodeCommand(enc.encode("{\"_tag\":\"Put\",\"key\":\"k\"}"))).toBeUndefined()
    expect(Kv.decodeCommand(enc.encode("not json"))).toBeUndefined()
    expect(Kv.decodeCommand(enc.encode(JSON.stringify({ _tag: "Put", key: "k", value: null })))).toBeUndefined()
    expect(Kv.decodeResult(enc.encode("{\"_tag\":\"Got\",\"value\":5}"))).toEqual({ _tag: "Got", value: 5 })
  })
})

const op = (over: Partial<ClientOp> & Pick<ClientOp, "command">): ClientOp => ({
  client: 0,
  clientId: "c0",
  seq: 1,
  commandDigest: "",
  readOnly: false,
  invokedAt: 0,
  completedAt: undefined,
  outcome: undefined,
  afterHeal: false,
  ...over
})
const committed = (result: Kv.Result) => ({ _tag: "Committed", result: enc.encode(JSON.stringify(result)), index: 1 }) as const

describe("KV histories", () => {
  it("maps outcomes: committed -> ok with what was read, timed out or pending -> unknown, rejected -> failed", () => {
    const put = Kv.encodeCommand({ _tag: "Put", key: "x", value: "a" })
    const get = Kv.encodeCommand({ _tag: "Get", key: "x" })
    const cas = Kv.encodeCommand({ _tag: "Cas", key: "x", expected: "a", value: "b" })
    const { history, problems } = Kv.toHistory([
      op({ command: put, invokedAt: 10, completedAt: 20, outcome: committed({ _tag: "Stored" }) }),
      op({ client: 1, command: get, invokedAt: 30, completedAt: 40, outcome: committed({ _tag: "Got" }) }),
      op({ client: 2, command: cas, invokedAt: 50, completedAt: 60, outcome: committed({ _tag: "CasResult", ok: true, current: "a" }) }),
      op({ command: put, invokedAt: 70, completedAt: 90, outcome: { _tag: "TimedOut" } }),
      op({ command: put, invokedAt: 75, completedAt: 80, outcome: { _tag: "Rejected", reason: "overloaded" } }),
      op({ command: get, invokedAt: 95 })
    ])
    expect(problems).toEqual([])
    expect(history).toEqual([
      { client: 0, key: "x", callNs: 10, op: "put", value: "a", outcome: { status: "ok", returnNs: 20 } },
      { client: 1, key: "x", callNs: 30, op: "get", outcome: { status: "ok", returnNs: 40, result: null } },
      { client: 2, key: "x", callNs: 50, op: "cas", expected: "a", value: "b", outcome: { status: "ok", returnNs: 60, result: true } },
      { client: 0, key: "x", callNs: 70, op: "put", value: "a", outcome: { status: "unknown" } },
      { client: 0, key: "x", callNs: 75, op: "put", value: "a", outcome: { status: "failed", returnNs: 80 } },
      { client: 0, key: "x", callNs: 95, op: "get", outcome: { status: "unknown" } }
    ])
  })

  it("reports commands and results that are not KV", () => {
    const { problems } = Kv.toHistory([
      op({ command: enc.encode("garbage") }),
      op({ seq: 2, command: Kv.encodeCommand({ _tag: "Get", key: "x" }), completedAt: 5, outcome: committed({ _tag: "Stored" }) })
    ])
    expect(problems).toHaveLength(2)
    expect(problems[0]).toContain("c0#1")
    expect(problems[1]).toContain("does not answer Get")
  })

  it("finds a stale read and accepts a linearizable history", () => {
    const put = Kv.encodeCommand({ _tag: "Put", key: "x", value: "new" })
    const get = Kv.encodeCommand({ _tag: "Get", key: "x" })
    const good = [
      op({ command: put, invokedAt: 0, completedAt: 10, outcome: committed({ _tag: "Stored" }) }),
      op({ client: 1, clientId: "c1", command: get, invokedAt: 5, completedAt: 15, outcome: committed({ _tag: "Got" }) })
    ]
    expect(Kv.checkLinearizable(good)).toEqual([])
    // the read starts after the write completed, yet sees the key absent
    const stale = [good[0]!, op({ client: 1, clientId: "c1", command: get, invokedAt: 20, completedAt: 30, outcome: committed({ _tag: "Got" }) })]
    const problems = Kv.checkLinearizable(stale)
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain("not linearizable")
  })
})

describe("KV workload", () => {
  it("produces decodable commands over a few keys, some reads flagged read-only, deterministically", () => {
    const run = () => {
      const w = Workload.kv({ keys: 2 })
      const rng = new Prng(9)
      return Array.from({ length: 300 }, (_, i) => w.next(i % 3, rng))
    }
    const ops = run()
    expect(ops.map((o) => [...o.command])).toEqual(run().map((o) => [...o.command]))
    const commands = ops.map((o) => Kv.decodeCommand(o.command)!)
    expect(commands.every((c) => c !== undefined && (c.key === "k0" || c.key === "k1"))).toBe(true)
    const tags = new Set(commands.map((c) => c._tag))
    expect(tags).toEqual(new Set(["Get", "Put", "Delete", "Cas"]))
    expect(ops.some((o) => o.readOnly)).toBe(true)
    ops.forEach((o, i) => {
      if (o.readOnly) expect(commands[i]!._tag).toBe("Get")
    })
    expect(Workload.defaultFor(Kv.KvStateMachine)?.name).toBe("kv")
  })
})
