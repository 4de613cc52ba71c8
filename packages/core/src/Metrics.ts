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
 * | synod_committed_requests_total        | counter   | protocol              | client requests in `Committed` entries (throughput)        |
 * | synod_batch_size                      | histogram | protocol              | client requests per `Committed` entry (0 for a no-op)      |
 * | synod_leader_changes_total            | counter   | protocol              | leader / primary changed (seen by a replica)               |
 * | synod_checkpoints_total               | counter   | protocol, stable      | `Checkpoint` events; Paxos snapshots are stable checkpoints |
 * | synod_state_transfers_total           | counter   | protocol              | `StateTransferred` events                                  |
 * | synod_bytes_sent_total                | counter   | protocol              | frame bytes handed to the transport, per destination       |
 * | synod_commit_latency_seconds          | histogram | protocol, until       | replica: `received` to `committed` / `replied` (wall time) |
 * | synod_client_latency_seconds          | histogram | protocol, outcome     | client: submit to completion (wall time)                   |
 * | synod_request_spans_evicted_total     | counter   | protocol              | request spans ended early: too many open (see `Tracing`)   |
 * | synod_view                            | gauge     | protocol, replica     | current view / ballot round                                |
 * | synod_is_leader                       | gauge     | protocol, replica     | 1 while leader / primary, else 0                           |
 * | synod_commit_index                    | gauge     | protocol, replica     | highest committed log index                                |
 * | synod_applied_index                   | gauge     | protocol, replica     | highest executed log index                                 |
 * | synod_stable_checkpoint               | gauge     | protocol, replica     | last stable checkpoint / snapshot index                    |
 * | synod_replication_lag                 | gauge     | protocol, replica, peer | slots / sequence numbers `peer` is behind (`Status`)     |
 * | synod_bytes_per_committed_request     | gauge     | protocol, replica     | bytes sent / requests committed, since the replica started |
 * | synod_protocol_figure                 | gauge     | protocol, replica, name | a protocol's `ReplicaStatus.extra` figures (at most 32)  |
 * | synod_connection_events_total         | counter   | transport, self, peer, event | link `up` / `down` transitions (partition events)   |
 * | synod_peer_connected                  | gauge     | transport, self, peer | 1 while the link to `peer` is up, else 0                   |
 *
 * Histogram boundaries (each also has the implicit `+Inf` bucket):
 * - `synod_ready_persist_batch_size`: 1, 2, 4, ... 4096 writes (13 buckets).
 * - `synod_batch_size`: 0, 1, 2, 4, ... 1024 requests (12 buckets).
 * - `synod_commit_latency_seconds`, `synod_client_latency_seconds`: 0.0005 s doubling
 *   to 16.384 s (16 buckets): 0.5 ms, 1 ms, 2 ms, ... 8.192 s, 16.384 s.
 *
 * Replica gauges carry a `replica` tag (the shell's name) because one process
 * may run several replicas (tests, simulations); counters are per protocol.
 * Bytes per committed operation over a window is
 * `rate(synod_bytes_sent_total[5m]) / rate(synod_committed_requests_total[5m])`.
 *
 * Tag values come from bounded sets only (protocol names, codec `_tag`s of
 * decoded messages, `RejectionReason` literals, cause/kind words chosen by
 * protocol code, actor names, replica ids of the configuration), never from
 * unauthenticated peer bytes: a peer cannot grow the registry. To add a metric, add a row above, a definition
 * below and, if it is recorded from more than one place, a helper.
 */
import { Effect, Metric, MetricBoundaries, type MetricKeyType, type MetricState } from "effect"
import type { ProtocolEvent } from "./Protocol.js"
import type { Rejection } from "./Rejection.js"
import { isLeaderRole, type ReplicaStatus } from "./Status.js"

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
  // 1, 2, 4, ... 4096 writes: one bucket per doubling of the group commit
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 14 }),
  "Writes per Ready.persist batch"
)
export const commits = counter("synod_commits_total", "Decided and executed log positions")
export const viewChanges = counter("synod_view_changes_total", "Leader / view changes")
export const evidence = counter("synod_evidence_total", "Evidence of misbehaviour kept by a protocol")
export const sendFailures = counter("synod_send_failures_total", "Transport send failures at a shell; the frame is dropped")
export const transportDropped = counter("synod_transport_dropped_total", "Frames a transport dropped")
export const clientCompletions = counter("synod_client_completions_total", "Client requests completed, by outcome")
export const committedRequests = counter("synod_committed_requests_total", "Client requests in committed log entries")
export const batchSize = Metric.histogram(
  "synod_batch_size",
  MetricBoundaries.fromIterable([0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]),
  "Client requests per committed log entry"
)
export const leaderChanges = counter("synod_leader_changes_total", "Leader or primary changes seen by a replica")
export const checkpoints = counter("synod_checkpoints_total", "Checkpoints taken (stable=true: stable checkpoints, snapshots)")
export const stateTransfers = counter("synod_state_transfers_total", "State transfers completed")
export const bytesSent = counter("synod_bytes_sent_total", "Frame bytes handed to the transport, per destination")
/** 0.5 ms doubling to 16.384 s. */
export const LATENCY_BOUNDARIES = MetricBoundaries.exponential({ start: 0.0005, factor: 2, count: 17 })
export const commitLatency = Metric.histogram(
  "synod_commit_latency_seconds",
  LATENCY_BOUNDARIES,
  "Seconds from a request's arrival at a replica until it committed (until=committed) or was replied to (until=replied)"
)
export const clientLatency = Metric.histogram(
  "synod_client_latency_seconds",
  LATENCY_BOUNDARIES,
  "Seconds from a client's submission to its completion"
)
export const requestSpansEvicted = counter("synod_request_spans_evicted_total", "Request spans ended early because too many were open")
const gauge = (name: string, description: string) => Metric.gauge(name, { description })
export const view = gauge("synod_view", "Current view or ballot round")
export const isLeader = gauge("synod_is_leader", "1 while this replica is leader or primary")
export const commitIndex = gauge("synod_commit_index", "Highest committed log index")
export const appliedIndex = gauge("synod_applied_index", "Highest executed log index")
export const stableCheckpoint = gauge("synod_stable_checkpoint", "Last stable checkpoint or snapshot index")
export const replicationLag = gauge("synod_replication_lag", "Slots or sequence numbers a peer is behind this replica")
export const bytesPerCommittedRequest = gauge(
  "synod_bytes_per_committed_request",
  "Bytes sent per committed client request since the replica started"
)
export const protocolFigure = gauge("synod_protocol_figure", "A protocol-specific figure from the replica status")
export const connectionEvents = counter("synod_connection_events_total", "Link up/down transitions per peer")
export const peerConnected = gauge("synod_peer_connected", "1 while the link to a peer is up")

