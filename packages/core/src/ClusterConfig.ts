/**
 * The cluster configuration file: who the replicas and clients are, where the
 * replicas listen, their public keys, the protocol and the trust model. Every
 * process of a cluster loads the same file; each also loads its own private key
 * file (see `Keys.ts`).
 *
 * Format (JSON, UTF-8, at most `MAX_CLUSTER_FILE_BYTES`):
 *
 *   {
 *     "format": "synod-cluster/1",
 *     "clusterId": "ledger-prod",            // 1..64 chars, mixed into every signature
 *     "protocol": "pbft",                    // "paxos" | "pbft"
 *     "trust": { "kind": "byzantine" },      // see below
 *     "replicas": [                          // 1..1024, listed in id order 0..n-1
 *       { "id": 0, "address": "ws://10.0.0.1:7000", "publicKey": "<base64 raw 32 bytes>" }
 *     ],
 *     "clients": [                           // 0..MAX_CLIENTS
 *       { "id": "alice", "publicKey": "<base64 raw 32 bytes>" }
 *     ]
 *   }
 *
 * Trust models (`trust.kind`), and the protocols they fit:
 *   {"kind":"crash", "f"?: k}             paxos  majority quorums; optional f requires n >= 2f+1
 *   {"kind":"byzantine", "f"?: k}         pbft   2f+1 of 3f+1; optional f requires n >= 3f+1
 *   {"kind":"flexible","q1":a,"q2":b}     paxos  phase-1 quorums of a, phase-2 of b, a + b > n
 *   {"kind":"weighted","weights":[...]}   both   one positive integer per replica, in id order;
 *                                                 crash (paxos) or Byzantine (pbft) thresholds
 *
 * Validation beyond the shapes: replica ids are exactly 0..n-1 in order;
 * addresses are distinct `ws://` or `wss://` URLs without credentials; client
 * ids are distinct; no public key is shared by two principals (a shared key
 * would let one impersonate the other); the trust model fits the protocol and n.
 * Without an explicit f, a small n is accepted and tolerates fewer faults
 * (e.g. PBFT with n = 3 has f = 0): the computed f is `quorumSystem(c).f`.
 */
import { FileSystem } from "@effect/platform"
import { Effect, Either, Layer, ParseResult, Schema } from "effect"
import { ed25519KeyRing, type KeyRing, publicKeyFromRaw, rawPublicKey } from "./Crypto.js"
import { ClientId, ClusterId, clientPeer, type PeerId, ReplicaId, replicaPeer } from "./Ids.js"
import {
  generateKeyPair,
  type KeyFileError,
  keyFileName,
  KeyRingService,
  encodePrivateKeyFile,
  type PeerKeyPair,
  type PeerPublicKey,
  RawKey,
  readTextFile,
  writeTextFile
} from "./Keys.js"
import { byzantine, crashMajority, type FaultModel, flexible, type QuorumSystem, weighted } from "./TrustModel.js"

export const CLUSTER_FILE_FORMAT = "synod-cluster/1"
export const MAX_CLUSTER_FILE_BYTES = 4 * 1024 * 1024
export const MAX_REPLICAS = 1024
export const MAX_CLIENTS = 10_000
/** Largest voting weight of one replica (keeps total power exact in a double). */
export const MAX_WEIGHT = 1_000_000

// ---------------------------------------------------------------------------
// Schema

export const ProtocolName = Schema.Literal("paxos", "pbft")
export type ProtocolName = typeof ProtocolName.Type

const Count = Schema.Int.pipe(Schema.nonNegative(), Schema.lessThanOrEqualTo(MAX_REPLICAS))
const QuorumSize = Schema.Int.pipe(Schema.positive(), Schema.lessThanOrEqualTo(MAX_REPLICAS))

export const TrustConfig = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("crash"), f: Schema.optional(Count) }),
  Schema.Struct({ kind: Schema.Literal("byzantine"), f: Schema.optional(Count) }),
  Schema.Struct({ kind: Schema.Literal("flexible"), q1: QuorumSize, q2: QuorumSize }),
  Schema.Struct({
    kind: Schema.Literal("weighted"),
    weights: Schema.Array(Schema.Int.pipe(Schema.positive(), Schema.lessThanOrEqualTo(MAX_WEIGHT)))
  })
)
export type TrustConfig = typeof TrustConfig.Type

/** A replica's WebSocket listen address: `ws://` or `wss://`, with a host, without credentials. */
export const WsAddress = Schema.String.pipe(
  Schema.maxLength(2048),
  Schema.filter((s) => {
    if (!URL.canParse(s)) return "not a URL"
    const url = new URL(s)
    if (url.protocol !== "ws:" && url.protocol !== "wss:") return `scheme ${url.protocol} is not ws: or wss:`
    if (url.hostname === "") return "no host"
    if (url.username !== "" || url.password !== "") return "credentials in the address"
    if (url.hash !== "") return "a fragment in the address"
    return true
  })
)

