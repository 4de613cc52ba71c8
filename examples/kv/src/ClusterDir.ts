/**
 * The cluster directory `synod-kv init` writes and every other command reads:
 *
 *   <dir>/cluster.json                 replicas (addresses, public keys), clients, trust model (@synod/core format)
 *   <dir>/keys/replica-<i>.key.json    each replica's private key (mode 0600)
 *   <dir>/keys/client-<name>.key.json  each client's private key: `cli` for one-off commands,
 *                                      `load-0`, `load-1`, ... for the load generator
 *   <dir>/replica-<i>.db               replica i's durable Paxos state (SQLite, created by `replica`)
 *   <dir>/clients/<name>.session       the request numbers a client has used (see ClientSession.ts)
 *
 * Loading turns every problem into a `CliError` that names the file and says
 * how to fix it.
 */
import { FileSystem } from "@effect/platform"
import { ClusterConfig, Keys, type PeerId } from "@synod/core"
import { Effect, Either } from "effect"
import * as path from "node:path"
import * as CliError from "./CliError.js"

export const DEFAULT_DIR = "kv-cluster"
/** The client identity of one-off commands (get, put, delete, cas). */
export const CLI_CLIENT = "cli"
/** Load client identities are `load-<i>`. */
export const LOAD_CLIENT_PREFIX = "load-"
export const MAX_REPLICAS = 15
export const MAX_LOAD_CLIENTS = 64

export interface Layout {
  readonly dir: string
  readonly cluster: string
  readonly keys: string
  key(peer: PeerId): string
  database(replica: number): string
  readonly clients: string
  session(client: string): string
}

export const layout = (dir: string): Layout => ({
  dir,
  cluster: path.join(dir, ClusterConfig.CLUSTER_FILE_NAME),
  keys: path.join(dir, ClusterConfig.KEYS_DIR),
  key: (peer) => path.join(dir, ClusterConfig.KEYS_DIR, Keys.keyFileName(peer)),
  database: (replica) => path.join(dir, `replica-${replica}.db`),
  clients: path.join(dir, "clients"),
  session: (client) => path.join(dir, "clients", `${client}.session`)
})

export interface Cluster {
  readonly layout: Layout
  readonly config: ClusterConfig.ClusterConfig
}

const initHint = (dir: string) => `create one with: synod-kv init --dir ${dir}`

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
      Effect.mapError((e) =>
        CliError.config(`cannot use ${files.cluster}: ${e.reason}: ${e.detail}`, `recreate the cluster with: synod-kv init --dir ${dir} --force`)
      )
    )
    if (config.protocol !== "paxos") {
      return yield* CliError.config(`${files.cluster} is a ${config.protocol} cluster; the key-value store runs on paxos`, initHint(dir))
    }
    return { layout: files, config }
  })

/**
 * Read `peer`'s private key from the cluster directory and check that it is
 * the key the cluster file names for `peer`.
 */
