/**
 * What the client commands share: load the cluster, check the client's key,
 * reserve request numbers, connect, and give up with a clear `unreachable`
 * error when no certified answer arrives within the timeout.
 */
import type { FileSystem } from "@effect/platform"
import { ClusterConfig, clientPeer } from "@synod/core"
import { Duration, Effect, Option } from "effect"
import * as Args from "../Args.js"
import * as CliError from "../CliError.js"
import * as ClusterDir from "../ClusterDir.js"
import { connect, type LedgerClient, reserveSeqs } from "../LedgerClient.js"

export const commonFlags = {
  dir: Args.text("dir", "cluster directory", ClusterDir.DEFAULT_DIR, "<path>"),
  key: Args.optionalText("key", "the client's private key file (default: its file in <dir>/keys)", "<file>"),
  timeout: Args.seconds("timeout", "give up when the cluster has not answered after this long", 10, { min: 0.1, max: 3600 })
}

export interface SessionOptions {
  readonly dir: string
  /** The client that signs and asks, by name or chosen once the cluster is loaded. */
  readonly client: string | ((cluster: ClusterDir.Cluster) => string)
  readonly key: string | undefined
  readonly timeoutSeconds: number
}

/** Why no answer came: what the client could see of the cluster when it gave up. */
export const unreachableError = (cluster: ClusterDir.Cluster, connected: number, seconds: number): CliError.CliError => {
  const trust = ClusterConfig.quorumSystem(cluster.config)
  const n = cluster.config.replicas.length
  const quorum = 2 * trust.f + 1
  const dir = cluster.layout.dir
  const start = `start them with: synod-ledger replica --dir ${dir} --id <${n === 1 ? "0" : `0..${n - 1}`}> (one process each)`
  if (connected === 0) {
    return CliError.unreachable(
      `no answer from the cluster within ${seconds} s: none of its ${n} replicas accepts connections (${cluster.config.replicas.map((r) => r.address).join(", ")})`,
      start
    )
  }
  if (connected < quorum) {
    return CliError.unreachable(
      `no answer from the cluster within ${seconds} s: only ${connected} of ${n} replicas are reachable, and ordering a request needs ${quorum}`,
      start
    )
  }
  return CliError.unreachable(
    `no answer from the cluster within ${seconds} s although ${connected} of ${n} replicas are connected (they may be changing views)`,
    "try again, or give it longer with --timeout"
  )
}

export const withClient = <A, R>(
  o: SessionOptions,
  use: (client: LedgerClient, cluster: ClusterDir.Cluster) => Effect.Effect<A, CliError.CliError, R>
): Effect.Effect<A, CliError.CliError, FileSystem.FileSystem | R> =>
  Effect.scoped(Effect.gen(function*() {
    const cluster = yield* ClusterDir.load(o.dir)
    const name = typeof o.client === "string" ? o.client : o.client(cluster)
    yield* ClusterDir.clientEntry(cluster, name)
    const pair = yield* ClusterDir.privateKey(cluster, clientPeer(name), o.key)
    const firstSeq = yield* reserveSeqs(cluster, name, Date.now())
    const client = yield* connect({ cluster, name, key: pair, firstSeq })
    const answered = yield* use(client, cluster).pipe(Effect.timeoutOption(Duration.seconds(o.timeoutSeconds)))
    if (Option.isSome(answered)) return answered.value
    const connected = yield* client.connectedReplicas
    return yield* unreachableError(cluster, connected, o.timeoutSeconds)
  }))
