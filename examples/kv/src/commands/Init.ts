/** `synod-kv init`: write a cluster directory (keys and cluster file). */
import type { FileSystem } from "@effect/platform"
import { ClusterConfig } from "@synod/core"
import { Effect, Either } from "effect"
import * as Args from "../Args.js"
import * as CliError from "../CliError.js"
import * as ClusterDir from "../ClusterDir.js"
import { MAX_IN_FLIGHT } from "../KvClient.js"
import { Output } from "../Output.js"

export const spec = {
  dir: Args.text("dir", "cluster directory to create", ClusterDir.DEFAULT_DIR, "<path>"),
  replicas: Args.integer("replicas", "number of replicas (Multi-Paxos tolerates f crashes with n = 2f+1)", 3, { min: 1, max: ClusterDir.MAX_REPLICAS }),
  loadClients: Args.integer("load-clients", `client identities for \`load\` (each carries up to ${MAX_IN_FLIGHT} closed-loop clients)`, 4, {
    min: 0,
    max: ClusterDir.MAX_LOAD_CLIENTS
  }),
  host: Args.text("host", "host the replicas listen on", "127.0.0.1", "<host>"),
  basePort: Args.integer("base-port", "replica i listens on base-port + i", 7100, { min: 1, max: 65535 }),
  ports: Args.optionalText("ports", "explicit replica ports, comma-separated (instead of --base-port)", "<ports>"),
  clusterId: Args.optionalText("cluster-id", "cluster id mixed into every signature (default: random)", "<id>"),
  force: Args.boolean("force", "replace a cluster already in the directory (deletes its keys and data)")
}

export const summary = "create a cluster directory: keys and cluster.json (crash-fault majority, 3 replicas by default)"

const parsePorts = (raw: string | undefined): Either.Either<ReadonlyArray<number> | undefined, CliError.CliError> => {
  if (raw === undefined) return Either.right(undefined)
  const ports: Array<number> = []
  for (const p of raw.split(",").map((p) => p.trim())) {
    const n = Number(p)
    if (!/^[0-9]+$/.test(p) || n < 1 || n > 65535) return Either.left(CliError.usage(`--ports: ${JSON.stringify(p)} is not a port number (1 to 65535)`))
    ports.push(n)
  }
  if (new Set(ports).size !== ports.length) return Either.left(CliError.usage("--ports lists a port twice"))
  return Either.right(ports)
}

export const run = (flags: Args.Parsed<typeof spec>): Effect.Effect<void, CliError.CliError, FileSystem.FileSystem | Output> =>
  Effect.gen(function*() {
    const out = yield* Output
    const ports = yield* parsePorts(flags.ports)
    const { cluster } = yield* ClusterDir.init({
      dir: flags.dir,
      replicas: flags.replicas,
      loadClients: flags.loadClients,
      host: flags.host,
      basePort: flags.basePort,
      ...(ports !== undefined ? { ports } : {}),
      ...(flags.clusterId !== undefined ? { clusterId: flags.clusterId } : {}),
      force: flags.force
    })
    const config = cluster.config
    const f = ClusterConfig.quorumSystem(config).f
    yield* out.out(
      `created a ${config.replicas.length}-replica Multi-Paxos key-value store in ${flags.dir} ` +
        `(tolerates ${f} crashed replica${f === 1 ? "" : "s"}; cluster id ${config.clusterId})`
    )
    yield* out.out(`  cluster.json  replicas ${config.replicas.map((r) => r.address).join(", ")}`)
    yield* out.out(`  keys/         ${config.replicas.length + config.clients.length} private keys (mode 0600): replicas, cli, ${flags.loadClients} load clients`)
    yield* out.out("")
    yield* out.out("next: start each replica (one terminal each):")
    for (const r of config.replicas) yield* out.out(`  synod-kv replica --dir ${flags.dir} --id ${r.id}`)
    yield* out.out("then:")
    yield* out.out(`  synod-kv put --dir ${flags.dir} greeting hello`)
    yield* out.out(`  synod-kv get --dir ${flags.dir} greeting`)
    yield* out.out(`  synod-kv load --dir ${flags.dir} --clients 16 --duration 10 --history history.jsonl`)
  })
