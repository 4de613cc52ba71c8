import { describe, expect, it } from "@effect/vitest"
import { Schema } from "effect"
import type { SessionResult } from "../src/Messages.js"
import { SessionRecord } from "../src/Messages.js"
import { SessionTable } from "../src/Session.js"

const ok = (index: number, text = "r"): SessionResult => ({ _tag: "Ok", index: index as never, result: new TextEncoder().encode(text) })
const item = (clientId: string, seq: number, ackedBelow = 0) => ({ clientId, seq, ackedBelow })

/** Apply like the learner does: classify, then record when new. Returns what happened. */
const apply = (t: SessionTable, i: ReturnType<typeof item>, index: number) => {
  const c = t.begin(i, index)
  if (c._tag === "New") t.record(i.clientId, i.seq, ok(index, `${i.clientId}#${i.seq}`))
  return c._tag
}

describe("SessionTable", () => {
  it("executes a request once; a retry or re-proposal in a later slot gets the original result", () => {
    const t = new SessionTable(10, 8)
    expect(apply(t, item("a", 0), 1)).toBe("New")
    const again = t.begin(item("a", 0), 5)
    expect(again._tag).toBe("Duplicate")
    expect(again._tag === "Duplicate" && again.result).toEqual(ok(1, "a#0"))
    expect(t.lookup("a", 0)._tag).toBe("Duplicate")
  })

  it("runs requests of one client in any order inside its window", () => {
    const t = new SessionTable(10, 8)
    expect(apply(t, item("a", 2), 1)).toBe("New")
    expect(apply(t, item("a", 0), 2)).toBe("New")
    expect(apply(t, item("a", 1), 3)).toBe("New")
    expect(apply(t, item("a", 2), 4)).toBe("Duplicate")
  })

  it("forgets acknowledged results and never executes an acknowledged seq", () => {
    const t = new SessionTable(10, 8)
    apply(t, item("a", 0), 1)
    apply(t, item("a", 1), 2)
    expect(apply(t, item("a", 2, 2), 3)).toBe("New") // the client completed 0 and 1
    expect(t.lookup("a", 0)._tag).toBe("Stale")
    expect(apply(t, item("a", 1), 4)).toBe("Stale") // a late re-proposal of 1 does not run again
    expect(apply(t, item("a", 5, 6), 5)).toBe("Stale") // malformed: claims its own seq is acknowledged
  })

  it("bounds results per session: beyond the limit the oldest seq can never execute again", () => {
    const t = new SessionTable(10, 2)
    apply(t, item("a", 0), 1)
    apply(t, item("a", 1), 2)
    apply(t, item("a", 2), 3)
    expect(t.lookup("a", 0)._tag).toBe("Stale")
    expect(t.lookup("a", 1)._tag).toBe("Duplicate")
    expect(t.lookup("a", 2)._tag).toBe("Duplicate")
  })

  it("bounds sessions, evicting the least recently active client (ties by id)", () => {
    const t = new SessionTable(2, 8)
    apply(t, item("b", 0), 1)
    apply(t, item("a", 0), 1)
    apply(t, item("c", 0), 2)
    expect(t.size).toBe(2)
    expect(t.lookup("a", 0)._tag).toBe("New") // evicted: the smallest id among the least recent
    expect(t.lookup("b", 0)._tag).toBe("Duplicate")
    expect(t.lookup("c", 0)._tag).toBe("Duplicate")
  })

  it("snapshots to canonical records and restores the same behaviour", () => {
    const t = new SessionTable(10, 8)
    apply(t, item("z", 3), 1)
    apply(t, item("a", 1), 2)
    apply(t, item("a", 0), 3)
    const records = t.toRecords()
    expect(records.map((r) => r.clientId)).toEqual(["a", "z"])
    expect(records[0]!.results.map((r) => r.seq)).toEqual([0, 1])
    const wire = Schema.decodeUnknownSync(Schema.Array(SessionRecord))(Schema.encodeSync(Schema.Array(SessionRecord))(records))
    const u = new SessionTable(10, 8)
    u.restore(wire)
    expect(u.toRecords()).toEqual(records)
    expect(u.lookup("z", 3)._tag).toBe("Duplicate")
    expect(u.lookup("a", 2)._tag).toBe("New")
  })
})
