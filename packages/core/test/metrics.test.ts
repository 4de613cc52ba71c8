import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { readFileSync } from "node:fs"
import type { PeerId, ReplicaId } from "../src/Ids.js"
import * as Metrics from "../src/Metrics.js"
import type { ProtocolEvent } from "../src/Protocol.js"
import { reject } from "../src/Rejection.js"
import type { ReplicaStatus } from "../src/Status.js"

const peer = "replica/1" as PeerId

/** The (name, tags) of every series in the registry. */
const series = Effect.map(Metric.snapshot, (pairs) =>
  pairs.map((p) => ({
    name: p.metricKey.name,
    tags: Object.fromEntries(p.metricKey.tags.map((t) => [t.key, t.value]))
  })))

describe("Metrics", () => {
  it.effect("counts a rejection by reason, and a bad signature also as a signature failure", () =>
    Effect.gen(function*() {
      const protocol = "test-rejections/1"
      yield* Metrics.recordRejection(protocol, reject("bad-signature", "x"))
      yield* Metrics.recordRejection(protocol, reject("bad-signature", "y"))
      yield* Metrics.recordRejection(protocol, reject("wrong-view", "z"))
      expect(yield* Metrics.counterValue(Metrics.messagesRejected, { protocol, reason: "bad-signature" })).toBe(2)
      expect(yield* Metrics.counterValue(Metrics.messagesRejected, { protocol, reason: "wrong-view" })).toBe(1)
      expect(yield* Metrics.counterValue(Metrics.signatureFailures, { protocol })).toBe(2)
    }))

  it.effect("counts protocol events by kind and ignores those without a metric", () =>
    Effect.gen(function*() {
      const protocol = "test-events/1"
      const events: ReadonlyArray<ProtocolEvent> = [
        { _tag: "Committed", index: 1, entryDigest: "d", requests: [] },
        { _tag: "Committed", index: 2, entryDigest: "e", requests: [] },
        { _tag: "ViewChanged", view: 1, leader: 1 as ReplicaId, cause: "timeout" },
        { _tag: "Evidence", against: peer, kind: "equivocation", frames: [] },
        { _tag: "Rejected", from: peer, rejection: reject("stale", "old") },
        { _tag: "Executed", index: 1, clientId: "c", seq: 0 },
        { _tag: "Custom", name: "x", data: 1 }
      ]
      yield* Metrics.recordEvents(protocol, events)
      expect(yield* Metrics.counterValue(Metrics.commits, { protocol })).toBe(2)
      expect(yield* Metrics.counterValue(Metrics.viewChanges, { protocol, cause: "timeout" })).toBe(1)
      expect(yield* Metrics.counterValue(Metrics.viewChanges, { protocol, cause: "evidence" })).toBe(0)
      expect(yield* Metrics.counterValue(Metrics.evidence, { protocol, kind: "equivocation" })).toBe(1)
      expect(yield* Metrics.counterValue(Metrics.messagesRejected, { protocol, reason: "stale" })).toBe(1)
    }))

  it.effect("keeps sent and received counts per message type", () =>
    Effect.gen(function*() {
      const protocol = "test-traffic/1"
      yield* Metrics.recordSent(protocol, "Prepare")
      yield* Metrics.recordSent(protocol, "Prepare")
      yield* Metrics.recordSent(protocol, "Commit")
      yield* Metrics.recordReceived(protocol, "Commit")
      expect(yield* Metrics.counterValue(Metrics.messagesSent, { protocol, type: "Prepare" })).toBe(2)
      expect(yield* Metrics.counterValue(Metrics.messagesSent, { type: "Commit", protocol })).toBe(1)
      expect(yield* Metrics.counterValue(Metrics.messagesReceived, { protocol, type: "Commit" })).toBe(1)
      expect(yield* Metrics.counterValue(Metrics.messagesReceived, { protocol, type: "Prepare" })).toBe(0)
    }))

  it.effect("records the mailbox depth gauge, persist batch sizes, send failures, drops and completions", () =>
    Effect.gen(function*() {
      yield* Metrics.setMailboxDepth("test-actor", 7)
      yield* Metrics.setMailboxDepth("test-actor", 3)
      expect(yield* Metrics.gaugeValue(Metrics.mailboxDepth, { actor: "test-actor" })).toBe(3)
      const before = yield* Metric.value(Metrics.readyPersistBatchSize)
      yield* Metrics.recordPersistBatch(5)
      yield* Metrics.recordPersistBatch(1)
      const after = yield* Metric.value(Metrics.readyPersistBatchSize)
      expect(after.count - before.count).toBe(2)
      expect(after.sum - before.sum).toBe(6)
      yield* Metrics.recordSendFailure("test-send/1", "unknown-peer")
      expect(yield* Metrics.counterValue(Metrics.sendFailures, { protocol: "test-send/1", reason: "unknown-peer" })).toBe(1)
      yield* Metrics.recordTransportDrop("test-net", "inbox-full")
      expect(yield* Metrics.counterValue(Metrics.transportDropped, { transport: "test-net", reason: "inbox-full" })).toBe(1)
      yield* Metrics.recordClientCompletion("test-client/1", "TimedOut")
      expect(yield* Metrics.counterValue(Metrics.clientCompletions, { protocol: "test-client/1", outcome: "TimedOut" })).toBe(1)
    }))

  it.effect("exports the documented names and tags", () =>
    Effect.gen(function*() {
      const protocol = "test-names/1"
      yield* Metrics.recordSent(protocol, "A")
      yield* Metrics.recordReceived(protocol, "A")
      yield* Metrics.recordRejection(protocol, reject("bad-signature", ""))
      yield* Metrics.recordEvent(protocol, { _tag: "Committed", index: 1, entryDigest: "", requests: [] })
      yield* Metrics.recordEvent(protocol, { _tag: "ViewChanged", view: 2, leader: 0 as ReplicaId, cause: "timeout" })
      yield* Metrics.recordEvent(protocol, { _tag: "Evidence", against: peer, kind: "k", frames: [] })
      yield* Metrics.setMailboxDepth("test-names-actor", 1)
      yield* Metrics.recordPersistBatch(3)
      const all = yield* series
      const expected = [
        { name: "synod_messages_sent_total", tags: { protocol, type: "A" } },
        { name: "synod_messages_received_total", tags: { protocol, type: "A" } },
        { name: "synod_messages_rejected_total", tags: { protocol, reason: "bad-signature" } },
        { name: "synod_signature_failures_total", tags: { protocol } },
        { name: "synod_commits_total", tags: { protocol } },
        { name: "synod_view_changes_total", tags: { protocol, cause: "timeout" } },
        { name: "synod_evidence_total", tags: { protocol, kind: "k" } },
        { name: "synod_mailbox_depth", tags: { actor: "test-names-actor" } },
        { name: "synod_ready_persist_batch_size", tags: {} }
      ]
      for (const e of expected) expect(all).toContainEqual(e)
    }))

  it.effect("counts throughput, batch sizes, checkpoints and state transfers from events", () =>
    Effect.gen(function*() {
      const protocol = "test-throughput/1"
      const request = (seq: number) => ({ clientId: "c", seq, commandDigest: "x" })
      yield* Metrics.recordEvents(protocol, [
        { _tag: "Committed", index: 1, entryDigest: "a", requests: [request(1), request(2), request(3)] },
        { _tag: "Committed", index: 2, entryDigest: "b", requests: [] },
        { _tag: "Committed", index: 3, entryDigest: "c", requests: [request(4)] },
        { _tag: "Checkpoint", index: 3, stateDigest: "s", stable: false },
        { _tag: "Checkpoint", index: 3, stateDigest: "s", stable: true },
        { _tag: "StateTransferred", index: 9, stateDigest: "t" },
        { _tag: "RequestPhase", clientId: "c", seq: 4, phase: "committed" }
      ])
      expect(yield* Metrics.counterValue(Metrics.commits, { protocol })).toBe(3)
      expect(yield* Metrics.counterValue(Metrics.committedRequests, { protocol })).toBe(4)
      const batches = yield* Metrics.histogramValue(Metrics.batchSize, { protocol })
      expect([batches.count, batches.sum]).toEqual([3, 4])
      // cumulative: the no-op entry in le=0, the single request in le=1, the batch of 3 in le=4
      expect(batches.buckets.slice(0, 4)).toEqual([[0, 1], [1, 2], [2, 2], [4, 3]])
      expect(yield* Metrics.counterValue(Metrics.checkpoints, { protocol, stable: "true" })).toBe(1)
      expect(yield* Metrics.counterValue(Metrics.checkpoints, { protocol, stable: "false" })).toBe(1)
      expect(yield* Metrics.counterValue(Metrics.stateTransfers, { protocol })).toBe(1)
    }))

  it.effect("publishes a replica's status as gauges, writing only what changed", () =>
    Effect.gen(function*() {
      const tags = { protocol: "test-status/1", replica: "replica/0" }
      const lag = (peer: string) => Metrics.gaugeValue(Metrics.replicationLag, { ...tags, peer })
      const first: ReplicaStatus = {
        role: "leader",
        view: 4,
        leader: 0 as ReplicaId,
        commitIndex: 10,
        appliedIndex: 9,
        stableCheckpoint: 8,
        peers: [{ replica: 1 as ReplicaId, matchIndex: 10, lag: 0 }, { replica: 2 as ReplicaId, matchIndex: 3, lag: 7 }],
        extra: { lowWatermark: 8 }
      }
      yield* Metrics.recordStatus(tags.protocol, tags.replica, first, undefined)
      expect(yield* Metrics.gaugeValue(Metrics.view, tags)).toBe(4)
      expect(yield* Metrics.gaugeValue(Metrics.isLeader, tags)).toBe(1)
      expect(yield* Metrics.gaugeValue(Metrics.commitIndex, tags)).toBe(10)
      expect(yield* Metrics.gaugeValue(Metrics.appliedIndex, tags)).toBe(9)
      expect(yield* Metrics.gaugeValue(Metrics.stableCheckpoint, tags)).toBe(8)
      expect(yield* Metrics.gaugeValue(Metrics.protocolFigure, { ...tags, name: "lowWatermark" })).toBe(8)
      expect([yield* lag("replica/1"), yield* lag("replica/2")]).toEqual([0, 7])
      // an unchanged value is not written again: a value set behind its back survives
      yield* Metric.set(Metrics.tagged(Metrics.view, tags), 99)
      yield* Metrics.recordStatus(tags.protocol, tags.replica, first, first)
      expect(yield* Metrics.gaugeValue(Metrics.view, tags)).toBe(99)
      // a follower now; replica 2 left the configuration and reads 0
      const second: ReplicaStatus = { ...first, role: "follower", view: 5, peers: [{ replica: 1 as ReplicaId, matchIndex: 12, lag: 2 }] }
      yield* Metrics.recordStatus(tags.protocol, tags.replica, second, first)
      expect(yield* Metrics.gaugeValue(Metrics.view, tags)).toBe(5)
      expect(yield* Metrics.gaugeValue(Metrics.isLeader, tags)).toBe(0)
      expect([yield* lag("replica/1"), yield* lag("replica/2")]).toEqual([2, 0])
    }))

  it.effect("exports at most MAX_PROTOCOL_FIGURES figures of a status", () =>
    Effect.gen(function*() {
      const tags = { protocol: "test-figures/1", replica: "replica/0" }
      const extra = Object.fromEntries(Array.from({ length: Metrics.MAX_PROTOCOL_FIGURES + 5 }, (_, i) => [`f${i}`, i + 1]))
      yield* Metrics.recordStatus(tags.protocol, tags.replica, { role: "backup", view: 0, commitIndex: 0, appliedIndex: 0, peers: [], extra }, undefined)
      const names = (yield* Metric.snapshot)
        .filter((p) => p.metricKey.name === "synod_protocol_figure" && p.metricKey.tags.some((t) => t.value === tags.protocol))
        .map((p) => p.metricKey.tags.find((t) => t.key === "name")!.value)
      expect(names).toHaveLength(Metrics.MAX_PROTOCOL_FIGURES)
      expect(names).toContain("f0")
      expect(names).not.toContain(`f${Metrics.MAX_PROTOCOL_FIGURES}`)
    }))

  it.effect("records link transitions per peer as events and a connected gauge", () =>
    Effect.gen(function*() {
      const tags = { transport: "test-link", self: "replica/0", peer: "replica/2" }
      yield* Metrics.recordConnection(tags.transport, tags.self, tags.peer, "down")
      expect(yield* Metrics.gaugeValue(Metrics.peerConnected, tags)).toBe(0)
      yield* Metrics.recordConnection(tags.transport, tags.self, tags.peer, "up")
      yield* Metrics.recordConnection(tags.transport, tags.self, tags.peer, "down")
      expect(yield* Metrics.counterValue(Metrics.connectionEvents, { ...tags, event: "down" })).toBe(2)
      expect(yield* Metrics.counterValue(Metrics.connectionEvents, { ...tags, event: "up" })).toBe(1)
      expect(yield* Metrics.gaugeValue(Metrics.peerConnected, tags)).toBe(0)
    }))

  it.effect("registers exactly the names in the module's table", () =>
    Effect.gen(function*() {
      const protocol = "test-table/1"
      const peerTags = { replica: "replica/0", protocol }
      yield* Metrics.recordSent(protocol, "A")
      yield* Metrics.recordReceived(protocol, "A")
      yield* Metrics.recordRejection(protocol, reject("bad-signature", ""))
      yield* Metrics.recordEvents(protocol, [
        { _tag: "Committed", index: 1, entryDigest: "", requests: [] },
        { _tag: "ViewChanged", view: 1, leader: 1 as ReplicaId, cause: "timeout" },
        { _tag: "Evidence", against: peer, kind: "k", frames: [] },
        { _tag: "Checkpoint", index: 1, stateDigest: "", stable: true },
        { _tag: "StateTransferred", index: 1, stateDigest: "" }
      ])
      yield* Metrics.setMailboxDepth("test-table", 0)
      yield* Metrics.recordMailboxRejected("test-table")
      yield* Metrics.recordActorFailure("test-table")
      yield* Metrics.recordPersistBatch(1)
      yield* Metrics.recordSendFailure(protocol, "closed")
      yield* Metrics.recordTransportDrop("test-table", "link-down")
      yield* Metrics.recordClientCompletion(protocol, "Committed")
      yield* Metrics.recordBytesSent(protocol, 10)
      yield* Metrics.recordLeaderChange(protocol)
      yield* Metrics.recordCommitLatency(protocol, "replied", 0.1)
      yield* Metrics.recordClientLatency(protocol, "Committed", 0.1)
      yield* Metrics.recordSpanEvicted(protocol)
      yield* Metrics.recordConnection("test-table", "replica/0", "replica/1", "up")
      yield* Metrics.setBytesPerCommittedRequest(protocol, peerTags.replica, 1)
      yield* Metrics.recordStatus(protocol, peerTags.replica, {
        role: "leader",
        view: 1,
        commitIndex: 1,
        appliedIndex: 1,
        stableCheckpoint: 1,
        peers: [{ replica: 1 as ReplicaId, matchIndex: 1, lag: 0 }],
        extra: { x: 1 }
      }, undefined)
      const source = readFileSync(new URL("../src/Metrics.ts", import.meta.url), "utf8")
      const documented = [...source.matchAll(/^ \* \| (synod_[a-z_]+) +\|/gm)].map((m) => m[1]!).sort()
      const registered = [...new Set((yield* series).map((s) => s.name).filter((n) => n.startsWith("synod_")))].sort()
      expect(documented.length).toBeGreaterThan(30)
      expect(registered).toEqual(documented)
    }))
})
