/**
 * The Runner's start-up checks, each a typed `RunnerError`: a cluster file it
 * cannot use, a key that is not a replica of the cluster or not the key the
 * cluster lists, and an address it cannot listen on. And a replica it does
 * run: it listens where the cluster file says, with the builder's protocol.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { ClusterConfig, Keys, replicaPeer, Storage } from "@synod/core"
import { Deferred, Effect, Exit, Fiber } from "effect"
import * as fs from "node:fs"
import * as net from "node:net"
import * as path from "node:path"
import { loadIdentity, run, type RunningReplica } from "../src/Runner.js"
import { paxos } from "./fixtures/protocols.js"
import { clusterDir } from "./processes.js"
import { closeOf, rawAuthenticated } from "./support.js"

const reasonOf = <A>(exit: Exit.Exit<A, { readonly reason: string }>) => (Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error.reason : undefined)

describe("Runner", () => {
  it.scopedLive("refuses a missing or invalid cluster file (config) and a missing key file (key)", () =>
    Effect.gen(function*() {
      const cluster = yield* clusterDir("paxos", 3, ["alice"])
      const missing = yield* loadIdentity(path.join(cluster.dir, "nope.json"), cluster.keyFile("replica/0")).pipe(Effect.exit)
      expect(reasonOf(missing)).toBe("config")
      const bad = path.join(cluster.dir, "bad.json")
      fs.writeFileSync(bad, "{\"format\":\"synod-cluster/1\"}")
      expect(reasonOf(yield* loadIdentity(bad, cluster.keyFile("replica/0")).pipe(Effect.exit))).toBe("config")
      expect(reasonOf(yield* loadIdentity(cluster.clusterFile, path.join(cluster.dir, "nokey.json")).pipe(Effect.exit))).toBe("key")
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scopedLive("refuses a key that is not a replica of the cluster, or not the key the cluster lists (identity)", () =>
    Effect.gen(function*() {
      const cluster = yield* clusterDir("paxos", 3, ["alice"])
      const client = yield* loadIdentity(cluster.clusterFile, cluster.keyFile("client/alice")).pipe(Effect.exit)
      expect(reasonOf(client)).toBe("identity")
      const forged = path.join(cluster.dir, "forged.key.json")
      fs.writeFileSync(forged, Keys.encodePrivateKeyFile(Keys.generateKeyPair(replicaPeer(1))), { mode: 0o600 })
      expect(reasonOf(yield* loadIdentity(cluster.clusterFile, forged).pipe(Effect.exit))).toBe("identity")
      const ok = yield* loadIdentity(cluster.clusterFile, cluster.keyFile("replica/2"))
      expect(ok.id).toBe(2)
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scopedLive("fails with listen when its address is taken", () =>
    Effect.gen(function*() {
      const cluster = yield* clusterDir("paxos", 3, [])
      const port = Number(new URL(cluster.config.replicas[0]!.address).port)
      const blocker = net.createServer()
      yield* Effect.acquireRelease(
        Effect.async<void>((resume) => void blocker.listen(port, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => blocker.close())
      )
      const exit = yield* run({
        clusterFile: cluster.clusterFile,
        keyFile: cluster.keyFile("replica/0"),
        build: paxos.build,
        storage: () => Storage.layerMemory()
      }).pipe(Effect.exit)
      expect(reasonOf(exit)).toBe("listen")
    }).pipe(Effect.provide(NodeFileSystem.layer)))

  it.scopedLive("runs a replica on its configured address with the builder's protocol, until interrupted", () =>
    Effect.gen(function*() {
      const cluster = yield* clusterDir("paxos", 3, ["alice"])
      const started = yield* Deferred.make<RunningReplica>()
      const fiber = yield* run({
        clusterFile: cluster.clusterFile,
        keyFile: cluster.keyFile("replica/1"),
        build: paxos.build,
        storage: () => Storage.layerMemory(),
        onStart: (r) => Deferred.succeed(started, r).pipe(Effect.asVoid)
      }).pipe(Effect.fork)
      const replica = yield* Deferred.await(started)
      expect(replica.id).toBe(1)
      expect(replica.address).toBe(cluster.config.replicas[1]!.address)
      // a client of the cluster can authenticate against it
      const alice = cluster.keys.find((k) => k.peer === "client/alice")!
      const raw = yield* rawAuthenticated(replica.address, alice, replicaPeer(1), {
        clusterId: cluster.config.clusterId,
        keys: ClusterConfig.keyRing(cluster.config)
      })
      expect(raw.ws.readyState).toBe(raw.ws.OPEN)
      // interruption is the graceful shutdown: the transport closes its connections with 1001
      yield* Fiber.interrupt(fiber)
      expect(yield* closeOf(raw)).toEqual({ code: 1001, reason: "shutdown" })
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
