/**
 * The replica's log of slots: per slot, the acceptor's accepted proposal
 * (ballot and value) and, once known, the chosen value. Slots are numbered
 * from 1; everything at or below `truncatedThrough` was folded into a
 * snapshot and forgotten.
 *
 * Durable layout: one key per slot, `paxos/log/<slot, 15 digits>`, holding the
 * whole entry, so one write updates one slot atomically and keys sort in slot
 * order. The acceptor's promise lives at `paxos/promised`.
 */
import type { Protocol } from "@synod/core"
import { Schema } from "effect"
import { Ballot } from "./Ballot.js"
import * as B from "./Ballot.js"
import { AcceptedEntry, Batch } from "./Messages.js"

export const PROMISED_KEY = "paxos/promised"
export const LOG_PREFIX = "paxos/log/"

export const slotKey = (slot: number): string => LOG_PREFIX + String(slot).padStart(15, "0")

export interface Entry {
  /** The highest-ballot proposal this acceptor accepted in the slot. */
  readonly accepted?: { readonly ballot: Ballot; readonly value: Batch }
  /** The chosen value, once learned. */
  readonly chosen?: Batch
}

const EntryRecord = Schema.Struct({
  slot: Schema.Int.pipe(Schema.positive()),
  accepted: Schema.optional(Schema.Struct({ ballot: Ballot, value: Batch })),
  chosen: Schema.optional(Batch),
  /** The chosen value is the accepted one (stored once). */
  chosenIsAccepted: Schema.optional(Schema.Boolean)
})

const enc = new TextEncoder()
const dec = new TextDecoder()
const encodeEntry = Schema.encodeSync(EntryRecord)
const decodeEntry = Schema.decodeUnknownSync(EntryRecord)
const encodeBallot = Schema.encodeSync(Ballot)
const decodeBallot = Schema.decodeUnknownSync(Ballot)

export const encodeBallotBytes = (b: Ballot): Uint8Array => enc.encode(JSON.stringify(encodeBallot(b)))
export const decodeBallotBytes = (bytes: Uint8Array): Ballot => decodeBallot(JSON.parse(dec.decode(bytes)))

const entryWrite = (slot: number, e: Entry): Protocol.StorageWrite => {
  const same = e.chosen !== undefined && e.accepted !== undefined && e.chosen === e.accepted.value
  const record: typeof EntryRecord.Type = {
    slot,
    ...(e.accepted !== undefined ? { accepted: e.accepted } : {}),
    ...(e.chosen !== undefined && !same ? { chosen: e.chosen } : {}),
    ...(same ? { chosenIsAccepted: true } : {})
  }
  return { key: slotKey(slot), value: enc.encode(JSON.stringify(encodeEntry(record))) }
}

export class Log {
  private readonly entries = new Map<number, Entry>()
  /** Slots at or below this were truncated into a snapshot. */
  truncatedThrough = 0

  get(slot: number): Entry | undefined {
    return this.entries.get(slot)
  }

  get size(): number {
    return this.entries.size
  }

  chosen(slot: number): Batch | undefined {
    return this.entries.get(slot)?.chosen
  }

  /** Record an accepted proposal; the write must be durable before `Accepted` leaves. */
  accept(slot: number, ballot: Ballot, value: Batch): Protocol.StorageWrite {
    const prev = this.entries.get(slot)
    const e: Entry = { accepted: { ballot, value }, ...(prev?.chosen !== undefined ? { chosen: prev.chosen } : {}) }
    this.entries.set(slot, e)
    return entryWrite(slot, e)
  }

  /** Record the chosen value; undefined when it was already known. */
  choose(slot: number, value: Batch): Protocol.StorageWrite | undefined {
    const prev = this.entries.get(slot)
    if (prev?.chosen !== undefined || slot <= this.truncatedThrough) return undefined
    // keep one object when the chosen value is the accepted one, so the record stores it once
    const chosen = prev?.accepted !== undefined && sameBatch(prev.accepted.value, value) ? prev.accepted.value : value
    const e: Entry = { ...(prev?.accepted !== undefined ? { accepted: prev.accepted } : {}), chosen }
    this.entries.set(slot, e)
    return entryWrite(slot, e)
  }

