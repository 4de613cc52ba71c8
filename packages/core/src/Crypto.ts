/**
 * Signing primitives as plain synchronous interfaces, so the pure cores, the
 * simulator and the Effect shells share one implementation. The Effect
 * services (`SignerService`, `KeyRingService` in `Keys.ts`) wrap these.
 *
 * Ed25519 uses `node:crypto` KeyObjects (a PEM string per call is 4-10x slower).
 * `simulatedScheme` is a keyed hash for the deterministic simulator: cheap,
 * deterministic, and a forger without the secret still fails verification.
 */
import * as crypto from "node:crypto"
import type { PeerId } from "./Ids.js"

export interface Signer {
  /** The principal whose key this is; written into every envelope it seals. */
  readonly peer: PeerId
  sign(bytes: Uint8Array): Uint8Array
  /**
   * Length of every signature `sign` returns, when it is fixed. Optional: with
   * it `Envelope.seal` builds a frame in one allocation (a signature of another
   * length is still handled correctly, just without that saving).
   */
  readonly signatureBytes?: number
}

export interface KeyRing {
  /** Whether `peer` is a known principal. */
  has(peer: PeerId): boolean
  /** Verify `signature` over `bytes` with `peer`'s key; false for unknown peers. */
  verify(peer: PeerId, bytes: Uint8Array, signature: Uint8Array): boolean
  /** Known principals. */
  peers(): ReadonlyArray<PeerId>
}

export const ED25519_SIGNATURE_BYTES = 64
/** Length of a raw Ed25519 public key and of a raw private seed. */
export const ED25519_KEY_BYTES = 32

/** Ed25519 signer over a private KeyObject. */
export const ed25519Signer = (peer: PeerId, privateKey: crypto.KeyObject): Signer => ({
  peer,
  sign: (bytes) => new Uint8Array(crypto.sign(null, bytes, privateKey)),
  signatureBytes: ED25519_SIGNATURE_BYTES
})

/** Ed25519 key ring over public KeyObjects. */
export const ed25519KeyRing = (keys: ReadonlyMap<PeerId, crypto.KeyObject>): KeyRing => ({
  has: (peer) => keys.has(peer),
  verify: (peer, bytes, signature) => {
    const key = keys.get(peer)
    if (key === undefined || signature.byteLength !== ED25519_SIGNATURE_BYTES) return false
    try {
      return crypto.verify(null, bytes, key, signature)
    } catch {
      return false
    }
  },
  peers: () => [...keys.keys()]
})

export interface Ed25519KeyPair {
  readonly publicKey: crypto.KeyObject
  readonly privateKey: crypto.KeyObject
}

export const generateEd25519 = (): Ed25519KeyPair => crypto.generateKeyPairSync("ed25519")

/** The public key that belongs to an Ed25519 private key. */
export const publicKeyOf = (privateKey: crypto.KeyObject): crypto.KeyObject => crypto.createPublicKey(privateKey)

/** Whether `privateKey` is the private half of `publicKey` (raw bytes compared). */
export const isKeyPair = (publicKey: crypto.KeyObject, privateKey: crypto.KeyObject): boolean =>
  Buffer.from(rawPublicKey(publicKeyOf(privateKey))).equals(rawPublicKey(publicKey))

/** Raw 32-byte public key (for key files and logs). */
export const rawPublicKey = (key: crypto.KeyObject): Uint8Array => {
  const der = key.export({ type: "spki", format: "der" })
  return new Uint8Array(der.subarray(der.byteLength - 32))
}

const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex")
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex")

const requireKeyBytes = (what: string, raw: Uint8Array): void => {
  if (raw.byteLength !== ED25519_KEY_BYTES) {
    throw new RangeError(`${what}: expected ${ED25519_KEY_BYTES} bytes, got ${raw.byteLength}`)
  }
}

/** Public KeyObject from a raw 32-byte key; RangeError for any other length. */
export const publicKeyFromRaw = (raw: Uint8Array): crypto.KeyObject => {
  requireKeyBytes("Ed25519 public key", raw)
  return crypto.createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, raw]), format: "der", type: "spki" })
}

/** Raw 32-byte private seed. */
export const rawPrivateKey = (key: crypto.KeyObject): Uint8Array => {
  const der = key.export({ type: "pkcs8", format: "der" })
  return new Uint8Array(der.subarray(der.byteLength - 32))
}

