/**
 * Synod's metrics, as Effect `Metric`s with stable names. Exporters (Prometheus,
 * OpenTelemetry) read them from Effect's metric registry; tests read them with
 * `counterValue` / `gaugeValue`.
 *
 * | name                                  | kind      | tags                  | meaning                                                   |
 * | ------------------------------------- | --------- | --------------------- | --------------------------------------------------------- |
 * | synod_messages_sent_total             | counter   | protocol, type        | sealed frames handed to the transport, per destination     |
 * | synod_messages_received_total         | counter   | protocol, type        | frames that passed `Envelope.open` and reached a core      |
 * | synod_messages_rejected_total         | counter   | protocol, reason      | inputs dropped with a `Rejection` (wire or protocol level) |
 * | synod_signature_failures_total        | counter   | protocol              | frames whose signature did not verify                      |
 * | synod_mailbox_depth                   | gauge     | actor                 | messages waiting in an actor's mailbox                     |
 * | synod_mailbox_rejected_total          | counter   | actor                 | `tell`s refused because the mailbox was full               |
 * | synod_actor_failures_total            | counter   | actor                 | actors that stopped with a failure or defect               |
 * | synod_ready_persist_batch_size        | histogram | -                     | writes per `Ready.persist` batch (group commit size)       |
 * | synod_commits_total                   | counter   | protocol              | `Committed` events (decided and executed log positions)    |
 * | synod_view_changes_total              | counter   | protocol, cause       | `ViewChanged` events                                       |
 * | synod_evidence_total                  | counter   | protocol, kind        | `Evidence` events (proven misbehaviour)                    |
 * | synod_send_failures_total             | counter   | protocol, reason      | `Transport.send` failures at a shell (frame dropped)       |
 * | synod_transport_dropped_total         | counter   | transport, reason     | frames a transport dropped (inbox full, link or peer down) |
 * | synod_client_completions_total        | counter   | protocol, outcome     | client requests completed, by outcome tag                  |
 *
 * Tag values come from bounded sets only (protocol names, codec `_tag`s of
 * decoded messages, `RejectionReason` literals, cause/kind words chosen by
 * protocol code, actor names), never from unauthenticated peer bytes: a peer
 * cannot grow the registry. To add a metric, add a row above, a definition
 * below and, if it is recorded from more than one place, a helper.
 */
import { Effect, Metric, MetricBoundaries } from "effect"
import type { ProtocolEvent } from "./Protocol.js"
import type { Rejection } from "./Rejection.js"

const counter = (name: string, description: string) => Metric.counter(name, { description, incremental: true })

export const messagesSent = counter("synod_messages_sent_total", "Sealed frames handed to the transport, per destination")
export const messagesReceived = counter("synod_messages_received_total", "Verified frames delivered to a protocol core")
export const messagesRejected = counter("synod_messages_rejected_total", "Inputs dropped with a typed Rejection")
export const signatureFailures = counter("synod_signature_failures_total", "Frames whose signature did not verify")
export const mailboxDepth = Metric.gauge("synod_mailbox_depth", { description: "Messages waiting in an actor mailbox" })
export const mailboxRejected = counter("synod_mailbox_rejected_total", "Tells refused because the mailbox was full")
export const actorFailures = counter("synod_actor_failures_total", "Actors that stopped with a failure or defect")
export const readyPersistBatchSize = Metric.histogram(
  "synod_ready_persist_batch_size",
  // 1, 2, 4, ... 8192 writes: one bucket per doubling of the group commit
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 14 }),
  "Writes per Ready.persist batch"
)
export const commits = counter("synod_commits_total", "Decided and executed log positions")
export const viewChanges = counter("synod_view_changes_total", "Leader / view changes")
export const evidence = counter("synod_evidence_total", "Evidence of misbehaviour kept by a protocol")
export const sendFailures = counter("synod_send_failures_total", "Transport send failures at a shell; the frame is dropped")
export const transportDropped = counter("synod_transport_dropped_total", "Frames a transport dropped")
export const clientCompletions = counter("synod_client_completions_total", "Client requests completed, by outcome")

type AnyMetric = Metric.Metric<any, any, any>

/**
 * Tagged metric instances are cached so the hot path (one increment per
 * message) does not rebuild metric keys. The cache is bounded: past the limit a
 * tagged metric is built on each call, which is slower but still correct.
 */
const TAGGED_CACHE_LIMIT = 4096
const taggedCache = new Map<AnyMetric, Map<string, AnyMetric>>()
let taggedCached = 0

