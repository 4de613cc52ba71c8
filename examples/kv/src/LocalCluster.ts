/**
 * A whole cluster on this machine: a fresh cluster directory on free ports of
 * 127.0.0.1 and one `synod-kv replica` process per replica, each with a status
 * server on a free port. The test, the demo and the benchmarks use it.
 *
 * Each replica's output goes to `<dir>/replica-<i>.log`. Every process
 * started here is stopped when the scope closes (SIGTERM, then SIGKILL after
 * a grace period), also when the caller fails or is interrupted; `kill`
 * crashes one (SIGKILL) and `start` brings it back on the same database.
 */
import type { FileSystem } from "@effect/platform"
import { Data, Deferred, Duration, Effect, Exit, Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as ClusterDir from "./ClusterDir.js"
import type { KvReplicaStatus } from "./StatusServer.js"

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url))
/** Replicas run from the package directory, so `--import tsx` resolves to the workspace's tsx. */
const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url))
/** How long a replica may take to print `ready:` (module loading on a busy machine is slow). */
export const READY_TIMEOUT = Duration.seconds(90)
const STOP_GRACE_MS = 3000

export class LocalClusterError extends Data.TaggedError("LocalClusterError")<{ readonly detail: string }> {
  override get message() {
    return this.detail
  }
}

const fail = (detail: string) => new LocalClusterError({ detail })

/** `count` distinct ports that were free a moment ago (all bound together, then released). */
export const freePorts = (count: number): Effect.Effect<ReadonlyArray<number>, LocalClusterError> =>
  Effect.async((resume) => {
    const servers = Array.from({ length: count }, () => net.createServer())
    const ports: Array<number> = []
    let done = false
    const finish = (result: Effect.Effect<ReadonlyArray<number>, LocalClusterError>) => {
      if (done) return
      done = true
      let open = servers.length
      for (const s of servers) s.close(() => --open === 0 && resume(result))
      if (servers.length === 0) resume(result)
    }
    for (const server of servers) {
      server.once("error", (e) => finish(Effect.fail(fail(`cannot find a free port: ${e.message}`))))
      server.listen(0, "127.0.0.1", () => {
        ports.push((server.address() as net.AddressInfo).port)
        if (ports.length === count) finish(Effect.succeed(ports))
      })
    }
  })

export interface LocalReplica {
  readonly id: number
  readonly pid: number
  /** e.g. http://127.0.0.1:41234 */
  readonly statusUrl: string
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Effect.Effect<number | null>
}

export interface LocalCluster {
  readonly dir: string
  readonly cluster: ClusterDir.Cluster
  /** The running replica processes (undefined: not running). */
  readonly replicas: ReadonlyArray<LocalReplica | undefined>
  /** Start replica `id` (again) and wait for its `ready:` line. */
  start(id: number): Effect.Effect<LocalReplica, LocalClusterError>
  /** Crash replica `id` (SIGKILL) and wait until it is gone. */
  kill(id: number): Effect.Effect<void>
  /** `/status` of a running replica. */
  status(id: number): Effect.Effect<KvReplicaStatus, LocalClusterError>
  /** Wait until every running replica names the same leader, which says it leads; its id. */
  awaitLeader(timeout?: Duration.DurationInput): Effect.Effect<number, LocalClusterError>
  /**
   * Wait until every running replica has applied the same slots with the same
   * state digest; their statuses. Fails after `timeout` with what they report.
   */
  awaitConverged(timeout?: Duration.DurationInput): Effect.Effect<ReadonlyArray<KvReplicaStatus>, LocalClusterError>
}

export interface LocalClusterOptions {
  /** Directory for the cluster (created; default a fresh temporary one, removed afterwards). */
  readonly dir?: string
  readonly replicas?: number
  readonly loadClients?: number
  /** Extra `synod-kv replica` flags, e.g. ["--max-batch", "128"]. */
  readonly replicaArgs?: ReadonlyArray<string>
}

/** Our environment without a test runner's markers: a replica process is a plain Node program. */
const childEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("VITEST") && k !== "NODE_OPTIONS") env[k] = v
  return env
}

const stop = (child: ChildProcess): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS)
    child.once("exit", () => {
      clearTimeout(timer)
      resume(Effect.void)
    })
    child.kill("SIGTERM")
  })

const fetchStatus = (replica: LocalReplica): Effect.Effect<KvReplicaStatus, LocalClusterError> =>
  Effect.tryPromise({
    try: async (signal) => {
      const res = await fetch(`${replica.statusUrl}/status`, { signal: AbortSignal.any([signal, AbortSignal.timeout(5000)]) })
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
      return (await res.json()) as KvReplicaStatus
    },
    catch: (e) => fail(`replica ${replica.id}: cannot read ${replica.statusUrl}/status: ${(e as Error).message}`)
  })

