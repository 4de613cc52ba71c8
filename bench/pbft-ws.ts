/**
 * Suite `pbft-ws`: PBFT with n = 4 (f = 1) as it runs in production: four
 * replica processes (`bench/support/pbft-replica.ts`: the transport-ws Runner
 * and the PBFT driver, as examples/ledger's replica builds them) talking
 * WebSocket on 127.0.0.1, Ed25519-signed frames, in-memory storage (no disk:
 * protocol, crypto and transport only). Closed-loop clients run in this
 * process, one PBFT client each (one request outstanding, the paper's
 * client), each with its own Ed25519 identity and WebSocket connections to
 * every replica; 1, 16 and 64 clients give 1, 16 and 64 requests in flight.
 *
 *   null     null operations: 8-byte commands, empty results (`NullMachine.ts`)
 *   ledger   transfers of examples/ledger, each signed by the owner of the
 *            debited account with its `Wallet`; every replica verifies that
 *            signature when it executes the transfer
 *
 * Clients sign every request with Ed25519: the PBFT package has no MAC
 * authenticators (the OSDI'99 optimisation), so "MAC-authenticated clients"
 * are measured as signed clients. Each client's transport does not verify
 * replies itself (`verifySignatures: false`); its client shell verifies each
 * reply once. Replicas run with the defaults (batches of up to 128 requests,
 * no batch delay, 16 batches in flight, checkpoints every 64), the transport
 * verifying every frame and the shell trusting it.
 *
 * Per level: a warm-up of `WARMUP_SECONDS`, then `SYNOD_BENCH_SECONDS`
 * (default 5) measured: ops/s, p50 and p99 latency, CPU seconds per 1,000 ops
 * of the four replica processes (their `process.cpuUsage()`, summed) and of
 * this client process, and replica bytes sent per op.
 *
 * In the same run, before the ledger cluster starts and after it stopped: the
 * Ed25519 verification ceiling of this machine, the verify loop in two
 * worker threads at once (verifications/s on all cores; the mean of the two
 * measurements), divided by 4 (each transfer's owner signature is verified by
 * all four replicas), and each level's transfers/s as a share of that ceiling.
 *
 * `SYNOD_BENCH_PBFT=<json>`: PBFT settings for the replicas instead of the
 * defaults, e.g. `{"maxInFlightBatches":2}`.
 *
 * `SYNOD_BENCH_PROFILE=<dir>`: CPU-profile replica 0 (the primary) and
 * replica 1 (a backup) during the 64-in-flight window of each workload, write
 * the profiles to <dir>, and add their top self-time functions as figures.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { Actor, ClusterConfig, Crypto, Keys, Transport } from "@synod/core"
import { Genesis, makeLedger, makeWallet, type Wallet } from "@synod/example-ledger"
import { PbftClientShell } from "@synod/pbft"
import { WebSocketTransport } from "@synod/transport-ws"
import { Duration, Effect, Exit, Layer, type Scope } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { Worker } from "node:worker_threads"
import type { Figure } from "./harness.js"
import { nullMachine } from "./support/NullMachine.js"
import * as Processes from "./support/Processes.js"
import { topSelfTime } from "./support/Profile.js"
import type { Stats } from "./support/pbft-replica.js"

export const name = "pbft-ws"
export const description = "PBFT n=4: replica processes over WebSocket on 127.0.0.1, memory storage; null ops and signed ledger transfers at 1/16/64 in flight; Ed25519 ceiling"

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const REPLICA_MAIN = path.join(REPO, "bench", "support", "pbft-replica.ts")
const N = 4
const LEVELS = [1, 16, 64] as const
const CLIENTS = Math.max(...LEVELS)
const WARMUP_SECONDS = 1
const CONNECT_BATCH = 8
const measureSeconds = (): number => {
  const s = Number(process.env.SYNOD_BENCH_SECONDS ?? "5")
  return Number.isFinite(s) && s > 0 ? s : 5
}

// ---------------------------------------------------------------------------
// The cluster

type Workload = "null" | "ledger"

interface Cluster {
  readonly replicas: ReadonlyArray<Processes.Child>
  readonly config: ClusterConfig.ClusterConfig
  readonly keys: ReadonlyArray<Keys.PeerKeyPair>
  readonly dir: string
}

const portFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.createServer()
    s.once("error", () => resolve(false))
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)))
  })

/** N consecutive free ports on 127.0.0.1 (the cluster file lists `basePort + i`). */
const freeBasePort = Effect.promise(async () => {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000)
    let ok = true
    for (let i = 0; i < N && ok; i++) ok = await portFree(base + i)
    if (ok) return base
  }
  throw new Error("no free ports")
})

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(process.env.SYNOD_BENCH_DIR ?? os.tmpdir(), "synod-bench-pbft-"))),
  (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
)

