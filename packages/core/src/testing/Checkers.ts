/**
 * Correctness checkers. Each one watches what correct replicas and clients
 * report and names the first thing that breaks its property:
 *
 *   agreement      no two correct replicas commit different entries at one log position
 *   validity       every committed request is one a client submitted, with the same bytes
 *   exactly-once   a replica executes each client request at most once (per incarnation:
 *                  a restarted replica rebuilds its state machine and may replay its log)
 *   state-digest   correct replicas at the same applied index have the same state digest
 *   invariants     the state machine's own invariants hold on every correct replica
 *   linearizability  client histories are linearizable (checked at the end of a run)
 *
 * The simulator feeds them incrementally; `checkTrace` feeds them a whole
 * hand-made trace, which is how the tests prove each checker can fail.
 */
import type { ClientOutcome } from "../Client.js"
import { sha256Hex } from "../Crypto.js"
import type { ProtocolEvent } from "../Protocol.js"

export interface Violation {
  readonly checker: string
  readonly message: string
  /** The simulator step at which it was detected. */
  readonly step: number
}

/** One client request as the simulator saw it: the raw material of validity and linearizability. */
export interface ClientOp {
  readonly client: number
  readonly clientId: string
  readonly seq: number
  readonly command: Uint8Array
  readonly commandDigest: string
  readonly readOnly: boolean
  /** Simulated time of submission. */
  readonly invokedAt: number
  /** Simulated time of completion; undefined while pending. */
  completedAt: number | undefined
  outcome: ClientOutcome | undefined
  /** Submitted in the liveness phase (after healing): must complete. */
  readonly afterHeal: boolean
}

/** Checks a client history; returns why it is not linearizable (empty when it is). */
export type HistoryCheck = (ops: ReadonlyArray<ClientOp>) => ReadonlyArray<string>

const requestKey = (clientId: string, seq: number): string => `${clientId}#${seq}`

export class Agreement {
  readonly name = "agreement"
  private readonly decided = new Map<number, { readonly digest: string; readonly replica: number }>()

  /** Distinct log positions committed so far. */
  get size(): number {
    return this.decided.size
  }

  committed(replica: number, index: number, entryDigest: string, step: number): Violation | undefined {
    const prior = this.decided.get(index)
    if (prior === undefined) {
      this.decided.set(index, { digest: entryDigest, replica })
      return undefined
    }
    if (prior.digest === entryDigest) return undefined
    return {
      checker: this.name,
      step,
      message: `index ${index}: replica ${prior.replica} committed ${prior.digest.slice(0, 16)}, replica ${replica} committed ${entryDigest.slice(0, 16)}`
    }
  }
}

export class Validity {
  readonly name = "validity"
  private readonly submitted = new Map<string, string>()

  submit(clientId: string, seq: number, commandDigest: string): void {
    this.submitted.set(requestKey(clientId, seq), commandDigest)
  }

  committed(
    replica: number,
    index: number,
    requests: ReadonlyArray<{ readonly clientId: string; readonly seq: number; readonly commandDigest: string }>,
    step: number,
    out: Array<Violation>
  ): void {
    for (const r of requests) {
      const digest = this.submitted.get(requestKey(r.clientId, r.seq))
      if (digest === undefined) {
        out.push({ checker: this.name, step, message: `replica ${replica} committed ${r.clientId}#${r.seq} at index ${index}, which no client submitted` })
      } else if (digest !== r.commandDigest) {
        out.push({
          checker: this.name,
          step,
          message: `replica ${replica} committed ${r.clientId}#${r.seq} at index ${index} with command ${r.commandDigest.slice(0, 16)}, the client submitted ${digest.slice(0, 16)}`
        })
      }
    }
  }

  executed(replica: number, clientId: string, seq: number, index: number, step: number): Violation | undefined {
    if (this.submitted.has(requestKey(clientId, seq))) return undefined
    return { checker: this.name, step, message: `replica ${replica} executed ${clientId}#${seq} at index ${index}, which no client submitted` }
  }
}

export class ExactlyOnce {
  readonly name = "exactly-once"
  /** Per replica: request -> index where this incarnation executed it. */
  private readonly executed = new Map<number, Map<string, number>>()

  /** A restarted replica rebuilds its state machine: its earlier executions are gone with it. */
  restarted(replica: number): void {
    this.executed.delete(replica)
  }

