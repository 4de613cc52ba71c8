import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Either, Layer } from "effect"
import { rawPrivateKey, rawPublicKey } from "../src/Crypto.js"
import { clientPeer, replicaPeer } from "../src/Ids.js"
import {
  encodePrivateKeyFile,
  encodePublicKeyFile,
  generateKeyPair,
  KEY_FILE_FORMAT,
  keyFileName,
  KeyRingService,
  keyRingOf,
  layerKeyRingFromFiles,
  layerSignerFromFile,
  MAX_KEY_FILE_BYTES,
  parsePrivateKeyFile,
  parsePublicKeyFile,
  publicHalf,
  readPrivateKeyFile,
  readPublicKeyFile,
  signerOf,
  SignerService,
  writePrivateKeyFile,
  writePublicKeyFile
} from "../src/Keys.js"

const enc = new TextEncoder()
const alice = generateKeyPair(clientPeer("alice"))
const r0 = generateKeyPair(replicaPeer(0))

const reasonOf = (r: Either.Either<unknown, { readonly reason: string }>) => (Either.isLeft(r) ? r.left.reason : "accepted")
const edited = (text: string, edit: (o: Record<string, unknown>) => void) => {
  const o = JSON.parse(text) as Record<string, unknown>
  edit(o)
  return JSON.stringify(o)
}

describe("key files (pure)", () => {
  it("a private key file round trips both halves and the peer", () => {
    const text = encodePrivateKeyFile(alice)
    expect(JSON.parse(text).format).toBe(KEY_FILE_FORMAT)
    const back = Either.getOrThrow(parsePrivateKeyFile(text))
    expect(back.peer).toBe("client/alice")
    expect(rawPublicKey(back.publicKey)).toEqual(rawPublicKey(alice.publicKey))
    expect(rawPrivateKey(back.privateKey)).toEqual(rawPrivateKey(alice.privateKey))
  })

  it("a public key file, or the public half of a private one, gives the public key", () => {
    for (const text of [encodePublicKeyFile(publicHalf(alice)), encodePrivateKeyFile(alice)]) {
      const back = Either.getOrThrow(parsePublicKeyFile(text))
      expect(back.peer).toBe("client/alice")
      expect(rawPublicKey(back.publicKey)).toEqual(rawPublicKey(alice.publicKey))
      expect("privateKey" in back).toBe(false)
    }
  })

  it("rejects text that is not a JSON object of the right shape as malformed", () => {
    const good = encodePrivateKeyFile(alice)
    const cases: Array<[string, string]> = [
      ["not JSON", "{format"],
      ["an array", "[]"],
      ["null", "null"],
      ["bad base64", edited(good, (o) => (o.publicKey = "%%%"))],
      ["31-byte key", edited(good, (o) => (o.privateKey = Buffer.alloc(31).toString("base64")))],
      ["bad peer", edited(good, (o) => (o.peer = "replica/01"))],
      ["missing key", edited(good, (o) => delete o.privateKey)],
      ["excess field", edited(good, (o) => (o.comment = "hi"))],
      ["too large", good + " ".repeat(MAX_KEY_FILE_BYTES)]
    ]
    for (const [name, text] of cases) expect(reasonOf(parsePrivateKeyFile(text)), name).toBe("malformed")
  })

  it("rejects a missing or foreign format tag, and a public file where a private key is needed, as wrong-format", () => {
    const good = encodePrivateKeyFile(alice)
    expect(reasonOf(parsePrivateKeyFile(edited(good, (o) => delete o.format)))).toBe("wrong-format")
    expect(reasonOf(parsePrivateKeyFile(edited(good, (o) => (o.format = "synod-key/2"))))).toBe("wrong-format")
    expect(reasonOf(parsePrivateKeyFile(encodePublicKeyFile(alice)))).toBe("wrong-format")
    expect(reasonOf(parsePublicKeyFile(edited(good, (o) => (o.format = "ssh-ed25519"))))).toBe("wrong-format")
  })

  it("rejects a private key that does not belong to the stated public key as key-mismatch", () => {
    const mixed = edited(encodePrivateKeyFile(alice), (o) => (o.publicKey = Buffer.from(rawPublicKey(r0.publicKey)).toString("base64")))
    expect(reasonOf(parsePrivateKeyFile(mixed))).toBe("key-mismatch")
    expect(reasonOf(parsePublicKeyFile(mixed))).toBe("key-mismatch")
  })

  it("a key ring from public keys verifies their signatures; two different keys for one peer is duplicate-peer", () => {
    const ring = Either.getOrThrow(keyRingOf([publicHalf(alice), publicHalf(r0), publicHalf(r0)]))
    const msg = enc.encode("hello")
    expect(ring.verify(clientPeer("alice"), msg, signerOf(alice).sign(msg))).toBe(true)
    expect(ring.verify(replicaPeer(0), msg, signerOf(alice).sign(msg))).toBe(false)
    const impostor = { peer: replicaPeer(0), publicKey: alice.publicKey }
    expect(reasonOf(keyRingOf([publicHalf(r0), impostor]))).toBe("duplicate-peer")
  })

  it("names key files after the principal", () => {
    expect(keyFileName(replicaPeer(3))).toBe("replica-3.key.json")
    expect(keyFileName(clientPeer("bob"), "public")).toBe("client-bob.pub.json")
  })
})

