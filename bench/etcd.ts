/**
 * Suite `etcd`: the Synod key-value store (suite `paxos-ws`) against etcd,
 * in the same run, on the same machine, with the same workload: puts of
 * 64-byte values under 8-byte keys (10,000 of them) from closed-loop clients
 * in this process at 1, 16 and 64 in flight, and the ratios Synod / etcd of
 * throughput and p99 latency.
 *
 * etcd: the `etcd` binary of Debian's `etcd-server` package (3.4), three
 * members on 127.0.0.1 with their data directories in `$SYNOD_BENCH_DIR`
 * (default: the OS temp directory), default durability (an fsync per WAL
 * batch). Clients use etcd's HTTP/JSON gateway (`POST /v3/kv/put`, base64 key
 * and value) through Node's fetch with keep-alive, against the leader (the
 * Synod clients also talk to the leader). Without `etcd` on the PATH the suite
 * says how to install it and reports nothing else.
 *
 * The two clusters run side by side for the whole suite and the levels are
 * measured alternately (etcd then Synod at each level), so a busy phase of
 * the machine falls on both. Everything started here is stopped at the end.
 */
import { Data, Duration, Effect, type Scope } from "effect"
import { execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { Latency, LoadMix, LocalCluster } from "@synod/example-kv"
import type { Figure } from "./harness.js"
import { benchDir, figuresOf, KEYS, LEVELS, measureSeconds, type Point, replicaArgs, runStoppable, startSynod, VALUE_BYTES, WARMUP_SECONDS } from "./paxos-ws.js"

export const name = "etcd"
export const description = "etcd (3 members, HTTP gateway) vs the Synod KV on Multi-Paxos, same puts, same run; Synod/etcd ratios"

class EtcdError extends Data.TaggedError("EtcdError")<{ readonly detail: string }> {
  override get message() {
    return this.detail
  }
}

const which = (bin: string): string | undefined => {
  try {
    return execFileSync("which", [bin], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() || undefined
  } catch {
    return undefined
  }
}

const clockTicks = (): number => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100
  } catch {
    return 100
  }
}

/** utime + stime of a process, in seconds (Linux /proc). */
const cpuSeconds = (pid: number, ticks: number): number => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  // fields after the command (which may hold spaces) start after the last ")"
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) / ticks
}

const http = <A>(url: string, body?: string): Effect.Effect<A, EtcdError> =>
  Effect.tryPromise({
    try: async (signal) => {
      const res = await fetch(url, {
        method: body === undefined ? "GET" : "POST",
        ...(body === undefined ? {} : { body, headers: { "content-type": "application/json" } }),
        signal: AbortSignal.any([signal, AbortSignal.timeout(5000)])
      })
      const text = await res.text()
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`)
      return (text.startsWith("{") ? JSON.parse(text) : text) as A
    },
    catch: (e) => new EtcdError({ detail: `${url}: ${(e as Error).message}` })
  })

/** Sum of a Prometheus counter's samples (all label sets) on a /metrics page. */
const counterSum = (page: string, metric: string): number =>
  page.split("\n").filter((l) => l.startsWith(metric + "{") || l.startsWith(metric + " ")).reduce((a, l) => a + Number(l.slice(l.lastIndexOf(" ") + 1)), 0)

interface Member {
  readonly name: string
  readonly clientUrl: string
  readonly pid: number
}

const startMember = (bin: string, dir: string, m: { name: string; client: number; peer: number }, initialCluster: string, token: string) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const log = fs.openSync(path.join(dir, `${m.name}.log`), "a")
      const clientUrl = `http://127.0.0.1:${m.client}`
      const peerUrl = `http://127.0.0.1:${m.peer}`
      const child = spawn(bin, [
        "--name", m.name,
        "--data-dir", path.join(dir, m.name),
        "--listen-client-urls", clientUrl,
        "--advertise-client-urls", clientUrl,
        "--listen-peer-urls", peerUrl,
        "--initial-advertise-peer-urls", peerUrl,
        "--initial-cluster", initialCluster,
        "--initial-cluster-state", "new",
        "--initial-cluster-token", token,
        "--logger", "zap",
        "--log-level", "error"
      ], { stdio: ["ignore", log, log] })
      fs.closeSync(log)
      return { child, member: { name: m.name, clientUrl, pid: child.pid! } satisfies Member }
    }),
    ({ child }) =>
      Effect.async<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000)
        child.once("exit", () => {
          clearTimeout(timer)
          resume(Effect.void)
        })
        child.kill("SIGTERM")
      })
  )

interface Etcd {
  readonly measure: (inFlight: number) => Effect.Effect<Point>
  readonly wireNote: string
}

