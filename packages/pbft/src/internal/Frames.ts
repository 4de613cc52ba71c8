/**
 * Opening frames carried inside other messages (certificates, relays) and
 * sealing the replica's own messages so it can carry them as proofs later.
 *
 * An embedded frame is opened exactly like one from the network
 * (`Envelope.open`: size, header, cluster, protocol, signature, decoding), so
 * a proof can never be weaker than a direct message.
 */
import { type Crypto, Envelope, peerReplica, type Protocol, type Rejection, reject, type ReplicaId } from "@synod/core"
import { Either } from "effect"
import { codec, type PbftMessage, PROTOCOL } from "../Messages.js"

export type Tag = PbftMessage["_tag"]
export type MessageOf<T extends Tag> = Extract<PbftMessage, { readonly _tag: T }>

/** A replica's message with its signed frame. */
export interface Signed<M> {
  readonly from: ReplicaId
  readonly message: M
  readonly frame: Uint8Array
}

export class Frames {
  private ctx: Envelope.EnvelopeContext<PbftMessage> | undefined

  constructor(
    readonly keys: Crypto.KeyRing,
    private readonly signer: Crypto.Signer,
    clusterId: string | undefined,
    private readonly maxFrameBytes: number | undefined
  ) {
    if (clusterId !== undefined) this.setCluster(clusterId)
  }

  get clusterId(): string | undefined {
    return this.ctx?.clusterId
  }

  /** Use `clusterId` unless one is already known (recovery from disk). */
  useCluster(clusterId: string): void {
    if (this.ctx === undefined) this.setCluster(clusterId)
  }

  private setCluster(clusterId: string) {
    this.ctx = this.maxFrameBytes === undefined
      ? { clusterId, protocol: PROTOCOL, codec }
      : { clusterId, protocol: PROTOCOL, codec, maxFrameBytes: this.maxFrameBytes }
  }

  /**
   * Learn the cluster id from a frame the shell authenticated against it (only
   * when none was configured). Its header was checked by `Envelope.open`.
   */
  learnFrom(frame: Uint8Array): void {
    if (this.ctx !== undefined) return
    const header = Envelope.parseFrame(frame)
    if (Either.isRight(header)) this.setCluster(header.right.clusterId)
  }

  /** Open an embedded frame and require its message type. */
  open<T extends Tag>(frame: Uint8Array, tag: T): Either.Either<Protocol.Verified<MessageOf<T>>, Rejection> {
    if (this.ctx === undefined) return Either.left(reject("invalid", "cluster id not known yet"))
    const opened = Envelope.open(this.ctx, this.keys, frame)
    if (Either.isLeft(opened)) return Either.left(opened.left)
    if (opened.right.message._tag !== tag) {
      return Either.left(reject("invalid", `embedded ${opened.right.message._tag} where ${tag} is required`))
    }
    return Either.right(opened.right as Protocol.Verified<MessageOf<T>>)
  }

  /** Open an embedded frame that a replica must have signed. */
  openReplica<T extends Tag>(frame: Uint8Array, tag: T): Either.Either<Signed<MessageOf<T>>, Rejection> {
    const opened = this.open(frame, tag)
    if (Either.isLeft(opened)) return Either.left(opened.left)
    const from = peerReplica(opened.right.from)
    if (from === undefined) return Either.left(reject("not-member", `${tag} signed by ${opened.right.from}`))
    return Either.right({ from, message: opened.right.message, frame })
  }

  /** Any frame (for relays): the message type is checked by the handler it is dispatched to. */
  openAny(frame: Uint8Array): Either.Either<Protocol.Verified<PbftMessage>, Rejection> {
    if (this.ctx === undefined) return Either.left(reject("invalid", "cluster id not known yet"))
    return Envelope.open(this.ctx, this.keys, frame)
  }

  canSeal(): boolean {
    return this.ctx !== undefined
  }

  /**
   * Seal our own message exactly as the shell will (both signature schemes are
   * deterministic, so the shell's frame is byte-identical), to keep it as a proof.
   */
  seal<M extends PbftMessage>(from: ReplicaId, message: M): Signed<M> {
    if (this.ctx === undefined) throw new Error("pbft: sealing before the cluster id is known (a bug: no input was received)")
    return { from, message, frame: Envelope.seal(this.ctx, this.signer, message) }
  }
}
