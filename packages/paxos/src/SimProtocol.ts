/**
 * Paxos for the deterministic simulator of `@synod/core/testing`: replicas
 * and clients are built by the same `Driver.make` / `Client.make` that
 * production uses.
 *
 * Paxos tolerates crash faults only, so the simulator never runs Byzantine
 * Paxos replicas; the tamper functions still produce well-formed conflicting
 * messages so adversary tooling and tests can exercise the guards.
 */
import type { ReplicaId } from "@synod/core"
import type { Rng, SimProtocol } from "@synod/core/testing"
import * as B from "./Ballot.js"
import * as Client from "./Client.js"
import * as Config from "./Config.js"
import * as Driver from "./Driver.js"
import * as M from "./Messages.js"

export interface SimOptions {
  readonly config?: Partial<Config.PaxosConfig>
  readonly client?: Partial<Client.ClientConfig>
  /**
   * Replicas that start as members; the others start as learners that follow
   * the log and can be added by reconfiguration. Default: every replica.
   */
  readonly initialMembers?: ReadonlyArray<number>
}

export const simProtocol = (options: SimOptions = {}): SimProtocol<M.PaxosMessage> => {
  const config = Config.make(options.config)
  return {
    name: "paxos",
    envelope: { protocol: M.PROTOCOL, codec: M.codec },
    faultModel: "crash",
    makeReplica: (p) => {
      const initial = options.initialMembers === undefined
        ? p.trust
        : config.quorumFor([...options.initialMembers].sort((a, b) => a - b) as Array<ReplicaId>)
      return Driver.make({
        id: p.id,
        trust: initial,
        learners: p.trust.replicas,
        stateMachine: p.stateMachine,
        disk: p.disk,
        seed: p.seed,
        config
      })
    },
    makeClient: (p) =>
      Client.make({
        clientId: p.clientId,
        replicas: p.trust.replicas,
        seed: p.seed,
        ...(options.client !== undefined ? { config: options.client } : {})
      }),
    tamper: { equivocate, shiftView, lie }
  }
}

const withRound = (b: B.Ballot, delta: number): B.Ballot => B.make(Math.min(B.MAX_ROUND, Math.max(0, b.round + delta)), b.replica)

/** The same ballot and slot with a different value. */
const equivocate = (m: M.PaxosMessage, rng: Rng): M.PaxosMessage | undefined => {
  switch (m._tag) {
    case "Accept": {
      if (m.value.items.length === 0) return undefined
      const items = m.value.items.filter((_, i) => i !== rng.int(m.value.items.length))
      return new M.Accept({ ...m, value: new M.Batch({ ballot: m.value.ballot, items }, true) }, true)
    }
    case "Promise":
      return m.accepted.length === 0 ? undefined : new M.Promise({ ...m, accepted: m.accepted.slice(1) }, true)
    case "Commit":
      return m.to > m.from ? new M.Commit({ ...m, to: (m.to - 1) as never }, true) : undefined
    default:
      return undefined
  }
}

/** The same message claiming another ballot. */
const shiftView = (m: M.PaxosMessage, delta: number): M.PaxosMessage | undefined => {
  switch (m._tag) {
    case "Prepare":
      return new M.Prepare({ ...m, ballot: withRound(m.ballot, delta) }, true)
    case "Promise":
      return new M.Promise({ ...m, ballot: withRound(m.ballot, delta) }, true)
    case "Accept":
      return new M.Accept({ ...m, ballot: withRound(m.ballot, delta) }, true)
    case "Accepted":
      return new M.Accepted({ ...m, ballot: withRound(m.ballot, delta) }, true)
    case "Commit":
      return new M.Commit({ ...m, ballot: withRound(m.ballot, delta) }, true)
    case "Heartbeat":
      return new M.Heartbeat({ ...m, ballot: withRound(m.ballot, delta) }, true)
    case "HeartbeatAck":
      return new M.HeartbeatAck({ ...m, ballot: withRound(m.ballot, delta) }, true)
    default:
      return undefined
  }
}

/** A catch-up answer with wrong content. */
const lie = (m: M.PaxosMessage, rng: Rng): M.PaxosMessage | undefined => {
  switch (m._tag) {
    case "Decided": {
      if (m.entries.length === 0) return undefined
      const victim = rng.int(m.entries.length)
      const entries = m.entries.map((e, i) =>
        i === victim ? new M.DecidedEntry({ slot: e.slot, value: new M.Batch({ ballot: e.value.ballot, items: [] }, true) }, true) : e
      )
      return new M.Decided({ ...m, entries }, true)
    }
    case "InstallSnapshot":
      return new M.InstallSnapshot({ ...m, snapshot: new M.SnapshotRecord({ ...m.snapshot, stateDigest: "0".repeat(64) }, true) }, true)
    default:
      return undefined
  }
}
