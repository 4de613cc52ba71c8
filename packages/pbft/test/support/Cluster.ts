/**
 * A small deterministic harness: n PBFT drivers and some clients exchanging
 * sealed frames through one FIFO queue, carried out in the shell's order
 * (persist, send, sendAfterPersist, events, advance). Tests choose what to
 * deliver, drop, or hold back, and when time passes.
 */
import {
  type Client,
  clientPeer,
  type ClientId,
  Crypto,
  Envelope,
  type PeerId,
  peerReplica,
  type Protocol,
  type ReplicaId,
  replicaPeer,
  type StateMachine,
  Storage,
  TrustModel
} from "@synod/core"
import { Kv, KvStateMachine } from "@synod/core/testing"
import { Either } from "effect"
import { PbftClientDriver, type PbftClientConfig } from "../../src/Client.js"
import type { PbftConfig } from "../../src/Config.js"
import * as Driver from "../../src/Driver.js"
import { codec, type PbftMessage, PROTOCOL } from "../../src/Messages.js"

export const CLUSTER = "test-cluster"
export const KEY_SEED = "pbft-test"

export interface InFlight {
  readonly from: PeerId
  readonly to: PeerId
  readonly frame: Uint8Array
  readonly message: PbftMessage
}

export interface ClusterOptions {
  readonly n?: number
  readonly trust?: TrustModel.QuorumSystem
  readonly clients?: number
  readonly config?: Partial<PbftConfig>
  readonly client?: Partial<PbftClientConfig>
  readonly stateMachine?: StateMachine.AnyStateMachine
}

export const envelope: Envelope.EnvelopeContext<PbftMessage> = { clusterId: CLUSTER, protocol: PROTOCOL, codec }

export class Cluster {
  readonly n: number
  readonly trust: TrustModel.QuorumSystem
  readonly keys: Crypto.KeyRing
  readonly signers: Map<PeerId, Crypto.Signer> = new Map()
  readonly replicas: Array<Driver.PbftDriver> = []
  readonly disks: Array<Map<string, Uint8Array>> = []
  readonly clients: Array<PbftClientDriver> = []
  readonly events: Array<Array<Protocol.ProtocolEvent>> = []
  readonly completions: Array<Array<{ seq: number; outcome: Client.ClientOutcome }>> = []
  readonly readies: Array<{ readonly replica: number; readonly ready: Protocol.Ready<PbftMessage> }> = []
  readonly up: Array<boolean> = []
  queue: Array<InFlight> = []
  /** Return false to drop a message instead of queueing it. */
  filter: (m: InFlight) => boolean = () => true
  private readonly options: ClusterOptions

  constructor(options: ClusterOptions = {}) {
    this.options = options
    this.n = options.trust?.replicas.length ?? options.n ?? 4
    this.trust = options.trust ?? TrustModel.byzantine(this.n)
    const clients = options.clients ?? 2
    const peers: Array<PeerId> = []
    for (let r = 0; r < this.n; r++) peers.push(replicaPeer(r))
    for (let c = 0; c < clients; c++) peers.push(clientPeer(`c${c}`))
    this.keys = Crypto.simulatedKeyRing(KEY_SEED, peers)
    for (const p of peers) this.signers.set(p, Crypto.simulatedSigner(KEY_SEED, p))
    for (let r = 0; r < this.n; r++) {
      this.disks.push(new Map())
      this.events.push([])
      this.up.push(true)
      this.replicas.push(this.build(r))
    }
    for (let c = 0; c < clients; c++) {
      this.clients.push(new PbftClientDriver({ clientId: `c${c}` as ClientId, trust: this.trust, config: options.client ?? {} }))
      this.completions.push([])
    }
  }

  private build(r: number): Driver.PbftDriver {
    return Driver.make({
      id: r as ReplicaId,
      trust: this.trust,
      signer: this.signers.get(replicaPeer(r))!,
      keys: this.keys,
      stateMachine: this.options.stateMachine ?? KvStateMachine,
      disk: this.disks[r]!,
      config: { clusterId: CLUSTER, ...this.options.config }
    })
  }

  seal(from: PeerId, message: PbftMessage): Uint8Array {
    return Envelope.seal(envelope, this.signers.get(from)!, message)
  }

  /** Carry out every pending Ready of replicas and clients. */
  flush(): void {
    for (let r = 0; r < this.n; r++) {
      const d = this.replicas[r]!
      while (this.up[r] && d.hasReady()) {
        const ready = d.ready()
        this.readies.push({ replica: r, ready })
        Storage.applyBatch(this.disks[r]!, ready.persist)
        for (const out of [...ready.send, ...ready.sendAfterPersist]) this.post(replicaPeer(r), out)
        this.events[r]!.push(...ready.events)
        d.advance()
      }
    }
    this.clients.forEach((c, i) => {
      while (c.hasReady()) {
        const ready = c.ready()
        for (const out of ready.send) this.post(clientPeer(`c${i}`), out)
        c.advance()
      }
      for (const done of c.takeCompletions()) this.completions[i]!.push({ seq: done.seq, outcome: done.outcome })
    })
  }

