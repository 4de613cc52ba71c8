/**
 * What a PBFT replica reports to operators: `@synod/core`'s protocol-neutral
 * `Status.ReplicaStatus`, built from the replica's state by `PbftCore.status()`
 * (forwarded as `Driver.status()`). The shell calls it after every batch, so
 * it reads fields and counts only: O(peers), no change to the state.
 *
 *   role              primary (of its view, in normal status), backup, or
 *                     view-changing (voted for `view`, no new-view yet)
 *   view              the current view; while view-changing, the view it voted for
 *   leader            the primary of `view` in normal status; absent while
 *                     view-changing (no primary orders requests then)
 *   commitIndex       the highest sequence number that became committed-local
 *                     here (OSDI'99 §4.2), in any view; at least `appliedIndex`
 *                     (a state transfer or a restart moves execution without
 *                     local commits)
 *   appliedIndex      the last executed sequence number
 *   stableCheckpoint  sequence number of the last stable checkpoint (h; 0: genesis)
 *   peers             every other configured replica, with `matchIndex` the highest
 *                     sequence number it is known to hold with every one below it:
 *                     executed (its checkpoint or status message) or voted for (its
 *                     pre-prepares, prepares and commits; see `internal/Progress.ts`),
 *                     and `lag` measured from this replica's last sequence number:
 *                     the highest it accepted a pre-prepare for or committed. A peer
 *                     that restarted keeps its entry until it sends more.
 *   extra             lowWatermark       h: sequence numbers are accepted in (h, H]
 *                     highWatermark      H = h + L
 *                     inFlight           accepted and not yet executed (<= maxInFlightBatches
 *                                        at a primary)
 *                     maxInFlightBatches the configured window
 *                     queued             requests in the primary's queue for the next
 *                                        batches (<= maxPendingRequests)
 *                     waiting            clients whose request it waits to execute
 *                                        (<= maxWaitingClients)
 *                     pendingReads       read-only requests waiting for their barrier
 *                     futureMessages     messages held for a view not entered yet
 *                                        (<= maxFutureMessages)
 *                     evidence           pieces of evidence kept (<= maxEvidence)
 *                     transferring       1 while fetching a stable checkpoint's state
 */
import { type ReplicaId, Status } from "@synod/core"
import type { ReplicaState } from "./internal/State.js"

export const of = (r: ReplicaState): Status.ReplicaStatus => {
  const commitIndex = Math.max(r.maxCommitted, r.lastExecuted)
  const reference = Math.max(commitIndex, r.maxAccepted)
  return {
    role: !r.normal ? "view-changing" : r.isPrimary() ? "primary" : "backup",
    view: r.view,
    ...(r.normal ? { leader: r.primary() } : {}),
    commitIndex,
    appliedIndex: r.lastExecuted,
    stableCheckpoint: r.stable.seq,
    peers: r.trust.replicas.flatMap((p: ReplicaId) => (p === r.id ? [] : [Status.peer(p, r.progress.match(p), reference)])),
    extra: {
      lowWatermark: r.log.low,
      highWatermark: r.log.high,
      inFlight: Math.max(0, r.maxAccepted - r.lastExecuted),
      maxInFlightBatches: r.config.maxInFlightBatches,
      queued: r.pending.length,
      waiting: r.waiting.size,
      pendingReads: r.reads.length,
      futureMessages: r.future.length,
      evidence: r.evidence.list().length,
      transferring: r.transfer === undefined ? 0 : 1
    }
  }
}