  /** The highest slot with a known chosen value (0: none); a scan, for start-up. */
  highestChosen(): number {
    let max = 0
    for (const [slot, e] of this.entries) if (e.chosen !== undefined && slot > max) max = slot
    return max
  }

  /** Accepted proposals in slots >= `from`, ascending, at most `limit`. */
  acceptedFrom(from: number, limit: number): Array<AcceptedEntry> {
    const out: Array<AcceptedEntry> = []
    for (const slot of this.slotsFrom(from)) {
      const a = this.entries.get(slot)!.accepted
      if (a !== undefined) out.push(new AcceptedEntry({ slot: slot as never, ballot: a.ballot, value: a.value }, true))
      if (out.length >= limit) break
    }
    return out
  }

  /** Slots >= `from` that have an entry, ascending. */
  slotsFrom(from: number): Array<number> {
    const slots: Array<number> = []
    for (const s of this.entries.keys()) if (s >= from) slots.push(s)
    return slots.sort((a, b) => a - b)
  }

  /** Forget every slot <= `through`; returns the deletions. */
  truncate(through: number): Array<Protocol.StorageWrite> {
    const writes: Array<Protocol.StorageWrite> = []
    if (through <= this.truncatedThrough) return writes
    for (const s of [...this.entries.keys()]) {
      if (s <= through) {
        this.entries.delete(s)
        writes.push({ key: slotKey(s), value: null })
      }
    }
    this.truncatedThrough = through
    return writes
  }

  /** Rebuild from the durable records (keys under `LOG_PREFIX`). Throws on a corrupt record: our own disk. */
  static load(disk: ReadonlyMap<string, Uint8Array>, truncatedThrough: number): { log: Log; stale: Array<Protocol.StorageWrite> } {
    const log = new Log()
    log.truncatedThrough = truncatedThrough
    const stale: Array<Protocol.StorageWrite> = []
    for (const [key, bytes] of disk) {
      if (!key.startsWith(LOG_PREFIX)) continue
      const r = decodeEntry(JSON.parse(dec.decode(bytes)))
      if (slotKey(r.slot) !== key) throw new Error(`paxos log: record at ${key} names slot ${r.slot}`)
      // a crash between writing a snapshot and deleting the slots it covers leaves these behind
      if (r.slot <= truncatedThrough) {
        stale.push({ key, value: null })
        continue
      }
      const accepted = r.accepted
      const chosen = r.chosenIsAccepted === true ? accepted?.value : r.chosen
      log.entries.set(r.slot, {
        ...(accepted !== undefined ? { accepted } : {}),
        ...(chosen !== undefined ? { chosen } : {})
      })
    }
    return { log, stale }
  }
}

/** Two batches are the same value: same proposer ballot and the same items. */
export const sameBatch = (a: Batch, b: Batch): boolean => {
  if (a === b) return true
  if (!B.equals(a.ballot, b.ballot) || a.items.length !== b.items.length) return false
  for (let i = 0; i < a.items.length; i++) {
    const x = a.items[i]!
    const y = b.items[i]!
    if (x._tag !== y._tag || x.clientId !== y.clientId || x.seq !== y.seq || x.ackedBelow !== y.ackedBelow) return false
    if (x._tag === "Command" && y._tag === "Command") {
      if (x.command.byteLength !== y.command.byteLength) return false
      for (let j = 0; j < x.command.byteLength; j++) if (x.command[j] !== y.command[j]) return false
    } else if (x._tag === "Reconfigure" && y._tag === "Reconfigure") {
      if (x.members.join(",") !== y.members.join(",")) return false
    }
  }
  return true
}
