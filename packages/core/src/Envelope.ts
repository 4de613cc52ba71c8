/**
 * Signed envelopes: the only way bytes from the network become a message a
 * protocol core will look at.
 *
 * Frame layout (all integers big-endian; every variable field length-prefixed,
 * so no two distinct headers serialize to the same bytes):
 *
 *   "SYN1"              4  magic: domain separation from any other signed bytes
 *   u16 len, utf8       cluster id
 *   u16 len, utf8       protocol, with version (e.g. "pbft/1")
 *   u16 len, utf8       message type (the payload's `_tag`)
 *   u16 len, utf8       sender PeerId
 *   u32 len, bytes      payload (Codec output)
 *   u8  len, bytes      signature over every byte before this field
 *
 * Limits: each header string at most 65535 bytes (u16), the signature at most
 * 255 bytes (u8), the whole frame at most `maxFrameBytes` (checked first, before
 * any parsing). `seal` throws a RangeError for a header it cannot encode: that
 * is a bug of ours, never peer input.
 *
 * The signature covers the exact bytes on the wire; `open` verifies those bytes
 * and never re-encodes a decoded object to check it.
 */
import { Either } from "effect"
import type { Codec } from "./Codec.js"
import type { KeyRing, Signer } from "./Crypto.js"
import type { PeerId } from "./Ids.js"
import type { Verified } from "./Protocol.js"
import { Rejection, reject } from "./Rejection.js"

export const MAGIC = new Uint8Array([0x53, 0x59, 0x4e, 0x31]) // "SYN1"
/** Default largest frame accepted by `open`: 4 MiB + header. */
export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024 + 4096

export interface EnvelopeContext<M> {
  readonly clusterId: string
  /** Protocol name and version, e.g. "paxos/1". */
  readonly protocol: string
  readonly codec: Codec<M>
  /** Largest frame `open` accepts; checked before any parsing. */
  readonly maxFrameBytes?: number
}

/** The parsed, not yet verified header of a frame. */
export interface FrameHeader {
  readonly clusterId: string
  readonly protocol: string
  readonly type: string
  readonly sender: string
  readonly payload: Uint8Array
  readonly signed: Uint8Array
  readonly signature: Uint8Array
}

const enc = new TextEncoder()
// ignoreBOM: a leading BOM stays part of the field, so one header has one encoding
const dec = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

const tagOf = (message: unknown): string => {
  const tag = (message as { _tag?: unknown })._tag
  return typeof tag === "string" ? tag : "unknown"
}

/** Encode and sign `message` from `signer.peer`. */
export const seal = <M>(ctx: EnvelopeContext<M>, signer: Signer, message: M): Uint8Array => {
  const codec = ctx.codec
  if (codec.encodeText === undefined || signer.signatureBytes === undefined) {
    return sealPayload(ctx, signer, tagOf(message), codec.encode(message))
  }
  // the payload's text goes straight into the frame: one allocation for the whole frame
  const text = codec.encodeText(message)
  const expected = signer.signatureBytes
  const prefix = headerPrefix(ctx.clusterId, ctx.protocol, tagOf(message), signer.peer)
  const n = Buffer.byteLength(text, "utf8")
  const at = prefix.byteLength + 4
  if (expected < 0 || expected > MAX_SIGNATURE_BYTES) return sealPayload(ctx, signer, tagOf(message), enc.encode(text))
  const frame = new Uint8Array(at + n + 1 + expected)
  frame.set(prefix, 0)
  writeU32(frame, prefix.byteLength, n)
  const { read, written } = enc.encodeInto(text, frame.subarray(at, at + n))
  if (read !== text.length || written !== n) return sealPayload(ctx, signer, tagOf(message), enc.encode(text))
  return signInto(frame, at + n, signer, expected)
}

/** Sign an already-encoded payload (used by adversaries to craft frames, and by `seal`). */
export const sealPayload = <M>(
  ctx: EnvelopeContext<M>,
  signer: Signer,
  type: string,
  payload: Uint8Array,
  sender: string = signer.peer
): Uint8Array => {
  const prefix = headerPrefix(ctx.clusterId, ctx.protocol, type, sender)
  const signedLength = prefix.byteLength + 4 + payload.byteLength
  const expected = signer.signatureBytes
  if (expected !== undefined && expected >= 0 && expected <= MAX_SIGNATURE_BYTES) {
    // the signature's length is known: build the frame in place and sign its signed part
    const frame = new Uint8Array(signedLength + 1 + expected)
    writeSigned(frame, prefix, payload)
    return signInto(frame, signedLength, signer, expected)
  }
  const signed = new Uint8Array(signedLength)
  writeSigned(signed, prefix, payload)
  return assemble(signed, signer.sign(signed))
}

