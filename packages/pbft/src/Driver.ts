/**
 * The synchronous driver of a PBFT replica (etcd-raft's RawNode shape): the
 * simulator and the Effect shell both drive this, so production code runs
 * unchanged in tests. Inspection accessors expose the core's view of things.
 */
import { Protocol, type Status } from "@synod/core"
import { PbftCore, type PbftReplicaParams } from "./Core.js"
import type { Evidence } from "./Evidence.js"
import type { PbftMessage } from "./Messages.js"

export interface PbftDriver extends Protocol.Driver<PbftMessage> {
  readonly core: PbftCore
  view(): number
  /** Forwarded from `PbftCore.status()` (see `Status.ts`). */
  status(): Status.ReplicaStatus
  isPrimary(): boolean
  /** Verifiable evidence of equivocation and lying this replica has collected. */
  evidence(): ReadonlyArray<Evidence>
}

export const make = (params: PbftReplicaParams): PbftDriver => {
  const core = new PbftCore(params)
  const driver = Protocol.driverOf(core)
  return {
    ...driver,
    // deferred proposals are made before the caller looks at or takes the Ready
    hasReady: () => {
      core.flushProposals()
      return driver.hasReady()
    },
    ready: () => {
      core.flushProposals()
      return driver.ready()
    },
    core,
    status: () => core.status(),
    view: () => core.view(),
    isPrimary: () => core.isPrimary(),
    evidence: () => core.evidence()
  }
}
