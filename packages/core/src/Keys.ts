/**
 * Key management: Ed25519 key pairs for principals (replicas and clients),
 * key files on disk, and the Effect services through which shells get their
 * `Signer` and `KeyRing`.
 *
 * Key files are JSON (UTF-8), at most `MAX_KEY_FILE_BYTES`, in one of two forms:
 *
 *   private (mode 0600):
 *     {"format":"synod-key/1","peer":"replica/0",
 *      "publicKey":"<base64 of the raw 32-byte public key>",
 *      "privateKey":"<base64 of the raw 32-byte RFC 8032 seed>"}
 *   public:
 *     {"format":"synod-public-key/1","peer":"replica/0","publicKey":"<base64 32 bytes>"}
 *
 * The private form repeats the public key so that a file whose halves do not
 * belong together (a hand-edited or mixed-up file) is caught on load
 * (`key-mismatch`) instead of producing signatures nobody can verify.
 *
 * Parsing is pure (`parsePrivateKeyFile`, `parsePublicKeyFile`); reading and
 * writing use the @effect/platform `FileSystem` (provide `NodeFileSystem.layer`
 * from @effect/platform-node in a program). Private files are written to a
 * fresh temporary file created with mode 0600 and renamed into place, so the
 * secret is never readable by others, not even briefly over an existing file.
 */
import { FileSystem } from "@effect/platform"
import { Context, Effect, Either, Layer, ParseResult, Schema } from "effect"
import * as crypto from "node:crypto"
import {
  ED25519_KEY_BYTES,
  ed25519KeyRing,
  ed25519Signer,
  generateEd25519,
  isKeyPair,
  type KeyRing,
  privateKeyFromRaw,
  publicKeyFromRaw,
  rawPrivateKey,
  rawPublicKey,
  type Signer
} from "./Crypto.js"
import { PeerId } from "./Ids.js"

export const KEY_FILE_FORMAT = "synod-key/1"
export const PUBLIC_KEY_FILE_FORMAT = "synod-public-key/1"
/** Largest key file accepted; a real one is about 200 bytes. */
export const MAX_KEY_FILE_BYTES = 64 * 1024

// ---------------------------------------------------------------------------
// Errors

export const KeyFileErrorReason = Schema.Literal(
  "missing",        // no file at the path
  "unreadable",     // exists but cannot be read (permissions, a directory, I/O)
  "malformed",      // not UTF-8 JSON, too large, or fields of the wrong shape
  "wrong-format",   // a format tag other than the one required
  "key-mismatch",   // the private key's public half is not the stated public key
  "duplicate-peer", // two different keys for one principal
  "unwritable"      // writing the file failed
)
export type KeyFileErrorReason = typeof KeyFileErrorReason.Type

export class KeyFileError extends Schema.TaggedError<KeyFileError>()("KeyFileError", {
  reason: KeyFileErrorReason,
  path: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `${this.path}: ${this.reason}: ${this.detail}`
  }
}

const keyFileError = (reason: KeyFileErrorReason, path: string, detail: string) =>
  new KeyFileError({ reason, path, detail })

// ---------------------------------------------------------------------------
// Key pairs

/** A principal and its public key. */
export interface PeerPublicKey {
  readonly peer: PeerId
  readonly publicKey: crypto.KeyObject
}

/** A principal and both halves of its key. */
export interface PeerKeyPair extends PeerPublicKey {
  readonly privateKey: crypto.KeyObject
}

export const generateKeyPair = (peer: PeerId): PeerKeyPair => ({ peer, ...generateEd25519() })

/** The key pair whose private key is the raw 32-byte `seed`. */
export const keyPairFromSeed = (peer: PeerId, seed: Uint8Array): PeerKeyPair => {
  const privateKey = privateKeyFromRaw(seed)
  return { peer, privateKey, publicKey: crypto.createPublicKey(privateKey) }
}

export const publicHalf = (pair: PeerPublicKey): PeerPublicKey => ({ peer: pair.peer, publicKey: pair.publicKey })

export const signerOf = (pair: PeerKeyPair): Signer => ed25519Signer(pair.peer, pair.privateKey)

/**
 * An Ed25519 KeyRing over the given principals. The same key listed twice for a
 * principal is harmless; two different keys is a configuration error.
 */
export const keyRingOf = (keys: Iterable<PeerPublicKey>): Either.Either<KeyRing, KeyFileError> => {
  const map = new Map<PeerId, crypto.KeyObject>()
  for (const { peer, publicKey } of keys) {
    const known = map.get(peer)
    if (known !== undefined && !known.equals(publicKey)) {
      return Either.left(keyFileError("duplicate-peer", "<key ring>", `two different public keys for ${peer}`))
    }
    map.set(peer, publicKey)
  }
  return Either.right(ed25519KeyRing(map))
}

