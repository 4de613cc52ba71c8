/**
 * The reference protocol's client: one request at a time, sent to every
 * replica and retried until a weak quorum (one reply under crash faults, f+1
 * under Byzantine faults) answers the same, or given up as TimedOut.
 */
import type { ClientCompletion, ClientDriver, SubmitOptions } from "../../Client.js"
import { type ClientId, type PeerId, peerReplica, replicaPeer, type ReplicaId } from "../../Ids.js"
import { type Input, type Outbound, ReadyBuffer } from "../../Protocol.js"
import { Prng } from "../Prng.js"
import type { ClientParams } from "../SimProtocol.js"
import { b64, type Message, unb64, VIEW } from "./ReferenceMessages.js"

/** Ticks between retries, and retries before a request is given up (TimedOut). */
const RETRY_TICKS = 8
const MAX_ATTEMPTS = 40

interface Pending {
  readonly seq: number
  readonly command: string
  readonly readOnly: boolean
  attempts: number
  nextRetry: number
  /** replica -> the reply it gave (`ok|index|result`). */
  readonly replies: Map<ReplicaId, string>
}

/** A closed-loop client: one request at a time, retried to every replica until a weak quorum agrees. */
const NONE: ReadonlyArray<ClientCompletion> = []

export class ReferenceClient implements ClientDriver<Message> {
  readonly clientId: ClientId
  private readonly replicas: ReadonlyArray<PeerId>
  private readonly rng: Prng
  private readonly out = new ReadyBuffer<Message>()
  private taken: ReturnType<ReadyBuffer<Message>["take"]> | undefined
  private done: Array<ClientCompletion> = []
  private pending: Pending | undefined
  private nextSeq = 1
  private ticks = 0

  constructor(private readonly p: ClientParams) {
    this.clientId = p.clientId
    this.replicas = p.trust.replicas.map((r) => replicaPeer(r))
    this.rng = new Prng(p.seed)
  }

  submit(command: Uint8Array, options?: SubmitOptions): number | undefined {
    if (this.pending !== undefined) return undefined
    const seq = this.nextSeq++
    this.pending = { seq, command: b64(command), readOnly: options?.readOnly ?? false, attempts: 0, nextRetry: 0, replies: new Map() }
    this.send(this.pending)
    return seq
  }

  step(input: Input<Message>): void {
    const p = this.pending
    if (input._tag === "Tick") {
      this.ticks++
      if (p === undefined || this.ticks < p.nextRetry) return
      if (p.attempts >= MAX_ATTEMPTS) return this.complete({ _tag: "TimedOut" })
      this.send(p)
      return
    }
    const { from, message: m } = input.envelope
    const r = peerReplica(from)
    if (p === undefined || r === undefined || m._tag !== "Reply" || m.view !== VIEW || m.clientId !== this.clientId || m.seq !== p.seq) return
    const key = `${m.ok}|${m.index}|${m.result}`
    p.replies.set(r, key)
    const agreeing = [...p.replies].filter(([, k]) => k === key).map(([replica]) => replica)
    if (!this.p.trust.isQuorum("weak", agreeing)) return
    this.complete(m.ok ? { _tag: "Committed", result: unb64(m.result), index: m.index } : { _tag: "Rejected", reason: m.result })
  }

  hasReady(): boolean {
    return this.taken !== undefined || !this.out.isEmpty()
  }

  ready() {
    if (this.taken === undefined) this.taken = this.out.take()
    return this.taken
  }

  advance(): void {
    this.taken = undefined
  }

  takeCompletions(): ReadonlyArray<ClientCompletion> {
    // called after every input: most calls have nothing, and need no new array
    if (this.done.length === 0) return NONE
    const d = this.done
    this.done = []
    return d
  }

  inFlight(): number {
    return this.pending === undefined ? 0 : 1
  }

  private send(p: Pending): void {
    p.attempts++
    p.nextRetry = this.ticks + RETRY_TICKS + this.rng.int(3)
    const message: Message = { _tag: "Request", view: VIEW, clientId: this.clientId, seq: p.seq, command: p.command }
    const out: Outbound<Message> = { to: this.replicas, message }
    this.out.send.push(out)
  }

  private complete(outcome: ClientCompletion["outcome"]): void {
    const p = this.pending!
    this.pending = undefined
    this.done.push({ clientId: this.clientId, seq: p.seq, readOnly: p.readOnly, outcome })
  }
}