const startCluster = (workload: Workload, genesis: string | undefined): Effect.Effect<Cluster, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* tempDir
    const basePort = yield* freeBasePort
    const generated = yield* Effect.mapError(
      Effect.fromNullable(ClusterConfig.generateCluster({
        n: N,
        clients: Array.from({ length: CLIENTS }, (_, i) => `bench-${i}`),
        protocol: "pbft",
        basePort,
        clusterId: `bench-pbft-${workload}`
      }).pipe((e) => (e._tag === "Right" ? e.right : null))),
      () => new Error("cannot generate the cluster")
    )
    yield* ClusterConfig.writeCluster(dir, generated).pipe(Effect.provide(NodeFileSystem.layer), Effect.mapError((e) => new Error(e.message)))
    const extra: Array<string> = []
    if (genesis !== undefined) {
      fs.writeFileSync(path.join(dir, "genesis.json"), genesis)
      extra.push(path.join(dir, "genesis.json"))
    }
    const replicas = yield* Effect.forEach(Array.from({ length: N }, (_, i) => i), (i) =>
      Processes.start(`replica ${i}`, [
        "--conditions=source",
        "--import",
        "tsx",
        REPLICA_MAIN,
        path.join(dir, ClusterConfig.CLUSTER_FILE_NAME),
        path.join(dir, ClusterConfig.KEYS_DIR, Keys.keyFileName(generated.keys[i]!.peer)),
        workload,
        ...extra
      ], { cwd: REPO }), { concurrency: "unbounded" })
    return { replicas, config: generated.config, keys: generated.keys, dir }
  })

const stats = (cluster: Cluster) => Effect.forEach(cluster.replicas, (r) => r.request<Stats>({ cmd: "stats" }), { concurrency: "unbounded" })

// ---------------------------------------------------------------------------
// Clients

interface BenchClient<C, R> {
  readonly index: number
  readonly client: PbftClientShell.PbftClient<C, R>
  readonly transport: WebSocketTransport.WebSocketTransport
}

const startClients = <C, R, S>(
  cluster: Cluster,
  stateMachine: Parameters<typeof PbftClientShell.make<C, R, S>>[0]["stateMachine"]
): Effect.Effect<ReadonlyArray<BenchClient<C, R>>, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const config = cluster.config
    const ring = ClusterConfig.keyRing(config)
    const trust = ClusterConfig.quorumSystem(config)
    const one = (index: number) =>
      Effect.gen(function*() {
        const pair = cluster.keys[N + index]!
        const signer = Keys.signerOf(pair)
        const transport = yield* WebSocketTransport.make({
          clusterId: config.clusterId,
          signer,
          keys: ring,
          peers: ClusterConfig.replicaAddresses(config),
          verifySignatures: false
        }).pipe(Effect.mapError((e) => new Error(`client transport: ${e.detail}`)))
        const client = yield* PbftClientShell.make({
          clusterId: config.clusterId,
          clientId: config.clients[index]!.id,
          trust,
          stateMachine,
          shell: { supervisor: Actor.logSupervisor }
        }).pipe(Effect.provide(Layer.mergeAll(Layer.succeed(Transport.Transport, transport), Keys.layerSigner(signer), Keys.layerKeyRing(ring))))
        return { index, client, transport }
      })
    const clients: Array<BenchClient<C, R>> = []
    // a few at a time: the replicas accept a bounded number of handshakes at once
    for (let at = 0; at < CLIENTS; at += CONNECT_BATCH) {
      const batch = yield* Effect.forEach(Array.from({ length: Math.min(CONNECT_BATCH, CLIENTS - at) }, (_, i) => at + i), one)
      yield* Effect.forEach(batch, (c) =>
        Effect.gen(function*() {
          while ((yield* c.transport.connectedPeers).length < N) yield* Effect.sleep(Duration.millis(50))
        })).pipe(Effect.timeoutFail({ duration: Duration.seconds(60), onTimeout: () => new Error("clients could not reach every replica") }))
      clients.push(...batch)
    }
    return clients
  })

