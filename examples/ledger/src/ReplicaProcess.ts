/**
 * `synod-ledger replica`: one PBFT replica of the ledger as a process.
 *
 *   cluster directory  -> config, genesis, this replica's key (checked against the config)
 *   transport-ws Runner -> WebSocket transport on its address from cluster.json, durable
 *                         state in <dir>/replica-<i>.db (@synod/storage-sqlite), the
 *                         PBFT driver (optionally wrapped by a Byzantine strategy)
 *                         recovered from it, in @synod/core's replica shell
 *   status server       -> /status, /metrics, /ledger on 127.0.0.1 (when --status-port is given)
 *
 * It prints one `ready` line when it serves (with the status URL, which the
 * demo reads), then notable events as they happen (view changes, stable
 * checkpoints, evidence, state transfers) and a progress line every few
 * seconds. It runs until interrupted (SIGINT/SIGTERM close the database and
 * sockets cleanly) or until the replica fails (e.g. its disk fails).
 */
import type { FileSystem } from "@effect/platform"
import { replicaPeer } from "@synod/core"
import { Pbft, type PbftConfig, PbftDriver, simProtocol, type PbftMessage } from "@synod/pbft"
import { layerSqlite } from "@synod/storage-sqlite"
import { Runner } from "@synod/transport-ws"
import { Deferred, Duration, Effect, Fiber, Queue, Schedule, type Scope } from "effect"
import { byzantine, type ByzantineDriver, describeStrategy, type Strategy } from "./Byzantine.js"
import * as CliError from "./CliError.js"
import * as ClusterDir from "./ClusterDir.js"
import { GetTotals } from "./Commands.js"
import type { LedgerSnapshot } from "./Ledger.js"
import {
  encodeLedgerView,
  encodeStatus,
  EventTally,
  MAX_LEDGER_VIEW_OPERATIONS,
  type ReplicaStatus
} from "./ReplicaStatus.js"
import * as StatusServer from "./StatusServer.js"
import { Output } from "./Terminal.js"

export interface ReplicaOptions {
  readonly dir: string
  readonly id: number
  readonly byzantine: Strategy | undefined
  /** Serve /status on this port (0: any free port); undefined: no status server. */
  readonly statusPort: number | undefined
  /** Default 127.0.0.1. */
  readonly statusHost?: string
  /** Logical clock period. */
  readonly tickMs: number
  /** Seed of the Byzantine strategy's choices. */
  readonly seed: number
  /** Seconds between progress lines; 0 turns them off. */
  readonly progressSeconds: number
  readonly pbft?: Partial<PbftConfig.PbftConfig>
}

/** Where a replica's figures come from: the PBFT driver, its state machine, the event tally. */
const statusOf = (
  id: number,
  driver: PbftDriver.PbftDriver,
  decorated: ByzantineDriver<PbftMessage> | undefined,
  tally: EventTally,
  started: number,
  digest: () => string
): ReplicaStatus => {
  const core = driver.core
  const totals = core.instance().query(new GetTotals())
  const t = totals._tag === "Totals" ? totals : { supply: 0n, minted: 0n, accounts: 0, operations: 0 }
  const stable = core.stableCheckpoint()
  return {
    replica: id,
    peer: replicaPeer(id),
    pid: process.pid,
    byzantine: decorated?.strategy ?? null,
    role: !core.isNormal() ? "view-change" : core.isPrimary() ? "primary" : "backup",
    view: core.view(),
    primary: core.primary(),
    lastCommitted: Math.max(tally.lastCommitted, driver.appliedIndex()),
    lastExecuted: driver.appliedIndex(),
    stableCheckpoint: { seq: stable.seq, digest: stable.digest },
    stateDigest: digest(),
    supply: t.supply,
    minted: t.minted,
    accounts: t.accounts,
    operations: t.operations,
    executed: tally.executed,
    viewChanges: tally.viewChanges,
    evidence: tally.evidence,
    rejected: tally.rejected,
    stateTransfers: tally.stateTransfers,
    byzantineActions: decorated?.actions() ?? {},
    uptimeMs: Date.now() - started
  }
}

