/**
 * Metrics, logs, spans and the status endpoints of replicas run by the real
 * shell (`Replica.run`) on the in-memory network, in simulated scenarios:
 * a partition, catch-up after it heals, a view change. The protocol is a toy
 * leader-based log (`LeaderCore`), enough to move every figure an operator
 * watches; it is not a consensus protocol.
 */
import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Effect, Either, Option, Schema, TestClock } from "effect"
import * as Actor from "../src/Actor.js"
import { makeCodec } from "../src/Codec.js"
import * as Connectivity from "../src/Connectivity.js"
import { sha256Hex, simulatedKeyRing, simulatedSigner } from "../src/Crypto.js"
import type * as Envelope from "../src/Envelope.js"
import { type PeerId, peerReplica, type ReplicaId, replicaPeer } from "../src/Ids.js"
import { KeyRingService, SignerService } from "../src/Keys.js"
import * as MemoryTransport from "../src/MemoryTransport.js"
import * as Metrics from "../src/Metrics.js"
import * as Observability from "../src/Observability.js"
import { type Core, driverOf, type Input, type ProtocolEvent, type ReadyBuffer, type RequestPhase } from "../src/Protocol.js"
import { reject } from "../src/Rejection.js"
import * as Replica from "../src/Replica.js"
import * as Status from "../src/Status.js"
import { makeMemory, Storage } from "../src/Storage.js"
import { Transport } from "../src/Transport.js"
import { collectLogs, collectSpans } from "./support/Observe.js"

// --- the toy protocol

const Append = Schema.TaggedStruct("Append", { view: Schema.Int, last: Schema.Int, commit: Schema.Int })
const Ack = Schema.TaggedStruct("Ack", { view: Schema.Int, match: Schema.Int })
const Msg = Schema.Union(Append, Ack)
type Msg = typeof Msg.Type

const N = 3
const peers = Array.from({ length: N }, (_, i) => replicaPeer(i))
const [r0, r1, r2] = peers as [PeerId, PeerId, PeerId]

interface LeaderOptions {
  /** Ticks without a word from the leader before replica i moves to the next view: `electionTicks * (i + 1)`. */
  readonly electionTicks?: number
}

/**
 * The leader of view v is replica v mod N. Each tick it appends one entry (up
 * to `maxEntries`, which the test raises) and sends Append{view, last, commit}
 * to the others: a heartbeat and catch-up at once, since a follower adopts
 * `last`. Followers acknowledge with Ack{view, match}; an entry commits once a
 * majority holds it. Messages from older views are rejected (`wrong-view`).
 */
class LeaderCore implements Core<Msg> {
  view = 0
  last = 0
  commit = 0
  silent = 0
  maxEntries = 0
  readonly match = new Map<number, number>()
  readonly others: ReadonlyArray<PeerId>

  constructor(readonly self: number, readonly options: LeaderOptions = {}) {
    this.others = peers.filter((_, i) => i !== self)
  }

  isLeader() {
    return this.view % N === this.self
  }

  step(input: Input<Msg>, out: ReadyBuffer<Msg>): void {
    if (input._tag === "Tick") return this.onTick(out)
    const { from, message } = input.envelope
    if (message.view < this.view) {
      out.events.push({ _tag: "Rejected", from, rejection: reject("wrong-view", `view ${message.view} < ${this.view}`) })
      return
    }
    if (message.view > this.view) this.enterView(message.view, "new-view", out)
    if (message._tag === "Append") {
      this.silent = 0
      this.last = Math.max(this.last, message.last)
      this.commitUpTo(Math.min(message.commit, this.last), out)
      out.sendAfterPersist.push({ to: [from], message: { _tag: "Ack", view: this.view, match: this.last } })
    } else if (this.isLeader()) {
      const peer = peerReplica(from)!
      this.match.set(peer, Math.max(this.match.get(peer) ?? 0, message.match))
      const held = [this.last, ...this.others.map((p) => this.match.get(peerReplica(p)!) ?? 0)].sort((a, b) => b - a)
      this.commitUpTo(held[Math.floor(N / 2)]!, out)
    }
  }

