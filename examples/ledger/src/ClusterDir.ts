/**
 * The cluster directory `synod-ledger init` writes and every other command
 * reads:
 *
 *   <dir>/cluster.json                 replicas (addresses, public keys), clients, trust model (@synod/core format)
 *   <dir>/genesis.json                 minters and funded accounts (see Genesis.ts)
 *   <dir>/keys/replica-<i>.key.json    each replica's private key (mode 0600)
 *   <dir>/keys/client-<name>.key.json  each client's private key; it also owns the account <name>
 *   <dir>/keys/minter.key.json         the genesis minter's private key
 *   <dir>/replica-<i>.db               replica i's durable PBFT state (SQLite, created by `replica`)
 *   <dir>/clients/<name>/              what client <name> keeps: its request session and reply certificates
 *
 * Loading turns every problem into a `CliError` that names the file and says
 * how to fix it.
 */
import { FileSystem } from "@effect/platform"
import {
  ClusterConfig,
  Crypto,
  Keys,
  type PeerId,
  clientPeer,
  replicaPeer
} from "@synod/core"
import { Effect, Either, Schema } from "effect"
import * as path from "node:path"
import { encodeKey } from "./Authorization.js"
import * as CliError from "./CliError.js"
import { AccountName } from "./Commands.js"
import * as GenesisFile from "./Genesis.js"
import { type Genesis, makeLedger } from "./Ledger.js"

export const DEFAULT_DIR = "ledger-cluster"
export const MINTER_PEER = "client/minter" as PeerId

export interface Layout {
  readonly dir: string
  readonly cluster: string
  readonly genesis: string
  readonly keys: string
  readonly minterKey: string
  key(peer: PeerId): string
  database(replica: number): string
  clientDir(client: string): string
}

export const layout = (dir: string): Layout => ({
  dir,
  cluster: path.join(dir, ClusterConfig.CLUSTER_FILE_NAME),
  genesis: path.join(dir, GenesisFile.GENESIS_FILE_NAME),
  keys: path.join(dir, ClusterConfig.KEYS_DIR),
  minterKey: path.join(dir, ClusterConfig.KEYS_DIR, "minter.key.json"),
  key: (peer) => path.join(dir, ClusterConfig.KEYS_DIR, Keys.keyFileName(peer)),
  database: (replica) => path.join(dir, `replica-${replica}.db`),
  clientDir: (client) => path.join(dir, "clients", client)
})

export interface Cluster {
  readonly layout: Layout
  readonly config: ClusterConfig.ClusterConfig
  readonly genesis: Genesis
  readonly ledger: ReturnType<typeof makeLedger>
}

/** The account owner string (`OpenAccount.owner`) of a public key. */
export const ownerOf = (publicKey: Crypto.Ed25519KeyPair["publicKey"]): string => encodeKey(Crypto.rawPublicKey(publicKey))

const initHint = (dir: string) => `create one with: synod-ledger init --dir ${dir}`

/** Fail unless `dir` is an existing directory holding a cluster file. */
const requireClusterDir = (dir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const info = yield* fs.stat(dir).pipe(Effect.option)
    if (info._tag === "None") return yield* CliError.config(`no cluster directory at ${dir}`, initHint(dir))
    if (info.value.type !== "Directory") return yield* CliError.config(`${dir} is not a directory`, initHint(dir))
    const hasCluster = yield* fs.exists(layout(dir).cluster).pipe(Effect.orElseSucceed(() => false))
    if (!hasCluster) return yield* CliError.config(`${dir} is not a cluster directory (it has no cluster.json)`, initHint(dir))
  })

/** Load and check a cluster directory. */
export const load = (dir: string): Effect.Effect<Cluster, CliError.CliError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    yield* requireClusterDir(dir)
    const files = layout(dir)
    const config = yield* ClusterConfig.readFile(files.cluster).pipe(
      Effect.mapError((e) => CliError.config(`cannot use ${files.cluster}: ${e.reason}: ${e.detail}`, `recreate the cluster with: synod-ledger init --dir ${dir} --force`))
    )
    if (config.protocol !== "pbft") {
      return yield* CliError.config(`${files.cluster} is a ${config.protocol} cluster; the ledger runs on pbft`, initHint(dir))
    }
    const text = yield* Keys.readTextFile(files.genesis, GenesisFile.MAX_GENESIS_FILE_BYTES).pipe(
      Effect.mapError((e) => CliError.config(`cannot read the genesis ${files.genesis}: ${e.reason}: ${e.detail}`, `recreate the cluster with: synod-ledger init --dir ${dir} --force`))
    )
    const genesis = yield* Either.mapLeft(GenesisFile.decode(text), (detail) => CliError.config(`${files.genesis} is not a valid genesis: ${detail}`))
    return { layout: files, config, genesis, ledger: makeLedger(genesis) }
  })

