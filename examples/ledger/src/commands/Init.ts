/** `synod-ledger init`: write a cluster directory (keys, cluster file, genesis). */
import type { FileSystem } from "@effect/platform"
import { ClusterConfig } from "@synod/core"
import { Effect, Either } from "effect"
import * as Args from "../Args.js"
import * as CliError from "../CliError.js"
import * as ClusterDir from "../ClusterDir.js"
import { initialSupply } from "../Genesis.js"
import { Output } from "../Terminal.js"

export const spec = {
  dir: Args.text("dir", "cluster directory to create", ClusterDir.DEFAULT_DIR, "<path>"),
  replicas: Args.integer("replicas", "number of replicas (PBFT tolerates f Byzantine with n = 3f+1)", 4, { min: 1, max: 64 }),
  clients: Args.text("clients", "client names, comma-separated; each owns an account of the same name", "alice,bob,carol,dave", "<names>"),
  balance: {
    name: "balance",
    help: "genesis balance of each client's account, in units (default: 1000)",
    valueName: "<units>",
    parse: (raw: string | undefined) => (raw === undefined ? Either.right(1000n) : raw === "0" ? Either.right(0n) : Either.mapLeft(Args.parseAmount(raw), (e) => `--balance: ${e}`))
  } satisfies Args.Flag<bigint>,
  host: Args.text("host", "host the replicas listen on", "127.0.0.1", "<host>"),
  basePort: Args.integer("base-port", "replica i listens on base-port + i", 7000, { min: 1, max: 65535 }),
  ports: Args.optionalText("ports", "explicit replica ports, comma-separated (instead of --base-port)", "<ports>"),
  clusterId: Args.optionalText("cluster-id", "cluster id mixed into every signature (default: random)", "<id>"),
  force: Args.boolean("force", "replace a cluster already in the directory (deletes its keys and data)")
}

export const summary = "create a cluster directory: keys, cluster.json, genesis.json"

const parsePorts = (raw: string | undefined): Either.Either<ReadonlyArray<number> | undefined, CliError.CliError> => {
  if (raw === undefined) return Either.right(undefined)
  const parts = raw.split(",").map((p) => p.trim())
  const ports: Array<number> = []
  for (const p of parts) {
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
    const s = out.style
    const ports = yield* parsePorts(flags.ports)
    const clients = flags.clients.split(",").map((c) => c.trim()).filter((c) => c !== "")
    const { cluster, written } = yield* ClusterDir.init({
      dir: flags.dir,
      replicas: flags.replicas,
      clients,
      balance: flags.balance,
      host: flags.host,
      basePort: flags.basePort,
      ...(ports !== undefined ? { ports } : {}),
      ...(flags.clusterId !== undefined ? { clusterId: flags.clusterId } : {}),
      force: flags.force
    })
    const config = cluster.config
    const f = ClusterConfig.quorumSystem(config).f
    const addresses = config.replicas.map((r) => r.address)
    yield* out.out(`${s.green("created")} a ${config.replicas.length}-replica PBFT ledger in ${s.bold(flags.dir)} ` +
      `(tolerates ${f} Byzantine replica${f === 1 ? "" : "s"}; cluster id ${config.clusterId})`)
    yield* out.out(`  cluster.json  replicas ${addresses.join(", ")}`)
    yield* out.out(`  genesis.json  ${clients.join(", ")} start with ${flags.balance} units each (supply ${initialSupply(cluster.genesis)})`)
    yield* out.out(`  keys/         ${written.filter((w) => w.startsWith("keys")).length} private keys (mode 0600): replicas, clients, minter`)
    yield* out.out("")
    yield* out.out(s.bold("next:"))
    yield* out.out(`  start each replica (one terminal each; add --byzantine equivocate to one of them to watch PBFT cope):`)
    for (const r of config.replicas) yield* out.out(`    npx synod-ledger replica --dir ${flags.dir} --id ${r.id}`)
    const [a, b] = [clients[0]!, clients[1] ?? clients[0]!]
    yield* out.out(`  then move money and check it:`)
    yield* out.out(`    npx synod-ledger transfer --dir ${flags.dir} --from ${a} --to ${b} --amount 10`)
    yield* out.out(`    npx synod-ledger balance --dir ${flags.dir} ${b}`)
    yield* out.out(`    npx synod-ledger audit --dir ${flags.dir}`)
  })