export const make = (options: LocalClusterOptions = {}): Effect.Effect<LocalCluster, LocalClusterError, Scope.Scope | FileSystem.FileSystem> =>
  Effect.gen(function*() {
    const n = options.replicas ?? 3
    const dir = options.dir !== undefined ? path.resolve(options.dir) : (yield* Effect.acquireRelease(
      Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "synod-kv-"))),
      (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
    ))
    const ports = yield* freePorts(n)
    const { cluster } = yield* ClusterDir.init({
      dir,
      replicas: n,
      loadClients: options.loadClients ?? 4,
      host: "127.0.0.1",
      basePort: 1,
      ports,
      force: true
    }).pipe(Effect.mapError((e) => fail(e.detail)))
    const scope = yield* Effect.scope
    const replicas: Array<LocalReplica | undefined> = Array.from({ length: n }, () => undefined)
    const children: Array<ChildProcess | undefined> = Array.from({ length: n }, () => undefined)

    const start = (id: number): Effect.Effect<LocalReplica, LocalClusterError> =>
      Effect.gen(function*() {
        if (replicas[id] !== undefined) return yield* fail(`replica ${id} is already running`)
        const logFile = path.join(dir, `replica-${id}.log`)
        const log = fs.createWriteStream(logFile, { flags: "a" })
        const args = ["--conditions=source", "--import", "tsx", MAIN, "replica", "--dir", dir, "--id", String(id), "--status-port", "0", ...(options.replicaArgs ?? [])]
        const child = yield* Effect.acquireRelease(
          Effect.sync(() => spawn(process.execPath, args, { cwd: PACKAGE_DIR, stdio: ["ignore", "pipe", "pipe"], env: childEnv() })),
          (c) => Effect.zipRight(stop(c), Effect.sync(() => log.end()))
        ).pipe(Effect.provideService(Scope.Scope, scope))
        const ready = yield* Deferred.make<string, LocalClusterError>()
        const exited = yield* Deferred.make<number | null>()
        let buffered = ""
        // the last output, for errors (the log file goes away with a temporary directory)
        let tail = ""
        const keep = (chunk: Buffer) => {
          log.write(chunk)
          tail = (tail + chunk.toString("utf8")).slice(-4000)
        }
        child.stdout!.on("data", (chunk: Buffer) => {
          keep(chunk)
          buffered += chunk.toString("utf8")
          const match = /ready: .*status (http:\/\/[^\s/]+)\/status/.exec(buffered)
          if (match !== null) Deferred.unsafeDone(ready, Exit.succeed(match[1]!))
          if (buffered.length > 64 * 1024) buffered = buffered.slice(-4096)
        })
        child.stderr!.on("data", keep)
        child.once("error", (e) => Deferred.unsafeDone(ready, Exit.fail(fail(`replica ${id}: ${e.message}`))))
        child.once("exit", (code) => {
          Deferred.unsafeDone(exited, Exit.succeed(code))
          Deferred.unsafeDone(ready, Exit.fail(fail(`replica ${id} exited with code ${code} before it was ready:\n${tail}`)))
          if (children[id] === child) {
            children[id] = undefined
            replicas[id] = undefined
          }
        })
        children[id] = child
        const statusUrl = yield* Deferred.await(ready).pipe(
          Effect.timeoutFail({
            duration: READY_TIMEOUT,
            onTimeout: () => fail(`replica ${id} was not ready after ${Duration.format(READY_TIMEOUT)} (see ${logFile})`)
          })
        )
        const replica: LocalReplica = { id, pid: child.pid!, statusUrl, exited: Deferred.await(exited) }
        replicas[id] = replica
        return replica
      })

    const kill = (id: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        const child = children[id]
        const replica = replicas[id]
        if (child === undefined || replica === undefined) return Effect.void
        return Effect.zipRight(Effect.sync(() => child.kill("SIGKILL")), replica.exited)
      })

    const status = (id: number) => {
      const replica = replicas[id]
      return replica === undefined ? Effect.fail(fail(`replica ${id} is not running`)) : fetchStatus(replica)
    }
    const running = () => replicas.filter((r): r is LocalReplica => r !== undefined)
    const statuses = Effect.suspend(() => Effect.forEach(running(), fetchStatus))

    const poll = <A>(what: string, timeout: Duration.DurationInput, check: (s: ReadonlyArray<KvReplicaStatus>) => A | undefined) =>
      Effect.gen(function*() {
        let last: ReadonlyArray<KvReplicaStatus> = []
        const attempt = Effect.gen(function*() {
          for (;;) {
            last = yield* statuses.pipe(Effect.orElseSucceed(() => [] as ReadonlyArray<KvReplicaStatus>))
            const found = last.length > 0 ? check(last) : undefined
            if (found !== undefined) return found
            yield* Effect.sleep(Duration.millis(100))
          }
        })
        const result = yield* attempt.pipe(Effect.timeoutOption(timeout))
        if (result._tag === "Some") return result.value
        const seen = last.map((s) => `replica ${s.replica}: ${s.role}, leader ${s.leader}, applied ${s.appliedIndex}, digest ${s.stateDigest.slice(0, 12)}`)
        return yield* fail(`${what} within ${Duration.format(Duration.decode(timeout))}; last seen: ${seen.join("; ") || "no status"}`)
      })

    return {
      dir,
      cluster,
      replicas,
      start,
      kill,
      status,
      awaitLeader: (timeout = Duration.seconds(30)) =>
        poll("no agreed leader", timeout, (s) => {
          const leader = s[0]!.leader
          const agreed = leader !== null && s.every((x) => x.leader === leader) && s.some((x) => x.replica === leader && x.role === "leader")
          return agreed ? leader : undefined
        }),
      awaitConverged: (timeout = Duration.seconds(30)) =>
        poll("the replicas did not converge", timeout, (s) => {
          const first = s[0]!
          return s.every((x) => x.appliedIndex === first.appliedIndex && x.stateDigest === first.stateDigest) ? s : undefined
        })
    } satisfies LocalCluster
  })
