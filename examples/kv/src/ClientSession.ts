/**
 * A client identity's request numbers across processes, and the lock that
 * keeps two processes from using one identity at once.
 *
 * Replicas execute each `(client, seq)` at most once and remember a client's
 * session across its restarts, so a process must number its requests above
 * every number an earlier process of the same client used (the Paxos client's
 * `firstSeq`). `open` picks
 *
 *   firstSeq = max(reservedUpTo + 1, now in microseconds)
 *
 * and records `reservedUpTo = firstSeq + RESERVED` before any request goes
 * out; a clean exit records what was actually used. The clock term keeps the
 * numbers fresh even if the session file is deleted (a client issues far
 * fewer than a million requests a second); the file term survives a clock
 * that steps back.
 *
 * Two processes with one identity would also fight over its WebSocket
 * connections (a replica keeps the newest), so `open` takes
 * `<dir>/clients/<name>.lock` (holding the pid) and fails with a clear error
 * while a live process holds it; a lock left by a dead process is taken over.
 *
 * Session file (JSON): {"format":"synod-kv-session/1","reservedUpTo":<n>}
 */
import { FileSystem } from "@effect/platform"
import { Keys } from "@synod/core"
import { Effect, Either, Schema, type Scope } from "effect"
import * as CliError from "./CliError.js"
import type { Cluster } from "./ClusterDir.js"

export const SESSION_FILE_FORMAT = "synod-kv-session/1"
/** Numbers reserved while a process runs (more than a long load run uses). */
export const RESERVED = 1_000_000_000

const SessionFile = Schema.parseJson(Schema.Struct({ format: Schema.Literal(SESSION_FILE_FORMAT), reservedUpTo: Schema.NonNegativeInt }))
const decodeSession = Schema.decodeUnknownEither(SessionFile)
const encodeSession = Schema.encodeSync(SessionFile)

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    // EPERM: it exists but belongs to someone else
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

const lockPath = (cluster: Cluster, client: string) => cluster.layout.session(client).replace(/\.session$/, ".lock")

/** Take the client's lock for the scope. */
const lock = (cluster: Cluster, client: string): Effect.Effect<void, CliError.CliError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const file = lockPath(cluster, client)
    const cannot = (e: { readonly message: string }) => CliError.config(`cannot lock client ${client} (${file}): ${e.message}`)
    yield* fs.makeDirectory(cluster.layout.clients, { recursive: true }).pipe(Effect.mapError(cannot))
    const take = fs.writeFileString(file, String(process.pid), { flag: "wx" })
    const taken = yield* take.pipe(Effect.as(true), Effect.catchAll(() => Effect.succeed(false)))
    if (!taken) {
      const holder = Number((yield* fs.readFileString(file).pipe(Effect.orElseSucceed(() => ""))).trim())
      if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
        return yield* CliError.config(
          `client ${client} is in use by process ${holder}: one process per client identity at a time`,
          client.startsWith("load-") ? "stop the other load run first" : "wait for the other command to finish"
        )
      }
      // left behind by a process that died: take it over
      yield* fs.writeFileString(file, String(process.pid)).pipe(Effect.mapError(cannot))
    }
    yield* Effect.addFinalizer(() => fs.remove(file).pipe(Effect.ignore))
  })

export interface Session {
  readonly firstSeq: number
  /** Record how many numbers this process used (called when it closes cleanly). */
  readonly release: (used: number) => Effect.Effect<void>
}

/** Lock `client` for the scope and reserve its request numbers. */
export const open = (cluster: Cluster, client: string, nowMillis: number): Effect.Effect<Session, CliError.CliError, FileSystem.FileSystem | Scope.Scope> =>
  Effect.gen(function*() {
    yield* lock(cluster, client)
    const fs = yield* FileSystem.FileSystem
    const file = cluster.layout.session(client)
    const text = yield* fs.readFileString(file).pipe(Effect.option)
    const previous = text._tag === "Some" ? Either.getOrUndefined(decodeSession(text.value))?.reservedUpTo ?? 0 : 0
    const firstSeq = Math.max(previous + 1, Math.floor(nowMillis * 1000))
    const write = (reservedUpTo: number) =>
      Keys.writeTextFile(file, encodeSession({ format: SESSION_FILE_FORMAT, reservedUpTo }) + "\n", 0o644).pipe(
        Effect.mapError((e) => CliError.config(`cannot record the client session in ${file}: ${e.detail}`))
      )
    yield* write(firstSeq + RESERVED)
    const release = (used: number) => write(firstSeq + Math.max(0, used)).pipe(Effect.ignore, Effect.provideService(FileSystem.FileSystem, fs))
    return { firstSeq, release }
  })
