/**
 * What the replica shell observes about its driver, kept out of the shell's
 * loop: metrics of events and status, logs, request spans, and the latest
 * `ReplicaStatus` snapshot. Owned by the replica's actor fiber, except
 * `dropped` (also called by the network pump) and `status` (read by anyone).
 *
 * Logs (Effect `Logger`): every line carries the annotations `replica`,
 * `protocol` (set by the shell on its fibers) and `view`. Levels:
 *   Debug    every dropped input: "dropped message" with from, reason, detail
 *   Info     "view changed" with view, leader, cause; "state transferred" with index
 *   Warning  "evidence of misbehaviour" with against, kind
 */
import { Effect, FiberRef, HashMap } from "effect"
import type { PeerId, ReplicaId } from "../Ids.js"
import * as Metrics from "../Metrics.js"
import type { Driver, ProtocolEvent } from "../Protocol.js"
import type { Rejection } from "../Rejection.js"
import * as Status from "../Status.js"
import { RequestTracker } from "../Tracing.js"

export interface ObserverOptions {
  readonly protocol: string
  readonly replica: string
  readonly maxOpenSpans?: number
}

export class ReplicaObserver<M> {
  readonly tracker: RequestTracker
  private view: number | undefined
  private leader: ReplicaId | undefined
  private annotatedView: number | undefined
  private highestCommitted = 0
  private current: Status.ReplicaStatus
  private published: Status.ReplicaStatus | undefined
  private bytesSent = 0
  private requestsCommitted = 0
  private publishedRatio = -1

  constructor(private readonly driver: Driver<M>, private readonly options: ObserverOptions) {
    this.tracker = new RequestTracker(options)
    const initial = driver.status?.()
    this.view = initial?.view
    this.leader = initial?.leader
    this.current = initial ?? this.fallback()
  }

  /** The status after the last completed batch. */
  readonly status: Effect.Effect<Status.ReplicaStatus> = Effect.sync(() => this.current)

  /** The current view, for log annotations. */
  get currentView(): number {
    return this.view ?? 0
  }

  /** An input dropped before or by the core. */
  dropped(from: PeerId, rejection: Rejection): Effect.Effect<void> {
    return this.log(Effect.logDebug("dropped message"), { from, reason: rejection.reason, detail: rejection.detail })
  }

  /** Bytes handed to the transport (per destination). */
  sent(bytes: number): void {
    this.bytesSent += bytes
  }

  /** The events of one completed Ready, in order. */
  events(events: ReadonlyArray<ProtocolEvent>): Effect.Effect<void> {
    return Effect.gen(this, function*() {
      yield* Metrics.recordEvents(this.options.protocol, events)
      for (const e of events) {
        switch (e._tag) {
          case "ViewChanged":
            this.view = e.view
            yield* this.noteLeader(e.leader)
            yield* this.log(Effect.logInfo("view changed"), { leader: e.leader, cause: e.cause })
            break
          case "Committed":
            if (e.index > this.highestCommitted) this.highestCommitted = e.index
            this.requestsCommitted += e.requests.length
            break
          case "Rejected":
            yield* this.dropped(e.from, e.rejection)
            break
          case "Evidence":
            yield* this.log(Effect.logWarning("evidence of misbehaviour"), { against: e.against, kind: e.kind })
            break
          case "StateTransferred":
            yield* this.log(Effect.logInfo("state transferred"), { index: e.index })
            break
          default:
            break
        }
      }
      yield* this.tracker.observe(events)
    })
  }

  /** After every batch: snapshot the status, publish gauges, keep the fiber's `view` log annotation current. */
  readonly afterBatch: Effect.Effect<void> = Effect.suspend(() => {
    const reported = this.driver.status?.()
    if (reported !== undefined) this.view = reported.view
    const status = reported ?? this.fallback()
    this.current = status
    const previous = this.published
    this.published = status
    const effects: Array<Effect.Effect<void>> = [Metrics.recordStatus(this.options.protocol, this.options.replica, status, previous)]
    if (reported !== undefined) effects.push(this.noteLeader(reported.leader))
    if (this.view !== this.annotatedView) {
      const view = this.currentView
      this.annotatedView = this.view
      effects.push(FiberRef.update(FiberRef.currentLogAnnotations, HashMap.set("view", view as unknown)))
    }
    const ratio = this.requestsCommitted === 0 ? 0 : this.bytesSent / this.requestsCommitted
    if (ratio !== this.publishedRatio) {
      this.publishedRatio = ratio
      effects.push(Metrics.setBytesPerCommittedRequest(this.options.protocol, this.options.replica, ratio))
    }
    return Effect.all(effects, { discard: true })
  })

  private noteLeader(leader: ReplicaId | undefined): Effect.Effect<void> {
    if (leader === undefined || leader === this.leader) return Effect.void
    this.leader = leader
    return Metrics.recordLeaderChange(this.options.protocol)
  }

  private fallback(): Status.ReplicaStatus {
    return Status.fallback({
      appliedIndex: this.driver.appliedIndex(),
      commitIndex: this.highestCommitted,
      view: this.view,
      leader: this.leader
    })
  }

  private log(effect: Effect.Effect<void>, annotations: Record<string, unknown>): Effect.Effect<void> {
    return Effect.annotateLogs(effect, { ...annotations, view: this.currentView })
  }
}