const publicKeyOf = (cluster: Cluster, peer: PeerId): Uint8Array | undefined => {
  for (const r of cluster.config.replicas) if (replicaPeer(r.id) === peer) return r.publicKey
  for (const c of cluster.config.clients) if (clientPeer(c.id) === peer) return c.publicKey
  return undefined
}

/**
 * Read `peer`'s private key (from `keyPath`, default its file in the cluster
 * directory) and check that it is the key the cluster file names for `peer`.
 */
export const privateKey = (
  cluster: Cluster,
  peer: PeerId,
  keyPath?: string
): Effect.Effect<Keys.PeerKeyPair, CliError.CliError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const file = keyPath ?? cluster.layout.key(peer)
    const pair = yield* Keys.readPrivateKeyFile(file).pipe(
      Effect.mapError((e) =>
        e.reason === "missing"
          ? CliError.config(`no key file for ${peer} at ${file}`)
          : CliError.config(`cannot use the key file ${file}: ${e.reason}: ${e.detail}`)
      )
    )
    const expected = publicKeyOf(cluster, peer)
    if (expected === undefined) return yield* CliError.config(`${peer} is not part of the cluster in ${cluster.layout.dir}`)
    if (pair.peer !== peer) {
      return yield* CliError.config(`wrong key: ${file} holds the key of ${pair.peer}, not ${peer}`)
    }
    if (!Buffer.from(Crypto.rawPublicKey(pair.publicKey)).equals(Buffer.from(expected))) {
      return yield* CliError.config(
        `wrong key: ${file} is not the key of ${peer} in ${cluster.layout.cluster} (is it from another cluster directory?)`
      )
    }
    return pair
  })

/** The replica with this id, or a usage error naming the ids that exist. */
export const replicaEntry = (cluster: Cluster, id: number): Effect.Effect<ClusterConfig.ReplicaEntry, CliError.CliError> => {
  const entry = cluster.config.replicas.find((r) => r.id === id)
  return entry !== undefined
    ? Effect.succeed(entry)
    : Effect.fail(CliError.usage(`there is no replica ${id} in ${cluster.layout.dir}: its replicas are 0..${cluster.config.replicas.length - 1}`))
}

/** A client of the cluster, or a usage error naming the clients that exist. */
export const clientEntry = (cluster: Cluster, name: string): Effect.Effect<ClusterConfig.ClientEntry, CliError.CliError> => {
  const entry = cluster.config.clients.find((c) => c.id === name)
  const known = cluster.config.clients.map((c) => c.id).filter((c) => c !== "minter")
  return entry !== undefined
    ? Effect.succeed(entry)
    : Effect.fail(CliError.usage(`there is no client ${JSON.stringify(name)} in ${cluster.layout.dir}: its clients are ${known.join(", ")}`))
}

// ---------------------------------------------------------------------------
// Creating a cluster directory

export interface InitOptions {
  readonly dir: string
  readonly replicas: number
  /** Client names; each also gets an account of the same name, owned by its key. */
  readonly clients: ReadonlyArray<string>
  /** Genesis balance of each client's account, in minor units. */
  readonly balance: bigint
  readonly host: string
  /** Replica i listens on `ports[i]` when given, else on `basePort + i`. */
  readonly basePort: number
  readonly ports?: ReadonlyArray<number>
  readonly clusterId?: string
  /** Replace a cluster already in `dir` (its keys, databases and client files are deleted). */
  readonly force: boolean
}

export interface Initialized {
  readonly cluster: Cluster
  /** Files written, relative to the directory. */
  readonly written: ReadonlyArray<string>
}