export const ReplicaEntry = Schema.Struct({ id: ReplicaId, address: WsAddress, publicKey: RawKey })
export type ReplicaEntry = typeof ReplicaEntry.Type

export const ClientEntry = Schema.Struct({ id: ClientId, publicKey: RawKey })
export type ClientEntry = typeof ClientEntry.Type

export const ClusterConfig = Schema.Struct({
  format: Schema.Literal(CLUSTER_FILE_FORMAT),
  clusterId: ClusterId,
  protocol: ProtocolName,
  trust: TrustConfig,
  replicas: Schema.Array(ReplicaEntry).pipe(Schema.minItems(1), Schema.maxItems(MAX_REPLICAS)),
  clients: Schema.Array(ClientEntry).pipe(Schema.maxItems(MAX_CLIENTS))
})
export type ClusterConfig = typeof ClusterConfig.Type

// ---------------------------------------------------------------------------
// Errors

export const ClusterConfigErrorReason = Schema.Literal(
  "missing",      // no file at the path
  "unreadable",   // exists but cannot be read
  "malformed",    // not UTF-8 JSON, too large, or fields of the wrong shape
  "wrong-format", // a format tag other than synod-cluster/1
  "invalid",      // well-formed but inconsistent (see the module comment)
  "unwritable"    // writing failed
)
export type ClusterConfigErrorReason = typeof ClusterConfigErrorReason.Type

export class ClusterConfigError extends Schema.TaggedError<ClusterConfigError>()("ClusterConfigError", {
  reason: ClusterConfigErrorReason,
  path: Schema.String,
  detail: Schema.String
}) {
  override get message() {
    return `${this.path}: ${this.reason}: ${this.detail}`
  }
}

const configError = (reason: ClusterConfigErrorReason, path: string, detail: string) =>
  new ClusterConfigError({ reason, path, detail })

// ---------------------------------------------------------------------------
// Validation

/** Which trust models each protocol can run: PBFT needs Byzantine quorums, Paxos tolerates crashes only. */
const fits: Record<ProtocolName, ReadonlySet<TrustConfig["kind"]>> = {
  paxos: new Set(["crash", "flexible", "weighted"]),
  pbft: new Set(["byzantine", "weighted"])
}

const trustProblems = (protocol: ProtocolName, trust: TrustConfig, n: number): Array<string> => {
  if (!fits[protocol].has(trust.kind)) return [`trust model ${trust.kind} does not fit protocol ${protocol}`]
  switch (trust.kind) {
    case "crash":
      return trust.f !== undefined && n < 2 * trust.f + 1 ? [`crash f=${trust.f} needs n >= ${2 * trust.f + 1}, have ${n}`] : []
    case "byzantine":
      return trust.f !== undefined && n < 3 * trust.f + 1 ? [`byzantine f=${trust.f} needs n >= ${3 * trust.f + 1}, have ${n}`] : []
    case "flexible": {
      const out: Array<string> = []
      if (trust.q1 > n || trust.q2 > n) out.push(`flexible quorums q1=${trust.q1}, q2=${trust.q2} exceed n=${n}`)
      if (trust.q1 + trust.q2 <= n) out.push(`flexible quorums need q1 + q2 > n (${trust.q1} + ${trust.q2} <= ${n})`)
      return out
    }
    case "weighted":
      return trust.weights.length !== n ? [`weighted needs one weight per replica (${trust.weights.length} for n=${n})`] : []
  }
}

const duplicates = <A>(items: ReadonlyArray<A>): Array<A> => {
  const seen = new Set<A>()
  const dup = new Set<A>()
  for (const x of items) (seen.has(x) ? dup : seen).add(x)
  return [...dup]
}

/** Every inconsistency in a well-shaped config (empty when valid). */
export const problems = (config: ClusterConfig): ReadonlyArray<string> => {
  const out: Array<string> = []
  const n = config.replicas.length
  if (n < 1) out.push("no replicas")
  config.replicas.forEach((r, i) => {
    if (r.id !== i) out.push(`replica at position ${i} has id ${r.id}: ids must be 0..n-1 in order`)
  })
  // compare normalized URLs: "WS://h:1/" and "ws://h:1" are one listener
  const normalized = config.replicas.map((r) => (URL.canParse(r.address) ? new URL(r.address).href : r.address))
  for (const a of duplicates(normalized)) out.push(`address ${a} used twice`)
  for (const c of duplicates(config.clients.map((c) => c.id))) out.push(`client id ${c} used twice`)
  const keys = [...config.replicas, ...config.clients].map((p) => Buffer.from(p.publicKey).toString("base64"))
  for (const k of duplicates(keys)) out.push(`public key ${k} shared by two principals`)
  out.push(...trustProblems(config.protocol, config.trust, n))
  return out
}