/** Private KeyObject from a raw 32-byte seed (RFC 8032 secret key); RangeError for any other length. */
export const privateKeyFromRaw = (seed: Uint8Array): crypto.KeyObject => {
  requireKeyBytes("Ed25519 private seed", seed)
  return crypto.createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" })
}

/**
 * One-shot SHA-256 (`crypto.hash`, Node >= 20.12): no Hash object per call,
 * which is most of the cost of hashing a few hundred bytes. Older Nodes take
 * `createHash`; the digests are the same.
 */
type OneShotHash = (algorithm: "sha256", data: string | Uint8Array, outputEncoding: "hex" | "latin1") => string
const oneShot: OneShotHash | undefined = typeof (crypto as { readonly hash?: unknown }).hash === "function"
  ? (crypto as unknown as { readonly hash: OneShotHash }).hash
  : undefined

const SIM_SIGNATURE_BYTES = 16
const SIM_SECRET_BYTES = 32
/** Inputs up to this size are hashed from one reused buffer (secret || bytes); larger ones stream. */
const SCRATCH_LIMIT = 64 * 1024
let scratch = new Uint8Array(4096)

/**
 * The simulator's scheme: signature = first 16 bytes of SHA-256(secret || bytes),
 * with a per-peer secret derived from a seed. Correct replicas' secrets are never
 * handed to adversary strategies, so forged frames fail like real forgeries.
 */
export const simulatedSecret = (seed: string, peer: PeerId): Uint8Array =>
  new Uint8Array(crypto.createHash("sha256").update(`synod-sim-key|${seed}|${peer}`).digest())

/**
 * SHA-256(secret || bytes) as a latin1 string (one char per byte): a short
 * string is far cheaper for Node to hand back than a Buffer.
 */
const simDigest = (secret: Uint8Array, bytes: Uint8Array): string => {
  const n = SIM_SECRET_BYTES + bytes.byteLength
  if (oneShot === undefined || n > SCRATCH_LIMIT) return crypto.createHash("sha256").update(secret).update(bytes).digest("binary")
  if (scratch.byteLength < n) scratch = new Uint8Array(Math.min(SCRATCH_LIMIT, 2 ** Math.ceil(Math.log2(n))))
  scratch.set(secret, 0)
  scratch.set(bytes, SIM_SECRET_BYTES)
  return oneShot("sha256", scratch.subarray(0, n), "latin1")
}

const simSign = (secret: Uint8Array, bytes: Uint8Array): Uint8Array => {
  const d = simDigest(secret, bytes)
  const signature = new Uint8Array(SIM_SIGNATURE_BYTES)
  for (let i = 0; i < SIM_SIGNATURE_BYTES; i++) signature[i] = d.charCodeAt(i)
  return signature
}

export const simulatedSigner = (seed: string, peer: PeerId): Signer => {
  const secret = simulatedSecret(seed, peer)
  return { peer, sign: (bytes) => simSign(secret, bytes), signatureBytes: SIM_SIGNATURE_BYTES }
}

export const simulatedKeyRing = (seed: string, peers: ReadonlyArray<PeerId>): KeyRing => {
  const secrets = new Map(peers.map((p) => [p, simulatedSecret(seed, p)] as const))
  return {
    has: (peer) => secrets.has(peer),
    verify: (peer, bytes, signature) => {
      const secret = secrets.get(peer)
      if (secret === undefined || signature.byteLength !== SIM_SIGNATURE_BYTES) return false
      const expected = simDigest(secret, bytes)
      // every byte is compared (no early exit), as timingSafeEqual would
      let diff = 0
      for (let i = 0; i < SIM_SIGNATURE_BYTES; i++) diff |= expected.charCodeAt(i) ^ signature[i]!
      return diff === 0
    },
    peers: () => [...secrets.keys()]
  }
}

/** Lower-case hex SHA-256 of bytes: the digest used for requests, batches and state. */
export const sha256Hex = (...parts: ReadonlyArray<Uint8Array | string>): string => {
  if (parts.length === 1 && oneShot !== undefined) return oneShot("sha256", parts[0]!, "hex")
  const h = crypto.createHash("sha256")
  for (const p of parts) h.update(p)
  return h.digest("hex")
}

export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")
export const fromHex = (hex: string): Uint8Array => new Uint8Array(Buffer.from(hex, "hex"))