const MAX_FIELD_BYTES = 0xffff
const MAX_SIGNATURE_BYTES = 0xff

const assemble = (signed: Uint8Array, signature: Uint8Array): Uint8Array => {
  if (signature.byteLength > MAX_SIGNATURE_BYTES) {
    throw new RangeError(`signature of ${signature.byteLength} bytes exceeds ${MAX_SIGNATURE_BYTES}`)
  }
  const frame = new Uint8Array(signed.byteLength + 1 + signature.byteLength)
  frame.set(signed, 0)
  frame[signed.byteLength] = signature.byteLength
  frame.set(signature, signed.byteLength + 1)
  return frame
}

/**
 * Sign `frame[0, signedLength)` and write the signature after it; `frame` has
 * room for exactly `expected` signature bytes. A signer that returns another
 * length still gets a correct frame, in a new buffer.
 */
const signInto = (frame: Uint8Array, signedLength: number, signer: Signer, expected: number): Uint8Array => {
  const signed = frame.subarray(0, signedLength)
  const signature = signer.sign(signed)
  if (signature.byteLength !== expected) return assemble(signed, signature)
  frame[signedLength] = expected
  frame.set(signature, signedLength + 1)
  return frame
}

const writeU32 = (out: Uint8Array, at: number, n: number): void => {
  out[at] = n >>> 24
  out[at + 1] = (n >>> 16) & 0xff
  out[at + 2] = (n >>> 8) & 0xff
  out[at + 3] = n & 0xff
}

/** Header prefix, then the u32 payload length and the payload, from offset 0 of `out`. */
const writeSigned = (out: Uint8Array, prefix: Uint8Array, payload: Uint8Array): void => {
  out.set(prefix, 0)
  writeU32(out, prefix.byteLength, payload.byteLength)
  out.set(payload, prefix.byteLength + 4)
}

/**
 * Encoded header prefixes (magic and the four length-prefixed strings), cached:
 * a replica seals thousands of frames a second with the same cluster, protocol,
 * sender and a handful of types. Bounded; the cache is dropped whole when full
 * (only ever a cost, never a result change).
 */
const PREFIX_CACHE_LIMIT = 4096
/** clusterId -> protocol -> sender -> type -> prefix: lookups without building a key string. */
const prefixCache = new Map<string, Map<string, Map<string, Map<string, Uint8Array>>>>()
let prefixCount = 0

const child = <V>(m: Map<string, Map<string, V>>, k: string): Map<string, V> => {
  let c = m.get(k)
  if (c === undefined) m.set(k, (c = new Map()))
  return c
}

const headerPrefix = (clusterId: string, protocol: string, type: string, sender: string): Uint8Array => {
  const cached = prefixCache.get(clusterId)?.get(protocol)?.get(sender)?.get(type)
  if (cached !== undefined) return cached
  // throws for a field too long for its u16 length, before anything is cached
  const prefix = encodePrefix([clusterId, protocol, type, sender])
  if (prefixCount >= PREFIX_CACHE_LIMIT) {
    prefixCache.clear()
    prefixCount = 0
  }
  child(child(child(prefixCache, clusterId), protocol), sender).set(type, prefix)
  prefixCount++
  return prefix
}

const encodePrefix = (fields: ReadonlyArray<string>): Uint8Array => {
  const encoded = fields.map((s) => {
    const f = enc.encode(s)
    if (f.byteLength > MAX_FIELD_BYTES) throw new RangeError(`envelope header field of ${f.byteLength} bytes exceeds ${MAX_FIELD_BYTES}`)
    return f
  })
  const out = new Uint8Array(encoded.reduce((n, f) => n + 2 + f.byteLength, MAGIC.byteLength))
  out.set(MAGIC, 0)
  let at = MAGIC.byteLength
  for (const f of encoded) {
    out[at] = f.byteLength >>> 8
    out[at + 1] = f.byteLength & 0xff
    out.set(f, at + 2)
    at += 2 + f.byteLength
  }
  return out
}

/**
 * Header strings, interned: a frame's four header strings are almost always
 * ones seen before (one cluster, one protocol, a few types and peers). Short
 * ASCII fields are looked up by a hash of their bytes and checked byte for
 * byte, so the common case allocates nothing; anything else is decoded
 * strictly. Bounded: dropped whole when full (a cost, never a result change).
 */
const INTERN_LIMIT = 1024
const INTERN_MAX_BYTES = 64
const interned = new Map<number, string>()