  private onTick(out: ReadyBuffer<Msg>) {
    if (this.isLeader()) {
      while (this.last < this.maxEntries) {
        this.last++
        out.events.push(phase(this.last, "received"), phase(this.last, "proposed"))
      }
      out.send.push({ to: this.others, message: { _tag: "Append", view: this.view, last: this.last, commit: this.commit } })
    } else if (this.options.electionTicks !== undefined && ++this.silent >= this.options.electionTicks * (this.self + 1)) {
      this.enterView(this.view + 1, "timeout", out)
    }
  }

  private enterView(view: number, cause: string, out: ReadyBuffer<Msg>) {
    this.view = view
    this.silent = 0
    this.match.clear()
    out.persist.push({ key: "view", value: new TextEncoder().encode(String(view)) })
    out.events.push({ _tag: "ViewChanged", view, leader: (view % N) as ReplicaId, cause })
  }

  private commitUpTo(index: number, out: ReadyBuffer<Msg>) {
    while (this.commit < index) {
      const i = ++this.commit
      out.events.push(
        { _tag: "Committed", index: i, entryDigest: sha256Hex(`entry-${i}`), requests: [{ clientId: "load", seq: i, commandDigest: sha256Hex(`${i}`) }] },
        phase(i, "committed"),
        phase(i, "executed")
      )
      if (this.isLeader()) out.events.push(phase(i, "replied"))
    }
  }

  appliedIndex() {
    return this.commit
  }

  stateDigest() {
    return sha256Hex(String(this.commit))
  }

  status(): Status.ReplicaStatus {
    const leader = this.isLeader()
    return {
      role: leader ? "leader" : "follower",
      view: this.view,
      leader: (this.view % N) as ReplicaId,
      commitIndex: this.commit,
      appliedIndex: this.commit,
      peers: leader ? this.others.map((p) => Status.peer(peerReplica(p)!, this.match.get(peerReplica(p)!) ?? 0, this.last)) : []
    }
  }
}

const phase = (seq: number, p: RequestPhase): ProtocolEvent => ({ _tag: "RequestPhase", clientId: "load", seq, phase: p, index: seq })

// --- fixtures

const seed = "observability-test"
const keys = simulatedKeyRing(seed, peers)
let protocols = 0

const cluster = (options: LeaderOptions = {}) =>
  Effect.gen(function*() {
    const envelope: Envelope.EnvelopeContext<Msg> = { clusterId: "test", protocol: `toy-log-${++protocols}/1`, codec: makeCodec(Msg) }
    const net = Connectivity.observe(yield* MemoryTransport.makeNetwork())
    const { supervisor } = yield* Actor.queueSupervisor()
    const cores = peers.map((_, i) => new LeaderCore(i, options))
    const handles = yield* Effect.forEach(cores, (core, i) =>
      Effect.gen(function*() {
        return yield* Replica.run(driverOf(core), { envelope, supervisor }).pipe(
          Effect.provideService(Transport, yield* net.connect(peers[i]!)),
          Effect.provideService(Storage, yield* makeMemory()),
          Effect.provideService(SignerService, simulatedSigner(seed, peers[i]!)),
          Effect.provideService(KeyRingService, keys)
        )
      }))
    const protocol = envelope.protocol
    const load = (maxEntries: number) => Effect.sync(() => cores.forEach((c) => void (c.maxEntries = maxEntries)))
    return { cores, handles, net, protocol, load }
  })

/** Let the shells run until `check` holds (they run on their own fibers; the clock does not move). */
const eventually = <E, R>(what: string, check: Effect.Effect<boolean, E, R>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 20_000; i++) {
      if (yield* check) return
      yield* Effect.yieldNow()
    }
    return yield* Effect.dieMessage(`never happened: ${what}`)
  })

const lagOf = (protocol: string, replica: PeerId, peer: PeerId) =>
  Metrics.gaugeValue(Metrics.replicationLag, { protocol, replica, peer })

const fetchText = (url: string, init?: RequestInit) =>
  Effect.promise(async () => {
    const res = await fetch(url, init)
    return { status: res.status, type: res.headers.get("content-type"), body: await res.text() }
  })

