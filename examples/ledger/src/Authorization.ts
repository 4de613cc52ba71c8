/**
 * What an owner or minter signs, and the deterministic check every replica
 * runs. The signed bytes are domain-separated and length-prefixed field by
 * field, so a signature for one operation can never be read as another.
 */
import * as crypto from "node:crypto"
import { Crypto } from "@synod/core"
import type { Mint, OpenAccount, Transfer } from "./Commands.js"

const DOMAIN = "synod-ledger/1"

const frame = (fields: ReadonlyArray<string>): Uint8Array => {
  const parts: Array<Buffer> = []
  for (const f of [DOMAIN, ...fields]) {
    const b = Buffer.from(f, "utf8")
    const len = Buffer.alloc(4)
    len.writeUInt32BE(b.byteLength)
    parts.push(len, b)
  }
  return new Uint8Array(Buffer.concat(parts))
}

export const openSigningBytes = (c: Pick<OpenAccount, "account" | "owner">): Uint8Array =>
  frame(["open", c.account, c.owner])

export const mintSigningBytes = (c: Pick<Mint, "id" | "to" | "amount" | "minter">): Uint8Array =>
  frame(["mint", c.id, c.to, c.amount.toString(), c.minter])

export const transferSigningBytes = (c: Pick<Transfer, "id" | "from" | "to" | "amount">): Uint8Array =>
  frame(["transfer", c.id, c.from, c.to, c.amount.toString()])

export const encodeKey = (raw: Uint8Array): string => Buffer.from(raw).toString("base64url")

/** Deterministic Ed25519 check; malformed keys or signatures are simply "false". */
export const verifySignature = (publicKey: string, bytes: Uint8Array, signature: string): boolean => {
  try {
    const raw = Buffer.from(publicKey, "base64url")
    const sig = Buffer.from(signature, "base64url")
    if (raw.byteLength !== 32 || sig.byteLength !== 64) return false
    return crypto.verify(null, bytes, keyCache(publicKey, raw), sig)
  } catch {
    return false
  }
}

/** KeyObjects are costly to build (a DER parse); owners sign many transfers. Bounded. */
const KEY_CACHE_LIMIT = 10_000
const keys = new Map<string, crypto.KeyObject>()
const keyCache = (encoded: string, raw: Uint8Array): crypto.KeyObject => {
  let k = keys.get(encoded)
  if (k === undefined) {
    if (keys.size >= KEY_CACHE_LIMIT) keys.clear()
    k = Crypto.publicKeyFromRaw(raw)
    keys.set(encoded, k)
  }
  return k
}

export const sign = (privateKey: crypto.KeyObject, bytes: Uint8Array): string =>
  Buffer.from(crypto.sign(null, bytes, privateKey)).toString("base64url")