const withTags = <M extends AnyMetric>(metric: M, tags: Readonly<Record<string, string>>): M => {
  const keys = Object.keys(tags).sort()
  const cacheKey = keys.map((k) => `${k}=${tags[k]}`).join("\u0000")
  let perMetric = taggedCache.get(metric)
  const hit = perMetric?.get(cacheKey)
  if (hit !== undefined) return hit as M
  let tagged: AnyMetric = metric
  for (const k of keys) tagged = Metric.tagged(tagged, k, tags[k]!)
  if (taggedCached < TAGGED_CACHE_LIMIT) {
    if (perMetric === undefined) taggedCache.set(metric, perMetric = new Map())
    perMetric.set(cacheKey, tagged)
    taggedCached++
  }
  return tagged as M
}

/** The metric with these tags (for reading and for recording metrics without a helper). */
export const tagged = withTags

export const recordSent = (protocol: string, type: string): Effect.Effect<void> =>
  Metric.increment(withTags(messagesSent, { protocol, type }))

export const recordReceived = (protocol: string, type: string): Effect.Effect<void> =>
  Metric.increment(withTags(messagesReceived, { protocol, type }))

/** Count one dropped input; a bad signature also counts as a signature failure. */
export const recordRejection = (protocol: string, rejection: Rejection): Effect.Effect<void> =>
  rejection.reason === "bad-signature"
    ? Effect.zipRight(
      Metric.increment(withTags(messagesRejected, { protocol, reason: rejection.reason })),
      Metric.increment(withTags(signatureFailures, { protocol }))
    )
    : Metric.increment(withTags(messagesRejected, { protocol, reason: rejection.reason }))

/** Count what a core reported. Events without a metric (Executed, Checkpoint, Custom, ...) are ignored here. */
export const recordEvent = (protocol: string, event: ProtocolEvent): Effect.Effect<void> => {
  switch (event._tag) {
    case "Committed":
      return Metric.increment(withTags(commits, { protocol }))
    case "ViewChanged":
      return Metric.increment(withTags(viewChanges, { protocol, cause: event.cause }))
    case "Evidence":
      return Metric.increment(withTags(evidence, { protocol, kind: event.kind }))
    case "Rejected":
      return recordRejection(protocol, event.rejection)
    default:
      return Effect.void
  }
}

export const recordEvents = (protocol: string, events: ReadonlyArray<ProtocolEvent>): Effect.Effect<void> =>
  events.length === 0 ? Effect.void : Effect.forEach(events, (e) => recordEvent(protocol, e), { discard: true })

export const setMailboxDepth = (actor: string, depth: number): Effect.Effect<void> =>
  Metric.set(withTags(mailboxDepth, { actor }), depth)

export const recordMailboxRejected = (actor: string): Effect.Effect<void> =>
  Metric.increment(withTags(mailboxRejected, { actor }))

export const recordActorFailure = (actor: string): Effect.Effect<void> =>
  Metric.increment(withTags(actorFailures, { actor }))

export const recordPersistBatch = (writes: number): Effect.Effect<void> => Metric.update(readyPersistBatchSize, writes)

export const recordSendFailure = (protocol: string, reason: string): Effect.Effect<void> =>
  Metric.increment(withTags(sendFailures, { protocol, reason }))

export const recordTransportDrop = (transport: string, reason: string): Effect.Effect<void> =>
  Metric.increment(withTags(transportDropped, { transport, reason }))

export const recordClientCompletion = (protocol: string, outcome: string): Effect.Effect<void> =>
  Metric.increment(withTags(clientCompletions, { protocol, outcome }))

/** Current value of a counter with the given tags (0 if never incremented). */
export const counterValue = (
  metric: Metric.Metric.Counter<number>,
  tags: Readonly<Record<string, string>> = {}
): Effect.Effect<number> => Effect.map(Metric.value(withTags(metric, tags)), (s) => s.count)

/** Current value of a gauge with the given tags (0 if never set). */
export const gaugeValue = (
  metric: Metric.Metric.Gauge<number>,
  tags: Readonly<Record<string, string>> = {}
): Effect.Effect<number> => Effect.map(Metric.value(withTags(metric, tags)), (s) => s.value)

/** Number of observations recorded by the persist-batch histogram. */
export const persistBatchCount: Effect.Effect<number> = Effect.map(Metric.value(readyPersistBatchSize), (s) => s.count)
