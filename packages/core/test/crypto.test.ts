import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import {
  ED25519_SIGNATURE_BYTES,
  ed25519KeyRing,
  ed25519Signer,
  fromHex,
  generateEd25519,
  isKeyPair,
  privateKeyFromRaw,
  publicKeyFromRaw,
  publicKeyOf,
  rawPrivateKey,
  rawPublicKey,
  sha256Hex,
  simulatedKeyRing,
  simulatedSigner,
  toHex
} from "../src/Crypto.js"
import { clientPeer, replicaPeer } from "../src/Ids.js"

const enc = new TextEncoder()

describe("Ed25519", () => {
  it("matches RFC 8032 section 7.1, test 1 (key from seed, deterministic signature)", () => {
    const seed = fromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    const privateKey = privateKeyFromRaw(seed)
    expect(toHex(rawPublicKey(publicKeyOf(privateKey)))).toBe("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    const signature = ed25519Signer(replicaPeer(0), privateKey).sign(new Uint8Array(0))
    expect(toHex(signature)).toBe(
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
  })

  it("raw key bytes round trip, and other lengths are a RangeError", () => {
    const { publicKey, privateKey } = generateEd25519()
    expect(rawPublicKey(publicKeyFromRaw(rawPublicKey(publicKey)))).toEqual(rawPublicKey(publicKey))
    expect(rawPrivateKey(privateKeyFromRaw(rawPrivateKey(privateKey)))).toEqual(rawPrivateKey(privateKey))
    expect(() => publicKeyFromRaw(new Uint8Array(31))).toThrow(RangeError)
    expect(() => privateKeyFromRaw(new Uint8Array(33))).toThrow(RangeError)
  })

  it("isKeyPair tells matching halves from mismatched ones", () => {
    const a = generateEd25519()
    const b = generateEd25519()
    expect(isKeyPair(a.publicKey, a.privateKey)).toBe(true)
    expect(isKeyPair(b.publicKey, a.privateKey)).toBe(false)
  })

  describe("key ring", () => {
    const a = generateEd25519()
    const b = generateEd25519()
    const ring = ed25519KeyRing(new Map([[replicaPeer(0), a.publicKey], [clientPeer("bob"), b.publicKey]]))
    const msg = enc.encode("vote for slot 7")
    const sig = ed25519Signer(replicaPeer(0), a.privateKey).sign(msg)

    it("verifies a signature by the named peer's key", () => {
      expect(sig.byteLength).toBe(ED25519_SIGNATURE_BYTES)
      expect(ring.verify(replicaPeer(0), msg, sig)).toBe(true)
      expect(ring.has(replicaPeer(0))).toBe(true)
      expect([...ring.peers()].sort()).toEqual(["client/bob", "replica/0"])
    })

    it("rejects another peer's key, an unknown peer, other bytes, a wrong length and a flipped bit", () => {
      expect(ring.verify(clientPeer("bob"), msg, sig)).toBe(false)
      expect(ring.has(replicaPeer(5))).toBe(false)
      expect(ring.verify(replicaPeer(5), msg, sig)).toBe(false)
      expect(ring.verify(replicaPeer(0), enc.encode("vote for slot 8"), sig)).toBe(false)
      expect(ring.verify(replicaPeer(0), msg, sig.subarray(0, 63))).toBe(false)
      expect(ring.verify(replicaPeer(0), msg, new Uint8Array([...sig, 0]))).toBe(false)
      for (let bit = 0; bit < sig.byteLength * 8; bit += 7) {
        const bad = sig.slice()
        bad[bit >> 3]! ^= 1 << (bit & 7)
        expect(ring.verify(replicaPeer(0), msg, bad), `bit ${bit}`).toBe(false)
      }
    })

    it.prop("never throws on arbitrary signatures", [fc.uint8Array({ maxLength: 80 })], ([bytes]) => {
      expect(ring.verify(replicaPeer(0), msg, bytes)).toBe(false)
    })
  })
})

describe("simulated scheme", () => {
  const peers = [replicaPeer(0), replicaPeer(1)]
  const ring = simulatedKeyRing("seed", peers)
  const msg = enc.encode("prepare 3")

  it("is deterministic and verifies its own signatures", () => {
    const s = simulatedSigner("seed", replicaPeer(0)).sign(msg)
    expect(s).toEqual(simulatedSigner("seed", replicaPeer(0)).sign(msg))
    expect(ring.verify(replicaPeer(0), msg, s)).toBe(true)
  })

  it("rejects a forger without the secret, another peer's signature, a wrong length and unknown peers", () => {
    expect(ring.verify(replicaPeer(0), msg, simulatedSigner("other-seed", replicaPeer(0)).sign(msg))).toBe(false)
    expect(ring.verify(replicaPeer(0), msg, simulatedSigner("seed", replicaPeer(1)).sign(msg))).toBe(false)
    const s = simulatedSigner("seed", replicaPeer(0)).sign(msg)
    expect(ring.verify(replicaPeer(0), msg, s.subarray(0, 15))).toBe(false)
    expect(ring.verify(replicaPeer(0), enc.encode("prepare 4"), s)).toBe(false)
    expect(ring.verify(replicaPeer(2), msg, simulatedSigner("seed", replicaPeer(2)).sign(msg))).toBe(false)
    expect(ring.has(replicaPeer(2))).toBe(false)
  })
})

describe("sha256Hex", () => {
  it("matches the FIPS 180-2 vector for \"abc\"", () => {
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  })

  it.prop("hashes parts as their concatenation", [fc.uint8Array(), fc.uint8Array()], ([a, b]) => {
    expect(sha256Hex(a, b)).toBe(sha256Hex(new Uint8Array([...a, ...b])))
  })

  it.prop("hex round trips", [fc.uint8Array()], ([a]) => {
    expect(fromHex(toHex(a))).toEqual(a)
  })
})