const headerString = (frame: Uint8Array, start: number, end: number): string => {
  const len = end - start
  if (len <= INTERN_MAX_BYTES) {
    let h = 0x811c9dc5 ^ len
    let ascii = true
    for (let i = start; i < end; i++) {
      const b = frame[i]!
      if (b >= 0x80) {
        ascii = false
        break
      }
      h = Math.imul(h ^ b, 0x01000193)
    }
    if (ascii) {
      const known = interned.get(h)
      if (known !== undefined && known.length === len && sameAscii(known, frame, start)) return known
      const fresh = String.fromCharCode.apply(null, frame.subarray(start, end) as unknown as Array<number>)
      if (interned.size >= INTERN_LIMIT) interned.clear()
      interned.set(h, fresh)
      return fresh
    }
  }
  return dec.decode(frame.subarray(start, end))
}

const sameAscii = (s: string, frame: Uint8Array, start: number): boolean => {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== frame[start + i]) return false
  return true
}

const u16 = (frame: Uint8Array, at: number): number => (frame[at]! << 8) | frame[at + 1]!
const u32 = (frame: Uint8Array, at: number): number =>
  ((frame[at]! << 24) >>> 0) + ((frame[at + 1]! << 16) | (frame[at + 2]! << 8) | frame[at + 3]!)

/** `parseFrame` without the Either: the header, or why the frame is refused. */
const parseHeader = (frame: Uint8Array, maxFrameBytes: number): FrameHeader | Rejection => {
  const size = frame.byteLength
  if (size > maxFrameBytes) return reject("oversized", `frame of ${size} bytes exceeds ${maxFrameBytes}`)
  if (size < MAGIC.byteLength) return reject("truncated", "frame shorter than magic")
  for (let i = 0; i < MAGIC.byteLength; i++) {
    if (frame[i] !== MAGIC[i]) return reject("wrong-protocol", "bad magic")
  }
  let at = MAGIC.byteLength
  // the four header strings, in order: cluster id, protocol, type, sender
  const fields = ["", "", "", ""]
  for (let i = 0; i < 4; i++) {
    if (at + 2 > size) return reject("truncated", "header field length cut off")
    const len = u16(frame, at)
    if (at + 2 + len > size) return reject("truncated", "header field cut off")
    try {
      fields[i] = headerString(frame, at + 2, at + 2 + len)
    } catch {
      return reject("malformed", "header field is not UTF-8")
    }
    at += 2 + len
  }
  if (at + 4 > size) return reject("truncated", "payload length cut off")
  const payloadLen = u32(frame, at)
  at += 4
  if (at + payloadLen + 1 > size) return reject("truncated", "payload cut off")
  const payloadAt = at
  at += payloadLen
  const signedLen = at
  const sigLen = frame[at]!
  at += 1
  if (at + sigLen !== size) return reject(at + sigLen > size ? "truncated" : "malformed", "signature length mismatch")
  const [clusterId, protocol, type, sender] = fields as [string, string, string, string]
  return {
    clusterId,
    protocol,
    type,
    sender,
    payload: frame.subarray(payloadAt, payloadAt + payloadLen),
    signed: frame.subarray(0, signedLen),
    signature: frame.subarray(at)
  }
}

