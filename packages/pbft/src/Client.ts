/**
 * The PBFT client as a pure driver (OSDI'99 §4.1, §5.1.3): it sends a request
 * to the primary it believes in, retransmits to every replica on timeout (so
 * backups forward it and start their view-change timers), and accepts a result
 * only with a weak quorum (f+1) of matching replies from distinct replicas.
 * Read-only requests go to every replica and need a replication quorum
 * (2f+1) of matching replies; otherwise they fall back to the ordered path.
 * The accepted signed replies are the outcome's reply certificate.
 *
 * One request at a time (the paper's model): exactly-once execution keeps only
 * the last reply per client, so a client must not reorder its own requests.
 */
import {
  type Client,
  type ClientId,
  peerReplica,
  Protocol,
  reject as rejectOf,
  type ReplicaId,
  replicaPeer,
  type RequestSeq,
  type TrustModel
} from "@synod/core"
import { primaryOf } from "./Certificates.js"
import { type PbftMessage, type Reply, Request } from "./Messages.js"
import { replyKey } from "./ReplyCertificate.js"

export interface PbftClientConfig {
  /** First wait for an ordered request, then doubled per retransmission. Default 100 ticks. */
  readonly requestTimeoutTicks: number
  /** Cap of the doubling. Default 1600 ticks. */
  readonly maxRequestTimeoutTicks: number
  /** Wait for 2f+1 matching read-only replies before falling back. Default 50 ticks. */
  readonly readTimeoutTicks: number
  /** Transmissions of an ordered request before giving up with TimedOut. Default 24. */
  readonly maxAttempts: number
  /** Sequence number of the first request (use a clock reading across client restarts). Default 1. */
  readonly firstSeq: number
  /** Largest command accepted by `submit`. Default 1 MiB. */
  readonly maxCommandBytes: number
}

export const defaultClientConfig: PbftClientConfig = {
  requestTimeoutTicks: 100,
  maxRequestTimeoutTicks: 1600,
  readTimeoutTicks: 50,
  maxAttempts: 24,
  firstSeq: 1,
  maxCommandBytes: 1024 * 1024
}

export interface PbftClientParams {
  readonly clientId: ClientId
  readonly trust: TrustModel.QuorumSystem
  readonly config?: Partial<PbftClientConfig>
}

interface Outstanding {
  readonly seq: number
  readonly command: Uint8Array
  readonly readOnly: boolean
  phase: "read" | "ordered"
  attempts: number
  timeout: number
  deadline: number
  /** The latest reply of each replica for this phase. */
  readonly replies: Map<ReplicaId, Protocol.Verified<Reply>>
}

/** A client driver for `params.clientId`. */
export const make = (params: PbftClientParams): PbftClientDriver => new PbftClientDriver(params)

export class PbftClientDriver implements Client.ClientDriver<PbftMessage> {
  readonly clientId: ClientId
  private readonly config: PbftClientConfig
  private readonly trust: TrustModel.QuorumSystem
  private readonly out = new Protocol.ReadyBuffer<PbftMessage>()
  private pendingReady: Protocol.Ready<PbftMessage> | undefined
  private completions: Array<Client.ClientCompletion> = []
  private current: Outstanding | undefined
  private nextSeq: number
  private now = 0
  /** The view this client believes current (a hint: only the primary it sends to first). */
  private view = 0

  constructor(params: PbftClientParams) {
    this.clientId = params.clientId
    this.trust = params.trust
    this.config = { ...defaultClientConfig, ...params.config }
    this.nextSeq = this.config.firstSeq
  }

  private get replicas() {
    return this.trust.replicas.map(replicaPeer)
  }

  submit(command: Uint8Array, options: Client.SubmitOptions = {}): number | undefined {
    if (this.current !== undefined) return undefined
    const seq = this.nextSeq++
    const readOnly = options.readOnly === true
    if (command.byteLength > this.config.maxCommandBytes) {
      this.complete(seq, readOnly, { _tag: "Rejected", reason: `command of ${command.byteLength} bytes exceeds ${this.config.maxCommandBytes}` })
      return seq
    }
    this.current = { seq, command, readOnly, phase: readOnly ? "read" : "ordered", attempts: 0, timeout: 0, deadline: 0, replies: new Map() }
    this.transmit()
    return seq
  }

