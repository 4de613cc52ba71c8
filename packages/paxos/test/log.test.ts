import { describe, expect, it } from "@effect/vitest"
import { type ClientId, Storage, type ReplicaId } from "@synod/core"
import * as B from "../src/Ballot.js"
import { decodeBallotBytes, encodeBallotBytes, Log, LOG_PREFIX, sameBatch, slotKey } from "../src/Log.js"
import * as M from "../src/Messages.js"

const ballot = (round: number, replica = 0) => B.make(round, replica as ReplicaId)
const command = (clientId: string, seq: number, text: string) =>
  new M.Command({ clientId: clientId as ClientId, seq: seq as never, ackedBelow: 0 as never, command: new TextEncoder().encode(text) })
const batch = (round: number, ...items: Array<M.Item>) => new M.Batch({ ballot: ballot(round), items })

/** Write a Log's changes to a map, as the shell and simulator do. */
const disk = () => new Map<string, Uint8Array>()

describe("Log", () => {
  it("keeps the accepted proposal and the chosen value per slot, and reports accepted proposals in slot order", () => {
    const log = new Log()
    log.accept(3, ballot(1), batch(1, command("a", 0, "x")))
    log.accept(1, ballot(1), batch(1))
    log.accept(3, ballot(2), batch(2, command("a", 0, "y")))
    expect(log.acceptedFrom(1, 10).map((e) => [e.slot, e.ballot.round])).toEqual([[1, 1], [3, 2]])
    expect(log.acceptedFrom(2, 10).map((e) => e.slot)).toEqual([3])
    expect(log.acceptedFrom(1, 1).map((e) => e.slot)).toEqual([1])
    expect(log.chosen(3)).toBeUndefined()
    const v = log.get(3)!.accepted!.value
    expect(log.choose(3, v)).toBeDefined()
    expect(log.choose(3, v)).toBeUndefined() // already known
    expect(log.chosen(3)).toBe(v)
  })

  it("survives a restart: what it wrote reloads to the same entries", () => {
    const d = disk()
    const log = new Log()
    const v = batch(2, command("c1", 4, "put"))
    Storage.applyBatch(d, [log.accept(7, ballot(2, 1), v)])
    Storage.applyBatch(d, [log.choose(7, v)!])
    Storage.applyBatch(d, [log.accept(8, ballot(2, 1), batch(2))])
    Storage.applyBatch(d, [log.choose(9, batch(1))!]) // learned by catch-up, never accepted here
    const { log: again, stale } = Log.load(d, 0)
    expect(stale).toEqual([])
    expect(again.get(7)!.accepted!.ballot).toEqual(ballot(2, 1))
    expect(sameBatch(again.chosen(7)!, v)).toBe(true)
    expect(again.chosen(8)).toBeUndefined()
    expect(again.get(9)!.accepted).toBeUndefined()
    expect(again.chosen(9)!.items).toEqual([])
  })

  it("stores a chosen value that equals the accepted one once", () => {
    const log = new Log()
    const v = batch(1, command("c1", 0, "a-long-command-".repeat(20)))
    const accepted = log.accept(1, ballot(1), v)
    const chosen = log.choose(1, batch(1, command("c1", 0, "a-long-command-".repeat(20))))!
    expect(chosen.value!.byteLength).toBeLessThan(accepted.value!.byteLength + 40)
  })

  it("truncates slots into a snapshot and deletes their keys; a reload drops leftovers below the snapshot", () => {
    const d = disk()
    const log = new Log()
    for (let s = 1; s <= 10; s++) Storage.applyBatch(d, [log.accept(s, ballot(1), batch(1))])
    const deletes = log.truncate(6)
    expect(deletes.map((w) => w.key)).toEqual([1, 2, 3, 4, 5, 6].map(slotKey))
    expect(deletes.every((w) => w.value === null)).toBe(true)
    expect(log.size).toBe(4)
    expect(log.truncatedThrough).toBe(6)
    expect(log.choose(5, batch(1))).toBeUndefined() // below the truncation point: folded into the snapshot
    // a crash after the snapshot was written but before the deletions: the reload cleans up
    const { log: again, stale } = Log.load(d, 6)
    expect(stale.map((w) => w.key)).toEqual([1, 2, 3, 4, 5, 6].map(slotKey))
    expect(stale.every((w) => w.value === null)).toBe(true)
    expect(again.slotsFrom(0)).toEqual([7, 8, 9, 10])
  })

  it("names slots so that keys sort in slot order", () => {
    const keys = [2, 10, 1, 100000].map(slotKey)
    expect([...keys].sort()).toEqual([1, 2, 10, 100000].map(slotKey))
    expect(keys.every((k) => k.startsWith(LOG_PREFIX))).toBe(true)
  })

  it("round-trips the promised ballot", () => {
    expect(decodeBallotBytes(encodeBallotBytes(ballot(42, 3)))).toEqual(ballot(42, 3))
  })

  it("compares batches by value, not identity", () => {
    expect(sameBatch(batch(1, command("a", 1, "x")), batch(1, command("a", 1, "x")))).toBe(true)
    expect(sameBatch(batch(1, command("a", 1, "x")), batch(2, command("a", 1, "x")))).toBe(false)
    expect(sameBatch(batch(1, command("a", 1, "x")), batch(1, command("a", 1, "y")))).toBe(false)
    expect(sameBatch(batch(1, command("a", 1, "x")), batch(1, command("a", 2, "x")))).toBe(false)
    expect(sameBatch(batch(1), batch(1, command("a", 1, "x")))).toBe(false)
  })
})
