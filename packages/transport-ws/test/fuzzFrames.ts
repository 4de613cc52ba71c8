/**
 * Malformed frames for the fuzz tests, drawn from a seeded PRNG so a failing
 * run replays from its seed. Each kind names the check it targets; every frame
 * of the "counted" kinds is rejected exactly once (by the transport or by the
 * replica shell's `Envelope.open`), which lets the fuzz test account for all
 * of them.
 */
import type { Crypto } from "@synod/core"
import { Envelope } from "@synod/core"
import type { Prng } from "@synod/core/testing"

export type FuzzKind =
  | "random"        // random bytes: bad magic or cut short
  | "truncated"     // a genuine frame cut at a random point
  | "bitflip"       // a genuine frame with one bit flipped anywhere: header, payload or signature
  | "replayed"      // a genuine frame of another principal, sent over our connection (sender-mismatch)
  | "claims-other"  // signed by us, but the header names another sender (sender-mismatch)
  | "wrong-cluster" // genuine, but for another cluster
  | "text"          // a text message
  | "bad-payload"   // genuine signature over a payload that is not JSON (rejected by the shell)
  | "unknown-tag"   // genuine signature, a message type the protocol does not have (shell)
  | "bad-schema"    // genuine signature, JSON of the right tag with fields of the wrong type (shell)

export const COUNTED_KINDS: ReadonlyArray<FuzzKind> = [
  "random", "truncated", "bitflip", "replayed", "claims-other", "wrong-cluster", "text", "bad-payload", "unknown-tag", "bad-schema"
]

export interface FuzzContext {
  readonly clusterId: string
  readonly protocol: string
  /** The tag and a valid JSON payload of one message of the protocol. */
  readonly validTag: string
  readonly validPayload: (rng: Prng) => string
  /** The fuzzer's own identity (authenticated on its connection). */
  readonly self: Crypto.Signer
  /** Another principal whose genuine frames the fuzzer replays. */
  readonly victim: Crypto.Signer
  /** A PeerId the fuzzer claims to be in frame headers. */
  readonly claimed: string
}

const enc = new TextEncoder()

const randomBytes = (rng: Prng, max: number): Uint8Array => {
  const out = new Uint8Array(rng.int(max + 1))
  for (let i = 0; i < out.length; i++) out[i] = rng.int(256)
  // keep clear of the magic: a random frame is never a genuine envelope
  if (out.length >= 4 && out[0] === 0x53) out[0] = 0x00
  return out
}

const seal = (ctx: FuzzContext, signer: Crypto.Signer, type: string, payload: string, overrides: { clusterId?: string; sender?: string } = {}) =>
  Envelope.sealPayload(
    { clusterId: overrides.clusterId ?? ctx.clusterId, protocol: ctx.protocol, codec: undefined as never },
    signer,
    type,
    enc.encode(payload),
    overrides.sender ?? signer.peer
  )

/** Distinct genuine frames per kind; signing is the fuzzer's main cost, so frames are drawn from pools. */
const POOL = 64

export interface Fuzzer {
  frame(kind: FuzzKind): Uint8Array | string
}

export const makeFuzzer = (ctx: FuzzContext, rng: Prng): Fuzzer => {
  const pools = new Map<string, Array<Uint8Array>>()
  const pooled = (key: string, make: () => Uint8Array): Uint8Array => {
    let pool = pools.get(key)
    if (pool === undefined) pools.set(key, pool = [])
    if (pool.length < POOL) {
      const f = make()
      pool.push(f)
      return f.slice()
    }
    return rng.pick(pool).slice()
  }
  const genuine = () => pooled("genuine", () => seal(ctx, ctx.self, ctx.validTag, ctx.validPayload(rng)))
  return {
    frame: (kind) => {
      switch (kind) {
        case "random":
          return randomBytes(rng, 300)
        case "truncated": {
          const f = genuine()
          return f.slice(0, rng.int(f.byteLength))
        }
        case "bitflip": {
          const f = genuine()
          const at = rng.int(f.byteLength)
          f[at] = f[at]! ^ (1 << rng.int(8))
          return f
        }
        case "replayed":
          return pooled(kind, () => seal(ctx, ctx.victim, ctx.validTag, ctx.validPayload(rng)))
        case "claims-other":
          return pooled(kind, () => seal(ctx, ctx.self, ctx.validTag, ctx.validPayload(rng), { sender: ctx.claimed }))
        case "wrong-cluster":
          return pooled(kind, () => seal(ctx, ctx.self, ctx.validTag, ctx.validPayload(rng), { clusterId: `${ctx.clusterId}-x` }))
        case "text":
          return `not a frame ${rng.u32()}`
        case "bad-payload":
          return pooled(kind, () =>
            seal(ctx, ctx.self, ctx.validTag, `{"_tag":${JSON.stringify(ctx.validTag)},`.slice(0, 1 + rng.int(12)) + "\u0000"))
        case "unknown-tag":
          return pooled(kind, () => seal(ctx, ctx.self, "NoSuchMessage", `{"_tag":"NoSuchMessage","k":${rng.u32()}}`))
        case "bad-schema":
          return pooled(kind, () => seal(ctx, ctx.self, ctx.validTag, JSON.stringify({ _tag: ctx.validTag, unexpected: [rng.u32()] })))
      }
    }
  }
}

/** Bytes that are not even a WebSocket upgrade, or a handshake that is garbage. */
export const garbage = (rng: Prng): Uint8Array => randomBytes(rng, 200)