describe("observability in simulated scenarios", () => {
  it.scoped("a partition shows as connection-down events and growing lag; lag returns to zero after catch-up", () =>
    Effect.gen(function*() {
      const { handles, load, net, protocol } = yield* cluster()
      const [leader] = handles
      const link = (self: PeerId, peer: PeerId, event: "up" | "down") =>
        Metrics.counterValue(Metrics.connectionEvents, { transport: "memory", self, peer, event })
      const connected = (self: PeerId, peer: PeerId) => Metrics.gaugeValue(Metrics.peerConnected, { transport: "memory", self, peer })
      const settled = (last: number) =>
        eventually(`replica/1 holds ${last}`, Effect.map(leader!.replicaStatus, (s) => s.peers[0]!.matchIndex === last))

      yield* net.disconnect(r0, r2)
      yield* net.disconnect(r2, r0) // the same link: no second event
      expect([yield* link(r0, r2, "down"), yield* link(r2, r0, "down"), yield* link(r0, r1, "down")]).toEqual([1, 1, 0])
      expect([yield* connected(r0, r2), yield* connected(r2, r0)]).toEqual([0, 0])

      yield* load(10)
      yield* TestClock.adjust("50 millis")
      yield* settled(10)
      expect([yield* lagOf(protocol, r0, r1), yield* lagOf(protocol, r0, r2)]).toEqual([0, 10])

      yield* load(25)
      yield* TestClock.adjust("50 millis")
      yield* settled(25)
      expect([yield* lagOf(protocol, r0, r1), yield* lagOf(protocol, r0, r2)]).toEqual([0, 25])
      const during = yield* leader!.replicaStatus
      expect(during.peers).toEqual([{ replica: 1, matchIndex: 25, lag: 0 }, { replica: 2, matchIndex: 0, lag: 25 }])
      expect(yield* Metrics.gaugeValue(Metrics.commitIndex, { protocol, replica: r2 })).toBe(0)

      yield* net.reconnect(r0, r2)
      expect([yield* link(r0, r2, "up"), yield* link(r2, r0, "up")]).toEqual([1, 1])
      expect(yield* connected(r0, r2)).toBe(1)
      yield* TestClock.adjust("20 millis")
      yield* eventually("replica/2 caught up", Effect.map(lagOf(protocol, r0, r2), (lag) => lag === 0))
      expect((yield* leader!.replicaStatus).peers.map((p) => p.lag)).toEqual([0, 0])
      yield* eventually("replica/2 applied", Effect.map(Metrics.gaugeValue(Metrics.appliedIndex, { protocol, replica: r2 }), (i) => i === 25))
      expect(yield* Metrics.gaugeValue(Metrics.commitIndex, { protocol, replica: r2 })).toBe(25)
      // throughput: 25 requests committed at each of three replicas
      expect(yield* Metrics.counterValue(Metrics.committedRequests, { protocol })).toBe(75)
      expect(yield* Metrics.gaugeValue(Metrics.bytesPerCommittedRequest, { protocol, replica: r0 })).toBeGreaterThan(0)
    }))

  it.scoped("a view change increments the view-change counter with its cause and moves leader gauges; logged at Info", () => {
    const logs = collectLogs()
    return Effect.gen(function*() {
      const { cores, handles, load, net, protocol } = yield* cluster({ electionTicks: 3 })
      yield* load(3)
      yield* TestClock.adjust("30 millis")
      yield* eventually("all committed 3", Effect.sync(() => cores.every((c) => c.commit === 3)))
      expect(yield* Metrics.gaugeValue(Metrics.isLeader, { protocol, replica: r0 })).toBe(1)

      // the leader is cut off: replica 1 times out first (6 silent ticks), replica 2 (9) follows its new view
      yield* net.disconnect(r0, r1)
      yield* net.disconnect(r0, r2)
      yield* TestClock.adjust("100 millis")
      yield* eventually("replica/2 in view 1", Effect.sync(() => cores[2]!.view === 1))
      const viewChanges = (cause: string) => Metrics.counterValue(Metrics.viewChanges, { protocol, cause })
      expect([yield* viewChanges("timeout"), yield* viewChanges("new-view")]).toEqual([1, 1])
      expect(yield* Metrics.counterValue(Metrics.leaderChanges, { protocol })).toBe(2)
      yield* eventually("gauges of replica/1", Effect.map(Metrics.gaugeValue(Metrics.isLeader, { protocol, replica: r1 }), (v) => v === 1))
      expect(yield* Metrics.gaugeValue(Metrics.view, { protocol, replica: r1 })).toBe(1)
      expect(yield* Metrics.gaugeValue(Metrics.view, { protocol, replica: r2 })).toBe(1)
      expect((yield* handles[1]!.replicaStatus).role).toBe("leader")

      const info = logs.lines.filter((l) => l.message === "view changed")
      expect(info.map((l) => [l.level, l.annotations.replica, l.annotations.view, l.annotations.leader, l.annotations.cause])).toEqual([
        ["INFO", r1, 1, 1, "timeout"],
        ["INFO", r2, 1, 1, "new-view"]
      ])
      expect(info.every((l) => l.annotations.protocol === protocol)).toBe(true)

      // healed: the old leader learns the new view
      yield* net.reconnect(r0, r1)
      yield* net.reconnect(r0, r2)
      yield* TestClock.adjust("30 millis")
      yield* eventually("replica/0 in view 1", Effect.sync(() => cores[0]!.view === 1))
      expect(yield* viewChanges("new-view")).toBe(2)
      yield* eventually("replica/0 demoted", Effect.map(Metrics.gaugeValue(Metrics.isLeader, { protocol, replica: r0 }), (v) => v === 0))
    }).pipe(Effect.provide(logs.layer))
  })

  it.scoped("traces each request across its phases at every replica", () => {
    const { install, spans } = collectSpans()
    return Effect.gen(function*() {
      const { cores, handles, load, protocol } = yield* cluster()
      yield* load(3)
      // tick 1: proposed, acknowledged, committed at the leader; tick 2 tells the followers
      yield* TestClock.adjust("20 millis")
      yield* eventually("all committed 3", Effect.sync(() => cores.every((c) => c.commit === 3)))
      const at = (replica: PeerId) => spans.filter((s) => s.attributes.get("synod.replica") === replica)
      expect(at(r0).map((s) => s.attributes.get("synod.seq"))).toEqual([1, 2, 3])
      for (const span of at(r0)) {
        expect(span.name).toBe("synod.request")
        expect(span.events.map((e) => e.name)).toEqual(["received", "proposed", "committed", "executed", "replied"])
        expect([span.ended, span.attributes.get("synod.outcome"), span.attributes.get("synod.client")]).toEqual([true, "replied", "load"])
      }
      // followers execute without replying: their spans end at executed
      yield* eventually("follower spans ended", Effect.sync(() => at(r2).length === 3 && at(r2).every((s) => s.ended)))
      expect(at(r2).map((s) => [s.events.map((e) => e.name).join(","), s.attributes.get("synod.outcome")])).toEqual([
        ["committed,executed", "executed"],
        ["committed,executed", "executed"],
        ["committed,executed", "executed"]
      ])
      const latency = yield* Metrics.histogramValue(Metrics.commitLatency, { protocol, until: "replied" })
      expect(latency.count).toBe(3)
      // a request still open when its replica stops ends as stopped
      yield* Effect.sync(() => void (cores[0]!.maxEntries = 4))
      yield* handles[1]!.stop
      yield* handles[2]!.stop
      yield* TestClock.adjust("10 millis")
      yield* eventually("request 4 proposed", Effect.sync(() => at(r0).length === 4))
      yield* handles[0]!.stop
      expect(at(r0)[3]!.attributes.get("synod.outcome")).toBe("stopped")
    }).pipe(install)
  })

  it.scoped("serves the leader's /status and the process's /metrics over HTTP", () =>
    Effect.gen(function*() {
      const { handles, load, net, protocol } = yield* cluster()
      yield* net.disconnect(r0, r2)
      yield* load(4)
      yield* TestClock.adjust("40 millis")
      yield* eventually("replica/1 holds 4", Effect.map(handles[0]!.replicaStatus, (s) => s.peers[0]!.matchIndex === 4))
      const server = yield* Observability.serveReplica(handles[0]!)
      yield* TestClock.adjust("30 millis")

      const status = yield* fetchText(`${server.url}/status`)
      expect([status.status, status.type]).toEqual([200, "application/json"])
      expect(JSON.parse(status.body)).toEqual({
        replica: r0,
        pid: process.pid,
        uptimeMs: 30,
        role: "leader",
        view: 0,
        leader: 0,
        commitIndex: 4,
        appliedIndex: 4,
        peers: [{ replica: 1, matchIndex: 4, lag: 0 }, { replica: 2, matchIndex: 0, lag: 4 }]
      })
      const metrics = yield* fetchText(`${server.url}/metrics`)
      expect(metrics.type).toBe("text/plain; version=0.0.4; charset=utf-8")
      expect(metrics.body.split("\n")).toContain(`synod_replication_lag{peer="${r2}",protocol="${protocol}",replica="${r0}"} 4`)
      // connection events are per transport and link, not per protocol: earlier tests counted too
      const downs = yield* Metrics.counterValue(Metrics.connectionEvents, { transport: "memory", self: r0, peer: r2, event: "down" })
      expect(downs).toBeGreaterThan(0)
      expect(metrics.body.split("\n")).toContain(`synod_connection_events_total{event="down",peer="${r2}",self="${r0}",transport="memory"} ${downs}`)
    }))
})