const validateInit = (o: InitOptions): Either.Either<void, CliError.CliError> => {
  if (!Number.isInteger(o.replicas) || o.replicas < 1 || o.replicas > 64) {
    return Either.left(CliError.usage(`--replicas must be a whole number from 1 to 64, got ${o.replicas}`))
  }
  if (o.clients.length === 0) return Either.left(CliError.usage("--clients needs at least one name"))
  for (const name of o.clients) {
    if (!Schema.is(AccountName)(name)) {
      return Either.left(CliError.usage(`client name ${JSON.stringify(name)} is not valid: use 1 to 64 letters, digits, '.', '_' or '-'`))
    }
    if (name === "minter") return Either.left(CliError.usage(`client name "minter" is reserved for the genesis minter`))
  }
  if (new Set(o.clients).size !== o.clients.length) return Either.left(CliError.usage("--clients lists a name twice"))
  if (o.ports !== undefined && o.ports.length !== o.replicas) {
    return Either.left(CliError.usage(`--ports lists ${o.ports.length} ports for ${o.replicas} replicas`))
  }
  return Either.right(undefined)
}

/** Remove what a previous cluster left in `dir`: keys, databases (and their WAL files), client files. */
const clearPrevious = (dir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const entries = yield* fs.readDirectory(dir).pipe(Effect.orElseSucceed(() => [] as Array<string>))
    const stale = entries.filter((e) => /^replica-\d+\.db(-wal|-shm|-journal)?$/.test(e) || e === "clients" || e === "keys")
    yield* Effect.forEach(stale, (e) => fs.remove(path.join(dir, e), { recursive: true }), { discard: true })
  }).pipe(Effect.mapError((e) => CliError.config(`cannot clear the old cluster in ${dir}: ${e.message}`)))

export const init = (o: InitOptions): Effect.Effect<Initialized, CliError.CliError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    yield* validateInit(o)
    const fs = yield* FileSystem.FileSystem
    const files = layout(o.dir)
    const existing = yield* fs.exists(files.cluster).pipe(Effect.orElseSucceed(() => false))
    if (existing && !o.force) {
      return yield* CliError.config(
        `${o.dir} already holds a cluster`,
        `use it as it is, or replace it (deleting its keys and data) with: synod-ledger init --dir ${o.dir} --force`
      )
    }
    if (existing) yield* clearPrevious(o.dir)
    const generated = yield* Either.mapLeft(
      ClusterConfig.generateCluster({
        n: o.replicas,
        clients: o.clients,
        protocol: "pbft",
        basePort: o.basePort,
        host: o.host,
        ...(o.clusterId !== undefined ? { clusterId: o.clusterId } : {})
      }),
      (e) => CliError.usage(`cannot create that cluster: ${e.detail}`)
    )
    const config = o.ports === undefined ? generated.config : {
      ...generated.config,
      replicas: generated.config.replicas.map((r, i) => ({ ...r, address: `ws://${o.host}:${o.ports![i]}` }))
    }
    const checked = yield* Either.mapLeft(ClusterConfig.validate(config), (e) => CliError.usage(`cannot create that cluster: ${e.detail}`))
    const cluster = {
      ...generated,
      config: checked,
      files: generated.files.map((f) => f.path === ClusterConfig.CLUSTER_FILE_NAME ? { ...f, text: ClusterConfig.encode(checked) } : f)
    }
    const minter = Keys.generateKeyPair(MINTER_PEER)
    const genesis: Genesis = {
      minters: [ownerOf(minter.publicKey)],
      accounts: cluster.keys
        .filter((k) => k.peer.startsWith("client/"))
        .map((k) => ({ name: k.peer.slice("client/".length), owner: ownerOf(k.publicKey), balance: o.balance }))
    }
    const unwritable = (e: { readonly message: string }) => CliError.config(`cannot write the cluster to ${o.dir}: ${e.message}`)
    const written = yield* ClusterConfig.writeCluster(o.dir, cluster).pipe(Effect.mapError(unwritable))
    yield* Keys.writePrivateKeyFile(files.minterKey, minter).pipe(Effect.mapError(unwritable))
    yield* Keys.writeTextFile(files.genesis, GenesisFile.encode(genesis), 0o644).pipe(Effect.mapError(unwritable))
    const all = [...written, files.minterKey, files.genesis].map((p) => path.relative(o.dir, p))
    return { cluster: { layout: files, config: checked, genesis, ledger: makeLedger(genesis) }, written: all }
  })
