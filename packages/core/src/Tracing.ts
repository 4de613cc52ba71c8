/**
 * One trace span per client request at a replica, built from the core's
 * `RequestPhase` events with Effect's `Tracer` (whatever tracer the replica's
 * fiber has: the default in-memory one, OpenTelemetry, a test tracer), so a
 * slow request can be explained phase by phase.
 *
 *   span `synod.request` (kind server, a root span)
 *     attributes  synod.protocol, synod.replica, synod.client, synod.seq,
 *                 synod.index (once known), synod.outcome (when it ends)
 *     events      one per phase, named after it (received, proposed, prepared,
 *                 committed, executed, replied), at the shell's wall-clock time
 *                 of the Ready that carried it (Effect `Clock`)
 *
 * Lifetime of a span:
 * - opened by the first phase seen for `(clientId, seq)`, except `executed`
 *   and `replied`, which have nothing to end when no span is open;
 * - ended at `replied` (outcome `replied`), or at the end of the Ready in which
 *   it reached `executed` without `replied` (outcome `executed`: a replica that
 *   executes but does not answer the client, e.g. a Paxos follower);
 * - at most `maxOpenSpans` are open (default `DEFAULT_MAX_OPEN_SPANS`); opening
 *   one more ends the oldest first (outcome `evicted`, counted in
 *   `synod_request_spans_evicted_total`), so requests that never finish here
 *   (dropped, forwarded, abandoned by the client) cannot grow memory;
 * - spans still open when the replica stops end with outcome `stopped`.
 *
 * Commit latency: for a request whose span began at `received`, the time from
 * `received` to `committed` and to `replied` goes into
 * `synod_commit_latency_seconds{until}`. Ticks are logical; these are wall times.
 */
import { Clock, Effect, Exit, type Tracer } from "effect"
import * as Metrics from "./Metrics.js"
import type { ProtocolEvent } from "./Protocol.js"

export const DEFAULT_MAX_OPEN_SPANS = 1024
export const SPAN_NAME = "synod.request"

export type SpanOutcome = "replied" | "executed" | "evicted" | "stopped"

interface OpenSpan {
  readonly span: Tracer.Span
  receivedAt: bigint | undefined
  executed: boolean
}

type PhaseEvent = Extract<ProtocolEvent, { readonly _tag: "RequestPhase" }>

const keyOf = (e: PhaseEvent) => `${e.clientId}\u0000${e.seq}`

const seconds = (from: bigint, to: bigint) => Number(to - from) / 1e9

export interface RequestTrackerOptions {
  readonly protocol: string
  readonly replica: string
  /** 0 turns request spans off (the latency histogram then stays empty too). */
  readonly maxOpenSpans?: number
}

/** Owned by one fiber (the replica's actor); not safe to share. */
export class RequestTracker {
  readonly maxOpenSpans: number
  private readonly open = new Map<string, OpenSpan>()

  constructor(readonly options: RequestTrackerOptions) {
    const max = options.maxOpenSpans ?? DEFAULT_MAX_OPEN_SPANS
    if (!Number.isInteger(max) || max < 0) throw new RangeError(`RequestTracker: maxOpenSpans must be a non-negative integer, got ${max}`)
    this.maxOpenSpans = max
  }

  /** Spans currently open. */
  get openSpans(): number {
    return this.open.size
  }

  /** Observe the events of one Ready, in order. */
  observe(events: ReadonlyArray<ProtocolEvent>): Effect.Effect<void> {
    if (this.maxOpenSpans === 0) return Effect.void
    const phases = events.filter((e): e is PhaseEvent => e._tag === "RequestPhase")
    if (phases.length === 0) return Effect.void
    return Effect.flatMap(Clock.currentTimeNanos, (now) => this.observeAt(phases, now))
  }

  /** End every open span (the replica stopped). */
  readonly abandonAll: Effect.Effect<void> = Effect.flatMap(Clock.currentTimeNanos, (now) =>
    Effect.sync(() => {
      for (const o of this.open.values()) this.end(o, now, "stopped")
      this.open.clear()
    }))

  private observeAt(phases: ReadonlyArray<PhaseEvent>, now: bigint): Effect.Effect<void> {
    const self = this
    const { protocol } = this.options
    return Effect.gen(function*() {
      const executedHere: Array<string> = []
      for (const e of phases) {
        const key = keyOf(e)
        let o = self.open.get(key)
        if (o === undefined) {
          if (e.phase === "executed" || e.phase === "replied") continue
          if (self.open.size >= self.maxOpenSpans) yield* self.evictOldest(now)
          o = { span: yield* self.makeSpan(e), receivedAt: undefined, executed: false }
          self.open.set(key, o)
        }
        if (e.index !== undefined) o.span.attribute("synod.index", e.index)
        o.span.event(e.phase, now, e.index !== undefined ? { "synod.index": e.index } : undefined)
        switch (e.phase) {
          case "received":
            o.receivedAt ??= now
            break
          case "committed":
            if (o.receivedAt !== undefined) yield* Metrics.recordCommitLatency(protocol, "committed", seconds(o.receivedAt, now))
            break
          case "executed":
            o.executed = true
            executedHere.push(key)
            break
          case "replied":
            if (o.receivedAt !== undefined) yield* Metrics.recordCommitLatency(protocol, "replied", seconds(o.receivedAt, now))
            self.end(o, now, "replied")
            self.open.delete(key)
            break
          default:
            break
        }
      }
      for (const key of executedHere) {
        const o = self.open.get(key)
        if (o === undefined) continue
        self.end(o, now, "executed")
        self.open.delete(key)
      }
    })
  }

  private makeSpan(e: PhaseEvent): Effect.Effect<Tracer.Span> {
    return Effect.makeSpan(SPAN_NAME, {
      root: true,
      kind: "server",
      captureStackTrace: false,
      attributes: {
        "synod.protocol": this.options.protocol,
        "synod.replica": this.options.replica,
        "synod.client": e.clientId,
        "synod.seq": e.seq
      }
    })
  }

  private evictOldest(now: bigint): Effect.Effect<void> {
    const first = this.open.entries().next()
    if (first.done === true) return Effect.void
    const [key, o] = first.value
    this.open.delete(key)
    this.end(o, now, "evicted")
    return Metrics.recordSpanEvicted(this.options.protocol)
  }

  private end(o: OpenSpan, now: bigint, outcome: SpanOutcome): void {
    o.span.attribute("synod.outcome", outcome)
    o.span.end(now, Exit.void)
  }
}
