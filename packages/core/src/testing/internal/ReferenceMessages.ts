/**
 * The reference protocol's messages and wire codec (see `ReferenceProtocol.ts`).
 */
import { Schema } from "effect"
import type { ReplicaId } from "../../Ids.js"
import { bool, nat, positive, recordCodec, string } from "./RecordCodec.js"

/** The one view of this protocol: fixed at 1 so that stale (0) and future views can be expressed. */
export const VIEW = 1
/** Replica 0 orders everything. */
export const SEQUENCER = 0 as ReplicaId
/** Largest base64 command or result carried. */
export const MAX_BLOB = 64 * 1024

const Nat = Schema.NonNegativeInt
const Blob = Schema.String.pipe(Schema.maxLength(MAX_BLOB))
const Client = Schema.String.pipe(Schema.maxLength(128))

export const Request = Schema.TaggedStruct("Request", { view: Nat, clientId: Client, seq: Nat, command: Blob })
export const Order = Schema.TaggedStruct("Order", { view: Nat, index: Schema.Int.pipe(Schema.positive()), clientId: Client, seq: Nat, command: Blob })
export const Ack = Schema.TaggedStruct("Ack", { view: Nat, upTo: Nat, chain: Schema.String.pipe(Schema.maxLength(64)) })
export const Commit = Schema.TaggedStruct("Commit", { view: Nat, commitIndex: Nat, lastIndex: Nat })
export const Reply = Schema.TaggedStruct("Reply", { view: Nat, clientId: Client, seq: Nat, index: Nat, ok: Schema.Boolean, result: Blob })
/** The messages, as Schemas (documentation and tests; the wire codec below checks the same fields by table). */
export const Message = Schema.Union(Request, Order, Ack, Commit, Reply)
export type Message = typeof Message.Type

/** The wire codec: the same fields and bounds as `Message`, checked by a field table for speed. */
export const codec = recordCodec<Message>({
  Request: { view: nat, clientId: string(128), seq: nat, command: string(MAX_BLOB) },
  Order: { view: nat, index: positive, clientId: string(128), seq: nat, command: string(MAX_BLOB) },
  Ack: { view: nat, upTo: nat, chain: string(64) },
  Commit: { view: nat, commitIndex: nat, lastIndex: nat },
  Reply: { view: nat, clientId: string(128), seq: nat, index: nat, ok: bool, result: string(MAX_BLOB) }
}, 256 * 1024)

export const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64")
export const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "base64"))
