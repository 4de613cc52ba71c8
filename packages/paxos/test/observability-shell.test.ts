/**
 * Paxos observability through the real Effect shells (`PaxosReplica`,
 * `PaxosClient`) on the in-memory network and the TestClock: the counters a
 * leader change moves, the replication-lag gauge across a partition and its
 * healing, request spans from the `RequestPhase` events, and snapshots as
 * stable checkpoints. The simulator side is in `observability.test.ts`.
 */
import { describe, expect, it } from "@effect/vitest"
import {
  Actor,
  clientPeer,
  Crypto,
  Keys,
  MemoryTransport,
  Metrics,
  type Protocol,
  type ReplicaId,
  replicaPeer,
  Storage,
  Transport,
  TrustModel
} from "@synod/core"
import { KvStateMachine } from "@synod/core/testing"
import { Effect, Fiber, Option, TestClock } from "effect"
import { collectSpans } from "../../core/test/support/Observe.js"
import type { PaxosConfig } from "../src/Config.js"
import * as PaxosClient from "../src/PaxosClient.js"
import * as PaxosReplica from "../src/PaxosReplica.js"

const PROTOCOL = "paxos/1"
const KEY_SEED = "observe"
const trust = TrustModel.crashMajority(3)
const keys = Crypto.simulatedKeyRing(KEY_SEED, [0, 1, 2].map(replicaPeer).concat([clientPeer("alice")]))

const startReplica = (net: MemoryTransport.MemoryNetwork, r: number, supervisor: Actor.Supervisor, config: Partial<PaxosConfig> | undefined) =>
  Effect.gen(function*() {
    const transport = yield* net.connect(replicaPeer(r))
    const storage = yield* Storage.makeMemory(new Map())
    return yield* PaxosReplica.run({
      id: r as ReplicaId,
      clusterId: "observe",
      trust,
      stateMachine: KvStateMachine,
      seed: r,
      ...(config !== undefined ? { config } : {}),
      shell: { supervisor }
    }).pipe(
      Effect.provideService(Transport.Transport, transport),
      Effect.provideService(Storage.Storage, storage),
      Effect.provideService(Keys.SignerService, Crypto.simulatedSigner(KEY_SEED, replicaPeer(r))),
      Effect.provideService(Keys.KeyRingService, keys)
    )
  })

const shellCluster = (config?: Partial<PaxosConfig>) =>
  Effect.gen(function*() {
    const net = yield* MemoryTransport.makeNetwork()
    const { supervisor } = yield* Actor.queueSupervisor()
    const replicas = yield* Effect.forEach([0, 1, 2], (r) => startReplica(net, r, supervisor, config))
    const transport = yield* net.connect(clientPeer("alice"))
    const client = yield* PaxosClient.make({ clusterId: "observe", clientId: "alice" as never, replicas: trust.replicas, stateMachine: KvStateMachine, shell: { supervisor } }).pipe(
      Effect.provideService(Transport.Transport, transport),
      Effect.provideService(Keys.SignerService, Crypto.simulatedSigner(KEY_SEED, clientPeer("alice"))),
      Effect.provideService(Keys.KeyRingService, keys)
    )
    return { net, replicas, client }
  })

/** Move the TestClock one tick (10 ms) at a time until `effect` completes. */
const withClock = <A, E, R>(effect: Effect.Effect<A, E, R>, maxTicks = 3000) =>
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

/** Move the TestClock one tick at a time until `condition` holds. */
const clockUntil = <E, R>(condition: Effect.Effect<boolean, E, R>, maxTicks = 3000) =>
  Effect.gen(function*() {
    for (let i = 0; i < maxTicks; i++) {
      if (yield* condition) return
      yield* TestClock.adjust("10 millis")
      for (let j = 0; j < 20; j++) yield* Effect.yieldNow()
    }
    return yield* Effect.dieMessage(`condition not reached after ${maxTicks} ticks`)
  })

const leaderIndex = (replicas: ReadonlyArray<PaxosReplica.PaxosReplicaHandle>) =>
  Effect.map(Effect.forEach(replicas, (r) => r.isLeader), (flags) => flags.indexOf(true))

