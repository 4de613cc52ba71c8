/**
 * Counters of one simulator run. Every fault and every adversary action is
 * counted, so tests can prove that a fault actually happened rather than
 * merely being enabled.
 */

export interface SimStats {
  /** Events processed (deliveries, ticks, control). */
  steps: number
  /** Frames handed to a live receiver (before envelope checks). */
  deliveries: number
  /** Frames lost, for any reason; `dropsByCause` splits them. */
  drops: number
  dropsByCause: Record<string, number>
  /** Extra copies of frames the network injected. */
  duplicates: number
  /** Frames delivered after a frame sent later on the same link. */
  reorders: number
  /** Frames that took the occasional long path (the source of most reordering). */
  longDelays: number
  /** Crashes of any replica (fault scheduler, adversary, or tests). */
  crashes: number
  /** Crashes that hit between taking a Ready and persisting it: its writes were lost. */
  unsyncedLost: number
  restarts: number
  /** Symmetric partitions (groups or an isolated replica) installed. */
  partitions: number
  /** One-way link cuts installed. */
  asymmetricPartitions: number
  heals: number
  /** Ticks delivered to replica clocks. */
  clockTicks: number
  /** Frames `Envelope.open` refused, by reason (replicas and clients). */
  rejections: Record<string, number>
  /** Rejections replicas' cores reported themselves (`Rejected` events), by reason. */
  coreRejections: Record<string, number>
  byzantineActions: Record<string, number>
  /** Finer kinds of Byzantine actions (`forge/sender`, `shift-view/stale`, ...). */
  byzantineDetail: Record<string, number>
  /** Distinct log positions committed by at least one correct replica. */
  commits: number
  /** `Executed` events of correct replicas. */
  executed: number
  submitted: number
  completed: number
  outcomes: { Committed: number; Rejected: number; TimedOut: number }
  /** Outbound messages addressed to a PeerId the simulator does not know. */
  unroutable: number
}

export const emptyStats = (): SimStats => ({
  steps: 0,
  deliveries: 0,
  drops: 0,
  dropsByCause: {},
  duplicates: 0,
  reorders: 0,
  longDelays: 0,
  crashes: 0,
  unsyncedLost: 0,
  restarts: 0,
  partitions: 0,
  asymmetricPartitions: 0,
  heals: 0,
  clockTicks: 0,
  rejections: {},
  coreRejections: {},
  byzantineActions: {},
  byzantineDetail: {},
  commits: 0,
  executed: 0,
  submitted: 0,
  completed: 0,
  outcomes: { Committed: 0, Rejected: 0, TimedOut: 0 },
  unroutable: 0
})

export const bump = (record: Record<string, number>, key: string, by = 1): void => {
  record[key] = (record[key] ?? 0) + by
}