/** The replica's local ledger, for `/ledger`. */
const ledgerViewOf = (driver: PbftDriver.PbftDriver, digest: () => string): unknown => {
  const snapshot = driver.core.instance().snapshot() as LedgerSnapshot
  if (snapshot.done.length > MAX_LEDGER_VIEW_OPERATIONS) {
    return { error: `the ledger holds ${snapshot.done.length} operations, more than /ledger serves (${MAX_LEDGER_VIEW_OPERATIONS})` }
  }
  return encodeLedgerView({
    lastExecuted: driver.appliedIndex(),
    stateDigest: digest(),
    accounts: snapshot.accounts.map((a) => ({
      name: a.name,
      balance: a.balance,
      history: a.history.map((h) => ({ index: h.index, id: h.id, kind: h.kind }))
    })),
    operations: snapshot.done.map((d) => ({ id: d.id, applied: d.result._tag === "Applied" }))
  })
}

/** A Runner failure as the user should read it. */
const runnerProblem = (o: ReplicaOptions, db: string, address: string) => (e: Runner.RunnerError): CliError.CliError => {
  switch (e.reason) {
    case "listen":
      return CliError.config(`replica ${o.id} cannot listen on ${address}: ${e.detail}`, `is replica ${o.id} already running (or another program on that port)?`)
    case "storage":
      return /foreign/.test(e.detail)
        ? CliError.config(`${db} belongs to another cluster or replica: ${e.detail}`, "delete it to start this replica from scratch, or use the right --dir / --id")
        : /corrupt/.test(e.detail)
        ? CliError.config(`${db} is damaged: ${e.detail}`, "delete it; the replica will catch up from the others by state transfer")
        : /lock|busy/i.test(e.detail)
        ? CliError.config(`${db} is in use: is replica ${o.id} already running?`)
        : CliError.config(`cannot use ${db}: ${e.detail}`)
    case "replica-died":
      return CliError.internal(`replica ${o.id} stopped: ${e.detail}`)
    default:
      return CliError.config(`replica ${o.id} cannot start: ${e.message}`)
  }
}