/** A key file's base name for a principal: `replica/0` -> `replica-0.key.json` (or `.pub.json`). */
export const keyFileName = (peer: PeerId, kind: "private" | "public" = "private"): string =>
  `${peer.replace("/", "-")}.${kind === "private" ? "key" : "pub"}.json`

// ---------------------------------------------------------------------------
// The file format (pure)

/** A raw 32-byte Ed25519 key (public key or private seed) as base64 on the wire. */
export const RawKey = Schema.Uint8ArrayFromBase64.pipe(
  Schema.filter((b) => b.byteLength === ED25519_KEY_BYTES || `expected ${ED25519_KEY_BYTES} bytes, got ${b.byteLength}`)
)

export const PrivateKeyFile = Schema.Struct({
  format: Schema.Literal(KEY_FILE_FORMAT),
  peer: PeerId,
  publicKey: RawKey,
  privateKey: RawKey
})
export type PrivateKeyFile = typeof PrivateKeyFile.Type

export const PublicKeyFile = Schema.Struct({
  format: Schema.Literal(PUBLIC_KEY_FILE_FORMAT),
  peer: PeerId,
  publicKey: RawKey
})
export type PublicKeyFile = typeof PublicKeyFile.Type

const decodeOptions = { errors: "first", onExcessProperty: "error" } as const
const decodePrivate = Schema.decodeUnknownEither(PrivateKeyFile, decodeOptions)
const decodePublic = Schema.decodeUnknownEither(PublicKeyFile, decodeOptions)
const encodePrivate = Schema.encodeSync(PrivateKeyFile)
const encodePublic = Schema.encodeSync(PublicKeyFile)

export const encodePrivateKeyFile = (pair: PeerKeyPair): string =>
  JSON.stringify(
    encodePrivate({
      format: KEY_FILE_FORMAT,
      peer: pair.peer,
      publicKey: rawPublicKey(pair.publicKey),
      privateKey: rawPrivateKey(pair.privateKey)
    }),
    null,
    2
  ) + "\n"

export const encodePublicKeyFile = (key: PeerPublicKey): string =>
  JSON.stringify(
    encodePublic({ format: PUBLIC_KEY_FILE_FORMAT, peer: key.peer, publicKey: rawPublicKey(key.publicKey) }),
    null,
    2
  ) + "\n"

/** JSON text -> object with a string `format`, or the reason it is not one. */
const parseTagged = (text: string, path: string): Either.Either<{ readonly format: string }, KeyFileError> => {
  if (text.length > MAX_KEY_FILE_BYTES) {
    return Either.left(keyFileError("malformed", path, `larger than ${MAX_KEY_FILE_BYTES} bytes`))
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    return Either.left(keyFileError("malformed", path, `not JSON: ${String(e).slice(0, 120)}`))
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return Either.left(keyFileError("malformed", path, "not a JSON object"))
  }
  const format = (json as { format?: unknown }).format
  if (typeof format !== "string") return Either.left(keyFileError("wrong-format", path, "no \"format\" field"))
  return Either.right(json as { format: string })
}

const shapeError = (path: string) => (e: ParseResult.ParseError) =>
  keyFileError("malformed", path, ParseResult.TreeFormatter.formatErrorSync(e).slice(0, 300))

const fromPrivateFile = (file: PrivateKeyFile, path: string): Either.Either<PeerKeyPair, KeyFileError> => {
  const publicKey = publicKeyFromRaw(file.publicKey)
  const privateKey = privateKeyFromRaw(file.privateKey)
  if (!isKeyPair(publicKey, privateKey)) {
    return Either.left(keyFileError("key-mismatch", path, `private key of ${file.peer} does not match its public key`))
  }
  return Either.right({ peer: file.peer, publicKey, privateKey })
}

/** Parse a private key file (`synod-key/1`). `path` only labels errors. */
export const parsePrivateKeyFile = (text: string, path = "<memory>"): Either.Either<PeerKeyPair, KeyFileError> =>
  Either.flatMap(parseTagged(text, path), (json) => {
    if (json.format === PUBLIC_KEY_FILE_FORMAT) {
      return Either.left(keyFileError("wrong-format", path, "a public key file where a private key is required"))
    }
    if (json.format !== KEY_FILE_FORMAT) {
      return Either.left(keyFileError("wrong-format", path, `format ${JSON.stringify(json.format.slice(0, 64))}, expected ${KEY_FILE_FORMAT}`))
    }
    return Either.flatMap(Either.mapLeft(decodePrivate(json), shapeError(path)), (file) => fromPrivateFile(file, path))
  })

/**
 * Parse a public key: a `synod-public-key/1` file, or the public half of a
 * `synod-key/1` file (which is checked for `key-mismatch` like any private file).
 */