/** Parse a frame's header without verifying it. */
export const parseFrame = (frame: Uint8Array, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Either.Either<FrameHeader, Rejection> => {
  const h = parseHeader(frame, maxFrameBytes)
  return h instanceof Rejection ? Either.left(h) : Either.right(h)
}

/**
 * Every check of `authenticate` after parsing; undefined when the frame is
 * authentic. `verifySignature: false` only for `openVerifiedByTransport`.
 */
const checkHeader = <M>(
  ctx: EnvelopeContext<M>,
  keys: KeyRing,
  h: FrameHeader,
  transportSender: PeerId | undefined,
  verifySignature = true
): Rejection | undefined => {
  if (h.protocol !== ctx.protocol) return reject("wrong-protocol", `expected ${ctx.protocol}, got ${h.protocol.slice(0, 64)}`)
  if (h.clusterId !== ctx.clusterId) return reject("wrong-cluster", `cluster ${h.clusterId.slice(0, 64)}`)
  const sender = h.sender as PeerId
  if (transportSender !== undefined && sender !== transportSender) {
    return reject("sender-mismatch", `signed by ${h.sender.slice(0, 140)}, received from ${transportSender}`)
  }
  if (!keys.has(sender)) return reject("unknown-sender", `no key for ${h.sender.slice(0, 140)}`)
  if (verifySignature && !keys.verify(sender, h.signed, h.signature)) return reject("bad-signature", `signature of ${sender} does not verify`)
  return undefined
}

/**
 * Parse and authenticate a frame for this cluster and protocol, without
 * decoding its payload (certificate checks, forwarding). Checks, cheapest
 * first: size, header, protocol, cluster, transport sender, key, signature.
 *
 * `transportSender`, when given, is who the transport says sent the frame
 * (e.g. the peer authenticated by the WebSocket handshake); a frame signed by
 * someone else is rejected as `sender-mismatch` before its signature is checked.
 * Relayed frames (PBFT certificates) are checked without it.
 */
export const authenticate = <M>(
  ctx: EnvelopeContext<M>,
  keys: KeyRing,
  frame: Uint8Array,
  transportSender?: PeerId
): Either.Either<FrameHeader & { readonly from: PeerId }, Rejection> => {
  const h = parseHeader(frame, ctx.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES)
  if (h instanceof Rejection) return Either.left(h)
  const refused = checkHeader(ctx, keys, h, transportSender)
  if (refused !== undefined) return Either.left(refused)
  return Either.right({
    clusterId: h.clusterId,
    protocol: h.protocol,
    type: h.type,
    sender: h.sender,
    payload: h.payload,
    signed: h.signed,
    signature: h.signature,
    from: h.sender as PeerId
  })
}

/**
 * Parse, authenticate and decode a frame. Order matters for cost and safety:
 * size and header first (cheap), then the signature (the expensive check that
 * stops forgeries), then payload decoding (only for authenticated bytes).
 * See `authenticate` for `transportSender`.
 */
export const open = <M>(
  ctx: EnvelopeContext<M>,
  keys: KeyRing,
  frame: Uint8Array,
  transportSender?: PeerId
): Either.Either<Verified<M>, Rejection> => openWith(ctx, keys, frame, transportSender, true)

/**
 * `open` for a frame whose signature a transport has already verified as
 * `from`'s (the WebSocket transport does, to close connections that send
 * forgeries; see `Transport.Incoming.verifiedWith`). Every check of `open` runs
 * (size, header, protocol, cluster, the signed sender equals `from`, the key is
 * known, decoding) except the signature itself. The caller vouches that the
 * signature over these exact bytes was verified with `keys`: only the replica
 * shell calls this, and only for frames its transport marked so.
 */
export const openVerifiedByTransport = <M>(
  ctx: EnvelopeContext<M>,
  keys: KeyRing,
  frame: Uint8Array,
  from: PeerId
): Either.Either<Verified<M>, Rejection> => openWith(ctx, keys, frame, from, false)

const openWith = <M>(
  ctx: EnvelopeContext<M>,
  keys: KeyRing,
  frame: Uint8Array,
  transportSender: PeerId | undefined,
  verifySignature: boolean
): Either.Either<Verified<M>, Rejection> => {
  const h = parseHeader(frame, ctx.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES)
  if (h instanceof Rejection) return Either.left(h)
  const refused = checkHeader(ctx, keys, h, transportSender, verifySignature)
  if (refused !== undefined) return Either.left(refused)
  if (!ctx.codec.tags.has(h.type)) return Either.left(reject("unknown-tag", `unknown type ${h.type.slice(0, 64)}`))
  const decoded = ctx.codec.decode(h.payload)
  if (Either.isLeft(decoded)) return Either.left(decoded.left)
  if (tagOf(decoded.right) !== h.type) {
    return Either.left(reject("malformed", `header type ${h.type} does not match payload ${tagOf(decoded.right)}`))
  }
  const verified = { from: h.sender as PeerId, message: decoded.right, frame } as unknown as Verified<M>
  return Either.right(verified)
}

/**
 * Check a frame's signature only. It does NOT check the cluster id or the
 * protocol: a key used in two clusters would pass here for either. Prefer
 * `authenticate` unless the caller checks `clusterId`/`protocol` itself.
 */
export const verifyFrame = (keys: KeyRing, frame: Uint8Array, maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): Either.Either<FrameHeader, Rejection> => {
  const h = parseHeader(frame, maxFrameBytes)
  if (h instanceof Rejection) return Either.left(h)
  if (!keys.has(h.sender as PeerId)) return Either.left(reject("unknown-sender", `no key for ${h.sender.slice(0, 140)}`))
  if (!keys.verify(h.sender as PeerId, h.signed, h.signature)) {
    return Either.left(reject("bad-signature", `signature of ${h.sender.slice(0, 140)} does not verify`))
  }
  return Either.right(h)
}
