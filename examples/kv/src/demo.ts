/**
 * `npm run demo`: the key-value store on three replica processes of this
 * machine, under load, losing its leader.
 *
 *   1. a fresh cluster directory (temporary) and three `synod-kv replica` processes;
 *   2. closed-loop clients (8 by default) for `--duration` seconds, with a history;
 *   3. a third of the way in, the leader is killed (SIGKILL); the others elect a
 *      new one and the load continues; the old leader restarts from its database
 *      and catches up;
 *   4. at the end: the replicas' state digests are compared and the history is
 *      checked for linearizability.
 *
 *   npm run demo -- [--duration 15] [--clients 8] [--keep]
 *
 * `--keep` leaves the cluster directory (logs, databases, history.jsonl) in place.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { Cause, Duration, Effect, Either, Exit, Fiber } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Args from "./Args.js"
import * as CliError from "./CliError.js"
import * as HistoryFile from "./HistoryFile.js"
import { History, Linearizability } from "@synod/core/testing"
import * as KvClient from "./KvClient.js"
import * as Load from "./Load.js"
import * as LoadMix from "./LoadMix.js"
import * as LocalCluster from "./LocalCluster.js"

const spec = {
  duration: Args.seconds("duration", "how long the load runs", 15, { min: 6, max: 600 }),
  clients: Args.integer("clients", "closed-loop clients", 8, { min: 1, max: 64 }),
  keep: Args.boolean("keep", "keep the cluster directory afterwards")
}

const say = (line: string) => Effect.sync(() => console.log(line))

/** Runs the cluster and the load in the scope; the cluster directory stays (the caller removes it). */
const demo = (flags: Args.Parsed<typeof spec>) =>
  Effect.gen(function*() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "synod-kv-demo-"))
    const lc = yield* LocalCluster.make({ dir, replicas: 3 })
    yield* say(`cluster in ${dir}: replicas at ${lc.cluster.config.replicas.map((r) => r.address).join(", ")}`)
    yield* Effect.forEach([0, 1, 2], lc.start, { concurrency: "unbounded", discard: true })
    const leader = yield* lc.awaitLeader()
    yield* say(`three replica processes are up; replica ${leader} leads`)

    const needed = Math.ceil(flags.clients / KvClient.MAX_IN_FLIGHT)
    const clients = yield* Effect.forEach(Array.from({ length: needed }, (_, i) => `load-${i}`), (name, i) =>
      KvClient.open(lc.cluster, name, { inFlight: Math.ceil(flags.clients / needed), timeoutSeconds: 8, seed: i }))
    const historyPath = path.join(dir, "history.jsonl")
    const history = yield* HistoryFile.open(historyPath)
    yield* say(`${flags.clients} clients: get, put, delete and compare-and-set on 8 keys for ${flags.duration} s`)
    const load = yield* Load.run(clients, {
      clients: flags.clients,
      durationSeconds: flags.duration,
      keys: 8,
      valueBytes: 16,
      mix: LoadMix.DEFAULT_MIX,
      seed: 1,
      history,
      onSecond: (s, ok) => say(`  ${String(s).padStart(3)} s  ${String(ok).padStart(6)} ops`)
    }).pipe(Effect.fork)

    yield* Effect.sleep(Duration.seconds(flags.duration / 3))
    const victim = yield* lc.awaitLeader()
    yield* lc.kill(victim)
    yield* say(`  ** killed the leader, replica ${victim} (SIGKILL)`)
    const successor = yield* lc.awaitLeader()
    yield* say(`  ** replica ${successor} now leads`)
    yield* lc.start(victim)
    yield* say(`  ** replica ${victim} restarted from ${lc.cluster.layout.database(victim)}`)

    const report = yield* Fiber.join(load)
    yield* say(`${report.ok} operations completed (${Math.round(report.opsPerSecond)} ops/s), ${report.failed} refused, ${report.unknown} with unknown outcome`)
    yield* say(`latency p50 ${report.p50Ms.toFixed(1)} ms, p99 ${report.p99Ms.toFixed(1)} ms`)

    const statuses = yield* lc.awaitConverged(Duration.seconds(30))
    yield* say(`replicas agree: applied slot ${statuses[0]!.appliedIndex}, state digest ${statuses[0]!.stateDigest.slice(0, 16)}… on all three`)
    return historyPath
  })

/** The demo, then (its processes stopped) the linearizability check of its history. */
const main = Effect.gen(function*() {
  const parsed = Args.parse("demo", spec, process.argv.slice(2))
  if (Either.isLeft(parsed)) return yield* parsed.left
  const flags = parsed.right.flags
  const historyPath = yield* Effect.scoped(demo({ ...flags, keep: true })).pipe(
    Effect.mapError((e) => (e instanceof CliError.CliError ? e : CliError.internal(e.message)))
  )
  const dir = path.dirname(historyPath)
  const ops = History.parseHistory(fs.readFileSync(historyPath, "utf8"))
  if (!flags.keep) fs.rmSync(dir, { recursive: true, force: true })
  if (Either.isLeft(ops)) return yield* CliError.internal(`the history does not parse: ${ops.left.message}`)
  const verdict = Linearizability.checkHistory(ops.right)
  if (verdict._tag === "NotLinearizable") return yield* CliError.internal(`NOT linearizable: ${Linearizability.formatCheckResult(verdict)}`)
  yield* say(
    verdict._tag === "Linearizable"
      ? `the history of ${ops.right.length} operations is linearizable${flags.keep ? ` (${historyPath})` : ""}`
      : `the linearizability check was inconclusive on key ${verdict.key} (search budget spent)`
  )
})
// Ctrl-C interrupts the demo, whose scope stops every replica process it started
const fiber = Effect.runFork(main.pipe(Effect.provide(NodeFileSystem.layer)))
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => fiber.unsafeInterruptAsFork(fiber.id()))
fiber.addObserver((exit) => {
  if (exit._tag === "Success") process.exit(0)
  if (Exit.isInterrupted(exit)) process.exit(130)
  const e = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  console.error(`demo failed: ${e instanceof CliError.CliError ? e.detail : Cause.pretty(exit.cause)}`)
  process.exit(e instanceof CliError.CliError ? e.exitCode : 1)
})
