/** Keys and sealed frames for unit tests of certificates, view changes and replies. */
import { clientPeer, type ClientId, Crypto, Envelope, type LogIndex, type PeerId, type ReplicaId, replicaPeer, TrustModel, type ViewNumber } from "@synod/core"
import { Frames, type Signed } from "../../src/internal/Frames.js"
import { Log, type Slot } from "../../src/Log.js"
import { Checkpoint, type Digest, type PbftMessage, Prepare, PreparedProof, PrePrepare } from "../../src/Messages.js"
import { CLUSTER, envelope, KEY_SEED } from "./Cluster.js"

export const digest = (c: string): Digest => c.repeat(64).slice(0, 64) as Digest
export const v = (n: number) => n as ViewNumber
export const s = (n: number) => n as LogIndex

export class Fixture {
  readonly keys: Crypto.KeyRing
  readonly frames: Frames
  constructor(readonly trust: TrustModel.QuorumSystem = TrustModel.byzantine(4)) {
    const peers: Array<PeerId> = [...trust.replicas.map(replicaPeer), clientPeer("c0"), clientPeer("c1")]
    this.keys = Crypto.simulatedKeyRing(KEY_SEED, peers)
    this.frames = new Frames(this.keys, Crypto.simulatedSigner(KEY_SEED, replicaPeer(0)), CLUSTER, undefined)
  }

  signer(peer: PeerId): Crypto.Signer {
    return Crypto.simulatedSigner(KEY_SEED, peer)
  }

  seal(from: number | string, message: PbftMessage): Uint8Array {
    const peer = typeof from === "number" ? replicaPeer(from) : clientPeer(from as ClientId)
    return Envelope.seal(envelope, this.signer(peer), message)
  }

  signed<M extends PbftMessage>(from: number, message: M): Signed<M> {
    return { from: from as ReplicaId, message, frame: this.seal(from, message) }
  }

  prePrepare(view: number, seq: number, d: Digest): Signed<PrePrepare> {
    return this.signed(view % this.trust.replicas.length, new PrePrepare({ view: v(view), seq: s(seq), digest: d }))
  }

  prepare(from: number, view: number, seq: number, d: Digest): Signed<Prepare> {
    return this.signed(from, new Prepare({ view: v(view), seq: s(seq), digest: d }))
  }

  /** A prepared certificate as a view-change carries it: the pre-prepare and prepares from `backups`. */
  preparedProof(view: number, seq: number, d: Digest, backups: ReadonlyArray<number>): PreparedProof {
    return new PreparedProof({
      prePrepare: this.prePrepare(view, seq, d).frame,
      prepares: backups.map((b) => this.prepare(b, view, seq, d).frame)
    })
  }

  checkpointProof(seq: number, d: Digest, from: ReadonlyArray<number>): Array<Uint8Array> {
    return from.map((r) => this.seal(r, new Checkpoint({ seq: s(seq), stateDigest: d })))
  }

  /** A slot of view `view` with the primary's pre-prepare and prepares from `backups`. */
  slot(view: number, seq: number, d: Digest, backups: ReadonlyArray<number>, prepareDigest: Digest = d): Slot {
    const slot = new Log(128).slot(seq, view)
    slot.prePrepare = this.prePrepare(view, seq, d)
    for (const b of backups) slot.prepares.set(b as ReplicaId, this.prepare(b, view, seq, prepareDigest))
    return slot
  }
}

/** Flip one byte of a frame's payload, just before the signature (the signature then fails). */
export const tamper = (frame: Uint8Array): Uint8Array => {
  const copy = frame.slice()
  const header = Envelope.parseFrame(frame)
  if (header._tag === "Left") throw new Error("not a frame")
  const at = header.right.signed.byteLength - 2
  copy[at] = copy[at]! ^ 0x01
  return copy
}