describe("Observability.serve", () => {
  const status: Status.ReplicaStatus = { role: "backup", view: 7, leader: 3 as ReplicaId, commitIndex: 12, appliedIndex: 11, peers: [] }

  it.scoped("answers /status, /metrics, HEAD, 404 and 405 on 127.0.0.1 and closes with its scope", () =>
    Effect.gen(function*() {
      const { port, url } = yield* Effect.scoped(
        Effect.gen(function*() {
          const server = yield* Observability.serve({ replica: "replica/3", status: Effect.succeed(status), metrics: Effect.succeed("m 1\n") })
          expect(server.host).toBe("127.0.0.1")
          expect(server.port).toBeGreaterThan(0)
          expect(server.url).toBe(`http://127.0.0.1:${server.port}`)
          const got = yield* fetchText(`${server.url}/status?pretty`)
          expect(JSON.parse(got.body)).toEqual({ replica: "replica/3", pid: process.pid, uptimeMs: 0, ...status })
          expect(yield* fetchText(`${server.url}/metrics`)).toEqual({ status: 200, type: "text/plain; version=0.0.4; charset=utf-8", body: "m 1\n" })
          expect(yield* fetchText(`${server.url}/metrics`, { method: "HEAD" })).toEqual({
            status: 200,
            type: "text/plain; version=0.0.4; charset=utf-8",
            body: ""
          })
          expect((yield* fetchText(`${server.url}/nope`)).status).toBe(404)
          expect((yield* fetchText(`${server.url}/status`, { method: "POST", body: "x" })).status).toBe(405)
          return server
        })
      )
      const after = yield* Effect.promise(() => fetch(`${url}/status`).then(() => "answered", () => "refused"))
      expect(after).toBe("refused")
      // the port is free again
      const again = yield* Observability.serve({ replica: "r", status: Effect.succeed(status), port })
      expect(again.port).toBe(port)
    }))

  it.scoped("answers 500 when the status cannot be built, and fails to bind a port in use", () =>
    Effect.gen(function*() {
      const bad = yield* Observability.serve({ replica: "r", status: Effect.succeed({ ...status, view: -1 }) })
      expect((yield* fetchText(`${bad.url}/status`)).status).toBe(500)
      const error = yield* Effect.flip(Observability.serve({ replica: "r", status: Effect.succeed(status), port: bad.port }))
      expect(error._tag).toBe("ServeError")
      expect(error.port).toBe(bad.port)
      expect((yield* Effect.flip(Observability.serve({ replica: "r", status: Effect.succeed(status), port: 70000 })))._tag).toBe("ServeError")
    }))

  it.effect("reads where to listen from the environment, and nothing when no port is set", () =>
    Effect.gen(function*() {
      const read = (env: Record<string, string>) =>
        Effect.withConfigProvider(Effect.either(Observability.listenConfig), ConfigProvider.fromMap(new Map(Object.entries(env))))
      expect(yield* read({ SYNOD_OBSERVABILITY_PORT: "9464" })).toEqual(Either.right(Option.some({ host: "127.0.0.1", port: 9464 })))
      expect(yield* read({ SYNOD_OBSERVABILITY_PORT: "0", SYNOD_OBSERVABILITY_HOST: "::1" })).toEqual(
        Either.right(Option.some({ host: "::1", port: 0 }))
      )
      expect(yield* read({})).toEqual(Either.right(Option.none()))
      expect(Either.isLeft(yield* read({ SYNOD_OBSERVABILITY_PORT: "http" }))).toBe(true)
      expect(Either.isLeft(yield* read({ SYNOD_OBSERVABILITY_PORT: "65536" }))).toBe(true)
    }))
})
