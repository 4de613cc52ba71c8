/**
 * A small deterministic cluster for tests: Paxos drivers whose Readys this
 * harness carries out by hand (persist into a per-replica disk map, seal
 * every message with the simulated signature scheme, queue it, open it at the
 * receiver), with FIFO delivery, link cuts, crashes and restarts. No
 * randomness: each test states exactly what happens.
 */
import {
  type Client as CoreClient,
  clientPeer,
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
import * as Client from "../src/Client.js"
import type { PaxosConfig } from "../src/Config.js"
import * as Driver from "../src/Driver.js"
import * as M from "../src/Messages.js"

export interface Envelope_ {
  readonly from: PeerId
  readonly to: PeerId
  readonly frame: Uint8Array
}

export interface ClusterOptions {
  readonly replicas?: number
  /** Members at start (default: all); the rest are learners. */
  readonly members?: ReadonlyArray<number>
  readonly clients?: ReadonlyArray<string>
  readonly config?: Partial<PaxosConfig>
  readonly client?: Partial<Client.ClientConfig>
  /** Default: the KV state machine. */
  readonly stateMachine?: StateMachine.AnyStateMachine
}

const KEY_SEED = "paxos-harness"

export class Cluster {
  readonly n: number
  readonly ctx = M.envelope("harness")
  readonly keys: Crypto.KeyRing
  readonly signers = new Map<PeerId, Crypto.Signer>()
  readonly drivers: Array<Driver.PaxosDriver> = []
  readonly disks: Array<Map<string, Uint8Array>> = []
  readonly up: Array<boolean> = []
  readonly events: Array<Array<Protocol.ProtocolEvent>> = []
  /** Every Ready each replica produced, in order (for ordering assertions). */
  readonly readys: Array<Array<Protocol.Ready<M.PaxosMessage>>> = []
  readonly clients = new Map<string, Client.PaxosClientDriver>()
  readonly completions = new Map<string, Array<CoreClient.ClientCompletion>>()
  queue: Array<Envelope_> = []
  /** Cut links, as "from>to". */
  readonly cut = new Set<string>()
  /** Replicas whose Readys are left in the driver (not carried out) until released. */
  readonly hold = new Set<number>()
  delivered = 0
  private readonly trust: TrustModel.QuorumSystem
  private readonly options: ClusterOptions
  private incarnation: Array<number> = []

  constructor(options: ClusterOptions = {}) {
    this.options = options
    this.n = options.replicas ?? 3
    const members = (options.members ?? Array.from({ length: this.n }, (_, i) => i)) as Array<ReplicaId>
    this.trust = TrustModel.crashMajority(members.length, members)
    const clientNames = options.clients ?? ["alice"]
    const peers = [...Array.from({ length: this.n }, (_, i) => replicaPeer(i)), ...clientNames.map(clientPeer)]
    this.keys = Crypto.simulatedKeyRing(KEY_SEED, peers)
    for (const p of peers) this.signers.set(p, Crypto.simulatedSigner(KEY_SEED, p))
    for (let r = 0; r < this.n; r++) {
      this.disks.push(new Map())
      this.events.push([])
      this.readys.push([])
      this.up.push(true)
      this.incarnation.push(0)
      this.drivers.push(this.build(r))
    }
    for (const name of clientNames) {
      this.clients.set(name, Client.make({ clientId: name as never, replicas: this.trust.replicas, seed: 0, ...(options.client !== undefined ? { config: options.client } : {}) }))
      this.completions.set(name, [])
    }
  }

  private build(r: number): Driver.PaxosDriver {
    return Driver.make({
      id: r as ReplicaId,
      trust: this.trust,
      learners: Array.from({ length: this.n }, (_, i) => i as ReplicaId),
      stateMachine: this.options.stateMachine ?? KvStateMachine,
      disk: new Map(this.disks[r]!),
      seed: 1000 * r + this.incarnation[r]!,
      ...(this.options.config !== undefined ? { config: this.options.config } : {})
    })
  }

  driver(r: number): Driver.PaxosDriver {
    return this.drivers[r]!
  }

  // ---- carrying out Readys

  private post(from: PeerId, out: Protocol.Outbound<M.PaxosMessage>): void {
    const frame = Envelope.seal(this.ctx, this.signers.get(from)!, out.message)
    for (const to of out.to) this.queue.push({ from, to, frame })
  }

  /** Persist, send, sendAfterPersist, events, advance: the shell's order. */
  drain(r: number): void {
    const d = this.drivers[r]!
    while (this.up[r] && !this.hold.has(r) && d.hasReady()) {
      const ready = d.ready()
      this.readys[r]!.push(ready)
      Storage.applyBatch(this.disks[r]!, ready.persist)
      for (const o of ready.send) this.post(replicaPeer(r), o)
      for (const o of ready.sendAfterPersist) this.post(replicaPeer(r), o)
      this.events[r]!.push(...ready.events)
      d.advance()
    }
  }

  private drainClient(name: string): void {
    const c = this.clients.get(name)!
    while (c.hasReady()) {
      for (const o of c.ready().send) this.post(clientPeer(name), o)
      c.advance()
    }
    this.completions.get(name)!.push(...c.takeCompletions())
  }

  /** Deliver one queued frame (FIFO). False when the queue is empty. */
  deliverOne(): boolean {
    const e = this.queue.shift()
    if (e === undefined) return false
    const toReplica = peerReplica(e.to)
    const fromReplica = peerReplica(e.from)
    if (this.cut.has(`${e.from}>${e.to}`)) return true
    if (fromReplica !== undefined && !this.up[fromReplica]) return true
    if (toReplica !== undefined && !this.up[toReplica]) return true
    const opened = Envelope.open(this.ctx, this.keys, e.frame, e.from)
    if (opened._tag === "Left") throw new Error(`harness: frame from ${e.from} does not open: ${opened.left.message}`)
    this.delivered++
    if (toReplica !== undefined) {
      this.drivers[toReplica]!.step({ _tag: "Receive", envelope: opened.right })
      this.drain(toReplica)
    } else {
      const name = e.to.slice("client/".length)
      this.clients.get(name)!.step({ _tag: "Receive", envelope: opened.right })
      this.drainClient(name)
    }
    return true
  }

  deliverAll(limit = 100_000): void {
    for (let i = 0; i < limit; i++) if (!this.deliverOne()) return
    throw new Error("harness: the network did not go quiet")
  }

  /** One tick on every live replica and client, then deliver everything. */
  tick(): void {
    for (let r = 0; r < this.n; r++) {
      if (!this.up[r]) continue
      this.drivers[r]!.step({ _tag: "Tick" })
      this.drain(r)
    }
    for (const [name, c] of this.clients) {
      c.step({ _tag: "Tick" })
      this.drainClient(name)
    }
    this.deliverAll()
  }

  run(ticks: number): void {
    for (let i = 0; i < ticks; i++) this.tick()
  }

  runUntil(pred: () => boolean, maxTicks = 1000): void {
    for (let i = 0; i < maxTicks; i++) {
      if (pred()) return
      this.tick()
    }
    if (!pred()) throw new Error(`harness: condition not reached in ${maxTicks} ticks`)
  }

  // ---- faults

  crash(r: number): void {
    this.hold.delete(r)
    this.up[r] = false
    this.incarnation[r]!++
  }

  /** The replica dies after taking its next Ready but before persisting or sending any of it. */
  crashBeforePersist(r: number): Protocol.Ready<M.PaxosMessage> | undefined {
    const d = this.drivers[r]!
    const lost = d.hasReady() ? d.ready() : undefined
    this.crash(r)
    return lost
  }

  restart(r: number): void {
    this.drivers[r] = this.build(r)
    this.up[r] = true
    this.drain(r)
  }

  isolate(r: number): void {
    for (let o = 0; o < this.n; o++) {
      if (o === r) continue
      this.cut.add(`${replicaPeer(r)}>${replicaPeer(o)}`)
      this.cut.add(`${replicaPeer(o)}>${replicaPeer(r)}`)
    }
  }

  heal(): void {
    this.cut.clear()
  }

  // ---- clients and observations

  submit(name: string, command: Kv.Command, options: Client.PaxosSubmitOptions = {}): number {
    const c = this.clients.get(name)!
    const seq = c.submit(Kv.encodeCommand(command), { readOnly: command._tag === "Get", ...options })
    if (seq === undefined) throw new Error("harness: client in-flight limit")
    this.drainClient(name)
    return seq
  }

  /** A fresh driver for client `name` that tries `replicas[0]` first (its old one must be idle). */
  retarget(name: string, replicas: ReadonlyArray<number>): void {
    if (this.clients.get(name)!.inFlight() > 0) throw new Error("harness: retarget a busy client")
    const sorted = [...replicas].sort((a, b) => a - b)
    this.clients.set(name, Client.make({ clientId: name as never, replicas: replicas as Array<ReplicaId>, seed: sorted.indexOf(replicas[0]!), ...(this.options.client !== undefined ? { config: this.options.client } : {}) }))
    this.completions.set(name, [])
  }

  completion(name: string, seq: number): CoreClient.ClientCompletion | undefined {
    return this.completions.get(name)!.find((c) => c.seq === seq)
  }

  /** The decoded KV result of a committed request. */
  result(name: string, seq: number): Kv.Result | undefined {
    const c = this.completion(name, seq)
    return c?.outcome._tag === "Committed" ? Kv.decodeResult(c.outcome.result) : undefined
  }

  leaders(): Array<number> {
    return this.drivers.flatMap((d, r) => (this.up[r] && d.isLeader() ? [r] : []))
  }

  /** The live leader with the highest ballot. */
  leader(): number | undefined {
    let best: number | undefined
    for (const r of this.leaders()) {
      if (best === undefined || this.drivers[r]!.fencingToken() > this.drivers[best]!.fencingToken()) best = r
    }
    return best
  }

  electLeader(maxTicks = 200): number {
    this.runUntil(() => this.leader() !== undefined, maxTicks)
    return this.leader()!
  }

  committed(r: number): Array<Extract<Protocol.ProtocolEvent, { _tag: "Committed" }>> {
    return this.events[r]!.filter((e): e is Extract<Protocol.ProtocolEvent, { _tag: "Committed" }> => e._tag === "Committed")
  }

  eventsOf<T extends Protocol.ProtocolEvent["_tag"]>(r: number, tag: T): Array<Extract<Protocol.ProtocolEvent, { _tag: T }>> {
    return this.events[r]!.filter((e): e is Extract<Protocol.ProtocolEvent, { _tag: T }> => e._tag === tag)
  }

  custom(r: number, name: string): Array<unknown> {
    return this.events[r]!.flatMap((e) => (e._tag === "Custom" && e.name === name ? [e.data] : []))
  }

  /** Every replica that is up has the same digest at the same applied index, and nobody committed two values in one slot. */
  assertConsistent(): void {
    const bySlot = new Map<number, string>()
    for (let r = 0; r < this.n; r++) {
      for (const c of this.committed(r)) {
        const prior = bySlot.get(c.index)
        if (prior !== undefined && prior !== c.entryDigest) throw new Error(`slot ${c.index}: two values committed`)
        bySlot.set(c.index, c.entryDigest)
      }
    }
    const live = this.drivers.filter((_, r) => this.up[r])
    const top = Math.max(...live.map((d) => d.appliedIndex()))
    for (const d of live) {
      if (d.appliedIndex() === top && d.stateDigest() !== live.find((x) => x.appliedIndex() === top)!.stateDigest()) {
        throw new Error(`replica ${d.id}: state digest differs at applied index ${top}`)
      }
    }
  }
}

export const put = (key: string, value: string): Kv.Command => ({ _tag: "Put", key, value })
export const get = (key: string): Kv.Command => ({ _tag: "Get", key })