layer(NodeFileSystem.layer)("key files (disk)", (it) => {
  const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "synod-keys-" }))
  const failureReason = <A, R>(effect: Effect.Effect<A, { readonly reason: string }, R>) =>
    Effect.map(Effect.either(effect), reasonOf)

  it.scoped("write then read round trips; the private file has mode 0600", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* tempDir
      yield* writePrivateKeyFile(`${dir}/a.key.json`, alice)
      yield* writePublicKeyFile(`${dir}/a.pub.json`, alice)
      const pair = yield* readPrivateKeyFile(`${dir}/a.key.json`)
      const pub = yield* readPublicKeyFile(`${dir}/a.pub.json`)
      expect(rawPrivateKey(pair.privateKey)).toEqual(rawPrivateKey(alice.privateKey))
      expect(rawPublicKey(pub.publicKey)).toEqual(rawPublicKey(alice.publicKey))
      expect((yield* fs.stat(`${dir}/a.key.json`)).mode & 0o777).toBe(0o600)
      expect(yield* fs.readDirectory(dir)).toHaveLength(2) // no temporary files left behind
    }))

  it.scoped("replacing a world-readable file leaves a 0600 file", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const path = `${yield* tempDir}/r0.key.json`
      yield* fs.writeFileString(path, "old", { mode: 0o644 })
      yield* writePrivateKeyFile(path, r0)
      expect((yield* fs.stat(path)).mode & 0o777).toBe(0o600)
      expect((yield* readPrivateKeyFile(path)).peer).toBe("replica/0")
    }))

  it.scoped("each failure has its reason: missing, unreadable, malformed, wrong-format, key-mismatch, unwritable", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* tempDir
      const write = (name: string, data: string | Uint8Array) =>
        typeof data === "string" ? fs.writeFileString(`${dir}/${name}`, data) : fs.writeFile(`${dir}/${name}`, data)
      yield* write("garbage.json", "not json")
      yield* write("latin1.json", new Uint8Array([0x7b, 0xe9, 0x7d]))
      yield* write("huge.json", "x".repeat(MAX_KEY_FILE_BYTES + 1))
      yield* write("public.json", encodePublicKeyFile(alice))
      yield* write("mixed.json", edited(encodePrivateKeyFile(alice), (o) => (o.privateKey = Buffer.from(rawPrivateKey(r0.privateKey)).toString("base64"))))
      yield* fs.makeDirectory(`${dir}/a-directory`)

      expect(yield* failureReason(readPrivateKeyFile(`${dir}/nope.json`))).toBe("missing")
      expect(yield* failureReason(readPrivateKeyFile(`${dir}/a-directory`))).toBe("unreadable")
      expect(yield* failureReason(readPrivateKeyFile(`${dir}/garbage.json`))).toBe("malformed")
      expect(yield* failureReason(readPrivateKeyFile(`${dir}/latin1.json`))).toBe("malformed")
      expect(yield* failureReason(readPrivateKeyFile(`${dir}/huge.json`))).toBe("malformed")
      expect(yield* failureReason(readPrivateKeyFile(`${dir}/public.json`))).toBe("wrong-format")
      expect(yield* failureReason(readPrivateKeyFile(`${dir}/mixed.json`))).toBe("key-mismatch")
      expect(yield* failureReason(writePrivateKeyFile(`${dir}/no/such/dir/k.json`, alice))).toBe("unwritable")
      const error = yield* Effect.flip(readPrivateKeyFile(`${dir}/nope.json`))
      expect(error._tag).toBe("KeyFileError")
      expect(error.path).toBe(`${dir}/nope.json`)
    }))

  it.scoped("layers from files provide a Signer whose signatures the KeyRing verifies", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      yield* writePrivateKeyFile(`${dir}/r0.key.json`, r0)
      yield* writePublicKeyFile(`${dir}/alice.pub.json`, alice)
      const services = Layer.merge(
        layerSignerFromFile(`${dir}/r0.key.json`),
        layerKeyRingFromFiles([`${dir}/r0.key.json`, `${dir}/alice.pub.json`])
      )
      const ok = yield* Effect.gen(function*() {
        const signer = yield* SignerService
        const ring = yield* KeyRingService
        const msg = enc.encode("commit 9")
        return [signer.peer, ring.verify(signer.peer, msg, signer.sign(msg)), [...ring.peers()].sort()] as const
      }).pipe(Effect.provide(services))
      expect(ok).toEqual(["replica/0", true, ["client/alice", "replica/0"]])

      expect(yield* failureReason(Effect.provide(SignerService, layerSignerFromFile(`${dir}/absent.json`)))).toBe("missing")
      expect(yield* failureReason(Effect.provide(KeyRingService, layerKeyRingFromFiles([`${dir}/alice.pub.json`, `${dir}/absent.json`])))).toBe("missing")
    }))
})