export const parsePublicKeyFile = (text: string, path = "<memory>"): Either.Either<PeerPublicKey, KeyFileError> =>
  Either.flatMap(parseTagged(text, path), (json): Either.Either<PeerPublicKey, KeyFileError> => {
    if (json.format === KEY_FILE_FORMAT) return Either.map(parsePrivateKeyFile(text, path), publicHalf)
    if (json.format !== PUBLIC_KEY_FILE_FORMAT) {
      return Either.left(
        keyFileError("wrong-format", path, `format ${JSON.stringify(json.format.slice(0, 64))}, expected ${PUBLIC_KEY_FILE_FORMAT}`)
      )
    }
    return Either.map(
      Either.mapLeft(decodePublic(json), shapeError(path)),
      (file) => ({ peer: file.peer, publicKey: publicKeyFromRaw(file.publicKey) })
    )
  })

// ---------------------------------------------------------------------------
// Files

const strictUtf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * Read a small UTF-8 text file with typed errors. Exported for other config
 * readers in this package (ClusterConfig); `limit` is the largest size accepted.
 */
export const readTextFile = (
  path: string,
  limit: number
): Effect.Effect<string, KeyFileError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(path).pipe(
      Effect.mapError((e) =>
        e._tag === "SystemError" && e.reason === "NotFound"
          ? keyFileError("missing", path, "no such file")
          : keyFileError("unreadable", path, e.message)
      )
    )
    if (info.type !== "File") return yield* keyFileError("unreadable", path, `not a regular file (${info.type})`)
    if (info.size > BigInt(limit)) return yield* keyFileError("malformed", path, `larger than ${limit} bytes`)
    const bytes = yield* fs.readFile(path).pipe(Effect.mapError((e) => keyFileError("unreadable", path, e.message)))
    return yield* Effect.try({
      try: () => strictUtf8.decode(bytes),
      catch: () => keyFileError("malformed", path, "not valid UTF-8")
    })
  })

/**
 * Write `text` to `path` atomically: a fresh temporary file beside it, created
 * exclusively with `mode`, then renamed over `path`.
 */
export const writeTextFile = (
  path: string,
  text: string,
  mode: number
): Effect.Effect<void, KeyFileError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const tmp = `${path}.tmp-${crypto.randomBytes(8).toString("hex")}`
    const unwritable = (e: { readonly message: string }) => keyFileError("unwritable", path, e.message)
    yield* fs.writeFileString(tmp, text, { mode, flag: "wx" }).pipe(Effect.mapError(unwritable))
    yield* fs.rename(tmp, path).pipe(
      Effect.mapError(unwritable),
      Effect.tapError(() => fs.remove(tmp).pipe(Effect.ignore))
    )
  })

export const readPrivateKeyFile = (path: string): Effect.Effect<PeerKeyPair, KeyFileError, FileSystem.FileSystem> =>
  Effect.flatMap(readTextFile(path, MAX_KEY_FILE_BYTES), (text) => parsePrivateKeyFile(text, path))

export const readPublicKeyFile = (path: string): Effect.Effect<PeerPublicKey, KeyFileError, FileSystem.FileSystem> =>
  Effect.flatMap(readTextFile(path, MAX_KEY_FILE_BYTES), (text) => parsePublicKeyFile(text, path))

/** Write a private key file with mode 0600 (replacing any file at `path`). */
export const writePrivateKeyFile = (path: string, pair: PeerKeyPair): Effect.Effect<void, KeyFileError, FileSystem.FileSystem> =>
  writeTextFile(path, encodePrivateKeyFile(pair), 0o600)

/** Write a public key file with mode 0644. */
export const writePublicKeyFile = (path: string, key: PeerPublicKey): Effect.Effect<void, KeyFileError, FileSystem.FileSystem> =>
  writeTextFile(path, encodePublicKeyFile(key), 0o644)

// ---------------------------------------------------------------------------
// Services

/** This process's signing identity. */
export class SignerService extends Context.Tag("@synod/core/SignerService")<SignerService, Signer>() {}

/** The public keys of every principal this process accepts frames from. */
export class KeyRingService extends Context.Tag("@synod/core/KeyRingService")<KeyRingService, KeyRing>() {}

export const layerSigner = (signer: Signer): Layer.Layer<SignerService> => Layer.succeed(SignerService, signer)

export const layerKeyRing = (ring: KeyRing): Layer.Layer<KeyRingService> => Layer.succeed(KeyRingService, ring)

/** The Signer of a private key file. */
export const layerSignerFromFile = (path: string): Layer.Layer<SignerService, KeyFileError, FileSystem.FileSystem> =>
  Layer.effect(SignerService, Effect.map(readPrivateKeyFile(path), signerOf))

/** A KeyRing from public (or private) key files, one principal per file. */
export const layerKeyRingFromFiles = (
  paths: ReadonlyArray<string>
): Layer.Layer<KeyRingService, KeyFileError, FileSystem.FileSystem> =>
  Layer.effect(
    KeyRingService,
    Effect.flatMap(Effect.forEach(paths, readPublicKeyFile), (keys) => keyRingOf(keys))
  )
