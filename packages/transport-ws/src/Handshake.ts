/**
 * Mutual authentication of a fresh WebSocket connection: a small
 * authenticated key-confirmation over the first frames (see `Frame.ts` for the
 * bytes). Pure state machines; `Connection.ts` feeds them socket frames, and the
 * nonces come from the caller (`crypto.randomBytes` at the edge, fixed in tests).
 *
 *   initiator (dialer)                        responder (listener)
 *     HELLO(cluster, I, nI)  ----------------->  check cluster, I known, I != self
 *                            <-----------------  HELLO(cluster, R, nR)
 *                            <-----------------  PROOF(sign_R(transcript(responder)))
 *     check R is who we dialed, verify R's proof
 *     PROOF(sign_I(transcript(initiator))) --->  verify I's proof
 *     (authenticated: data frames may follow)     (authenticated)
 *
 * Each transcript holds the domain, the signer's role, the cluster id, both
 * PeerIds (initiator first) and both nonces. Why this resists the attacks we
 * test:
 * - Replay of a recorded handshake: the victim's nonce is fresh, so a proof
 *   recorded on another connection is over a different transcript: bad-proof.
 * - Reflection (sending a responder's proof back as an initiator's): the role
 *   byte differs, so the signature does not verify.
 * - Identity theft (claiming another PeerId): the proof is checked against the
 *   claimed PeerId's key in the KeyRing; without that private key it fails.
 * - Cross-cluster reuse: the cluster id is in the transcript and checked in HELLO.
 * The responder signs only after the initiator claimed a known identity, so a
 * stranger cannot make it sign. Without TLS the handshake authenticates peers
 * but does not encrypt; every data frame is still a signed envelope, checked
 * against the authenticated PeerId (`sender-mismatch`) and its signature.
 */
import { Either } from "effect"
import { type Crypto, type PeerId, parsePeerId } from "@synod/core"
import { decodeHello, decodeProof, encodeHello, encodeProof, type Hello, NONCE_BYTES, type Role, transcript } from "./Frame.js"
import { HandshakeFailure, type HandshakeFailureReason } from "./HandshakeFailure.js"

export { HandshakeFailure, type HandshakeFailureReason } from "./HandshakeFailure.js"

export interface HandshakeParams {
  readonly clusterId: string
  readonly signer: Crypto.Signer
  readonly keys: Crypto.KeyRing
  /** A fresh random nonce of `NONCE_BYTES` bytes, never reused. */
  readonly nonce: Uint8Array
}

export type HandshakeStep =
  /** Send `send` and wait for the next frame. */
  | { readonly _tag: "Continue"; readonly send: ReadonlyArray<Uint8Array> }
  /** Send `send`; the connection now belongs to `peer`. */
  | { readonly _tag: "Done"; readonly peer: PeerId; readonly send: ReadonlyArray<Uint8Array> }
  /** Refuse the connection. */
  | { readonly _tag: "Failed"; readonly failure: HandshakeFailure }

export interface Handshake {
  readonly role: Role
  /** Frames to send as soon as the socket is open. */
  start(): ReadonlyArray<Uint8Array>
  /** Feed one frame received before the handshake finished. */
  receive(frame: Uint8Array): HandshakeStep
}

const fail = (reason: HandshakeFailureReason, detail: string): HandshakeStep => ({
  _tag: "Failed",
  failure: new HandshakeFailure({ reason, detail })
})

const checkNonce = (nonce: Uint8Array) => {
  if (nonce.byteLength !== NONCE_BYTES) throw new RangeError(`handshake nonce must be ${NONCE_BYTES} bytes`)
}

/** Check a peer's HELLO; the claimed PeerId or the step that refuses it. */
const checkHello = (
  params: HandshakeParams,
  frame: Uint8Array,
  expectedRole: Role
): Either.Either<{ readonly hello: Hello; readonly peer: PeerId }, HandshakeStep> => {
  const decoded = decodeHello(frame)
  if (Either.isLeft(decoded)) return Either.left({ _tag: "Failed", failure: decoded.left })
  const hello = decoded.right
  if (hello.role !== expectedRole) return Either.left(fail("unexpected-peer", `peer speaks as ${hello.role}`))
  if (hello.clusterId !== params.clusterId) {
    return Either.left(fail("wrong-cluster", `peer is in cluster ${JSON.stringify(hello.clusterId.slice(0, 64))}`))
  }
  const peer = parsePeerId(hello.peer)
  if (peer === undefined) return Either.left(fail("malformed", `not a PeerId: ${JSON.stringify(hello.peer.slice(0, 140))}`))
  if (peer === params.signer.peer) return Either.left(fail("unexpected-peer", `peer claims our own identity ${peer}`))
  if (!params.keys.has(peer)) return Either.left(fail("unknown-peer", `no key for ${peer}`))
  return Either.right({ hello, peer })
}