export const privateKey = (cluster: Cluster, peer: PeerId): Effect.Effect<Keys.PeerKeyPair, CliError.CliError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const file = cluster.layout.key(peer)
    const pair = yield* Keys.readPrivateKeyFile(file).pipe(
      Effect.mapError((e) =>
        e.reason === "missing"
          ? CliError.config(`no key file for ${peer} at ${file}`)
          : CliError.config(`cannot use the key file ${file}: ${e.reason}: ${e.detail}`)
      )
    )
    const listed = ClusterConfig.principals(cluster.config).find((p) => p.peer === peer)
    if (listed === undefined) return yield* CliError.config(`${peer} is not part of the cluster in ${cluster.layout.dir}`)
    if (pair.peer !== peer) return yield* CliError.config(`wrong key: ${file} holds the key of ${pair.peer}, not ${peer}`)
    if (!listed.publicKey.equals(pair.publicKey)) {
      return yield* CliError.config(`wrong key: ${file} is not the key of ${peer} in ${cluster.layout.cluster} (is it from another cluster directory?)`)
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

/** The load client identities of the cluster, in order. */
export const loadClients = (cluster: Cluster): ReadonlyArray<string> =>
  cluster.config.clients
    .map((c) => c.id as string)
    .filter((c) => c.startsWith(LOAD_CLIENT_PREFIX))
    .sort((a, b) => Number(a.slice(LOAD_CLIENT_PREFIX.length)) - Number(b.slice(LOAD_CLIENT_PREFIX.length)))

/** Fail unless `name` is a client of the cluster. */
export const requireClient = (cluster: Cluster, name: string): Effect.Effect<void, CliError.CliError> =>
  cluster.config.clients.some((c) => c.id === name)
    ? Effect.void
    : Effect.fail(
      CliError.config(
        `${cluster.layout.cluster} has no client ${JSON.stringify(name)} (it has ${cluster.config.clients.map((c) => c.id).join(", ") || "none"})`,
        `recreate the cluster with: synod-kv init --dir ${cluster.layout.dir} --force`
      )
    )

// ---------------------------------------------------------------------------
// Creating a cluster directory

export interface InitOptions {
  readonly dir: string
  readonly replicas: number
  /** Load client identities to create (`load-0` ...). */
  readonly loadClients: number
  readonly host: string
  /** Replica i listens on `ports[i]` when given, else on `basePort + i`. */
  readonly basePort: number
  readonly ports?: ReadonlyArray<number>
  readonly clusterId?: string
  /** Replace a cluster already in `dir` (its keys, databases and client sessions are deleted). */
  readonly force: boolean
}

const validateInit = (o: InitOptions): Either.Either<void, CliError.CliError> => {
  if (!Number.isInteger(o.replicas) || o.replicas < 1 || o.replicas > MAX_REPLICAS) {
    return Either.left(CliError.usage(`--replicas must be a whole number from 1 to ${MAX_REPLICAS}, got ${o.replicas}`))
  }
  if (!Number.isInteger(o.loadClients) || o.loadClients < 0 || o.loadClients > MAX_LOAD_CLIENTS) {
    return Either.left(CliError.usage(`--load-clients must be a whole number from 0 to ${MAX_LOAD_CLIENTS}, got ${o.loadClients}`))
  }
  if (o.ports !== undefined && o.ports.length !== o.replicas) {
    return Either.left(CliError.usage(`--ports lists ${o.ports.length} ports for ${o.replicas} replicas`))
  }
  return Either.right(undefined)
}

/** Remove what a previous cluster left in `dir`: keys, databases (and their WAL files), client sessions. */
const clearPrevious = (dir: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const entries = yield* fs.readDirectory(dir).pipe(Effect.orElseSucceed(() => [] as Array<string>))
    const stale = entries.filter((e) => /^replica-\d+\.(db(-wal|-shm|-journal)?|log)$/.test(e) || e === "clients" || e === "keys")
    yield* Effect.forEach(stale, (e) => fs.remove(path.join(dir, e), { recursive: true }), { discard: true })
  }).pipe(Effect.mapError((e) => CliError.config(`cannot clear the old cluster in ${dir}: ${e.message}`)))

export const init = (o: InitOptions): Effect.Effect<{ readonly cluster: Cluster; readonly written: ReadonlyArray<string> }, CliError.CliError, FileSystem.FileSystem> =>
  Effect.gen(function*() {
    yield* validateInit(o)
    const fs = yield* FileSystem.FileSystem
    const files = layout(o.dir)
    const existing = yield* fs.exists(files.cluster).pipe(Effect.orElseSucceed(() => false))
    if (existing && !o.force) {
      return yield* CliError.config(
        `${o.dir} already holds a cluster`,
        `use it as it is, or replace it (deleting its keys and data) with: synod-kv init --dir ${o.dir} --force`
      )
    }
    if (existing) yield* clearPrevious(o.dir)
    const clients = [CLI_CLIENT, ...Array.from({ length: o.loadClients }, (_, i) => `${LOAD_CLIENT_PREFIX}${i}`)]
    const generated = yield* Either.mapLeft(
      ClusterConfig.generateCluster({
        n: o.replicas,
        clients,
        protocol: "paxos",
        trust: { kind: "crash" },
        basePort: o.basePort,
        host: o.host,
        ...(o.clusterId !== undefined ? { clusterId: o.clusterId } : {})
      }),
      (e) => CliError.usage(`cannot create that cluster: ${e.detail}`)
    )
    const bracketed = o.host.includes(":") ? `[${o.host}]` : o.host
    const config = o.ports === undefined ? generated.config : {
      ...generated.config,
      replicas: generated.config.replicas.map((r, i) => ({ ...r, address: `ws://${bracketed}:${o.ports![i]}` }))
    }
    const checked = yield* Either.mapLeft(ClusterConfig.validate(config), (e) => CliError.usage(`cannot create that cluster: ${e.detail}`))
    const cluster = {
      ...generated,
      config: checked,
      files: generated.files.map((f) => (f.path === ClusterConfig.CLUSTER_FILE_NAME ? { ...f, text: ClusterConfig.encode(checked) } : f))
    }
    const written = yield* ClusterConfig.writeCluster(o.dir, cluster).pipe(
      Effect.mapError((e) => CliError.config(`cannot write the cluster to ${o.dir}: ${e.detail}`))
    )
    return { cluster: { layout: files, config: checked }, written: written.map((p) => path.relative(o.dir, p)) }
  })
