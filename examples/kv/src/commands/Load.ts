/**
 * `synod-kv load`: closed-loop clients against the cluster for a while; prints
 * throughput and latency, and with `--history` writes every operation in the
 * key-value history format for `npm run check-history`.
 *
 * The clients are spread over the cluster's load client identities
 * (`load-0`, ...), at most `KvClient.MAX_IN_FLIGHT` per identity.
 */
import type { FileSystem } from "@effect/platform"
import { Duration, Effect, Either, type Scope } from "effect"
import * as crypto from "node:crypto"
import * as Args from "../Args.js"
import * as CliError from "../CliError.js"
import * as ClusterDir from "../ClusterDir.js"
import * as HistoryFile from "../HistoryFile.js"
import * as KvClient from "../KvClient.js"
import * as Load from "../Load.js"
import * as LoadMix from "../LoadMix.js"
import { Output } from "../Output.js"
import { Kv } from "@synod/core/testing"

export const spec = {
  dir: Args.text("dir", "cluster directory", ClusterDir.DEFAULT_DIR, "<path>"),
  clients: Args.integer("clients", "closed-loop clients (each has one operation outstanding)", 8, { min: 1, max: ClusterDir.MAX_LOAD_CLIENTS * KvClient.MAX_IN_FLIGHT }),
  duration: Args.seconds("duration", "how long to run", 10, { min: 0.1, max: 86_400 }),
  warmup: Args.seconds("warmup", "seconds at the start whose operations are recorded but not counted", 0, { min: 0, max: 3600 }),
  keys: Args.integer("keys", "number of distinct keys (k0000000 ...)", 16, { min: 1, max: LoadMix.MAX_KEYS }),
  valueBytes: Args.integer("value-bytes", "size of written values", 16, { min: 1, max: Kv.MAX_VALUE_LENGTH }),
  mix: Args.text("mix", "operation weights, or one kind (put)", LoadMix.formatMix(LoadMix.DEFAULT_MIX), "<get=n,put=n,...>"),
  history: Args.optionalText("history", "write every operation to this file (JSON lines, history-format.md)", "<file>"),
  timeout: Args.seconds("timeout", "an operation without an answer after this long is recorded as unknown", 5, { min: 0.1, max: 3600 }),
  seed: Args.optionalInteger("seed", "seed of the operation mix (default: random)", { min: 0, max: 2 ** 31 }),
  json: Args.boolean("json", "print the report as one JSON object")
}

export const summary = "run closed-loop clients, report ops/s and latency, optionally record the history"

const fmt = (ms: number) => (Number.isNaN(ms) ? "-" : ms < 10 ? ms.toFixed(2) : ms.toFixed(1))

/** Wait until every connection reaches a majority of the replicas (dialing takes a moment). */
const awaitConnected = (cluster: ClusterDir.Cluster, clients: ReadonlyArray<KvClient.KvClient>) =>
  Effect.gen(function*() {
    const majority = Math.floor(cluster.config.replicas.length / 2) + 1
    const ready = Effect.forEach(clients, (c) => c.connectedReplicas).pipe(Effect.map((ns) => ns.every((n) => n >= majority)))
    const poll = Effect.gen(function*() {
      while (!(yield* ready)) yield* Effect.sleep(Duration.millis(50))
    })
    const reached = yield* poll.pipe(Effect.timeoutOption(Duration.seconds(10)))
    if (reached._tag === "None") {
      const n = cluster.config.replicas.length
      return yield* CliError.unreachable(
        `cannot reach a majority of the ${n} replicas (${cluster.config.replicas.map((r) => r.address).join(", ")})`,
        `start them with: synod-kv replica --dir ${cluster.layout.dir} --id <0..${n - 1}> (one process each)`
      )
    }
  })

export const run = (flags: Args.Parsed<typeof spec>): Effect.Effect<void, CliError.CliError, FileSystem.FileSystem | Output | Scope.Scope> =>
  Effect.gen(function*() {
    const out = yield* Output
    const mix = yield* Either.mapLeft(LoadMix.parseMix(flags.mix), (e) => CliError.usage(`--mix: ${e}`))
    if (flags.warmup >= flags.duration) return yield* CliError.usage(`--warmup (${flags.warmup} s) must be shorter than --duration (${flags.duration} s)`)
    const cluster = yield* ClusterDir.load(flags.dir)
    const identities = ClusterDir.loadClients(cluster)
    const needed = Math.ceil(flags.clients / KvClient.MAX_IN_FLIGHT)
    if (needed > identities.length) {
      return yield* CliError.config(
        `${flags.clients} clients need ${needed} load client identities (${KvClient.MAX_IN_FLIGHT} each); ${cluster.layout.cluster} has ${identities.length}`,
        `use fewer --clients, or recreate the cluster with: synod-kv init --dir ${flags.dir} --force --load-clients ${needed}`
      )
    }
    const perConnection = Math.ceil(flags.clients / needed)
    const timeoutSeconds = flags.timeout
    const connections = yield* Effect.forEach(identities.slice(0, needed), (name, i) =>
      KvClient.open(cluster, name, { inFlight: perConnection, timeoutSeconds, seed: i }))
    yield* awaitConnected(cluster, connections)
    const history = flags.history === undefined ? undefined : yield* HistoryFile.open(flags.history)
    if (!flags.json) {
      yield* out.out(
        `load: ${flags.clients} clients for ${flags.duration} s on ${cluster.config.replicas.length} replicas ` +
          `(keys ${flags.keys}, values ${flags.valueBytes} B, mix ${LoadMix.formatMix(mix)})`
      )
    }
    const report = yield* Load.run(connections, {
      clients: flags.clients,
      durationSeconds: flags.duration,
      warmupSeconds: flags.warmup,
      keys: flags.keys,
      valueBytes: flags.valueBytes,
      mix,
      seed: flags.seed ?? crypto.randomInt(2 ** 31),
      ...(history !== undefined ? { history } : {}),
      ...(flags.json ? {} : { onSecond: (s: number, ok: number) => out.out(`  ${String(s).padStart(4)} s  ${ok.toLocaleString("en-US")} ops`) })
    })
    if (flags.json) return yield* out.out(JSON.stringify({ ...report, history: flags.history ?? null }))
    yield* out.out(
      `ops      ${report.ok.toLocaleString("en-US")} ok in ${report.seconds.toFixed(1)} s, ` +
        `${report.failed} failed (no effect), ${report.unknown} unknown (timed out)`
    )
    yield* out.out(`rate     ${Math.round(report.opsPerSecond).toLocaleString("en-US")} ops/s`)
    yield* out.out(`latency  p50 ${fmt(report.p50Ms)} ms  p99 ${fmt(report.p99Ms)} ms  max ${fmt(report.maxMs)} ms`)
    for (const k of LoadMix.OP_KINDS) {
      const r = report.byKind[k]
      if (r.ok > 0) yield* out.out(`  ${k.padEnd(7)} ${String(r.ok).padStart(8)} ok  p50 ${fmt(r.p50Ms)} ms  p99 ${fmt(r.p99Ms)} ms`)
    }
    if (flags.history !== undefined) yield* out.out(`history  ${flags.history} (${report.recorded.toLocaleString("en-US")} operations; check it with: npm run check-history -- ${flags.history})`)
  })