/** The dialing side; `expected` is the PeerId whose address we dialed. */
export const initiator = (params: HandshakeParams & { readonly expected: PeerId }): Handshake => {
  checkNonce(params.nonce)
  let state: "hello" | "proof" | "finished" = "hello"
  let responderNonce: Uint8Array | undefined
  const transcriptFor = (signer: Role) =>
    transcript({
      signer,
      clusterId: params.clusterId,
      initiator: params.signer.peer,
      responder: params.expected,
      initiatorNonce: params.nonce,
      responderNonce: responderNonce!
    })
  const finish = (step: HandshakeStep): HandshakeStep => {
    state = "finished"
    return step
  }
  return {
    role: "initiator",
    start: () => [encodeHello({ role: "initiator", clusterId: params.clusterId, peer: params.signer.peer, nonce: params.nonce })],
    receive: (frame) => {
      switch (state) {
        case "hello": {
          const checked = checkHello(params, frame, "responder")
          if (Either.isLeft(checked)) return finish(checked.left)
          if (checked.right.peer !== params.expected) {
            return finish(fail("unexpected-peer", `dialed ${params.expected}, answered by ${checked.right.peer}`))
          }
          responderNonce = checked.right.hello.nonce
          state = "proof"
          return { _tag: "Continue", send: [] }
        }
        case "proof": {
          const signature = decodeProof(frame)
          if (Either.isLeft(signature)) return finish({ _tag: "Failed", failure: signature.left })
          if (!params.keys.verify(params.expected, transcriptFor("responder"), signature.right)) {
            return finish(fail("bad-proof", `proof of ${params.expected} does not verify`))
          }
          return finish({
            _tag: "Done",
            peer: params.expected,
            send: [encodeProof(params.signer.sign(transcriptFor("initiator")))]
          })
        }
        case "finished":
          return fail("malformed", "handshake already finished")
      }
    }
  }
}

/** The listening side. */
export const responder = (params: HandshakeParams): Handshake => {
  checkNonce(params.nonce)
  let state: "hello" | "proof" | "finished" = "hello"
  let claimed: { readonly peer: PeerId; readonly nonce: Uint8Array } | undefined
  const transcriptFor = (signer: Role) =>
    transcript({
      signer,
      clusterId: params.clusterId,
      initiator: claimed!.peer,
      responder: params.signer.peer,
      initiatorNonce: claimed!.nonce,
      responderNonce: params.nonce
    })
  const finish = (step: HandshakeStep): HandshakeStep => {
    state = "finished"
    return step
  }
  return {
    role: "responder",
    start: () => [],
    receive: (frame) => {
      switch (state) {
        case "hello": {
          const checked = checkHello(params, frame, "initiator")
          if (Either.isLeft(checked)) return finish(checked.left)
          claimed = { peer: checked.right.peer, nonce: checked.right.hello.nonce }
          state = "proof"
          return {
            _tag: "Continue",
            send: [
              encodeHello({ role: "responder", clusterId: params.clusterId, peer: params.signer.peer, nonce: params.nonce }),
              encodeProof(params.signer.sign(transcriptFor("responder")))
            ]
          }
        }
        case "proof": {
          const signature = decodeProof(frame)
          if (Either.isLeft(signature)) return finish({ _tag: "Failed", failure: signature.left })
          if (!params.keys.verify(claimed!.peer, transcriptFor("initiator"), signature.right)) {
            return finish(fail("bad-proof", `proof of ${claimed!.peer} does not verify`))
          }
          return finish({ _tag: "Done", peer: claimed!.peer, send: [] })
        }
        case "finished":
          return fail("malformed", "handshake already finished")
      }
    }
  }
}