export const run = (o: ReplicaOptions): Effect.Effect<void, CliError.CliError, FileSystem.FileSystem | Scope.Scope | Output> =>
  Effect.gen(function*() {
    const out = yield* Output
    const style = out.style
    const started = Date.now()
    // checked here first for messages that name the cluster directory; the Runner checks again
    const cluster = yield* ClusterDir.load(o.dir)
    const entry = yield* ClusterDir.replicaEntry(cluster, o.id)
    const peer = replicaPeer(o.id)
    yield* ClusterDir.privateKey(cluster, peer)
    const config = cluster.config
    const db = cluster.layout.database(o.id)

    let driver: PbftDriver.PbftDriver | undefined
    let decorated: ByzantineDriver<PbftMessage> | undefined
    let recoveredRecords = 0
    const up = yield* Deferred.make<Runner.RunningReplica>()
    const runner = yield* Runner.run<PbftMessage>({
      clusterFile: cluster.layout.cluster,
      keyFile: cluster.layout.key(peer),
      build: (ctx) => ({
        envelope: Pbft.envelopeContext(config.clusterId),
        makeDriver: (disk) => {
          recoveredRecords = disk.size
          driver = PbftDriver.make({
            id: ctx.id,
            trust: ctx.trust,
            signer: ctx.signer,
            keys: ctx.keys,
            stateMachine: cluster.ledger,
            disk,
            config: { ...o.pbft, clusterId: config.clusterId }
          })
          decorated = o.byzantine === undefined ? undefined : byzantine(driver, { strategy: o.byzantine, tamper: simProtocol().tamper, seed: o.seed })
          return decorated ?? driver
        }
      }),
      storage: () => layerSqlite({ path: db, replicaId: o.id, clusterId: config.clusterId }),
      shell: { tickInterval: Duration.millis(o.tickMs) },
      onStart: (replica) => Deferred.succeed(up, replica)
    }).pipe(Effect.mapError(runnerProblem(o, db, entry.address)), Effect.fork)
    const replica = yield* Effect.raceFirst(Deferred.await(up), Fiber.join(runner))
    const pbft = driver!

    // the digest is a hash of the whole ledger: compute it once per executed sequence number
    let digestAt = -1
    let digest = ""
    const currentDigest = () => {
      if (pbft.appliedIndex() !== digestAt) {
        digest = pbft.stateDigest()
        digestAt = pbft.appliedIndex()
      }
      return digest
    }
    const tally = new EventTally()
    const events = yield* replica.handle.subscribe
    yield* Effect.forever(Effect.flatMap(Queue.take(events), (event) => {
      tally.record(event)
      switch (event._tag) {
        case "ViewChanged":
          return out.out(`${style.cyan("view")} ${event.view}: primary is replica ${event.leader} (${event.cause})`)
        case "Checkpoint":
          return event.stable ? out.out(`${style.dim("checkpoint")} ${event.index} stable (state ${event.stateDigest.slice(0, 12)})`) : Effect.void
        case "Evidence":
          return tally.evidence <= 5 || tally.evidence % 100 === 0
            ? out.out(`${style.yellow("evidence")} against ${event.against}: ${event.kind} (${tally.evidence} so far)`)
            : Effect.void
        case "StateTransferred":
          return out.out(`${style.cyan("state transfer")}: caught up to checkpoint ${event.index} (state ${event.stateDigest.slice(0, 12)})`)
        default:
          return Effect.void
      }
    })).pipe(Effect.forkScoped)

    let statusLine = ""
    if (o.statusPort !== undefined) {
      const server = yield* StatusServer.make({
        ...(o.statusHost !== undefined ? { host: o.statusHost } : {}),
        port: o.statusPort,
        status: () => encodeStatus(statusOf(o.id, pbft, decorated, tally, started, currentDigest)),
        routes: { "/ledger": () => ledgerViewOf(pbft, currentDigest) }
      }).pipe(Effect.mapError((e) => CliError.config(e.message)))
      statusLine = `, status ${server.url}/status`
    }
    const role = decorated === undefined ? "" : ` ${style.red(`BYZANTINE (${decorated.strategy}: ${describeStrategy[decorated.strategy]})`)}`
    const recovered = recoveredRecords > 0 ? `, recovered ${recoveredRecords} durable records from ${db}` : ""
    yield* out.out(`ready: replica ${o.id} of ${config.replicas.length} listening on ${entry.address}${statusLine}${recovered}${role}`)
    yield* Effect.addFinalizer(() => out.out(`replica ${o.id} stopped; its state is in ${db}`))

    if (o.progressSeconds > 0) {
      let lastOps = tally.executed
      yield* Effect.gen(function*() {
        const s = statusOf(o.id, pbft, decorated, tally, started, currentDigest)
        const rate = (tally.executed - lastOps) / o.progressSeconds
        if (tally.executed !== lastOps) {
          yield* out.out(
            `${style.dim("progress")} view ${s.view} (${s.role}), executed ${s.lastExecuted}, stable ${s.stableCheckpoint.seq}, ` +
              `${rate < 10 ? rate.toFixed(1) : rate.toFixed(0)} requests/s, supply ${s.supply}`
          )
        }
        lastOps = tally.executed
      }).pipe(Effect.repeat(Schedule.spaced(Duration.seconds(o.progressSeconds))), Effect.delay(Duration.seconds(o.progressSeconds)), Effect.forkScoped)
    }
    return yield* Fiber.join(runner)
  })