  private post(from: PeerId, out: Protocol.Outbound<PbftMessage>): void {
    const frame = this.seal(from, out.message)
    for (const to of out.to) {
      const m = { from, to, frame, message: out.message }
      if (this.filter(m)) this.queue.push(m)
    }
  }

  /** Deliver one queued message (the oldest, or the first matching `pick`). */
  deliverOne(pick?: (m: InFlight) => boolean): boolean {
    const i = pick === undefined ? 0 : this.queue.findIndex(pick)
    if (i < 0 || i >= this.queue.length) return false
    const [m] = this.queue.splice(i, 1)
    this.deliverFrame(m!.from, m!.to, m!.frame)
    return true
  }

  /** Hand a frame to its receiver as the shell would (open, then step). */
  deliverFrame(from: PeerId, to: PeerId, frame: Uint8Array): void {
    const opened = Envelope.open(envelope, this.keys, frame, from)
    const r = peerReplica(to)
    if (r !== undefined) {
      if (!this.up[r]) return
      if (Either.isLeft(opened)) {
        this.events[r]!.push({ _tag: "Rejected", from, rejection: opened.left })
        return
      }
      this.replicas[r]!.step({ _tag: "Receive", envelope: opened.right })
    } else {
      const c = Number(to.slice("client/c".length))
      if (Either.isRight(opened)) this.clients[c]!.step({ _tag: "Receive", envelope: opened.right })
    }
    this.flush()
  }

  /** Deliver until nothing is queued (bounded, so a message storm fails the test instead of hanging it). */
  deliverAll(max = 200_000): number {
    this.flush()
    let n = 0
    while (this.queue.length > 0) {
      if (++n > max) throw new Error(`more than ${max} deliveries`)
      this.deliverOne()
    }
    return n
  }

  tick(times = 1): void {
    for (let t = 0; t < times; t++) {
      for (let r = 0; r < this.n; r++) if (this.up[r]) this.replicas[r]!.step({ _tag: "Tick" })
      for (const c of this.clients) c.step({ _tag: "Tick" })
      this.flush()
    }
  }

  /** Advance time, delivering everything after each tick. */
  run(ticks: number): void {
    for (let t = 0; t < ticks; t++) {
      this.tick()
      this.deliverAll()
    }
  }

  /** Run until `pred` holds; false if it did not within `maxTicks`. */
  runUntil(pred: () => boolean, maxTicks = 2000): boolean {
    this.deliverAll()
    for (let t = 0; t < maxTicks && !pred(); t++) {
      this.tick()
      this.deliverAll()
    }
    return pred()
  }

  submit(client: number, command: Kv.Command, readOnly = false): number {
    const seq = this.clients[client]!.submit(Kv.encodeCommand(command), { readOnly })
    if (seq === undefined) throw new Error(`client ${client} busy`)
    this.flush()
    return seq
  }

  outcome(client: number, seq: number): Client.ClientOutcome | undefined {
    return this.completions[client]!.find((c) => c.seq === seq)?.outcome
  }

  crash(r: number): void {
    this.up[r] = false
    this.queue = this.queue.filter((m) => m.to !== replicaPeer(r) && m.from !== replicaPeer(r))
  }

  restart(r: number): void {
    this.replicas[r] = this.build(r)
    this.up[r] = true
    this.flush()
  }

  /** Drop everything to and from replica r while `isolated(r)`. */
  isolate(rs: ReadonlyArray<number>): void {
    const cut = new Set(rs.map((r) => replicaPeer(r)))
    this.filter = (m) => !cut.has(m.from) && !cut.has(m.to)
  }

  heal(): void {
    this.filter = () => true
  }

  ofTag<T extends Protocol.ProtocolEvent["_tag"]>(r: number, tag: T): Array<Extract<Protocol.ProtocolEvent, { _tag: T }>> {
    return this.events[r]!.filter((e): e is Extract<Protocol.ProtocolEvent, { _tag: T }> => e._tag === tag)
  }

  /** The committed (index -> batch digest) history of replica r. */
  committed(r: number): Map<number, string> {
    return new Map(this.ofTag(r, "Committed").map((e) => [e.index, e.entryDigest]))
  }
}

export const put = (key: string, value: string): Kv.Command => ({ _tag: "Put", key, value })
export const get = (key: string): Kv.Command => ({ _tag: "Get", key })

export const resultOf = (outcome: Client.ClientOutcome | undefined): Kv.Result | undefined =>
  outcome?._tag === "Committed" ? Kv.decodeResult(outcome.result) : undefined
