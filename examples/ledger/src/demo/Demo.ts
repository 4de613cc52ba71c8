/**
 * The ledger demo, end to end:
 *
 *   1. a fresh cluster directory (4 replicas, one client per account) on free loopback ports
 *   2. four `synod-ledger replica` processes, one of them Byzantine
 *   3. clients sending concurrent random signed transfers for `duration` seconds,
 *      with a live view of every replica (from their /status endpoints)
 *   4. mid-run, the primary is killed (SIGKILL) and later restarted from its database
 *   5. the clients stop; transfers without a certified answer are resolved by
 *      resubmitting them (idempotent by id); the correct replicas must converge
 *   6. checks (see Verdict.ts) and the final per-replica table
 *
 * Everything it starts lives in the scope: processes are stopped and the
 * temporary directory removed (kept on failure or with --keep) when the scope
 * closes, whether the demo passed, failed or was interrupted.
 */
import { FileSystem } from "@effect/platform"
import { clientPeer, ClusterConfig } from "@synod/core"
import { Duration, Effect, Fiber, Logger, Ref, type Scope } from "effect"
import * as nodeFs from "node:fs"
import * as path from "node:path"
import { describeStrategy, type Strategy } from "../Byzantine.js"
import * as CertificateStore from "../CertificateStore.js"
import type { CliError } from "../CliError.js"
import * as ClusterDir from "../ClusterDir.js"
import { initialSupply } from "../Genesis.js"
import { connect, type LedgerClient, reserveSeqs } from "../LedgerClient.js"
import { decodeLedgerView, type LedgerView } from "../ReplicaStatus.js"
import { Output } from "../Terminal.js"
import { makeWallet } from "../Wallet.js"
import { finalLines, type Frame, liveLines, plainLine } from "./Display.js"
import { getJson } from "./Http.js"
import * as Launch from "./Launch.js"
import { Monitor } from "./Monitor.js"
import { freePorts } from "./Ports.js"
import * as Replicas from "./Replicas.js"
import { Screen } from "./Screen.js"
import * as Traffic from "./Traffic.js"
import * as Verdict from "./Verdict.js"

export const ACCOUNTS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"] as const
export const REPLICAS = 4
const GENESIS_BALANCE = 1000n
/** Clients still waiting for an answer get this long after the run ends. */
const STOP_GRACE = Duration.seconds(6)
/** Bound on resolving one unknown outcome. */
const RESOLVE_TIMEOUT = Duration.seconds(15)
/** Bound on waiting for the correct replicas to reach the same state. */
const CONVERGE_TIMEOUT = Duration.seconds(30)

export interface DemoOptions {
  readonly byzantine: Strategy
  readonly byzantineReplica: number
  readonly durationSeconds: number
  readonly clients: number
  /** Kill the primary mid-run and restart it. */
  readonly crash: boolean
  readonly seed: number
  /** Keep the cluster directory even when the demo passes. */
  readonly keep: boolean
  readonly checkpointInterval: number
}

export interface DemoResult {
  readonly ok: boolean
  readonly dir: string
}

export class DemoFailed extends Error {}

export const run = (o: DemoOptions): Effect.Effect<DemoResult, DemoFailed, Scope.Scope | FileSystem.FileSystem | Output> =>
  Effect.gen(function*() {
    const term = yield* Output
    const s = term.style
    const fs = yield* FileSystem.FileSystem

    // 1. the cluster directory; removed last (after every process stopped), unless kept
    const passed = yield* Ref.make(false)
    const dir = yield* fs.makeTempDirectory({ prefix: "synod-ledger-demo-" }).pipe(Effect.orDie)
    yield* Effect.addFinalizer(() =>
      Effect.flatMap(Ref.get(passed), (ok) =>
        ok && !o.keep
          ? fs.remove(dir, { recursive: true }).pipe(Effect.ignore)
          : term.out(s.dim(`cluster directory, logs and certificates kept in ${dir}`))))
    return yield* main(o, dir, passed).pipe(Effect.provide(fileLogger(path.join(dir, "demo.log"))))
  })

/** Log lines of the demo's own fibers (its clients' transports) go to a file, not over the live view. */
const fileLogger = (file: string) =>
  Logger.replace(
    Logger.defaultLogger,
    Logger.make(({ date, logLevel, message }) => {
      const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
      try {
        nodeFs.appendFileSync(file, `${date.toISOString()} ${logLevel.label} ${text}\n`)
      } catch {
        // the directory is gone (the demo is ending): nothing to keep
      }
    })
  )