// ---------------------------------------------------------------------------
// Closed-loop measurement

interface Point {
  readonly inFlight: number
  readonly ops: number
  readonly seconds: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly replicaCpuPer1000: number
  readonly clientCpuPer1000: number
  readonly bytesPerOp: number
  /** Requests per committed batch at replica 0. */
  readonly batchSize: number
  /** Frames the 4 replicas' cores received per op, by type. */
  readonly receivedPerOp: ReadonlyMap<string, number>
  /** Inputs the replicas dropped in the window, by reason. */
  readonly rejected: ReadonlyMap<string, number>
  readonly failures: ReadonlyMap<string, number>
  readonly viewChanges: number
}

/** after - before, per key, summed over the replicas; keys with no change left out. */
const delta = (before: ReadonlyArray<Stats>, after: ReadonlyArray<Stats>, f: (s: Stats) => Readonly<Record<string, number>>) => {
  const out = new Map<string, number>()
  for (const [i, a] of after.entries()) {
    for (const [k, v] of Object.entries(f(a))) out.set(k, (out.get(k) ?? 0) + v - (f(before[i]!)[k] ?? 0))
  }
  for (const [k, v] of out) if (v === 0) out.delete(k)
  return out
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6

const quantile = (sorted: ReadonlyArray<number>, q: number): number =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!

/** `level` clients each run `op` back to back until `seconds` have passed; latencies of the successes. */
const loop = <C, R>(
  clients: ReadonlyArray<BenchClient<C, R>>,
  level: number,
  seconds: number,
  op: (c: BenchClient<C, R>) => Effect.Effect<string | undefined, unknown>
) =>
  Effect.gen(function*() {
    const latencies: Array<number> = []
    const failures = new Map<string, number>()
    const end = nowMs() + seconds * 1000
    const t0 = nowMs()
    yield* Effect.forEach(clients.slice(0, level), (c) =>
      Effect.gen(function*() {
        while (nowMs() < end) {
          const start = nowMs()
          const exit = yield* Effect.exit(op(c))
          const failure = Exit.isSuccess(exit) ? exit.value : `error: ${exit.cause._tag === "Fail" ? (exit.cause.error as { _tag?: string })._tag ?? "?" : exit.cause._tag}`
          if (failure === undefined) latencies.push(nowMs() - start)
          else failures.set(failure, (failures.get(failure) ?? 0) + 1)
        }
      }), { concurrency: "unbounded", discard: true })
    return { latencies, failures, seconds: (nowMs() - t0) / 1000 }
  })

const measureLevel = <C, R>(
  cluster: Cluster,
  clients: ReadonlyArray<BenchClient<C, R>>,
  level: number,
  op: (c: BenchClient<C, R>) => Effect.Effect<string | undefined, unknown>,
  profile: ((phase: "start" | "stop") => Effect.Effect<void, Error>) | undefined
): Effect.Effect<Point, Error> =>
  Effect.gen(function*() {
    yield* loop(clients, level, WARMUP_SECONDS, op)
    const before = yield* stats(cluster)
    const cpu0 = process.cpuUsage()
    if (profile !== undefined) yield* profile("start")
    const run = yield* loop(clients, level, measureSeconds(), op)
    if (profile !== undefined) yield* profile("stop")
    const cpu = process.cpuUsage(cpu0)
    const after = yield* stats(cluster)
    const ops = run.latencies.length
    const done = Math.max(1, ops)
    const sum = (f: (s: Stats) => number, xs: ReadonlyArray<Stats>) => xs.reduce((a, s) => a + f(s), 0)
    const sorted = run.latencies.sort((a, b) => a - b)
    return {
      inFlight: level,
      ops,
      seconds: run.seconds,
      p50Ms: quantile(sorted, 0.5),
      p99Ms: quantile(sorted, 0.99),
      replicaCpuPer1000: ((sum((s) => s.cpuMicros, after) - sum((s) => s.cpuMicros, before)) / 1e6 / done) * 1000,
      clientCpuPer1000: ((cpu.user + cpu.system) / 1e6 / done) * 1000,
      bytesPerOp: (sum((s) => s.bytesOut, after) - sum((s) => s.bytesOut, before)) / done,
      batchSize: (after[0]!.batchedRequests - before[0]!.batchedRequests) / Math.max(1, after[0]!.batches - before[0]!.batches),
      receivedPerOp: new Map([...delta(before, after, (s) => s.received)].map(([k, v]) => [k, v / done])),
      rejected: delta(before, after, (s) => s.rejected),
      failures: run.failures,
      viewChanges: Math.max(...after.map((s) => s.view)) - Math.max(...before.map((s) => s.view))
    }
  })

const figuresOf = (label: string, unit: string, p: Point): Array<Figure> => {
  const at = `${p.inFlight} in flight`
  const failed = [...p.failures].map(([k, v]) => `${v} ${k}`).join(", ")
  const rejected = [...p.rejected].map(([k, v]) => `${v} ${k}`).join(", ")
  const notes = [
    `${p.ops} ops in ${p.seconds.toFixed(1)} s`,
    failed === "" ? "" : `failed: ${failed}`,
    p.viewChanges > 0 ? `${p.viewChanges} view changes` : "",
    rejected === "" ? "" : `replicas dropped ${rejected}`
  ]
  const frames = [...p.receivedPerOp].sort((a, b) => b[1] - a[1])
  return [
    { name: `${label} ${unit}/s, ${at}`, value: p.ops / p.seconds, unit: "ops/s", note: notes.filter((n) => n !== "").join("; ") },
    { name: `${label} p50, ${at}`, value: p.p50Ms, unit: "ms" },
    { name: `${label} p99, ${at}`, value: p.p99Ms, unit: "ms" },
    { name: `${label} replica CPU per 1,000 ${unit}, ${at}`, value: p.replicaCpuPer1000, unit: "s", note: "4 replica processes, summed" },
    { name: `${label} client CPU per 1,000 ${unit}, ${at}`, value: p.clientCpuPer1000, unit: "s", note: "this process: all clients" },
    { name: `${label} replica bytes sent per ${unit.replace(/s$/, "")}, ${at}`, value: Math.round(p.bytesPerOp), unit: "B", note: "WebSocket bytes out of the 4 replicas" },
    { name: `${label} requests per batch, ${at}`, value: p.batchSize, unit: "", note: "committed batches at replica 0" },
    {
      name: `${label} frames received per ${unit.replace(/s$/, "")}, ${at}`,
      value: frames.reduce((a, [, v]) => a + v, 0),
      unit: "",
      note: `4 replicas' cores: ${frames.map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ")}`
    }
  ]
}

// ---------------------------------------------------------------------------
// Profiles

const profiler = (cluster: Cluster, workload: Workload, figures: Array<Figure>) => {
  const dir = process.env.SYNOD_BENCH_PROFILE
  if (dir === undefined || dir === "") return undefined
  fs.mkdirSync(dir, { recursive: true })
  const targets = [[0, "primary"], [1, "backup"]] as const
  return (phase: "start" | "stop") =>
    Effect.forEach(targets, ([i, role]) =>
      phase === "start"
        ? Effect.asVoid(cluster.replicas[i]!.request({ cmd: "profile-start" }))
        : Effect.gen(function*() {
          const file = path.resolve(dir, `pbft-ws-${workload}-${role}-replica${i}.cpuprofile`)
          yield* cluster.replicas[i]!.request({ cmd: "profile-stop", file })
          const summary = topSelfTime(file, 15)
          figures.push({ name: `profile ${workload} ${role}: idle`, value: summary.idlePercent, unit: "%", note: `${path.basename(file)}; the rest is busy` })
          for (const t of summary.top) {
            figures.push({ name: `profile ${workload} ${role}: ${t.fn}${t.file === "" ? "" : ` (${t.file})`}`, value: t.percent, unit: "% of busy", note: "self time" })
          }
        }), { discard: true })
}

// ---------------------------------------------------------------------------
// Ed25519 verification ceiling

const VERIFY_WORKER = `
const { parentPort } = require("node:worker_threads")
const crypto = require("node:crypto")
const { publicKey, privateKey } = crypto.generateKeyPairSync("ed25519")
const message = crypto.randomBytes(100)
const signature = crypto.sign(null, message, privateKey)
const warmEnd = Date.now() + 300
while (Date.now() < warmEnd) crypto.verify(null, message, publicKey, signature)
parentPort.postMessage("ready")
parentPort.once("message", (ms) => {
  let n = 0
  const t0 = performance.now()
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 50; i++) if (!crypto.verify(null, message, publicKey, signature)) throw new Error("verify failed")
    n += 50
  }
  parentPort.postMessage({ n, ms: performance.now() - t0 })
})
`

/** Verifications per second of `threads` worker threads verifying at once, summed. */
const verifyCeiling = (threads: number, ms: number): Promise<number> =>
  new Promise((resolve, reject) => {
    const workers = Array.from({ length: threads }, () => new Worker(VERIFY_WORKER, { eval: true }))
    let ready = 0
    let total = 0
    let done = 0
    const fail = (e: unknown) => {
      for (const w of workers) void w.terminate()
      reject(e)
    }
    for (const w of workers) {
      w.on("error", fail)
      w.on("message", (m: "ready" | { n: number; ms: number }) => {
        if (m === "ready") {
          if (++ready === threads) for (const x of workers) x.postMessage(ms)
          return
        }
        total += (m.n * 1000) / m.ms
        if (++done === threads) {
          for (const x of workers) void x.terminate()
          resolve(total)
        }
      })
    }
  })

// ---------------------------------------------------------------------------

const nullWorkload = (figures: Array<Figure>) =>
  Effect.scoped(Effect.gen(function*() {
    const cluster = yield* startCluster("null", undefined)
    const clients = yield* startClients(cluster, nullMachine)
    const counters = clients.map(() => 0)
    const op = (c: BenchClient<string, string>) =>
      Effect.map(c.client.submit(`n${(counters[c.index]!++ % 1e7).toString().padStart(7, "0")}`), () => undefined)
    const profile = profiler(cluster, "null", figures)
    for (const level of LEVELS) {
      const p = yield* measureLevel(cluster, clients, level, op, level === CLIENTS ? profile : undefined)
      figures.push(...figuresOf("null", "ops", p))
    }
  }))

const ledgerWorkload = (figures: Array<Figure>) =>
  Effect.gen(function*() {
    const wallets: Array<Wallet> = Array.from({ length: CLIENTS }, () => makeWallet(Crypto.generateEd25519()))
    const account = (i: number) => `acct-${i % CLIENTS}`
    const genesis = { minters: [], accounts: wallets.map((w, i) => ({ name: account(i), owner: w.publicKey, balance: 10n ** 15n })) }
    const ledger = makeLedger(genesis)
    // the ceiling before and after the ledger levels: a shared machine's load moves, and both are kept
    const before = yield* Effect.promise(() => verifyCeiling(2, 2000))
    const points = yield* Effect.scoped(Effect.gen(function*() {
      const cluster = yield* startCluster("ledger", Genesis.encode(genesis))
      const clients = yield* startClients(cluster, ledger)
      const counters = clients.map(() => 0)
      const op = (c: BenchClient<typeof ledger.command.Type, typeof ledger.result.Type>) =>
        Effect.map(
          c.client.submit(wallets[c.index]!.transfer(`t${c.index}-${counters[c.index]!++}`, account(c.index), account(c.index + 1), 1n)),
          (result) => (result._tag === "Applied" ? undefined : `result ${result._tag === "Failed" ? result.error._tag : result._tag}`)
        )
      const profile = profiler(cluster, "ledger", figures)
      const out: Array<Point> = []
      for (const level of LEVELS) out.push(yield* measureLevel(cluster, clients, level, op, level === CLIENTS ? profile : undefined))
      return out
    }))
    // the cluster and its clients are stopped again: the machine is as idle as this run can make it
    const after = yield* Effect.promise(() => verifyCeiling(2, 2000))
    const verifies = (before + after) / 2
    const ceiling = verifies / N
    for (const p of points) figures.push(...figuresOf("ledger", "transfers", p))
    figures.push(
      {
        name: "Ed25519 verifications/s, 2 threads at once",
        value: verifies,
        unit: "verifies/s",
        note: `100-byte message, both cores; mean of ${Math.round(before)} before and ${Math.round(after)} after the ledger levels`
      },
      { name: "ledger ceiling (verifications/s / 4)", value: ceiling, unit: "transfers/s", note: "every replica verifies each transfer's owner signature" }
    )
    for (const p of points) {
      figures.push({ name: `ledger transfers/s ÷ ceiling, ${p.inFlight} in flight`, value: (100 * p.ops) / p.seconds / ceiling, unit: "%", note: "target >= 60%" })
    }
  })

export const run = async (): Promise<ReadonlyArray<Figure>> => {
  const figures: Array<Figure> = []
  await Processes.runInterruptible(Effect.zipRight(nullWorkload(figures), ledgerWorkload(figures)))
  return figures
}
