/**
 * The replicated state a checkpoint covers and state transfer moves (TOCS'02
 * §5.3, simplified to whole checkpoints): the application state machine and
 * the last reply per client, which makes execution exactly-once across
 * checkpoints, state transfers and restarts.
 *
 * A receiver never trusts the sender of a state: it checks the checkpoint
 * certificate's signatures, rebuilds the state from the bytes, and compares
 * the digest it computes itself with the certified one. A replica that lies
 * can delay a transfer, never install wrong state.
 *
 * Limit: a snapshot travels in one `StateReply`, so the encoded state must fit
 * in one frame (4 MiB by default); chunked transfer of larger states is not
 * implemented.
 */
import { Crypto, type Rejection, reject, type StateMachine } from "@synod/core"
import { Either, Schema } from "effect"
import { checkpointDigest, type Digest } from "./Digest.js"

/** What a replica remembers of its last reply to a client (OSDI'99 §4.1, exactly-once). */
export interface CachedReply {
  readonly seq: number
  readonly index: number
  readonly result: Uint8Array
  readonly rejected?: string
}

export type ReplyTable = Map<string, CachedReply>

const ReplyEntry = Schema.Struct({
  clientId: Schema.String,
  seq: Schema.Int,
  index: Schema.Int,
  result: Schema.Uint8ArrayFromBase64,
  rejected: Schema.optional(Schema.String)
})

const StateSnapshot = Schema.Struct({
  format: Schema.Literal("pbft-state/1"),
  stateMachine: Schema.Unknown,
  replies: Schema.Array(ReplyEntry)
})

const decodeSnapshot = Schema.decodeUnknownEither(Schema.parseJson(StateSnapshot))
const encodeSnapshot = Schema.encodeSync(Schema.parseJson(StateSnapshot))
const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder("utf-8", { fatal: true })

const sortedEntries = (table: ReplyTable): Array<[string, CachedReply]> =>
  [...table.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))

/** Digest of the last-reply table, independent of insertion order. */
export const replyTableDigest = (table: ReplyTable): string => {
  const lines = sortedEntries(table).map(([c, r]) => `${c}\t${r.seq}\t${r.index}\t${Crypto.toHex(r.result)}\t${r.rejected ?? ""}`)
  return Crypto.sha256Hex("pbft/replies/1|", lines.join("\n"))
}

export interface CapturedState {
  readonly digest: Digest
  readonly bytes: Uint8Array
}

/** The checkpoint digest of the current state (cheap: no snapshot). */
export const stateDigest = (instance: StateMachine.StateMachineInstance<any, any, any>, table: ReplyTable): Digest =>
  checkpointDigest(instance.digest(), replyTableDigest(table))

/** Snapshot the replicated state and compute its checkpoint digest. */
export const capture = (
  machine: StateMachine.AnyStateMachine,
  instance: StateMachine.StateMachineInstance<any, any, any>,
  table: ReplyTable
): CapturedState => {
  const replies = sortedEntries(table).map(([clientId, r]) =>
    r.rejected === undefined
      ? { clientId, seq: r.seq, index: r.index, result: r.result }
      : { clientId, seq: r.seq, index: r.index, result: r.result, rejected: r.rejected }
  )
  const json = encodeSnapshot({
    format: "pbft-state/1",
    stateMachine: Schema.encodeSync(machine.snapshot)(instance.snapshot()),
    replies
  })
  return { digest: stateDigest(instance, table), bytes: utf8.encode(json) }
}

export interface RestoredState {
  readonly instance: StateMachine.StateMachineInstance<any, any, any>
  readonly replies: ReplyTable
}

/** Rebuild the state from untrusted bytes and accept it only if its digest is `expected`. */
export const restore = (
  machine: StateMachine.AnyStateMachine,
  bytes: Uint8Array,
  expected: string
): Either.Either<RestoredState, Rejection> => {
  try {
    const decoded = decodeSnapshot(fromUtf8.decode(bytes))
    if (Either.isLeft(decoded)) return Either.left(reject("invalid", "state snapshot does not decode"))
    const sm = Schema.decodeUnknownEither(machine.snapshot)(decoded.right.stateMachine)
    if (Either.isLeft(sm)) return Either.left(reject("invalid", "state machine snapshot does not decode"))
    const instance = machine.make()
    instance.restore(sm.right)
    const replies: ReplyTable = new Map()
    for (const e of decoded.right.replies) {
      if (replies.has(e.clientId)) return Either.left(reject("invalid", `state snapshot lists client ${e.clientId.slice(0, 64)} twice`))
      replies.set(e.clientId, e.rejected === undefined
        ? { seq: e.seq, index: e.index, result: e.result }
        : { seq: e.seq, index: e.index, result: e.result, rejected: e.rejected })
    }
    const digest = stateDigest(instance, replies)
    if (digest !== expected) return Either.left(reject("invalid", `state digest ${digest.slice(0, 16)} does not match the certified ${expected.slice(0, 16)}`))
    return Either.right({ instance, replies })
  } catch (e) {
    // a state machine's restore threw on hostile input: a rejection, not a crash
    return Either.left(reject("invalid", `state snapshot could not be restored: ${String(e).slice(0, 120)}`))
  }
}
