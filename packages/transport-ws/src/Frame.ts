/**
 * The handshake frames of the WebSocket transport, and the transcript each
 * side signs. Pure encoding and decoding; the state machines are in
 * `Handshake.ts`.
 *
 * Every WebSocket message is one binary frame. The first frames each way are
 * handshake frames, told apart by their first byte; after the handshake every
 * frame is data, carried as is with no transport header: a signed envelope
 * (`Envelope.ts`, starting with the magic "SYN1" = 0x53) in the default mode,
 * any bytes in "opaque" mode.
 *
 *   HELLO  u8 kind = 0x01
 *          u8 version = 1
 *          u8 role (0 initiator, 1 responder)
 *          u16 len, utf8   cluster id   (at most MAX_HELLO_FIELD_BYTES)
 *          u16 len, utf8   claimed PeerId (at most MAX_HELLO_FIELD_BYTES)
 *          32 bytes        fresh nonce
 *   PROOF  u8 kind = 0x02
 *          u8 len, bytes   signature over the transcript (at most 255 bytes)
 *
 * Transcript signed by each side (length-prefixed, so no two transcripts share
 * bytes):
 *
 *   u8 len, "synod-ws-handshake/1"   domain: these bytes are never an envelope
 *   u8 role of the signer            a responder's proof is not an initiator's
 *   u16 len, utf8   cluster id
 *   u16 len, utf8   initiator PeerId
 *   u16 len, utf8   responder PeerId
 *   32 bytes        initiator nonce
 *   32 bytes        responder nonce
 *
 * Decoding is total: a frame that does not have exactly this shape is a
 * `HandshakeFailure` ("malformed" or "version"), never an exception.
 */
import { Either } from "effect"
import { HandshakeFailure } from "./HandshakeFailure.js"

export const HANDSHAKE_DOMAIN = "synod-ws-handshake/1"
export const HANDSHAKE_VERSION = 1
export const NONCE_BYTES = 32
/** Longest cluster id or PeerId accepted in a HELLO (ClusterId is <= 64 chars, PeerId <= 136). */
export const MAX_HELLO_FIELD_BYTES = 256
/** Longest handshake frame: a HELLO with both fields at their limit. */
export const MAX_HANDSHAKE_FRAME_BYTES = 3 + 2 * (2 + MAX_HELLO_FIELD_BYTES) + NONCE_BYTES

export const KIND_HELLO = 0x01
export const KIND_PROOF = 0x02

export type Role = "initiator" | "responder"
const roleByte = (role: Role): number => (role === "initiator" ? 0 : 1)

export interface Hello {
  readonly version: number
  readonly role: Role
  readonly clusterId: string
  readonly peer: string
  readonly nonce: Uint8Array
}

const enc = new TextEncoder()
const dec = new TextDecoder("utf-8", { fatal: true })

const malformed = (detail: string) => Either.left(new HandshakeFailure({ reason: "malformed", detail }))

export const encodeHello = (hello: Omit<Hello, "version">): Uint8Array => {
  const cluster = enc.encode(hello.clusterId)
  const peer = enc.encode(hello.peer)
  if (cluster.byteLength > MAX_HELLO_FIELD_BYTES || peer.byteLength > MAX_HELLO_FIELD_BYTES) {
    throw new RangeError(`hello field longer than ${MAX_HELLO_FIELD_BYTES} bytes`)
  }
  if (hello.nonce.byteLength !== NONCE_BYTES) throw new RangeError(`nonce must be ${NONCE_BYTES} bytes`)
  const out = new Uint8Array(3 + 2 + cluster.byteLength + 2 + peer.byteLength + NONCE_BYTES)
  const view = new DataView(out.buffer)
  out[0] = KIND_HELLO
  out[1] = HANDSHAKE_VERSION
  out[2] = roleByte(hello.role)
  let at = 3
  for (const f of [cluster, peer]) {
    view.setUint16(at, f.byteLength)
    out.set(f, at + 2)
    at += 2 + f.byteLength
  }
  out.set(hello.nonce, at)
  return out
}

export const decodeHello = (frame: Uint8Array): Either.Either<Hello, HandshakeFailure> => {
  if (frame.byteLength < 3) return malformed("hello shorter than its header")
  if (frame.byteLength > MAX_HANDSHAKE_FRAME_BYTES) return malformed(`hello of ${frame.byteLength} bytes`)
  if (frame[0] !== KIND_HELLO) return malformed(`expected hello, got frame kind ${frame[0]}`)
  if (frame[1] !== HANDSHAKE_VERSION) {
    return Either.left(new HandshakeFailure({ reason: "version", detail: `handshake version ${frame[1]}, expected ${HANDSHAKE_VERSION}` }))
  }
  if (frame[2] !== 0 && frame[2] !== 1) return malformed(`bad role ${frame[2]}`)
  const role: Role = frame[2] === 0 ? "initiator" : "responder"
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength)
  let at = 3
  const fields: Array<string> = []
  for (let i = 0; i < 2; i++) {
    if (at + 2 > frame.byteLength) return malformed("hello field length cut off")
    const len = view.getUint16(at)
    if (len > MAX_HELLO_FIELD_BYTES || at + 2 + len > frame.byteLength) return malformed("hello field cut off or too long")
    try {
      fields.push(dec.decode(frame.subarray(at + 2, at + 2 + len)))
    } catch {
      return malformed("hello field is not UTF-8")
    }
    at += 2 + len
  }
  if (at + NONCE_BYTES !== frame.byteLength) return malformed("hello nonce has the wrong length")
  return Either.right({
    version: HANDSHAKE_VERSION,
    role,
    clusterId: fields[0]!,
    peer: fields[1]!,
    nonce: frame.slice(at)
  })
}

export const encodeProof = (signature: Uint8Array): Uint8Array => {
  if (signature.byteLength > 0xff) throw new RangeError(`signature of ${signature.byteLength} bytes exceeds 255`)
  const out = new Uint8Array(2 + signature.byteLength)
  out[0] = KIND_PROOF
  out[1] = signature.byteLength
  out.set(signature, 2)
  return out
}

export const decodeProof = (frame: Uint8Array): Either.Either<Uint8Array, HandshakeFailure> => {
  if (frame.byteLength < 2) return malformed("proof shorter than its header")
  if (frame[0] !== KIND_PROOF) return malformed(`expected proof, got frame kind ${frame[0]}`)
  if (2 + frame[1]! !== frame.byteLength) return malformed("proof length mismatch")
  return Either.right(frame.slice(2))
}

/** The bytes a side signs to prove its identity on this connection. */
export const transcript = (params: {
  readonly signer: Role
  readonly clusterId: string
  readonly initiator: string
  readonly responder: string
  readonly initiatorNonce: Uint8Array
  readonly responderNonce: Uint8Array
}): Uint8Array => {
  const domain = enc.encode(HANDSHAKE_DOMAIN)
  const fields = [params.clusterId, params.initiator, params.responder].map((s) => enc.encode(s))
  let size = 1 + domain.byteLength + 1 + 2 * NONCE_BYTES
  for (const f of fields) size += 2 + f.byteLength
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  out[0] = domain.byteLength
  out.set(domain, 1)
  let at = 1 + domain.byteLength
  out[at++] = roleByte(params.signer)
  for (const f of fields) {
    view.setUint16(at, f.byteLength)
    out.set(f, at + 2)
    at += 2 + f.byteLength
  }
  out.set(params.initiatorNonce, at)
  out.set(params.responderNonce, at + NONCE_BYTES)
  return out
}