  execute(replica: number, clientId: string, seq: number, index: number, step: number): Violation | undefined {
    let seen = this.executed.get(replica)
    if (seen === undefined) this.executed.set(replica, (seen = new Map()))
    const key = requestKey(clientId, seq)
    const prior = seen.get(key)
    if (prior === undefined) {
      seen.set(key, index)
      return undefined
    }
    return { checker: this.name, step, message: `replica ${replica} executed ${key} twice: at index ${prior} and at index ${index}` }
  }
}

export class StateDigests {
  readonly name = "state-digest"
  private readonly byIndex = new Map<number, { readonly digest: string; readonly replica: number }>()

  observe(replica: number, appliedIndex: number, digest: string, step: number): Violation | undefined {
    const prior = this.byIndex.get(appliedIndex)
    if (prior === undefined) {
      this.byIndex.set(appliedIndex, { digest, replica })
      return undefined
    }
    if (prior.digest === digest) return undefined
    return {
      checker: this.name,
      step,
      message: `applied index ${appliedIndex}: replica ${prior.replica} has state ${prior.digest.slice(0, 16)}, replica ${replica} has ${digest.slice(0, 16)}`
    }
  }
}

export const invariantViolations = (replica: number, problems: ReadonlyArray<string>, step: number): Array<Violation> =>
  problems.map((p) => ({ checker: "invariants", step, message: `replica ${replica}: ${p}` }))

export const linearizabilityViolations = (check: HistoryCheck, ops: ReadonlyArray<ClientOp>, step: number): Array<Violation> =>
  check(ops).map((message) => ({ checker: "linearizability", step, message }))

/** All incremental checkers, wired the way the simulator uses them. */
export class TraceCheckers {
  readonly agreement = new Agreement()
  readonly validity = new Validity()
  readonly exactlyOnce = new ExactlyOnce()
  readonly digests = new StateDigests()

  submit(clientId: string, seq: number, command: Uint8Array): string {
    const digest = sha256Hex(command)
    this.validity.submit(clientId, seq, digest)
    return digest
  }

  /** An event reported by a correct replica. */
  event(replica: number, event: ProtocolEvent, step: number, out: Array<Violation>): void {
    if (event._tag === "Committed") {
      const v = this.agreement.committed(replica, event.index, event.entryDigest, step)
      if (v !== undefined) out.push(v)
      this.validity.committed(replica, event.index, event.requests, step, out)
    } else if (event._tag === "Executed") {
      const v = this.validity.executed(replica, event.clientId, event.seq, event.index, step) ??
        this.exactlyOnce.execute(replica, event.clientId, event.seq, event.index, step)
      if (v !== undefined) out.push(v)
    }
  }

  applied(replica: number, appliedIndex: number, digest: string, step: number, out: Array<Violation>): void {
    const v = this.digests.observe(replica, appliedIndex, digest, step)
    if (v !== undefined) out.push(v)
  }
}

/** A hand-written trace, for testing the checkers themselves. */
export interface Trace {
  readonly submissions: ReadonlyArray<{ readonly clientId: string; readonly seq: number; readonly command: Uint8Array }>
  /** Events of correct replicas in the order they happened; `restart` marks a replica rebuilt from its disk. */
  readonly events: ReadonlyArray<
    | { readonly replica: number; readonly event: ProtocolEvent }
    | { readonly replica: number; readonly restart: true }
  >
  readonly applied?: ReadonlyArray<{ readonly replica: number; readonly appliedIndex: number; readonly stateDigest: string }>
  readonly invariants?: ReadonlyArray<{ readonly replica: number; readonly problems: ReadonlyArray<string> }>
  readonly history?: { readonly ops: ReadonlyArray<ClientOp>; readonly check: HistoryCheck }
}

export const checkTrace = (trace: Trace): ReadonlyArray<Violation> => {
  const c = new TraceCheckers()
  const out: Array<Violation> = []
  for (const s of trace.submissions) c.submit(s.clientId, s.seq, s.command)
  trace.events.forEach((e, step) => {
    if ("restart" in e) c.exactlyOnce.restarted(e.replica)
    else c.event(e.replica, e.event, step, out)
  })
  trace.applied?.forEach((a, step) => c.applied(a.replica, a.appliedIndex, a.stateDigest, step, out))
  trace.invariants?.forEach((i, step) => out.push(...invariantViolations(i.replica, i.problems, step)))
  if (trace.history !== undefined) out.push(...linearizabilityViolations(trace.history.check, trace.history.ops, trace.events.length))
  return out
}
