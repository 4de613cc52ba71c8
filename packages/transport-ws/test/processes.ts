/**
 * Multi-process cluster harness: a cluster directory with fresh keys and free
 * ports on 127.0.0.1, replica processes (`fixtures/replica-main.ts`) that are
 * killed by their scope's finalizer, and a client in the test process over the
 * WebSocket transport.
 */
import { ClientShell, ClusterConfig, Keys, makeClientId, replicaPeer, Transport } from "@synod/core"
import { Kv, Prng } from "@synod/core/testing"
import { Deferred, Duration, Effect, Layer, Option, type Scope } from "effect"
import { type ChildProcess, spawn } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as WebSocketTransport from "../src/WebSocketTransport.js"
import { kits } from "./fixtures/protocols.js"
import { COUNTED_KINDS, makeFuzzer } from "./fuzzFrames.js"
import { rawAuthenticated } from "./support.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const repoRoot = path.resolve(here, "../../..")
const replicaMain = path.join(here, "fixtures/replica-main.ts")

/** Our environment without vitest's markers: a replica process is a plain Node program. */
const childEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("VITEST") && k !== "NODE_OPTIONS") env[k] = v
  return env
}

/** A port that was free a moment ago (bind 0, read it, release it). */
export const freePort: Effect.Effect<number> = Effect.async((resume) => {
  const server = net.createServer()
  server.listen(0, "127.0.0.1", () => {
    const port = (server.address() as net.AddressInfo).port
    server.close(() => resume(Effect.succeed(port)))
  })
})

export interface ClusterDir {
  readonly dir: string
  readonly config: ClusterConfig.ClusterConfig
  readonly clusterFile: string
  readonly keys: ReadonlyArray<Keys.PeerKeyPair>
  keyFile(peer: string): string
}

/** Fresh keys for `n` replicas and the given clients, on free ports, in a temporary directory removed afterwards. */
export const clusterDir = (protocol: "paxos" | "pbft", n: number, clients: ReadonlyArray<string>): Effect.Effect<ClusterDir, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.gen(function*() {
      const generated = yield* ClusterConfig.generateCluster({ n, protocol, clients }).pipe(Effect.orDie)
      const ports = yield* Effect.all(Array.from({ length: n }, () => freePort))
      const json = JSON.parse(ClusterConfig.encode(generated.config)) as { replicas: Array<{ address: string }> }
      json.replicas.forEach((r, i) => (r.address = `ws://127.0.0.1:${ports[i]}`))
      const config = yield* ClusterConfig.decodeUnknown(json).pipe(Effect.orDie)
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `synod-ws-${protocol}-`))
      fs.mkdirSync(path.join(dir, "keys"), { mode: 0o700 })
      fs.mkdirSync(path.join(dir, "data"))
      const clusterFile = path.join(dir, ClusterConfig.CLUSTER_FILE_NAME)
      fs.writeFileSync(clusterFile, ClusterConfig.encode(config))
      for (const f of generated.files) if (f.path.startsWith("keys/")) fs.writeFileSync(path.join(dir, f.path), f.text, { mode: f.mode })
      return {
        dir,
        config,
        clusterFile,
        keys: generated.keys,
        keyFile: (peer: string) => path.join(dir, "keys", Keys.keyFileName(peer as never))
      }
    }),
    (c) => Effect.sync(() => fs.rmSync(c.dir, { recursive: true, force: true }))
  )

export interface ReplicaProcess {
  readonly id: number
  readonly child: ChildProcess
  /** Exit code (null when killed by a signal) once the process has exited. */
  readonly exited: Deferred.Deferred<number | null>
  readonly output: Array<string>
  kill(signal: NodeJS.Signals): Effect.Effect<void>
}

/**
 * Start replica `id` and wait for its ready line. The scope's finalizer kills
 * it (SIGKILL) if it is still running, so no process outlives its test.
 */
export const startReplica = (cluster: ClusterDir, id: number): Effect.Effect<ReplicaProcess, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const ready = yield* Deferred.make<void, Error>()
    const exited = yield* Deferred.make<number | null>()
    const proc = yield* Effect.acquireRelease(
      Effect.sync((): ReplicaProcess => {
        const child = spawn(
          process.execPath,
          ["--conditions=source", "--import", "tsx", replicaMain, cluster.clusterFile, cluster.keyFile(`replica/${id}`), path.join(cluster.dir, "data")],
          { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], env: childEnv() }
        )
        const output: Array<string> = []
        const onLine = (line: string) => {
          if (output.length < 2000) output.push(line)
          if (line.startsWith(`{"ready":${id}`)) Deferred.unsafeDone(ready, Effect.void)
        }
        let buffered = ""
        const onData = (chunk: Buffer) => {
          buffered += chunk.toString("utf8")
          const lines = buffered.split("\n")
          buffered = lines.pop() ?? ""
          lines.forEach(onLine)
        }
        child.stdout!.on("data", onData)
        child.stderr!.on("data", onData)
        child.on("exit", (code) => {
          Deferred.unsafeDone(exited, Effect.succeed(code))
          Deferred.unsafeDone(ready, Effect.fail(new Error(`replica ${id} exited (${code}) before it was ready:\n${output.join("\n")}`)))
        })
        return {
          id,
          child,
          exited,
          output,
          kill: (signal) => Effect.sync(() => void child.kill(signal))
        }
      }),
      (p) =>
        Effect.gen(function*() {
          if (Option.isSome(yield* Deferred.poll(p.exited))) return
          p.child.kill("SIGKILL")
          yield* Deferred.await(p.exited).pipe(Effect.timeout("5 seconds"), Effect.ignore)
        })
    )
    yield* Deferred.await(ready).pipe(
      Effect.timeoutFail({ duration: Duration.seconds(60), onTimeout: () => new Error(`replica ${id} not ready within 60 s:\n${proc.output.join("\n")}`) })
    )
    return proc
  })

