/**
 * The Paxos client as a pure driver (`ClientDriver` of @synod/core): it
 * finds the leader, retries across leader changes with the same
 * `(clientId, seq)` — replicas execute it at most once and answer a retry
 * with the original result — and bounds what it has in flight.
 *
 * Every submission completes exactly once:
 *   Committed  the replica's answer (write executed, or read answered);
 *   Rejected   definitely not executed: refused at ordering, or every attempt
 *              was turned away before reaching a leader's queue;
 *   TimedOut   the deadline passed and some attempt may have reached a
 *              leader (or the session forgot the request): unknown.
 *
 * Limits: `maxInFlight` requests; a new seq at most `sessionWindow` above
 * the oldest pending one (keep it <= the replicas' `maxSessionResults`);
 * each attempt waits `attemptTimeoutTicks`; a request gives up after
 * `deadlineTicks`. `submit` returns undefined when a limit is reached.
 */
import {
  type Client,
  type ClientId,
  peerReplica,
  type PeerId,
  Protocol,
  type ReplicaId,
  replicaPeer,
  reject
} from "@synod/core"
import * as M from "./Messages.js"

export interface ClientConfig {
  /** Requests in flight at once. Default 16. */
  readonly maxInFlight: number
  /** Ticks to wait for an answer before trying the next replica. Default 20. */
  readonly attemptTimeoutTicks: number
  /** Ticks after which a request completes as TimedOut (or Rejected). Default 3000. */
  readonly deadlineTicks: number
  /** Consistency of `readOnly` submissions unless overridden per call. Default "linearizable". */
  readonly readConsistency: M.ReadConsistency
  /**
   * A new request's seq stays less than this far above the oldest one still
   * pending (replicas refuse requests beyond their `maxSessionResults`, which
   * this must not exceed). Default 64.
   */
  readonly sessionWindow: number
}

export const defaultClientConfig: ClientConfig = {
  maxInFlight: 16,
  attemptTimeoutTicks: 20,
  deadlineTicks: 3000,
  readConsistency: "linearizable",
  sessionWindow: 64
}

export interface PaxosSubmitOptions extends Client.SubmitOptions {
  /** For reads: "stale" lets any replica answer from its own, possibly old, state. */
  readonly consistency?: M.ReadConsistency
  /** When set, the submission is this membership change (the command bytes are ignored). */
  readonly membership?: ReadonlyArray<ReplicaId>
}

export interface ClientParams {
  readonly clientId: ClientId
  /** The replicas to try (the cluster's membership when the client starts). */
  readonly replicas: ReadonlyArray<ReplicaId>
  readonly seed: number
  /**
   * The first request number. Replicas remember a client's session across
   * the client's restarts, so a new process of the same client must number
   * above every seq an earlier one used (e.g. from a persisted counter or a
   * clock). Default 0.
   */
  readonly firstSeq?: number
  readonly config?: Partial<ClientConfig>
}

interface Pending {
  readonly seq: number
  readonly op: M.Operation
  readonly readOnly: boolean
  readonly startedAt: number
  sentAt: number
  target: ReplicaId
  /** Some attempt may have reached a leader's queue (no refusal came back for it). */
  mayHaveExecuted: boolean
  /** The current attempt was answered with a refusal (not-leader / overloaded). */
  refused: { readonly reason: string; readonly leaderHint?: ReplicaId } | undefined
}

export interface PaxosClientDriver extends Client.ClientDriver<M.PaxosMessage> {
  submit(command: Uint8Array, options?: PaxosSubmitOptions): number | undefined
  /** Ask the cluster to change its membership to `members` (ordered through the log). */
  reconfigure(members: ReadonlyArray<ReplicaId>): number | undefined
  /** The replica this client currently sends to. */
  leaderGuess(): ReplicaId
}