const viewChanges = (cause: string) => Metrics.counterValue(Metrics.viewChanges, { protocol: PROTOCOL, cause })
const replicaGauge = (metric: typeof Metrics.view, r: number, extra: Record<string, string> = {}) =>
  Metrics.gaugeValue(metric, { protocol: PROTOCOL, replica: replicaPeer(r), ...extra })

describe("Paxos observability through the Effect shells", () => {
  it.scoped("a leader change counts in synod_view_changes_total by cause and in synod_leader_changes_total; gauges follow", () =>
    Effect.gen(function*() {
      const { replicas, client } = yield* shellCluster()
      yield* withClock(client.submit({ _tag: "Put", key: "x", value: "1" }))
      const old = yield* leaderIndex(replicas)
      const oldView = (yield* replicas[old]!.replicaStatus).view
      const survivors = [0, 1, 2].filter((r) => r !== old)
      const queues = yield* Effect.forEach(survivors, (r) => replicas[r]!.subscribe)
      const before = {
        timeout: yield* viewChanges("election-timeout"),
        higher: yield* viewChanges("higher-ballot"),
        leaders: yield* Metrics.counterValue(Metrics.leaderChanges, { protocol: PROTOCOL })
      }
      yield* replicas[old]!.stop
      yield* withClock(client.submit({ _tag: "Put", key: "x", value: "2" }))
      const fresh = yield* leaderIndex(replicas)
      expect(survivors).toContain(fresh)
      const other = survivors.find((r) => r !== fresh)!
      yield* clockUntil(Effect.map(replicas[other]!.replicaStatus, (s) => s.leader === fresh))
      const seen = (yield* Effect.forEach(queues, (q) => q.takeAll)).flatMap((c) => [...c])
      const views = seen.filter((e): e is Extract<Protocol.ProtocolEvent, { _tag: "ViewChanged" }> => e._tag === "ViewChanged")
      const timeouts = views.filter((e) => e.cause === "election-timeout")
      expect(timeouts.length).toBeGreaterThanOrEqual(1)
      expect(timeouts.at(-1)).toMatchObject({ leader: fresh })
      expect(views.filter((e) => e.cause !== "election-timeout" && e.cause !== "election-retry").every((e) => e.cause === "higher-ballot")).toBe(true)
      // the counters moved by exactly what the replicas reported
      expect((yield* viewChanges("election-timeout")) - before.timeout).toBe(timeouts.length)
      expect((yield* viewChanges("higher-ballot")) - before.higher).toBe(views.filter((e) => e.cause === "higher-ballot").length)
      expect(views.some((e) => e.cause === "higher-ballot" && e.leader === fresh)).toBe(true)
      // both survivors saw the leader change from the old leader to the new one
      expect((yield* Metrics.counterValue(Metrics.leaderChanges, { protocol: PROTOCOL })) - before.leaders).toBeGreaterThanOrEqual(2)
      const status = yield* replicas[fresh]!.replicaStatus
      expect(status).toMatchObject({ role: "leader", leader: fresh })
      expect(status.view).toBeGreaterThan(oldView)
      expect(yield* replicaGauge(Metrics.isLeader, fresh)).toBe(1)
      expect(yield* replicaGauge(Metrics.view, fresh)).toBe(status.view)
      expect(yield* replicaGauge(Metrics.isLeader, other)).toBe(0)
    }))

  it.scoped("a partitioned follower's synod_replication_lag grows on the leader and returns to 0 after catch-up", () =>
    Effect.gen(function*() {
      const { net, replicas, client } = yield* shellCluster()
      yield* withClock(client.submit({ _tag: "Put", key: "k", value: "0" }))
      const l = yield* leaderIndex(replicas)
      const [f, h] = [0, 1, 2].filter((r) => r !== l) as [number, number]
      const lagGauge = (peer: number) => replicaGauge(Metrics.replicationLag, l, { peer: replicaPeer(peer) })
      const lagInStatus = (peer: number) => Effect.map(replicas[l]!.replicaStatus, (s) => s.peers.find((p) => p.replica === peer)!.lag)
      yield* clockUntil(Effect.map(lagInStatus(f), (lag) => lag === 0))
      yield* net.disconnect(replicaPeer(f), replicaPeer(l))
      yield* net.disconnect(replicaPeer(f), replicaPeer(h))
      const lags: Array<number> = []
      for (let i = 1; i <= 5; i++) {
        yield* withClock(client.submit({ _tag: "Put", key: "k", value: `${i}` }))
        lags.push(yield* lagGauge(f))
        expect(yield* lagInStatus(f)).toBe(lags.at(-1))
      }
      expect(lags).toEqual([...lags].sort((a, b) => a - b))
      expect(lags.at(-1)).toBeGreaterThanOrEqual(5)
      expect(yield* lagGauge(h)).toBe(0)
      yield* net.reconnect(replicaPeer(f), replicaPeer(l))
      yield* net.reconnect(replicaPeer(f), replicaPeer(h))
      yield* clockUntil(Effect.map(lagGauge(f), (lag) => lag === 0))
      const leaderStatus = yield* replicas[l]!.replicaStatus
      expect(yield* replicas[f]!.appliedIndex).toBe(leaderStatus.appliedIndex)
      expect(yield* replicaGauge(Metrics.appliedIndex, f)).toBe(leaderStatus.appliedIndex)
      expect(leaderStatus.commitIndex).toBeGreaterThanOrEqual(leaderStatus.appliedIndex)
    }))

  it.scoped("a request's phases at the leader end in one span (replied); each follower's span ends at executed", () => {
    const { spans, install } = collectSpans()
    return Effect.gen(function*() {
      const { replicas, client } = yield* shellCluster()
      const latency = () => Effect.map(Metrics.histogramValue(Metrics.commitLatency, { protocol: PROTOCOL, until: "replied" }), (h) => h.count)
      const latencyBefore = yield* latency()
      yield* withClock(client.submit({ _tag: "Put", key: "s", value: "1" }))
      const l = yield* leaderIndex(replicas)
      const applied = yield* replicas[l]!.appliedIndex
      yield* withClock(Effect.forEach(replicas, (r) => r.awaitApplied(applied)))
      const requestSpans = (r: number) =>
        spans.filter((s) => s.name === "synod.request" && s.attributes.get("synod.replica") === replicaPeer(r) && s.attributes.get("synod.client") === "alice")
      const [atLeader] = requestSpans(l)
      expect(requestSpans(l)).toHaveLength(1)
      expect(atLeader!.events.map((e) => e.name)).toEqual(["received", "proposed", "committed", "executed", "replied"])
      expect(atLeader!.ended).toBe(true)
      expect(atLeader!.attributes.get("synod.outcome")).toBe("replied")
      expect(atLeader!.attributes.get("synod.index")).toBe(applied)
      for (const f of [0, 1, 2].filter((r) => r !== l)) {
        yield* clockUntil(Effect.sync(() => requestSpans(f).length === 1 && requestSpans(f)[0]!.ended))
        const [span] = requestSpans(f)
        expect(span!.events.map((e) => e.name)).toEqual(["committed", "executed"])
        expect(span!.attributes.get("synod.outcome")).toBe("executed")
      }
      expect((yield* latency()) - latencyBefore).toBe(1)
    }).pipe(install)
  })

  it.scoped("snapshots count as stable checkpoints and set synod_stable_checkpoint", () =>
    Effect.gen(function*() {
      const before = yield* Metrics.counterValue(Metrics.checkpoints, { protocol: PROTOCOL, stable: "true" })
      const { replicas, client } = yield* shellCluster({ snapshotIntervalSlots: 2 })
      for (let i = 0; i < 4; i++) yield* withClock(client.submit({ _tag: "Put", key: "c", value: `${i}` }))
      yield* withClock(Effect.forEach(replicas, (r) => r.awaitApplied(4)))
      yield* clockUntil(Effect.map(Effect.forEach(replicas, (r) => r.replicaStatus), (all) => all.every((s) => s.stableCheckpoint === 4)))
      // a snapshot at slots 2 and 4 on each of the three replicas
      expect((yield* Metrics.counterValue(Metrics.checkpoints, { protocol: PROTOCOL, stable: "true" })) - before).toBe(6)
      for (const r of [0, 1, 2]) expect(yield* replicaGauge(Metrics.stableCheckpoint, r)).toBe(4)
    }))
})
