import { describe, expect, it } from "@effect/vitest"
import { sha256Hex } from "../src/Crypto.js"
import { replicaPeer } from "../src/Ids.js"
import type { ProtocolEvent } from "../src/Protocol.js"
import { reject } from "../src/Rejection.js"
import { type ClientOp, checkTrace, type Trace } from "../src/testing/Checkers.js"
import * as Kv from "../src/testing/KvStateMachine.js"

const enc = new TextEncoder()
const cmdA = enc.encode("A")
const cmdB = enc.encode("B")
const digest = (b: Uint8Array) => sha256Hex(b)

const committed = (index: number, entry: string, requests: Array<[string, number, Uint8Array]>): ProtocolEvent => ({
  _tag: "Committed",
  index,
  entryDigest: sha256Hex(entry),
  requests: requests.map(([clientId, seq, command]) => ({ clientId, seq, commandDigest: digest(command) }))
})
const executed = (index: number, clientId: string, seq: number): ProtocolEvent => ({ _tag: "Executed", index, clientId, seq })

const submissions = [
  { clientId: "c0", seq: 1, command: cmdA },
  { clientId: "c1", seq: 1, command: cmdB }
]

/** Three correct replicas that agree on everything. */
const good: Trace = {
  submissions,
  events: [0, 1, 2].flatMap((replica) => [
    { replica, event: committed(1, "e1", [["c0", 1, cmdA]]) },
    { replica, event: executed(1, "c0", 1) },
    { replica, event: committed(2, "e2", [["c1", 1, cmdB]]) },
    { replica, event: executed(2, "c1", 1) },
    { replica, event: { _tag: "Rejected", from: replicaPeer(9), rejection: reject("bad-signature", "x") } as ProtocolEvent }
  ]),
  applied: [0, 1, 2].flatMap((replica) => [
    { replica, appliedIndex: 1, stateDigest: "s1" },
    { replica, appliedIndex: 2, stateDigest: "s2" }
  ]),
  invariants: [{ replica: 0, problems: [] }]
}

const checkersOf = (trace: Trace) => checkTrace(trace).map((v) => v.checker)

describe("checkers on hand-made traces", () => {
  it("accept a trace where correct replicas agree", () => {
    expect(checkTrace(good)).toEqual([])
  })

  it("agreement: two replicas commit different entries at one index", () => {
    const bad: Trace = {
      submissions,
      events: [
        { replica: 0, event: committed(1, "e1", [["c0", 1, cmdA]]) },
        { replica: 1, event: committed(1, "other", [["c1", 1, cmdB]]) }
      ]
    }
    const v = checkTrace(bad)
    expect(v.map((x) => x.checker)).toEqual(["agreement"])
    expect(v[0]!.message).toContain("index 1")
    expect(v[0]!.step).toBe(1)
  })

  it("agreement: one replica changes its own decision", () => {
    const bad: Trace = {
      submissions,
      events: [
        { replica: 0, event: committed(1, "e1", [["c0", 1, cmdA]]) },
        { replica: 0, event: committed(1, "e2", [["c0", 1, cmdA]]) }
      ]
    }
    expect(checkersOf(bad)).toEqual(["agreement"])
  })

  it("validity: a committed request no client submitted", () => {
    const bad: Trace = { submissions, events: [{ replica: 0, event: committed(1, "e1", [["c7", 1, cmdA]]) }] }
    const v = checkTrace(bad)
    expect(v.map((x) => x.checker)).toEqual(["validity"])
    expect(v[0]!.message).toContain("no client submitted")
  })

  it("validity: a committed request whose bytes differ from what the client sent", () => {
    const bad: Trace = { submissions, events: [{ replica: 0, event: committed(1, "e1", [["c0", 1, cmdB]]) }] }
    const v = checkTrace(bad)
    expect(v.map((x) => x.checker)).toEqual(["validity"])
    expect(v[0]!.message).toContain("the client submitted")
  })

  it("validity: an executed request no client submitted", () => {
    expect(checkersOf({ submissions, events: [{ replica: 2, event: executed(1, "c0", 99) }] })).toEqual(["validity"])
  })

  it("exactly-once: a replica executes one request twice", () => {
    const bad: Trace = {
      submissions,
      events: [
        { replica: 1, event: executed(1, "c0", 1) },
        { replica: 1, event: executed(3, "c0", 1) }
      ]
    }
    const v = checkTrace(bad)
    expect(v.map((x) => x.checker)).toEqual(["exactly-once"])
    expect(v[0]!.message).toContain("twice")
  })

  it("exactly-once: a restarted replica may replay its log, other replicas are independent", () => {
    const ok: Trace = {
      submissions,
      events: [
        { replica: 1, event: executed(1, "c0", 1) },
        { replica: 2, event: executed(1, "c0", 1) },
        { replica: 1, restart: true },
        { replica: 1, event: executed(1, "c0", 1) }
      ]
    }
    expect(checkTrace(ok)).toEqual([])
  })

  it("state digests: two replicas at one applied index with different state", () => {
    const bad: Trace = {
      submissions,
      events: [],
      applied: [
        { replica: 0, appliedIndex: 4, stateDigest: "s4" },
        { replica: 1, appliedIndex: 3, stateDigest: "s3" },
        { replica: 2, appliedIndex: 4, stateDigest: "s4-diverged" }
      ]
    }
    const v = checkTrace(bad)
    expect(v.map((x) => x.checker)).toEqual(["state-digest"])
    expect(v[0]!.message).toContain("applied index 4")
  })

  it("invariants: whatever the state machine reports is a violation, naming the replica", () => {
    const v = checkTrace({ submissions, events: [], invariants: [{ replica: 2, problems: ["supply changed: 100 != 99"] }] })
    expect(v).toEqual([{ checker: "invariants", step: 0, message: "replica 2: supply changed: 100 != 99" }])
  })

  it("linearizability: a read that misses a completed write", () => {
    const op = (client: number, command: Kv.Command, invokedAt: number, completedAt: number, result: Kv.Result): ClientOp => ({
      client,
      clientId: `c${client}`,
      seq: 1,
      command: Kv.encodeCommand(command),
      commandDigest: "",
      readOnly: command._tag === "Get",
      invokedAt,
      completedAt,
      outcome: { _tag: "Committed", result: enc.encode(JSON.stringify(result)), index: 1 },
      afterHeal: false
    })
    const ops = [
      op(0, { _tag: "Put", key: "k", value: 1 }, 0, 10, { _tag: "Stored" }),
      op(1, { _tag: "Put", key: "k", value: 2 }, 20, 30, { _tag: "Stored", previous: 1 }),
      op(2, { _tag: "Get", key: "k" }, 40, 50, { _tag: "Got", value: 1 })
    ]
    const v = checkTrace({ submissions, events: [], history: { ops, check: Kv.checkLinearizable } })
    expect(v.map((x) => x.checker)).toEqual(["linearizability"])
    expect(v[0]!.message).toContain("not linearizable")
    // the same read, concurrent with the second write, is fine
    const concurrent = [ops[0]!, ops[1]!, op(2, { _tag: "Get", key: "k" }, 25, 50, { _tag: "Got", value: 1 })]
    expect(checkTrace({ submissions, events: [], history: { ops: concurrent, check: Kv.checkLinearizable } })).toEqual([])
  })
})
