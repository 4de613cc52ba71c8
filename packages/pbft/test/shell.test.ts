/**
 * The Effect shells: PbftReplica (the generic replica actor around the PBFT
 * driver) and the PBFT client shell, over the in-memory transport and memory
 * storage, on the TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import { Actor, type ClientId, clientPeer, Crypto, Keys, MemoryTransport, type ReplicaId, replicaPeer, Storage, Transport, TrustModel } from "@synod/core"
import { KvStateMachine } from "@synod/core/testing"
import { Effect, Either, Exit, Fiber, Option, Scope, TestClock } from "effect"
import * as PbftClientShell from "../src/PbftClient.js"
import * as PbftReplica from "../src/PbftReplica.js"
import { verifyReplyCertificate } from "../src/ReplyCertificate.js"

const seed = "pbft-shell"
const peers = [0, 1, 2, 3].map(replicaPeer).concat([clientPeer("alice")])
const keys = Crypto.simulatedKeyRing(seed, peers)
const trust = TrustModel.byzantine(4)
const config = { viewChangeTimeoutTicks: 50, statusIntervalTicks: 10 }

const startReplica = (net: MemoryTransport.MemoryNetwork, r: number, disk: Map<string, Uint8Array>, supervisor: Actor.Supervisor) =>
  Effect.gen(function*() {
    const transport = yield* net.connect(replicaPeer(r))
    const storage = yield* Storage.makeMemory(disk)
    return yield* PbftReplica.run({ id: r as ReplicaId, clusterId: "shell", trust, stateMachine: KvStateMachine, config, shell: { supervisor } }).pipe(
      Effect.provideService(Transport.Transport, transport),
      Effect.provideService(Storage.Storage, storage),
      Effect.provideService(Keys.SignerService, Crypto.simulatedSigner(seed, replicaPeer(r))),
      Effect.provideService(Keys.KeyRingService, keys)
    )
  })

const startClient = (net: MemoryTransport.MemoryNetwork, supervisor: Actor.Supervisor) =>
  Effect.gen(function*() {
    const transport = yield* net.connect(clientPeer("alice"))
    return yield* PbftClientShell.make({
      clusterId: "shell",
      clientId: "alice" as ClientId,
      trust,
      stateMachine: KvStateMachine,
      config: { requestTimeoutTicks: 20 },
      shell: { supervisor }
    }).pipe(
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

describe("PbftReplica and the PBFT client shell", () => {
  it.scoped("writes commit, reads take the read-only path, and a kept reply certificate verifies", () =>
    Effect.gen(function*() {
      const net = yield* MemoryTransport.makeNetwork()
      const { supervisor, failures } = yield* Actor.queueSupervisor()
      const replicas = yield* Effect.forEach([0, 1, 2, 3], (r) => startReplica(net, r, new Map(), supervisor))
      const client = yield* startClient(net, supervisor)
      expect(yield* withClock(client.submit({ _tag: "Put", key: "x", value: "1" }))).toEqual({ _tag: "Stored" })
      const certified = yield* withClock(client.certified({ _tag: "Put", key: "x", value: "2" }))
      expect(certified.result).toEqual({ _tag: "Stored", previous: "1" })
      expect(Either.getOrThrow(verifyReplyCertificate(certified.certificate, trust, keys, { clusterId: "shell" })).index).toBe(certified.index)
      expect(yield* withClock(client.read({ _tag: "Get", key: "x" }))).toEqual({ _tag: "Got", value: "2" })
      expect(yield* Effect.forEach(replicas, (r) => r.isPrimary)).toEqual([true, false, false, false])
      yield* withClock(Effect.forEach(replicas, (r) => r.awaitApplied(2)))
      const digests = yield* Effect.forEach(replicas, (r) => r.stateDigest)
      expect(new Set(digests).size).toBe(1)
      expect(failures.unsafeSize().pipe(Option.getOrElse(() => 0))).toBe(0)
    }))

  it.scoped("a stopped primary is replaced, and a replica restarted on its storage comes back in its view and catches up", () =>
    Effect.gen(function*() {
      const net = yield* MemoryTransport.makeNetwork()
      const { supervisor } = yield* Actor.queueSupervisor()
      const disks = [0, 1, 2, 3].map(() => new Map<string, Uint8Array>())
      const scopes = yield* Effect.forEach([0, 1, 2, 3], () => Scope.make())
      const start = (r: number) => startReplica(net, r, disks[r]!, supervisor).pipe(Scope.extend(scopes[r]!))
      const replicas = yield* Effect.forEach([0, 1, 2, 3], start)
      const client = yield* startClient(net, supervisor)
      yield* withClock(client.submit({ _tag: "Put", key: "a", value: "1" }))
      yield* Scope.close(scopes[0]!, Exit.void)
      expect(yield* withClock(client.submit({ _tag: "Put", key: "a", value: "2" }))).toEqual({ _tag: "Stored", previous: "1" })
      expect(yield* replicas[1]!.view).toBe(1)
      yield* withClock(replicas[3]!.awaitApplied(2))
      yield* Scope.close(scopes[3]!, Exit.void)
      scopes[3] = yield* Scope.make()
      const again = yield* start(3)
      expect(yield* again.view).toBe(1)
      expect(yield* withClock(client.submit({ _tag: "Get", key: "a" }))).toEqual({ _tag: "Got", value: "2" })
      const caughtUp = yield* withClock(again.awaitApplied(3))
      expect(caughtUp.stateDigest).toBe(yield* replicas[1]!.stateDigest)
    }))
})
