/**
 * Child processes of a bench suite, tied to a `Scope`: each is stopped when
 * the scope closes (SIGTERM, then SIGKILL after `STOP_GRACE_MS`), whether the
 * suite succeeded, failed or was interrupted (`runInterruptible` turns SIGINT
 * and SIGTERM into interruption), and every child still alive when this
 * process exits is killed (SIGKILL) by an exit hook; a child whose parent
 * vanishes sees its IPC channel close and stops itself. Children talk back
 * over stdout (a `ready <address>` line) and an IPC channel (request / answer
 * by id).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { Cause, Deferred, Duration, Effect, Fiber, type Scope } from "effect"

export const STOP_GRACE_MS = 5000
/** Starting a child under tsx on a loaded 2-core machine can take a while. */
export const READY_TIMEOUT = Duration.seconds(90)

const live = new Set<ChildProcess>()
let hooked = false
const hookExit = () => {
  if (hooked) return
  hooked = true
  process.on("exit", () => {
    for (const c of live) c.kill("SIGKILL")
  })
}

export interface Child {
  readonly name: string
  readonly process: ChildProcess
  /** What followed `ready ` on the child's ready line. */
  readonly ready: string
  /** Send `body` (with a fresh `id`) over IPC; resolves with the child's answer. */
  request<A>(body: Record<string, unknown>): Effect.Effect<A, Error>
}

/** Spawn `node <args>` for the scope and wait for its `ready` line. */
export const start = (
  name: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env?: NodeJS.ProcessEnv }
): Effect.Effect<Child, Error, Scope.Scope> =>
  Effect.gen(function*() {
    hookExit()
    const proc = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const p = spawn(process.execPath, [...args], { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe", "ipc"] })
        live.add(p)
        p.on("exit", () => live.delete(p))
        return p
      }),
      stop
    )
    let stderr = ""
    let stdout = ""
    const ready = yield* Deferred.make<string, Error>()
    proc.stderr!.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000)
    })
    proc.stdout!.on("data", (d: Buffer) => {
      stdout += d.toString()
      const m = /^ready (\S+)$/m.exec(stdout)
      if (m !== null) Deferred.unsafeDone(ready, Effect.succeed(m[1]!))
      if (stdout.length > 100_000) stdout = stdout.slice(-1000)
    })
    proc.on("exit", (code, signal) =>
      Deferred.unsafeDone(ready, Effect.fail(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${stderr || stdout}`.slice(0, 4000)))))
    const address = yield* Deferred.await(ready).pipe(
      Effect.timeoutFail({ duration: READY_TIMEOUT, onTimeout: () => new Error(`${name} not ready within ${Duration.format(READY_TIMEOUT)}:\n${stderr}`) })
    )

    let nextId = 0
    const waiting = new Map<number, (body: unknown) => void>()
    proc.on("message", (m: { readonly id: number; readonly body: unknown }) => {
      waiting.get(m.id)?.(m.body)
      waiting.delete(m.id)
    })
    const request = <A>(body: Record<string, unknown>): Effect.Effect<A, Error> =>
      Effect.async<A, Error>((resume) => {
        const id = ++nextId
        waiting.set(id, (answer) => resume(Effect.succeed(answer as A)))
        if (!proc.connected) return resume(Effect.fail(new Error(`${name} is gone`)))
        proc.send({ ...body, id })
        return Effect.sync(() => waiting.delete(id))
      }).pipe(Effect.timeoutFail({ duration: Duration.seconds(30), onTimeout: () => new Error(`${name} did not answer ${JSON.stringify(body)}`) }))
    return { name, process: proc, ready: address, request }
  })

/** SIGTERM, then SIGKILL after the grace period; resolves once the process has exited. */
const stop = (proc: ChildProcess): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resume(Effect.void)
    const timer = setTimeout(() => proc.kill("SIGKILL"), STOP_GRACE_MS)
    proc.once("exit", () => {
      clearTimeout(timer)
      resume(Effect.void)
    })
    proc.kill("SIGTERM")
  })

/**
 * Run a suite's program so that SIGINT or SIGTERM interrupts it: its scopes
 * close (children stopped, temporary directories removed) before the bench
 * exits with the interruption as the suite's error.
 */
export const runInterruptible = <A, E>(program: Effect.Effect<A, E>): Promise<A> => {
  const fiber = Effect.runFork(program)
  const interrupt = () => fiber.unsafeInterruptAsFork(fiber.id())
  process.once("SIGINT", interrupt)
  process.once("SIGTERM", interrupt)
  return Effect.runPromise(Fiber.join(fiber).pipe(
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause) ? Effect.die(new Error("interrupted by a signal; every process it started was stopped")) : Effect.failCause(cause)
    )
  )).finally(() => {
    process.off("SIGINT", interrupt)
    process.off("SIGTERM", interrupt)
  })
}
