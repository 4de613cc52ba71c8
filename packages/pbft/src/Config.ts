/**
 * Replica configuration: every window, queue and batch has a limit here, with
 * a documented default. Times are in ticks of the replica's logical clock (the
 * Effect shell ticks every 10 ms by default, so 100 ticks ≈ 1 s).
 */
import { MAX_BATCH_REQUESTS, MAX_PREPARED_PROOFS, MAX_RELAY_FRAMES } from "./Messages.js"

export interface PbftConfig {
  /** K: a checkpoint every K sequence numbers (OSDI'99 §4.3). Default 64. */
  readonly checkpointInterval: number
  /**
   * L: log window; sequence numbers are accepted in (h, h + L]. A multiple of K.
   * Default 2K = 128. A view-change carries up to L prepared certificates, so
   * L bounds its size (about L · (2f+1) signed frames).
   */
  readonly logWindow: number
  /** Most requests in one pre-prepare. Default 128 (wire limit 1024). */
  readonly maxBatchSize: number
  /** Most request bytes in one pre-prepare. Default 1 MiB. */
  readonly maxBatchBytes: number
  /** How long the primary may hold a non-full batch waiting for more requests while the window is open. Default 0 (send at once). */
  readonly batchDelayTicks: number
  /** Most sequence numbers the primary has assigned and not executed. Default min(16, L). */
  readonly maxInFlightBatches: number
  /** Most requests the primary queues for the next batches; also bounds read-only requests waiting for their barrier. Default 8192. */
  readonly maxPendingRequests: number
  /** Most distinct clients whose requests a replica is waiting to execute (one outstanding each). Default 8192. */
  readonly maxWaitingClients: number
  /** Base view-change timeout (§4.5.2). Default 200 ticks. */
  readonly viewChangeTimeoutTicks: number
  /** The timeout doubles with each failed view change up to this. Default 6400 ticks. */
  readonly maxViewChangeTimeoutTicks: number
  /** Period of Status messages (retransmission requests). Default 50 ticks. */
  readonly statusIntervalTicks: number
  /** Most sequence numbers retransmitted to one peer per Status. Default 16. */
  readonly retransmitLimit: number
  /** Ask for state again after this long without a valid answer. Default 200 ticks. */
  readonly stateTransferRetryTicks: number
  /** Most messages for a view this replica has not entered yet that it keeps. Default 4096. */
  readonly maxFutureMessages: number
  /** Most pieces of evidence kept (oldest dropped first). Default 64. */
  readonly maxEvidence: number
  /**
   * The cluster id of the envelopes this replica signs. The core seals its own
   * pre-prepares, prepares and checkpoints to keep them as proofs; without this
   * it learns the id from the first authenticated frame it receives.
   */
  readonly clusterId?: string
}

export const defaults: Omit<PbftConfig, "clusterId"> = {
  checkpointInterval: 64,
  logWindow: 128,
  maxBatchSize: 128,
  maxBatchBytes: 1024 * 1024,
  batchDelayTicks: 0,
  maxInFlightBatches: 16,
  maxPendingRequests: 8192,
  maxWaitingClients: 8192,
  viewChangeTimeoutTicks: 200,
  maxViewChangeTimeoutTicks: 6400,
  statusIntervalTicks: 50,
  retransmitLimit: 16,
  stateTransferRetryTicks: 200,
  maxFutureMessages: 4096,
  maxEvidence: 64
}

const positiveInt = (name: string, v: number, max = Number.MAX_SAFE_INTEGER) => {
  if (!Number.isInteger(v) || v < 1 || v > max) throw new RangeError(`PbftConfig.${name} must be an integer in [1, ${max}], got ${v}`)
}

/** Fill in defaults and check the limits against each other. Throws RangeError for a bad configuration. */
export const make = (overrides: Partial<PbftConfig> = {}): PbftConfig => {
  // limits left out follow the ones given: L defaults to 2K, the in-flight window to at most L
  const checkpointInterval = overrides.checkpointInterval ?? defaults.checkpointInterval
  const logWindow = overrides.logWindow ?? 2 * checkpointInterval
  const maxInFlightBatches = overrides.maxInFlightBatches ?? Math.min(defaults.maxInFlightBatches, logWindow)
  const c: PbftConfig = { ...defaults, ...overrides, checkpointInterval, logWindow, maxInFlightBatches }
  positiveInt("checkpointInterval", c.checkpointInterval)
  positiveInt("logWindow", c.logWindow, MAX_PREPARED_PROOFS)
  if (c.logWindow % c.checkpointInterval !== 0 || c.logWindow < c.checkpointInterval) {
    throw new RangeError(`PbftConfig.logWindow (${c.logWindow}) must be a positive multiple of checkpointInterval (${c.checkpointInterval})`)
  }
  positiveInt("maxBatchSize", c.maxBatchSize, MAX_BATCH_REQUESTS)
  positiveInt("maxBatchBytes", c.maxBatchBytes)
  if (!Number.isInteger(c.batchDelayTicks) || c.batchDelayTicks < 0) throw new RangeError("PbftConfig.batchDelayTicks must be >= 0")
  positiveInt("maxInFlightBatches", c.maxInFlightBatches, c.logWindow)
  positiveInt("maxPendingRequests", c.maxPendingRequests)
  positiveInt("maxWaitingClients", c.maxWaitingClients)
  positiveInt("viewChangeTimeoutTicks", c.viewChangeTimeoutTicks)
  positiveInt("maxViewChangeTimeoutTicks", c.maxViewChangeTimeoutTicks)
  if (c.maxViewChangeTimeoutTicks < c.viewChangeTimeoutTicks) throw new RangeError("PbftConfig.maxViewChangeTimeoutTicks < viewChangeTimeoutTicks")
  positiveInt("statusIntervalTicks", c.statusIntervalTicks)
  // a retransmission of one sequence number is a pre-prepare, <= n prepares and <= n commits
  positiveInt("retransmitLimit", c.retransmitLimit, MAX_RELAY_FRAMES)
  positiveInt("stateTransferRetryTicks", c.stateTransferRetryTicks)
  positiveInt("maxFutureMessages", c.maxFutureMessages)
  positiveInt("maxEvidence", c.maxEvidence)
  return c
}