export const make = (params: ClientParams): PaxosClientDriver => {
  const config: ClientConfig = { ...defaultClientConfig, ...params.config }
  if (params.replicas.length === 0) throw new RangeError("Paxos client: no replicas")
  const firstSeq = params.firstSeq ?? 0
  if (!Number.isSafeInteger(firstSeq) || firstSeq < 0) throw new RangeError(`Paxos client: firstSeq must be a non-negative safe integer, got ${firstSeq}`)
  for (const k of ["maxInFlight", "attemptTimeoutTicks", "deadlineTicks", "sessionWindow"] as const) {
    if (!Number.isSafeInteger(config[k]) || config[k] < 1) throw new RangeError(`Paxos client: ${k} must be a positive integer, got ${config[k]}`)
  }
  const replicas = [...params.replicas].sort((a, b) => a - b)
  const out = new Protocol.ReadyBuffer<M.PaxosMessage>()
  let pendingReady: Protocol.Ready<M.PaxosMessage> | undefined
  const pending = new Map<number, Pending>()
  let completions: Array<Client.ClientCompletion> = []
  let nextSeq = firstSeq
  let now = 0
  let leader: ReplicaId = replicas[Math.abs(Math.trunc(params.seed)) % replicas.length]!

  const ackedBelow = (): number => {
    let low = nextSeq
    for (const seq of pending.keys()) low = Math.min(low, seq)
    return low
  }

  const send = (p: Pending): void => {
    p.sentAt = now
    p.refused = undefined
    out.send.push({
      to: [replicaPeer(p.target)],
      message: new M.Request({ clientId: params.clientId, seq: p.seq as never, ackedBelow: ackedBelow() as never, op: p.op }, true)
    })
  }

  const start = (op: M.Operation, readOnly: boolean): number | undefined => {
    if (pending.size >= config.maxInFlight || nextSeq - ackedBelow() >= config.sessionWindow) return undefined
    const seq = nextSeq++
    const p: Pending = { seq, op, readOnly, startedAt: now, sentAt: now, target: leader, mayHaveExecuted: false, refused: undefined }
    pending.set(seq, p)
    send(p)
    return seq
  }

  const complete = (p: Pending, outcome: Client.ClientOutcome): void => {
    pending.delete(p.seq)
    completions.push({ clientId: params.clientId, seq: p.seq, readOnly: p.readOnly, outcome })
  }

  const nextReplica = (after: ReplicaId): ReplicaId => {
    const i = replicas.indexOf(after)
    return replicas[(i + 1) % replicas.length]!
  }

  const follow = (hint: ReplicaId | undefined, from: ReplicaId): ReplicaId => {
    if (hint !== undefined && hint !== from) {
      if (!replicas.includes(hint)) {
        replicas.push(hint)
        replicas.sort((a, b) => a - b)
      }
      return hint
    }
    return nextReplica(from)
  }

  const onTick = (): void => {
    now++
    for (const p of [...pending.values()]) {
      if (now - p.startedAt >= config.deadlineTicks) {
        const unknown = p.mayHaveExecuted || p.refused === undefined
        complete(p, unknown ? { _tag: "TimedOut" } : { _tag: "Rejected", ...p.refused! })
        continue
      }
      if (now - p.sentAt < config.attemptTimeoutTicks) continue
      // no answer: the attempt may have reached a leader; try the next replica
      if (p.refused === undefined) p.mayHaveExecuted = true
      p.target = p.refused?.leaderHint ?? nextReplica(p.target)
      leader = p.target
      send(p)
    }
  }

  const onReply = (from: PeerId, m: M.Reply): void => {
    const replica = peerReplica(from)
    if (replica === undefined) {
      out.events.push({ _tag: "Rejected", from, rejection: reject("not-member", "replies come from replicas") })
      return
    }
    if (m.clientId !== params.clientId) {
      out.events.push({ _tag: "Rejected", from, rejection: reject("invalid", `reply for client ${m.clientId}`) })
      return
    }
    const p = pending.get(m.seq)
    if (p === undefined) return // a late answer to a completed request
    const o = m.outcome
    switch (o._tag) {
      case "Committed":
        leader = replica
        return complete(p, { _tag: "Committed", result: o.result, index: o.index })
      case "Rejected":
        return complete(p, { _tag: "Rejected", reason: o.reason })
      case "Expired":
        return complete(p, { _tag: "TimedOut" })
      case "Dropped":
        // it reached a leader that lost leadership: it may still execute; retry at once
        p.mayHaveExecuted = true
        p.target = follow(o.leaderHint, replica)
        leader = p.target
        return send(p)
      case "NotLeader":
        if (replica !== p.target) return // an answer to an older attempt
        if (o.leaderHint !== undefined && o.leaderHint !== replica) {
          p.target = follow(o.leaderHint, replica)
          leader = p.target
          return send(p)
        }
        // nobody known to lead (an election): wait for the attempt timer, then try the next replica
        p.refused = { reason: "not-leader" }
        return
      case "Overloaded":
        if (replica === p.target) p.refused = { reason: "overloaded", leaderHint: replica }
        return
    }
  }

  return {
    clientId: params.clientId,
    submit: (command, options = {}) =>
      options.membership !== undefined
        ? start({ _tag: "Reconfigure", members: [...new Set(options.membership)].sort((a, b) => a - b) as never }, false)
        : options.readOnly === true
        ? start({ _tag: "Read", command, consistency: options.consistency ?? config.readConsistency }, true)
        : start({ _tag: "Write", command }, false),
    reconfigure: (members) => start({ _tag: "Reconfigure", members: [...new Set(members)].sort((a, b) => a - b) as never }, false),
    leaderGuess: () => leader,
    step: (input) => {
      if (input._tag === "Tick") return onTick()
      const m = input.envelope.message
      if (m._tag !== "Reply") {
        out.events.push({ _tag: "Rejected", from: input.envelope.from, rejection: reject("invalid", `clients take replies, not ${m._tag}`) })
        return
      }
      onReply(input.envelope.from, m)
    },
    hasReady: () => pendingReady !== undefined || !out.isEmpty(),
    ready: () => {
      if (pendingReady === undefined) pendingReady = out.take()
      return pendingReady
    },
    advance: () => {
      pendingReady = undefined
    },
    takeCompletions: () => {
      const c = completions
      completions = []
      return c
    },
    inFlight: () => pending.size
  }
}
