/**
 * Evidence of Byzantine behaviour: two conflicting messages signed by the same
 * replica for the same view and sequence number (or checkpoint), kept as their
 * signed frames so that anyone holding the public keys can check it later
 * (`verifyEvidence`), and a state-transfer reply whose state does not match
 * the digest its own certificate fixes.
 */
import { Envelope, type Crypto, type PeerId, type Rejection, reject, type StateMachine } from "@synod/core"
import { Either } from "effect"
import { codec, type PbftMessage, PROTOCOL } from "./Messages.js"
import * as StateTransfer from "./StateTransfer.js"

export type EvidenceKind =
  | "conflicting-pre-prepare"
  | "conflicting-prepare"
  | "conflicting-commit"
  | "conflicting-checkpoint"
  | "bad-state"

export interface Evidence {
  readonly against: PeerId
  readonly kind: EvidenceKind
  readonly frames: ReadonlyArray<Uint8Array>
}

/** Bounded store: the oldest evidence goes first. */
export class EvidenceLog {
  private readonly items: Array<Evidence> = []
  constructor(private readonly max: number) {}

  add(e: Evidence): void {
    this.items.push(e)
    if (this.items.length > this.max) this.items.shift()
  }

  list(): ReadonlyArray<Evidence> {
    return this.items
  }
}

const kindOf: Record<string, EvidenceKind> = {
  PrePrepare: "conflicting-pre-prepare",
  Prepare: "conflicting-prepare",
  Commit: "conflicting-commit",
  Checkpoint: "conflicting-checkpoint"
}

const openFrame = (keys: Crypto.KeyRing, frame: Uint8Array): Either.Either<{ from: PeerId; message: PbftMessage; clusterId: string }, Rejection> => {
  const h = Envelope.verifyFrame(keys, frame)
  if (Either.isLeft(h)) return Either.left(h.left)
  if (h.right.protocol !== PROTOCOL) return Either.left(reject("wrong-protocol", `evidence frame for ${h.right.protocol.slice(0, 32)}`))
  const m = codec.decode(h.right.payload)
  if (Either.isLeft(m)) return Either.left(m.left)
  if (m.right._tag !== h.right.type) return Either.left(reject("malformed", "header type does not match payload"))
  return Either.right({ from: h.right.sender as PeerId, message: m.right, clusterId: h.right.clusterId })
}

/** Where two messages of one kind vouch for different things at the same place. */
const conflicting = (a: PbftMessage, b: PbftMessage): boolean => {
  if ((a._tag === "PrePrepare" || a._tag === "Prepare" || a._tag === "Commit") && a._tag === b._tag) {
    const bb = b as typeof a
    return a.view === bb.view && a.seq === bb.seq && a.digest !== bb.digest
  }
  if (a._tag === "Checkpoint" && b._tag === "Checkpoint") return a.seq === b.seq && a.stateDigest !== b.stateDigest
  return false
}

/**
 * Check a piece of evidence offline: the frames verify under `keys`, are
 * signed by `against`, and prove the misbehaviour `kind` names. "bad-state"
 * needs the state machine to recompute the state digest.
 */
export const verifyEvidence = (
  evidence: Evidence,
  keys: Crypto.KeyRing,
  stateMachine?: StateMachine.AnyStateMachine
): Either.Either<void, Rejection> => {
  const opened = []
  for (const f of evidence.frames) {
    const o = openFrame(keys, f)
    if (Either.isLeft(o)) return Either.left(o.left)
    if (o.right.from !== evidence.against) return Either.left(reject("invalid", `evidence frame signed by ${o.right.from}, not ${evidence.against}`))
    opened.push(o.right)
  }
  if (evidence.kind === "bad-state") {
    const reply = opened[0]?.message
    if (opened.length !== 1 || reply?._tag !== "StateReply") return Either.left(reject("invalid", "bad-state evidence is one StateReply"))
    if (stateMachine === undefined) return Either.left(reject("invalid", "bad-state evidence needs the state machine"))
    const restored = StateTransfer.restore(stateMachine, reply.snapshot, reply.stateDigest)
    return Either.isLeft(restored) ? Either.right(undefined) : Either.left(reject("invalid", "the state matches its digest"))
  }
  const [a, b] = opened
  if (opened.length !== 2 || a === undefined || b === undefined) return Either.left(reject("invalid", "equivocation evidence is two frames"))
  if (a.clusterId !== b.clusterId) return Either.left(reject("invalid", "evidence frames of different clusters"))
  if (kindOf[a.message._tag] !== evidence.kind || !conflicting(a.message, b.message)) {
    return Either.left(reject("invalid", `frames are not ${evidence.kind}`))
  }
  return Either.right(undefined)
}
