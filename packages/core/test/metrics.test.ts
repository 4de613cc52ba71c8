import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import type { PeerId, ReplicaId } from "../src/Ids.js"
import * as Metrics from "../src/Metrics.js"
import type { ProtocolEvent } from "../src/Protocol.js"
import { reject } from "../src/Rejection.js"

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
})