/** At most this many `ReplicaStatus.extra` figures per replica become gauges (the rest are served in /status only). */
export const MAX_PROTOCOL_FIGURES = 32

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

/**
 * Count what a core reported. Events without a metric here (Executed, Custom,
 * RequestPhase: see `Tracing`) are ignored.
 */
export const recordEvent = (protocol: string, event: ProtocolEvent): Effect.Effect<void> => {
  switch (event._tag) {
    case "Committed":
      return Effect.all([
        Metric.increment(withTags(commits, { protocol })),
        Metric.incrementBy(withTags(committedRequests, { protocol }), event.requests.length),
        Metric.update(withTags(batchSize, { protocol }), event.requests.length)
      ], { discard: true })
    case "Checkpoint":
      return Metric.increment(withTags(checkpoints, { protocol, stable: String(event.stable) }))
    case "StateTransferred":
      return Metric.increment(withTags(stateTransfers, { protocol }))
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

export const recordBytesSent = (protocol: string, bytes: number): Effect.Effect<void> =>
  Metric.incrementBy(withTags(bytesSent, { protocol }), bytes)

export const recordLeaderChange = (protocol: string): Effect.Effect<void> => Metric.increment(withTags(leaderChanges, { protocol }))

/** A request reached `until` (committed / replied) `seconds` after it arrived at the replica. */
export const recordCommitLatency = (protocol: string, until: "committed" | "replied", seconds: number): Effect.Effect<void> =>
  Metric.update(withTags(commitLatency, { protocol, until }), seconds)

export const recordClientLatency = (protocol: string, outcome: string, seconds: number): Effect.Effect<void> =>
  Metric.update(withTags(clientLatency, { protocol, outcome }), seconds)

export const recordSpanEvicted = (protocol: string): Effect.Effect<void> =>
  Metric.increment(withTags(requestSpansEvicted, { protocol }))

/**
 * A link from `self` to `peer` went up or down. Transports call it on every
 * transition (not on every frame); `peer` must come from configuration or an
 * authenticated handshake.
 */
export const recordConnection = (transport: string, self: string, peer: string, event: "up" | "down"): Effect.Effect<void> =>
  Effect.zipRight(
    Metric.increment(withTags(connectionEvents, { transport, self, peer, event })),
    Metric.set(withTags(peerConnected, { transport, self, peer }), event === "up" ? 1 : 0)
  )

/**
 * Publish a replica's status as gauges. Only values that differ from
 * `previous` are written (the shell calls this after every batch). A peer
 * that left the status (reconfiguration) reads lag 0.
 */
export const recordStatus = (
  protocol: string,
  replica: string,
  status: ReplicaStatus,
  previous: ReplicaStatus | undefined
): Effect.Effect<void> =>
  Effect.suspend(() => {
    const tags = { protocol, replica }
    const updates: Array<Effect.Effect<void>> = []
    const set = (metric: Metric.Metric.Gauge<number>, now: number, before: number | undefined, extra?: Record<string, string>) => {
      if (now !== before) updates.push(Metric.set(withTags(metric, extra === undefined ? tags : { ...tags, ...extra }), now))
    }
    set(view, status.view, previous?.view)
    set(isLeader, isLeaderRole(status.role) ? 1 : 0, previous === undefined ? undefined : isLeaderRole(previous.role) ? 1 : 0)
    set(commitIndex, status.commitIndex, previous?.commitIndex)
    set(appliedIndex, status.appliedIndex, previous?.appliedIndex)
    if (status.stableCheckpoint !== undefined) set(stableCheckpoint, status.stableCheckpoint, previous?.stableCheckpoint)
    const lagBefore = new Map(previous?.peers.map((p) => [p.replica, p.lag]))
    for (const p of status.peers) {
      set(replicationLag, p.lag, lagBefore.get(p.replica), { peer: `replica/${p.replica}` })
      lagBefore.delete(p.replica)
    }
    for (const [gone, lag] of lagBefore) set(replicationLag, 0, lag, { peer: `replica/${gone}` })
    if (status.extra !== undefined) {
      let figures = 0
      for (const [name, value] of Object.entries(status.extra)) {
        if (++figures > MAX_PROTOCOL_FIGURES) break
        set(protocolFigure, value, previous?.extra?.[name], { name })
      }
    }
    return updates.length === 0 ? Effect.void : Effect.all(updates, { discard: true })
  })

/** Bytes sent per committed request since the replica started (0 before the first commit). */
export const setBytesPerCommittedRequest = (protocol: string, replica: string, value: number): Effect.Effect<void> =>
  Metric.set(withTags(bytesPerCommittedRequest, { protocol, replica }), value)

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

/** Count, sum and cumulative buckets of a histogram with the given tags. */
export const histogramValue = (
  metric: Metric.Metric<MetricKeyType.MetricKeyType.Histogram, number, MetricState.MetricState.Histogram>,
  tags: Readonly<Record<string, string>> = {}
): Effect.Effect<MetricState.MetricState.Histogram> => Metric.value(withTags(metric, tags))

/** Number of observations recorded by the persist-batch histogram. */
export const persistBatchCount: Effect.Effect<number> = Effect.map(Metric.value(readyPersistBatchSize), (s) => s.count)