const main = (o: DemoOptions, dir: string, passed: Ref.Ref<boolean>): Effect.Effect<DemoResult, DemoFailed, Scope.Scope | FileSystem.FileSystem | Output> =>
  Effect.gen(function*() {
    const term = yield* Output
    const s = term.style
    const fs = yield* FileSystem.FileSystem
    const screen = new Screen(term)
    const names = ACCOUNTS.slice(0, o.clients)
    const ports = yield* freePorts(REPLICAS).pipe(Effect.mapError((e) => new DemoFailed(e.message)))
    const { cluster } = yield* ClusterDir.init({
      dir,
      replicas: REPLICAS,
      clients: names,
      balance: GENESIS_BALANCE,
      host: "127.0.0.1",
      basePort: ports[0]!,
      ports,
      force: false
    }).pipe(Effect.mapError((e: CliError) => new DemoFailed(e.detail)))
    const trust = ClusterConfig.quorumSystem(cluster.config)

    const killAt = o.durationSeconds * 0.35
    const restartAt = killAt + Math.min(5, Math.max(2, o.durationSeconds * 0.15))
    yield* term.out(s.bold("synod ledger demo") + ` · PBFT with n=${REPLICAS}, f=${trust.f}, over authenticated WebSockets on 127.0.0.1`)
    yield* term.out(`  replica ${o.byzantineReplica} is ${s.red("Byzantine")}: it ${describeStrategy[o.byzantine]} (--byzantine ${o.byzantine})`)
    yield* term.out(`  ${names.length} clients send signed transfers for ${o.durationSeconds} s` +
      (o.crash ? `; the primary is killed at ${killAt.toFixed(1)} s and restarted at ${restartAt.toFixed(1)} s` : ""))
    yield* term.out(s.dim(`  cluster ${cluster.config.clusterId} in ${dir} · seed ${o.seed}`))

    // 2. replicas
    const launcher = yield* Launch.prepare(dir)
    const spec = (id: number): Replicas.ReplicaSpec => ({
      launcher,
      dir,
      id,
      byzantine: id === o.byzantineReplica ? o.byzantine : undefined,
      checkpointInterval: o.checkpointInterval
    })
    const monitor = new Monitor(REPLICAS, new Map([[o.byzantineReplica, o.byzantine]]))
    yield* term.out(s.dim(`  starting ${REPLICAS} replica processes${launcher.mode === "bundle" ? "" : " (through tsx: esbuild is not available)"}...`))
    const running = yield* Effect.forEach(Array.from({ length: REPLICAS }, (_, id) => id), (id) => Replicas.start(spec(id)), { concurrency: "unbounded" }).pipe(
      Effect.mapError((e) => new DemoFailed(e.message))
    )
    const kills = new Map(running.map((r) => [r.id, r.kill] as const))
    for (const r of running) monitor.started(r.id, r.statusUrl)
    yield* term.out(s.dim(`  ${REPLICAS} replicas ready (pids ${running.map((r) => r.pid).join(", ")}); logs in ${dir}/replica-<id>.log`))
    for (const r of running) yield* term.out(s.dim(`  replica ${r.id}: ${r.statusUrl}/status  ${r.statusUrl}/metrics`))

    let started = Date.now()
    const elapsed = () => (Date.now() - started) / 1000
    const stamp = (text: string) => `${s.dim(`+${elapsed().toFixed(1).padStart(4)}s`)} ${text}`
    // clients: connected before the clock starts, so the schedule counts from the first transfer
    const answers = yield* Ref.make(0)
    const keep = (client: string) => (answer: Parameters<Traffic.ClientLoop["keep"]>[0], summary: string) =>
      CertificateStore.append(cluster, CertificateStore.recordOf(client, answer, summary, new Date())).pipe(
        Effect.zipRight(Ref.update(answers, (n) => n + 1)),
        Effect.catchAll((e) => screen.line(stamp(s.red(`could not keep a certificate: ${e.detail}`)))),
        Effect.provideService(FileSystem.FileSystem, fs)
      )
    const openClient = (name: string): Effect.Effect<{ client: LedgerClient; wallet: ReturnType<typeof makeWallet> }, DemoFailed, Scope.Scope> =>
      Effect.gen(function*() {
        const pair = yield* ClusterDir.privateKey(cluster, clientPeer(name))
        const firstSeq = yield* reserveSeqs(cluster, name, Date.now())
        const client = yield* connect({ cluster, name, key: pair, firstSeq, client: { requestTimeoutTicks: 50, maxRequestTimeoutTicks: 200, maxAttempts: 12 } })
        return { client, wallet: makeWallet(pair) }
      }).pipe(Effect.mapError((e) => new DemoFailed(e.detail)), Effect.provideService(FileSystem.FileSystem, fs))
    const opened = yield* Effect.forEach(names, openClient, { concurrency: "unbounded" })

    // 3. live view
    started = Date.now()
    const log = new Traffic.TrafficLog()
    const phase = yield* Ref.make("running")
    const frame = (): Effect.Effect<Frame> =>
      Effect.map(Ref.get(phase), (p) => ({
        title: "synod ledger demo",
        elapsedSeconds: elapsed(),
        durationSeconds: o.durationSeconds,
        rows: monitor.rows(),
        throughput: log.throughput(Date.now()),
        applied: log.count("Applied"),
        refused: log.count("Refused"),
        unknown: log.count("Unknown") + log.count("Rejected"),
        phase: p
      }))
    yield* monitor.poll().pipe(
      Effect.flatMap((events) => Effect.forEach(events, (e) => screen.line(stamp(e)), { discard: true })),
      Effect.zipRight(Effect.sleep(Duration.millis(250))),
      Effect.forever,
      Effect.forkScoped
    )
    const display = yield* (screen.live
      ? Effect.flatMap(frame(), (f) => screen.frame(liveLines(f, s))).pipe(Effect.zipRight(Effect.sleep(Duration.millis(250))), Effect.forever)
      : Effect.sleep(Duration.seconds(2)).pipe(Effect.zipRight(Effect.flatMap(frame(), (f) => term.out(plainLine(f)))), Effect.forever)
    ).pipe(Effect.forkScoped)

    const stopping = yield* Ref.make(false)
    const loops = yield* Effect.forEach(opened, ({ client, wallet }, i) =>
      Traffic.run({
        name: names[i]!,
        client,
        wallet,
        payees: names.filter((n) => n !== names[i]),
        seed: o.seed + i,
        maxAmount: 50,
        keep: keep(names[i]!)
      }, log, stopping).pipe(Effect.forkScoped))

    // 4. crash and restart the primary
    const chaos = yield* Effect.gen(function*() {
      yield* Effect.sleep(Duration.seconds(killAt))
      const victim = monitor.primary() ?? 0
      yield* screen.line(stamp(s.red(`killing the primary, replica ${victim} (SIGKILL)`)))
      yield* kills.get(victim)!
      monitor.stopped(victim)
      yield* Effect.sleep(Duration.seconds(restartAt - killAt))
      monitor.restarting(victim)
      yield* screen.line(stamp(s.cyan(`restarting replica ${victim} from its database`)))
      const again = yield* Replicas.start(spec(victim)).pipe(Effect.mapError((e) => new DemoFailed(e.message)))
      kills.set(victim, again.kill)
      monitor.started(victim, again.statusUrl)
      yield* screen.line(stamp(s.green(`replica ${victim} is back`)))
    }).pipe(Effect.when(() => o.crash), Effect.forkScoped)

    yield* Effect.sleep(Duration.seconds(o.durationSeconds))

    // 5. stop, resolve, converge
    yield* Ref.set(stopping, true)
    yield* Ref.set(phase, "stopping clients")
    yield* screen.line(stamp(`stopping the clients (${log.count("Pending")} transfers in flight)`))
    const finished = yield* Fiber.joinAll(loops).pipe(Effect.timeout(STOP_GRACE), Effect.option)
    if (finished._tag === "None") yield* Fiber.interruptAll(loops)
    for (const r of log.records) if (r.outcome._tag === "Pending") r.outcome = { _tag: "Unknown", reason: "no answer before the run ended" }
    yield* Fiber.join(chaos)

    yield* Ref.set(phase, "resolving")
    const unknown = log.records.filter((r) => r.outcome._tag === "Unknown")
    if (unknown.length > 0) yield* screen.line(stamp(`resolving ${unknown.length} transfers without a certified answer (resubmitting them; ids make this idempotent)`))
    yield* resolve(unknown, openClient, keep)

    yield* Ref.set(phase, "waiting for the correct replicas to converge")
    const converged = yield* converge(monitor)
    const views = yield* ledgerViews(monitor)

    // 6. checks
    const audited = yield* auditAll(cluster, names).pipe(Effect.provideService(FileSystem.FileSystem, fs))
    yield* Fiber.interrupt(display)
    yield* Ref.set(phase, "done")
    if (screen.live) yield* Effect.flatMap(frame(), (f) => screen.frame(liveLines(f, s)))
    screen.release()

    const statuses = monitor.correct()
    const checks: Array<Verdict.Check> = [
      converged ? Verdict.agreement(statuses) : { ...Verdict.agreement(statuses), ok: false },
      Verdict.supply(statuses, initialSupply(cluster.genesis)),
      Verdict.exactlyOnce(cluster.genesis, log.records, views),
      Verdict.certificates(yield* Ref.get(answers), audited.valid, audited.invalid)
    ]
    yield* term.out("")
    yield* term.out(s.bold("final state") + s.dim(` after ${elapsed().toFixed(1)} s`))
    for (const line of finalLines(monitor.rows(), s)) yield* term.out(line)
    yield* term.out("")
    yield* term.out(Verdict.misbehaviour(o.byzantineReplica, monitor.rows().find((r) => r.id === o.byzantineReplica)?.status, statuses))
    for (const c of checks) yield* term.out(`${c.ok ? s.green("✔ PASS") : s.red("✘ FAIL")} ${s.bold(c.name)}: ${c.detail}`)
    const ok = checks.every((c) => c.ok)
    yield* term.out("")
    yield* term.out(
      ok
        ? s.green(s.bold(`VERDICT: PASS`)) + ` — the ledger stayed correct with replica ${o.byzantineReplica} Byzantine (${o.byzantine})` +
          (o.crash ? " and the primary killed and restarted" : "")
        : s.red(s.bold("VERDICT: FAIL")) + " — see the failed checks above; replica logs are in the kept directory"
    )
    yield* Ref.set(passed, ok)
    return { ok, dir }
  })

