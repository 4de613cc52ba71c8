/**
 * The demo's replica processes: `synod-ledger replica` children, started
 * with `--status-port 0` so each picks a free status port and announces it
 * on its `ready:` line. Output goes to `<dir>/replica-<i>.log`. Every process
 * started here is stopped when the scope closes (SIGTERM, then SIGKILL after
 * a grace period), also when the demo fails or is interrupted.
 */
import { Deferred, Duration, Effect, Exit, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Strategy } from "../Byzantine.js"
import type { Launcher } from "./Launch.js"

/** How long a replica may take to print `ready:` (module loading under load is slow). */
export const READY_TIMEOUT = Duration.seconds(90)
const STOP_GRACE_MS = 3000

export interface ReplicaSpec {
  /** Node arguments that run synod-ledger (see Launch.ts). */
  readonly launcher: Launcher
  readonly dir: string
  readonly id: number
  readonly byzantine: Strategy | undefined
  readonly checkpointInterval: number
}

export interface RunningReplica {
  readonly id: number
  readonly pid: number
  /** e.g. http://127.0.0.1:41234 */
  readonly statusUrl: string
  readonly exited: Effect.Effect<number | null>
}

export class ReplicaStartFailed extends Error {}

const argsOf = (spec: ReplicaSpec): Array<string> => [
  ...spec.launcher.nodeArgs,
  "replica",
  "--dir",
  spec.dir,
  "--id",
  String(spec.id),
  "--status-port",
  "0",
  "--progress",
  "0",
  "--checkpoint-interval",
  String(spec.checkpointInterval),
  ...(spec.byzantine !== undefined ? ["--byzantine", spec.byzantine] : [])
]

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

/**
 * Start one replica process in `scope` and wait for its `ready:` line. The
 * process stays tied to the scope; `kill` (crash) can end it earlier.
 */
export const start = (spec: ReplicaSpec): Effect.Effect<RunningReplica & { readonly kill: Effect.Effect<void> }, ReplicaStartFailed, Scope.Scope> =>
  Effect.gen(function*() {
    const logFile = path.join(spec.dir, `replica-${spec.id}.log`)
    const log = fs.createWriteStream(logFile, { flags: "a" })
    const child = yield* Effect.acquireRelease(
      Effect.sync(() => spawn(process.execPath, argsOf(spec), { stdio: ["ignore", "pipe", "pipe"] })),
      (c) => Effect.zipRight(stop(c), Effect.sync(() => log.end()))
    )
    const ready = yield* Deferred.make<string, ReplicaStartFailed>()
    const exited = yield* Deferred.make<number | null>()
    let buffered = ""
    child.stdout!.on("data", (chunk: Buffer) => {
      log.write(chunk)
      buffered += chunk.toString("utf8")
      const match = /ready: .*status (http:\/\/[^\s/]+)\/status/.exec(buffered)
      if (match !== null) Deferred.unsafeDone(ready, Exit.succeed(match[1]!))
      if (buffered.length > 64 * 1024) buffered = buffered.slice(-4096)
    })
    child.stderr!.on("data", (chunk: Buffer) => log.write(chunk))
    child.once("error", (e) => Deferred.unsafeDone(ready, Exit.fail(new ReplicaStartFailed(`replica ${spec.id}: ${e.message}`))))
    child.once("exit", (code) => {
      Deferred.unsafeDone(exited, Exit.succeed(code))
      Deferred.unsafeDone(ready, Exit.fail(new ReplicaStartFailed(`replica ${spec.id} exited with code ${code} before it was ready (see ${logFile})`)))
    })
    const statusUrl = yield* Deferred.await(ready).pipe(
      Effect.timeoutFail({
        duration: READY_TIMEOUT,
        onTimeout: () => new ReplicaStartFailed(`replica ${spec.id} was not ready after ${Duration.format(READY_TIMEOUT)} (see ${logFile})`)
      })
    )
    return {
      id: spec.id,
      pid: child.pid!,
      statusUrl,
      exited: Deferred.await(exited),
      kill: Effect.zipRight(Effect.sync(() => child.kill("SIGKILL")), Deferred.await(exited)).pipe(Effect.asVoid)
    }
  })