/** Kill a replica and wait until it is gone. */
export const killReplica = (p: ReplicaProcess, signal: NodeJS.Signals = "SIGKILL") =>
  Effect.gen(function*() {
    yield* p.kill(signal)
    return yield* Deferred.await(p.exited).pipe(Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error(`replica ${p.id} did not exit on ${signal}`) }))
  })

export interface KvClient {
  readonly put: (key: string, value: string) => Effect.Effect<Kv.Result, Error>
  readonly get: (key: string) => Effect.Effect<Kv.Result, Error>
  readonly transport: WebSocketTransport.WebSocketTransport
}

/** A client of the cluster in this process: the protocol's client driver in the generic client shell, over WebSocket. */
export const kvClient = (cluster: ClusterDir, name: string): Effect.Effect<KvClient, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pair = cluster.keys.find((k) => k.peer === `client/${name}`)!
    const kit = kits[cluster.config.protocol] as (typeof kits)["paxos"]
    const keys = ClusterConfig.keyRing(cluster.config)
    const transport = yield* WebSocketTransport.make({
      clusterId: cluster.config.clusterId,
      signer: Keys.signerOf(pair),
      keys,
      peers: ClusterConfig.replicaAddresses(cluster.config),
      limits: { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 5000, backoffBaseMs: 50, backoffMaxMs: 500 }
    }).pipe(Effect.orDie)
    const handle = yield* ClientShell.make(
      kit.client(makeClientId(name), ClusterConfig.quorumSystem(cluster.config), 7),
      { envelope: kit.envelope(cluster.config.clusterId), supervisor: () => Effect.void }
    ).pipe(
      Effect.provide(Layer.mergeAll(
        Layer.succeed(Transport.Transport, transport),
        Keys.layerSigner(Keys.signerOf(pair)),
        Keys.layerKeyRing(keys)
      ))
    )
    const submit = (command: Kv.Command, readOnly: boolean) =>
      handle.submit(Kv.encodeCommand(command), { readOnly }).pipe(
        Effect.mapError((e) => new Error(`${e._tag}: ${JSON.stringify(e)}`)),
        Effect.flatMap((outcome) => {
          if (outcome._tag !== "Committed") return Effect.fail(new Error(`not committed: ${JSON.stringify(outcome)}`))
          const result = Kv.decodeResult(outcome.result)
          return result === undefined ? Effect.fail(new Error("undecodable result")) : Effect.succeed(result)
        })
      )
    return {
      put: (key, value) => submit({ _tag: "Put", key, value }, false),
      get: (key) => submit({ _tag: "Get", key }, true),
      transport
    }
  })


/**
 * Throw `count` malformed frames (the counted kinds of `fuzzFrames.ts`) at
 * replica `id` of the cluster, as the authenticated client `name`, 80 per
 * connection; returns how many were sent.
 */
export const fuzzReplica = (cluster: ClusterDir, id: number, name: string, count: number, seed: number) =>
  Effect.gen(function*() {
    const pair = cluster.keys.find((k) => k.peer === `client/${name}`)!
    const victim = cluster.keys.find((k) => k.peer !== pair.peer && k.peer.startsWith("client/"))!
    const kit = kits[cluster.config.protocol] as (typeof kits)["paxos"]
    const tag = [...kit.envelope(cluster.config.clusterId).codec.tags][0]!
    const rng = Prng.derive(seed, `fuzz-${id}`)
    const fuzz = makeFuzzer({
      clusterId: cluster.config.clusterId,
      protocol: kit.envelope(cluster.config.clusterId).protocol,
      validTag: tag,
      validPayload: (r) => JSON.stringify({ _tag: tag, junk: r.u32() }),
      self: Keys.signerOf(pair),
      victim: Keys.signerOf(victim),
      claimed: replicaPeer((id + 1) % cluster.config.replicas.length)
    }, rng)
    const url = cluster.config.replicas[id]!.address
    const keys = ClusterConfig.keyRing(cluster.config)
    let sent = 0
    while (sent < count) {
      yield* Effect.scoped(Effect.gen(function*() {
        const raw = yield* rawAuthenticated(url, pair, replicaPeer(id), { clusterId: cluster.config.clusterId, keys })
        for (let i = 0; i < 80 && sent < count; i++, sent++) raw.ws.send(fuzz.frame(rng.pick(COUNTED_KINDS)))
        raw.ws.close()
        yield* Deferred.await(raw.closed).pipe(Effect.timeout("10 seconds"), Effect.ignore)
      }))
    }
    return sent
  })