const startEtcd = (bin: string): Effect.Effect<Etcd, EtcdError, Scope.Scope> =>
  Effect.gen(function*() {
    const dir = yield* benchDir("synod-bench-etcd-")
    const ports = yield* LocalCluster.freePorts(6).pipe(Effect.mapError((e) => new EtcdError({ detail: e.detail })))
    const specs = [0, 1, 2].map((i) => ({ name: `m${i}`, client: ports[i]!, peer: ports[3 + i]! }))
    const initialCluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(",")
    const token = `synod-bench-${process.pid}-${Date.now()}`
    const members = (yield* Effect.forEach(specs, (s) => startMember(bin, dir, s, initialCluster, token))).map((m) => m.member)

    // healthy members and an elected leader
    const leader = yield* Effect.gen(function*() {
      for (;;) {
        const statuses = yield* Effect.forEach(members, (m) =>
          http<{ header: { member_id: string }; leader: string }>(`${m.clientUrl}/v3/maintenance/status`, "{}").pipe(Effect.option))
        const ids = statuses.flatMap((s) => (s._tag === "Some" ? [s.value] : []))
        const elected = ids.length === 3 && ids[0]!.leader !== "0" ? ids.findIndex((s) => s.header.member_id === ids[0]!.leader) : -1
        if (elected >= 0) return members[elected]!
        yield* Effect.sleep(Duration.millis(200))
      }
    }).pipe(Effect.timeoutFail({
      duration: Duration.seconds(60),
      onTimeout: () => new EtcdError({ detail: `the etcd cluster did not come up within 60 s (logs in ${dir})` })
    }))

    const ticks = clockTicks()
    const counters = Effect.gen(function*() {
      const pages = yield* Effect.forEach(members, (m) => http<string>(`${m.clientUrl}/metrics`))
      return {
        elections: Math.max(...pages.map((p) => counterSum(p, "etcd_server_leader_changes_seen_total"))),
        cpu: members.reduce((a, m) => a + cpuSeconds(m.pid, ticks), 0),
        bytes: pages.reduce((a, p) => a + counterSum(p, "etcd_network_peer_sent_bytes_total") + counterSum(p, "etcd_network_client_grpc_sent_bytes_total"), 0)
      }
    }).pipe(Effect.orDie)

    const b64 = (s: string) => Buffer.from(s).toString("base64")
    const putUrl = `${leader.clientUrl}/v3/kv/put`
    /** Closed-loop puts for `seconds`; latency and throughput of those completing after `warmup`. */
    const load = (inFlight: number, seconds: number, seed: number) =>
      Effect.promise(async () => {
        const rng = new LoadMix.Rng(seed)
        const latency = new Latency()
        let completed = 0
        let failed = 0
        let n = 0
        const start = process.hrtime.bigint()
        const end = start + BigInt(Math.round(seconds * 1e9))
        const client = async (c: number) => {
          while (process.hrtime.bigint() < end) {
            const value = `${c}.${n++}:`.padEnd(VALUE_BYTES, "x")
            const body = JSON.stringify({ key: b64(LoadMix.keyName(rng.int(KEYS))), value: b64(value) })
            const t0 = process.hrtime.bigint()
            try {
              const res = await fetch(putUrl, { method: "POST", body, headers: { "content-type": "application/json" } })
              await res.text()
              if (!res.ok) throw new Error(`HTTP ${res.status}`)
              const t1 = process.hrtime.bigint()
              completed++
              if (t1 <= end) latency.record(t1 - t0)
            } catch {
              failed++
            }
          }
        }
        await Promise.all(Array.from({ length: inFlight }, (_, c) => client(c)))
        return { latency, completed, failed, seconds }
      })

    return {
      wireNote: "etcd peer traffic and gRPC sent bytes (the HTTP gateway's replies not counted)",
      measure: (inFlight) =>
        Effect.gen(function*() {
          yield* load(inFlight, WARMUP_SECONDS, inFlight)
          const before = yield* counters
          const r = yield* load(inFlight, measureSeconds(), inFlight + 1000)
          const after = yield* counters
          const done = Math.max(1, r.completed)
          return {
            inFlight,
            opsPerSecond: r.latency.count / r.seconds,
            p50Ms: r.latency.quantileMs(0.5),
            p99Ms: r.latency.quantileMs(0.99),
            cpuSecondsPer1000: ((after.cpu - before.cpu) / done) * 1000,
            bytesPerOp: (after.bytes - before.bytes) / done,
            failed: r.failed,
            unknown: 0,
            leaderChanges: after.elections - before.elections
          }
        })
    }
  })

const ratio = (name: string, value: number, note: string): Figure => ({ name, value: Math.round(value * 100) / 100, unit: "x", note })

export const run = async (): Promise<ReadonlyArray<Figure>> => {
  const bin = which("etcd")
  if (bin === undefined) {
    console.log("  etcd is not installed: `apt-get install etcd-server` (Debian) puts it on the PATH; skipping the etcd suite")
    return [{ name: "etcd comparison skipped", value: 0, unit: "", note: "no `etcd` on the PATH: apt-get install etcd-server" }]
  }
  return runStoppable(Effect.scoped(Effect.gen(function*() {
    const etcd = yield* startEtcd(bin)
    const synod = yield* startSynod(replicaArgs())
    const pairs: Array<{ readonly etcd: Point; readonly synod: Point }> = []
    for (const level of LEVELS) pairs.push({ etcd: yield* etcd.measure(level), synod: yield* synod.measure(level) })
    const ratios = pairs.flatMap(({ etcd: e, synod: s }) => {
      const at = `${e.inFlight} in flight`
      const target = e.inFlight === 64
      return [
        ratio(`synod/etcd puts/s, ${at}`, s.opsPerSecond / e.opsPerSecond, target ? `target >= 2: ${s.opsPerSecond >= 2 * e.opsPerSecond ? "met" : "not met"}` : "higher is better for Synod"),
        ratio(`synod/etcd p99, ${at}`, s.p99Ms / e.p99Ms, target ? `target <= 1: ${s.p99Ms <= e.p99Ms ? "met" : "not met"}` : "lower is better for Synod")
      ]
    })
    return [...figuresOf("etcd", pairs.map((p) => p.etcd), etcd.wireNote), ...figuresOf("synod", pairs.map((p) => p.synod), synod.wireNote), ...ratios]
  })))
}