  private transmit(): void {
    const c = this.current!
    const ordered = c.phase === "ordered"
    const request = new Request({ clientId: this.clientId, seq: c.seq as RequestSeq, command: c.command, readOnly: !ordered })
    // reads go to everyone; an ordered request first to the primary, then (retransmission) to everyone
    const to = ordered && c.attempts === 0 ? [replicaPeer(primaryOf(this.trust, this.view))] : this.replicas
    this.out.send.push({ to, message: request })
    c.timeout = !ordered
      ? this.config.readTimeoutTicks
      : c.attempts === 0
      ? this.config.requestTimeoutTicks
      : Math.min(c.timeout * 2, this.config.maxRequestTimeoutTicks)
    c.attempts++
    c.deadline = this.now + c.timeout
  }

  step(input: Protocol.Input<PbftMessage>): void {
    if (input._tag === "Tick") return this.tick()
    const env = input.envelope
    const m = env.message
    if (m._tag !== "Reply") return this.reject(env.from, "invalid", `a client does not take ${m._tag}`)
    const replica = peerReplica(env.from)
    if (replica === undefined || this.trust.weight(replica) <= 0) return this.reject(env.from, "not-member", "reply from a non-replica")
    const c = this.current
    if (m.clientId !== this.clientId) return this.reject(env.from, "invalid", "reply for another client")
    if (c === undefined || m.seq !== c.seq || m.readOnly !== (c.phase === "read")) return this.reject(env.from, "stale", `reply for ${m.seq}`)
    c.replies.set(replica, env as Protocol.Verified<Reply>)
    this.decide(c)
  }

  private decide(c: Outstanding): void {
    const groups = new Map<string, Array<Protocol.Verified<Reply>>>()
    for (const reply of c.replies.values()) {
      const key = replyKey(reply.message)
      const g = groups.get(key) ?? []
      g.push(reply)
      groups.set(key, g)
    }
    const kind = c.phase === "read" ? "replication" : "weak"
    for (const group of groups.values()) {
      const members = group.map((g) => peerReplica(g.from)!)
      const r = group[0]!.message
      if (r.rejected !== undefined && c.phase === "read" && this.trust.isQuorum("weak", members)) return this.fallBack(c)
      if (!this.trust.isQuorum(kind, members)) continue
      this.view = Math.min(...group.map((g) => g.message.view))
      const outcome: Client.ClientOutcome = r.rejected !== undefined
        ? { _tag: "Rejected", reason: r.rejected }
        : { _tag: "Committed", result: r.result, index: r.index, certificate: group.map((g) => g.frame) }
      return this.complete(c.seq, c.readOnly, outcome)
    }
    // every replica answered a read and no result has a quorum: a concurrent write; order it instead
    if (c.phase === "read" && c.replies.size === this.trust.replicas.length) this.fallBack(c)
  }

  private fallBack(c: Outstanding): void {
    c.phase = "ordered"
    c.attempts = 0
    c.replies.clear()
    this.transmit()
  }

  private tick(): void {
    this.now++
    const c = this.current
    if (c === undefined || this.now < c.deadline) return
    if (c.phase === "read") return this.fallBack(c)
    if (c.attempts >= this.config.maxAttempts) return this.complete(c.seq, c.readOnly, { _tag: "TimedOut" })
    this.transmit()
  }

  private complete(seq: number, readOnly: boolean, outcome: Client.ClientOutcome): void {
    this.current = undefined
    this.completions.push({ clientId: this.clientId, seq, readOnly, outcome })
  }

  private reject(from: Protocol.Verified<PbftMessage>["from"], reason: "invalid" | "not-member" | "stale", detail: string): void {
    this.out.events.push({ _tag: "Rejected", from, rejection: rejectOf(reason, detail) })
  }

  hasReady(): boolean {
    return this.pendingReady !== undefined || !this.out.isEmpty()
  }

  ready(): Protocol.Ready<PbftMessage> {
    if (this.pendingReady === undefined) this.pendingReady = this.out.take()
    return this.pendingReady
  }

  advance(): void {
    this.pendingReady = undefined
  }

  takeCompletions(): ReadonlyArray<Client.ClientCompletion> {
    const c = this.completions
    this.completions = []
    return c
  }

  inFlight(): number {
    return this.current === undefined ? 0 : 1
  }
}