export const validate = (config: ClusterConfig, path = "<memory>"): Either.Either<ClusterConfig, ClusterConfigError> => {
  const found = problems(config)
  return found.length === 0 ? Either.right(config) : Either.left(configError("invalid", path, found.join("; ")))
}

// ---------------------------------------------------------------------------
// Decoding and encoding

const decodeConfig = Schema.decodeUnknownEither(ClusterConfig, { errors: "first", onExcessProperty: "error" })
const encodeConfig = Schema.encodeSync(ClusterConfig)

/** Decode and validate a parsed JSON value. `path` only labels errors. */
export const decodeUnknown = (json: unknown, path = "<memory>"): Either.Either<ClusterConfig, ClusterConfigError> => {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    return Either.left(configError("malformed", path, "not a JSON object"))
  }
  const format = (json as { format?: unknown }).format
  if (format !== CLUSTER_FILE_FORMAT) {
    return Either.left(configError("wrong-format", path, `format ${String(JSON.stringify(format)).slice(0, 64)}, expected ${CLUSTER_FILE_FORMAT}`))
  }
  return Either.flatMap(
    Either.mapLeft(decodeConfig(json), (e) => configError("malformed", path, ParseResult.TreeFormatter.formatErrorSync(e).slice(0, 500))),
    (config) => validate(config, path)
  )
}