/** Resubmit each transfer without a certified answer, per client in order, with a fresh client session. */
const resolve = (
  unknown: ReadonlyArray<Traffic.TransferRecord>,
  openClient: (name: string) => Effect.Effect<{ readonly client: LedgerClient }, DemoFailed, Scope.Scope>,
  keep: (client: string) => Traffic.ClientLoop["keep"]
): Effect.Effect<void, DemoFailed, Scope.Scope> =>
  Effect.forEach([...new Set(unknown.map((r) => r.client))], (name) =>
    Effect.gen(function*() {
      const { client } = yield* openClient(name)
      for (const r of unknown.filter((u) => u.client === name)) {
        const answer = yield* client.submit(r.transfer).pipe(Effect.timeout(RESOLVE_TIMEOUT), Effect.either)
        if (answer._tag === "Right") {
          r.outcome = Traffic.outcomeOf(answer.right)
          yield* keep(name)(answer.right, `transfer ${r.transfer.id} (resubmitted)`)
        }
      }
    }), { concurrency: "unbounded", discard: true })

/** Each correct replica's local ledger (`/ledger`); a replica that does not serve it is left out (and the check says so). */
const ledgerViews = (monitor: Monitor): Effect.Effect<Map<number, LedgerView>> =>
  Effect.gen(function*() {
    const views = new Map<number, LedgerView>()
    for (const st of monitor.correct()) {
      const url = monitor.url(st.replica)
      if (url === undefined) continue
      const view = yield* getJson(`${url}/ledger`, 10_000).pipe(Effect.map(decodeLedgerView), Effect.either)
      if (view._tag === "Right" && view.right._tag === "Right") views.set(st.replica, view.right.right)
    }
    return views
  })

/** Audit every client's kept certificates, as `synod-ledger audit` does. */
const auditAll = (cluster: ClusterDir.Cluster, names: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    let valid = 0
    let invalid = 0
    for (const name of names) {
      const report = yield* CertificateStore.audit(cluster, name).pipe(Effect.mapError((e) => new DemoFailed(e.detail)))
      for (const v of report.verdicts) v._tag === "Valid" ? valid++ : invalid++
    }
    return { valid, invalid }
  })

/** Poll until every correct replica answers with the same executed sequence number and digest twice in a row. */
const converge = (monitor: Monitor): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const deadline = Date.now() + Duration.toMillis(CONVERGE_TIMEOUT)
    let agreedBefore = false
    while (Date.now() < deadline) {
      yield* monitor.poll()
      const statuses = monitor.correct()
      const first = statuses[0]
      const agreed = first !== undefined && statuses.length === monitor.correctIds().length &&
        statuses.every((st) => st.lastExecuted === first.lastExecuted && st.stateDigest === first.stateDigest)
      if (agreed && agreedBefore) return true
      agreedBefore = agreed
      yield* Effect.sleep(Duration.millis(300))
    }
    return false
  })
