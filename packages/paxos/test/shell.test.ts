/**
 * The Effect shells: PaxosReplica (the generic replica actor around the Paxos
 * driver) and PaxosClient, over the in-memory transport and memory storage,
 * on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Actor, clientPeer, Crypto, Keys, MemoryTransport, type ReplicaId, replicaPeer, Storage, Transport, TrustModel } from "@synod/core"
import { KvStateMachine } from "@synod/core/testing"
import { Effect, Exit, Fiber, Option, Scope, TestClock } from "effect"
import * as PaxosClient from "../src/PaxosClient.js"
import * as PaxosReplica from "../src/PaxosReplica.js"

const seed = "shell"
const peers = [0, 1, 2].map(replicaPeer).concat([clientPeer("alice")])
const keys = Crypto.simulatedKeyRing(seed, peers)
const trust = TrustModel.crashMajority(3)

const startReplica = (net: MemoryTransport.MemoryNetwork, r: number, disk: Map<string, Uint8Array>, supervisor: Actor.Supervisor) =>
  Effect.gen(function*() {
    const transport = yield* net.connect(replicaPeer(r))
    const storage = yield* Storage.makeMemory(disk)
    return yield* PaxosReplica.run({ id: r as ReplicaId, clusterId: "shell", trust, stateMachine: KvStateMachine, seed: r, shell: { supervisor } }).pipe(
      Effect.provideService(Transport.Transport, transport),
      Effect.provideService(Storage.Storage, storage),
      Effect.provideService(Keys.SignerService, Crypto.simulatedSigner(seed, replicaPeer(r))),
      Effect.provideService(Keys.KeyRingService, keys)
    )
  })

const startClient = (net: MemoryTransport.MemoryNetwork, supervisor: Actor.Supervisor) =>
  Effect.gen(function*() {
    const transport = yield* net.connect(clientPeer("alice"))
    return yield* PaxosClient.make({ clusterId: "shell", clientId: "alice" as never, replicas: trust.replicas, stateMachine: KvStateMachine, shell: { supervisor } }).pipe(
      Effect.provideService(Transport.Transport, transport),
      Effect.provideService(Keys.SignerService, Crypto.simulatedSigner(seed, clientPeer("alice"))),
      Effect.provideService(Keys.KeyRingService, keys)
    )
  })

/** Run `effect` while moving the TestClock forward one tick (10 ms) at a time. */
const withClock = <A, E>(effect: Effect.Effect<A, E>, maxTicks = 3000) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let i = 0; i < maxTicks; i++) {
      const done = yield* Fiber.poll(fiber)
      if (Option.isSome(done)) return yield* done.value
      yield* TestClock.adjust("10 millis")
      for (let j = 0; j < 20; j++) yield* Effect.yieldNow()
    }
    return yield* Effect.dieMessage(`not done after ${maxTicks} ticks`)
  })

const cluster = Effect.gen(function*() {
  const net = yield* MemoryTransport.makeNetwork()
  const { supervisor, failures } = yield* Actor.queueSupervisor()
  const disks = [0, 1, 2].map(() => new Map<string, Uint8Array>())
  const replicas = yield* Effect.forEach([0, 1, 2], (r) => startReplica(net, r, disks[r]!, supervisor))
  const client = yield* startClient(net, supervisor)
  return { net, supervisor, failures, disks, replicas, client }
})

describe("PaxosReplica and PaxosClient (Effect shells)", () => {
  it.scoped("commit writes and answer linearizable and stale reads, with one leader holding the highest fencing token", () =>
    Effect.gen(function*() {
      const { replicas, client, failures } = yield* cluster
      expect(yield* withClock(client.submit({ _tag: "Put", key: "x", value: "1" }))).toEqual({ _tag: "Stored" })
      expect(yield* withClock(client.submit({ _tag: "Put", key: "x", value: "2" }))).toEqual({ _tag: "Stored", previous: "1" })
      expect(yield* withClock(client.read({ _tag: "Get", key: "x" }))).toEqual({ _tag: "Got", value: "2" })
      const stale = yield* withClock(client.read({ _tag: "Get", key: "x" }, { consistency: "stale" }))
      expect(stale._tag).toBe("Got")
      const leaders = yield* Effect.forEach(replicas, (r) => r.isLeader)
      expect(leaders.filter(Boolean)).toHaveLength(1)
      const tokens = yield* Effect.forEach(replicas, (r) => r.fencingToken)
      expect(tokens[leaders.indexOf(true)]).toBe(Math.max(...tokens))
      expect(tokens[leaders.indexOf(true)]).toBeGreaterThan(0)
      expect(failures.unsafeSize().pipe(Option.getOrElse(() => 0))).toBe(0)
    }))

  it.scoped("membership changes are typed: a no-op change is rejected, a real one is scheduled alpha slots ahead", () =>
    Effect.gen(function*() {
      const { client } = yield* cluster
      yield* withClock(client.submit({ _tag: "Put", key: "k", value: "v" }))
      const refused = yield* withClock(Effect.either(client.reconfigure([0, 1, 2] as Array<ReplicaId>)))
      expect(refused._tag === "Left" && refused.left._tag === "ClientRejected" && refused.left.reason).toBe("no-change")
      const scheduled = yield* withClock(client.reconfigure([0, 1] as Array<ReplicaId>))
      expect(scheduled.members).toEqual([0, 1])
      expect(scheduled.epoch).toBe(1)
      expect(scheduled.effectiveFrom).toBeGreaterThan(16)
    }))

  it.scoped("a replica stopped and started again on the same storage comes back with its state", () =>
    Effect.gen(function*() {
      const net = yield* MemoryTransport.makeNetwork()
      const { supervisor } = yield* Actor.queueSupervisor()
      const disks = [0, 1, 2].map(() => new Map<string, Uint8Array>())
      const scopes = yield* Effect.forEach([0, 1, 2], () => Scope.make())
      const start = (r: number) => startReplica(net, r, disks[r]!, supervisor).pipe(Scope.extend(scopes[r]!))
      const replicas = yield* Effect.forEach([0, 1, 2], start)
      const client = yield* startClient(net, supervisor)
      for (let i = 0; i < 3; i++) yield* withClock(client.submit({ _tag: "Put", key: `k${i}`, value: `${i}` }))
      const follower = (yield* Effect.forEach(replicas, (r) => r.isLeader)).indexOf(false)
      yield* withClock(replicas[follower]!.awaitApplied(3))
      const before = yield* replicas[follower]!.status
      yield* Scope.close(scopes[follower]!, Exit.void)
      scopes[follower] = yield* Scope.make()
      const again = yield* start(follower)
      expect(yield* again.status).toEqual(before)
      expect(yield* withClock(client.submit({ _tag: "Get", key: "k2" }))).toEqual({ _tag: "Got", value: "2" })
    }))
})