/** Decode and validate the text of a cluster file. */
export const decode = (text: string, path = "<memory>"): Either.Either<ClusterConfig, ClusterConfigError> => {
  if (text.length > MAX_CLUSTER_FILE_BYTES) {
    return Either.left(configError("malformed", path, `larger than ${MAX_CLUSTER_FILE_BYTES} bytes`))
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (e) {
    return Either.left(configError("malformed", path, `not JSON: ${String(e).slice(0, 120)}`))
  }
  return decodeUnknown(json, path)
}

export const encode = (config: ClusterConfig): string => JSON.stringify(encodeConfig(config), null, 2) + "\n"

const fromKeyFileError = (e: KeyFileError): ClusterConfigError =>
  configError(e.reason === "duplicate-peer" || e.reason === "key-mismatch" ? "invalid" : e.reason, e.path, e.detail)

export const readFile = (path: string): Effect.Effect<ClusterConfig, ClusterConfigError, FileSystem.FileSystem> =>
  readTextFile(path, MAX_CLUSTER_FILE_BYTES).pipe(
    Effect.mapError(fromKeyFileError),
    Effect.flatMap((text) => decode(text, path))
  )

export const writeFile = (path: string, config: ClusterConfig): Effect.Effect<void, ClusterConfigError, FileSystem.FileSystem> =>
  writeTextFile(path, encode(config), 0o644).pipe(Effect.mapError(fromKeyFileError))

// ---------------------------------------------------------------------------
// What a config means

export const faultModel = (config: ClusterConfig): FaultModel => (config.protocol === "pbft" ? "byzantine" : "crash")

/** The quorum system of a valid config. */
export const quorumSystem = (config: ClusterConfig): QuorumSystem => {
  const n = config.replicas.length
  const trust = config.trust
  switch (trust.kind) {
    case "crash":
      return crashMajority(n)
    case "byzantine":
      return byzantine(n)
    case "flexible":
      return flexible(n, trust.q1, trust.q2)
    case "weighted":
      return weighted(faultModel(config), new Map(trust.weights.map((w, i) => [i as ReplicaId, w] as const)))
  }
}

/** Every principal (replicas, then clients) with its public key. */
export const principals = (config: ClusterConfig): ReadonlyArray<PeerPublicKey> => [
  ...config.replicas.map((r) => ({ peer: replicaPeer(r.id), publicKey: publicKeyFromRaw(r.publicKey) })),
  ...config.clients.map((c) => ({ peer: clientPeer(c.id), publicKey: publicKeyFromRaw(c.publicKey) }))
]

/** The Ed25519 KeyRing of every replica and client. */
export const keyRing = (config: ClusterConfig): KeyRing =>
  ed25519KeyRing(new Map(principals(config).map((p) => [p.peer, p.publicKey] as const)))

export const layerKeyRing = (config: ClusterConfig): Layer.Layer<KeyRingService> =>
  Layer.sync(KeyRingService, () => keyRing(config))

/** Where each replica listens. */
export const replicaAddresses = (config: ClusterConfig): ReadonlyMap<PeerId, string> =>
  new Map(config.replicas.map((r) => [replicaPeer(r.id), r.address] as const))

// ---------------------------------------------------------------------------
// Generating a cluster

export interface GenerateOptions {
  /** Number of replicas. */
  readonly n: number
  /** Client names, or a count (names `client-0`, `client-1`, ...). Default none. */
  readonly clients?: number | ReadonlyArray<string>
  readonly protocol: ProtocolName
  /** Default: crash for paxos, byzantine for pbft. */
  readonly trust?: TrustConfig
  /** Replica i listens on `basePort + i`. Default 7000. */
  readonly basePort?: number
  /** Default "127.0.0.1". */
  readonly host?: string
  /** Use wss:// addresses. Default false. */
  readonly tls?: boolean
  /** Default `synod-<random hex>`. */
  readonly clusterId?: string
}

export interface GeneratedFile {
  /** Relative to the directory the cluster is written to. */
  readonly path: string
  readonly text: string
  readonly mode: number
}

export interface GeneratedCluster {
  readonly config: ClusterConfig
  /** Every principal's key pair: replicas in id order, then clients. */
  readonly keys: ReadonlyArray<PeerKeyPair>
  /** `cluster.json` and `keys/<peer>.key.json` (mode 0600) for each principal. */
  readonly files: ReadonlyArray<GeneratedFile>
}

export const CLUSTER_FILE_NAME = "cluster.json"
export const KEYS_DIR = "keys"

/** Fresh keys and a valid config, in memory. Fails with `invalid`/`malformed` for options that give a bad config. */
export const generateCluster = (options: GenerateOptions): Either.Either<GeneratedCluster, ClusterConfigError> => {
  const { n, protocol } = options
  if (!Number.isInteger(n) || n < 1 || n > MAX_REPLICAS) {
    return Either.left(configError("invalid", "<generate>", `n must be an integer in 1..${MAX_REPLICAS}, got ${n}`))
  }
  const basePort = options.basePort ?? 7000
  if (!Number.isInteger(basePort) || basePort < 1 || basePort + n - 1 > 65535) {
    return Either.left(configError("invalid", "<generate>", `ports ${basePort}..${basePort + n - 1} out of range`))
  }
  const clientNames = typeof options.clients === "number"
    ? Array.from({ length: options.clients }, (_, i) => `client-${i}`)
    : [...(options.clients ?? [])]
  const host = options.host ?? "127.0.0.1"
  const scheme = options.tls === true ? "wss" : "ws"
  const replicaKeys = Array.from({ length: n }, (_, i) => generateKeyPair(replicaPeer(i)))
  const clientKeys = clientNames.map((c) => generateKeyPair(clientPeer(c)))
  const json = {
    format: CLUSTER_FILE_FORMAT,
    clusterId: options.clusterId ?? `synod-${Buffer.from(rawPublicKey(replicaKeys[0]!.publicKey)).toString("hex").slice(0, 12)}`,
    protocol,
    trust: options.trust ?? (protocol === "pbft" ? { kind: "byzantine" } : { kind: "crash" }),
    replicas: replicaKeys.map((k, i) => ({
      id: i,
      address: `${scheme}://${host.includes(":") ? `[${host}]` : host}:${basePort + i}`,
      publicKey: Buffer.from(rawPublicKey(k.publicKey)).toString("base64")
    })),
    clients: clientKeys.map((k, i) => ({ id: clientNames[i]!, publicKey: Buffer.from(rawPublicKey(k.publicKey)).toString("base64") }))
  }
  return Either.map(decodeUnknown(json, "<generate>"), (config) => {
    const keys = [...replicaKeys, ...clientKeys]
    const files: Array<GeneratedFile> = [
      { path: CLUSTER_FILE_NAME, text: encode(config), mode: 0o644 },
      ...keys.map((k) => ({ path: `${KEYS_DIR}/${keyFileName(k.peer)}`, text: encodePrivateKeyFile(k), mode: 0o600 }))
    ]
    return { config, keys, files }
  })
}

/** Write a generated cluster under `dir` (created if needed; `keys/` with mode 0700). Returns the paths written. */
export const writeCluster = (
  dir: string,
  cluster: GeneratedCluster
): Effect.Effect<ReadonlyArray<string>, ClusterConfigError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const unwritable = (path: string) => (e: { readonly message: string }) => configError("unwritable", path, e.message)
    yield* fs.makeDirectory(dir, { recursive: true }).pipe(Effect.mapError(unwritable(dir)))
    const keysDir = `${dir}/${KEYS_DIR}`
    yield* fs.makeDirectory(keysDir, { recursive: true, mode: 0o700 }).pipe(Effect.mapError(unwritable(keysDir)))
    return yield* Effect.forEach(cluster.files, (file) => {
      const path = `${dir}/${file.path}`
      return writeTextFile(path, file.text, file.mode).pipe(Effect.mapError(fromKeyFileError), Effect.as(path))
    })
  })
