/**
 * The simulated world: replicas and clients driven through their drivers, the
 * network between them, and the agenda of events. It carries out each event
 * exactly as the Effect shell would (persist, send, sendAfterPersist, events,
 * advance) and reports what correct replicas do to the checkers as it happens.
 * Phases, workload and fault scheduling live in `Simulator.ts`.
 */
import type { Either } from "effect"
import type { ClientCompletion, ClientDriver } from "../../Client.js"
import { type KeyRing, type Signer, simulatedKeyRing, simulatedSigner } from "../../Crypto.js"
import { type EnvelopeContext, open, seal } from "../../Envelope.js"
import { clientPeer, type ClientId, type PeerId, replicaPeer, type ReplicaId } from "../../Ids.js"
import type { Driver, Outbound, ProtocolEvent, Verified } from "../../Protocol.js"
import type { Rejection } from "../../Rejection.js"
import type { AnyStateMachine } from "../../StateMachine.js"
import { applyBatch } from "../../Storage.js"
import type { QuorumSystem } from "../../TrustModel.js"
import { Adversary, type Strategy } from "../Adversary.js"
import { type ClientOp, invariantViolations, TraceCheckers, type Violation } from "../Checkers.js"
import { defaultNetworkOptions, Network, TICK } from "../Network.js"
import { Prng } from "../Prng.js"
import type { SimProtocol } from "../SimProtocol.js"
import { EventKind, EventQueue, type OpenedFrame, type SimEvent } from "./EventQueue.js"
import { bump, emptyStats, type SimStats } from "./Stats.js"
import { TraceHash } from "./TraceHash.js"

export interface WorldConfig<M> {
  readonly protocol: SimProtocol<M>
  readonly seed: number
  readonly trust: QuorumSystem
  readonly clients: number
  readonly stateMachine: AnyStateMachine
  /** Byzantine replica -> its strategies. */
  readonly byzantine: ReadonlyMap<number, ReadonlyArray<Strategy>>
  readonly adversaryIntensity: number | undefined
  /** Per-node clock rates differ by up to ±5%. */
  readonly clockSkew: boolean
  /** The simulator's own work, once per tick. */
  readonly onTick: () => void
  /** Open each sealed frame once for all its receivers (see `World.open`). */
  readonly openOncePerFrame: boolean
}

export interface ReplicaSlot<M> {
  driver: Driver<M>
  readonly disk: Map<string, Uint8Array>
  readonly signer: Signer
  readonly byzantine: boolean
  up: boolean
  incarnation: number
  /** A crash is due at this replica's next Ready that writes something, before it is persisted. */
  crashAtReady: boolean
  lastApplied: number
  lastCommitted: number
  readonly events: Array<ProtocolEvent>
}

export interface ClientSlot<M> {
  readonly driver: ClientDriver<M>
  readonly clientId: ClientId
  readonly signer: Signer
  submitted: number
}

/** Ticks of a clock: base period (skewed per node) plus a little jitter per tick. */
const JITTER = TICK / 50
/** Readys one input may produce before we call the driver broken. */
const MAX_READYS_PER_STEP = 64
/** Inputs are read-only to drivers, so every tick can share one. */
const TICK_INPUT = { _tag: "Tick" } as const

export class World<M> {
  readonly n: number
  readonly stats: SimStats = emptyStats()
  readonly network: Network
  readonly queue = new EventQueue()
  readonly checkers = new TraceCheckers()
  readonly replicas: Array<ReplicaSlot<M>> = []
  readonly clients: Array<ClientSlot<M>> = []
  readonly ops: Array<ClientOp> = []
  readonly completions: Array<ClientCompletion> = []
  readonly violations: Array<Violation> = []
  readonly trace = new TraceHash()
  readonly adversary: Adversary<M> | undefined
  /** Requests submitted after healing that timed out: liveness failures. */
  readonly livenessFailures: Array<string> = []
  /** Set when the liveness phase starts: submissions from then on must complete. */
  afterHeal = false
  time = 0
  private readonly envelope: EnvelopeContext<M>
  private readonly keys: KeyRing
  private readonly peers: Array<PeerId> = []
  private readonly nodeOfPeer = new Map<string, number>()
  private readonly opIndex = new Map<string, ClientOp>()
  private readonly clockRng: Prng
  private readonly crashRng: Prng
  private readonly clockPeriod: Array<number> = []
  private readonly clockBase: Array<number> = []
  readonly clockTicks: Array<number> = []

  constructor(private readonly c: WorldConfig<M>) {
    this.n = c.trust.replicas.length
    this.clockRng = Prng.derive(c.seed, "clock")
    this.crashRng = Prng.derive(c.seed, "crash")
    for (let r = 0; r < this.n; r++) this.addPeer(replicaPeer(r))
    for (let i = 0; i < c.clients; i++) this.addPeer(clientPeer(`c${i}`))
    const keySeed = `sim-${c.seed}`
    this.keys = simulatedKeyRing(keySeed, this.peers)
    this.envelope = { ...c.protocol.envelope, clusterId: "sim" }
    this.network = new Network(defaultNetworkOptions(this.n, c.clients), this.queue, Prng.derive(c.seed, "network"), this.stats)
    for (let r = 0; r < this.n; r++) {
      const signer = simulatedSigner(keySeed, this.peers[r]!)
      const disk = new Map<string, Uint8Array>()
      this.replicas.push({
        driver: this.buildReplica(r, signer, disk, 0),
        disk,
        signer,
        byzantine: c.byzantine.has(r),
        up: true,
        incarnation: 0,
        crashAtReady: false,
        lastApplied: -1,
        lastCommitted: 0,
        events: []
      })
    }
    for (let i = 0; i < c.clients; i++) {
      const clientId = `c${i}` as ClientId
      const signer = simulatedSigner(keySeed, this.peers[this.n + i]!)
      const driver = c.protocol.makeClient({ clientId, trust: c.trust, signer, keys: this.keys, seed: Prng.seedFor(c.seed, `client/${i}`) })
      this.clients.push({ driver, clientId, signer, submitted: 0 })
    }
    this.adversary = c.byzantine.size === 0 ? undefined : new Adversary({
      protocol: c.protocol,
      envelope: this.envelope,
      signers: new Map([...c.byzantine.keys()].map((r) => [r, this.replicas[r]!.signer] as const)),
      strategies: c.byzantine,
      rng: Prng.derive(c.seed, "adversary"),
      stats: this.stats,
      host: {
        emit: (from, to, frame) => this.network.send(from, to, frame, this.time, this.incarnationOf(from)),
        isUp: (r) => this.replicas[r]!.up,
        crash: (r) => this.crash(r),
        restart: (r, wipe) => this.restart(r, wipe),
        nodeOf: (peer) => this.nodeOfPeer.get(peer),
        peers: this.peers
      },
      ...(c.adversaryIntensity !== undefined ? { intensity: c.adversaryIntensity } : {})
    })
    for (let node = 0; node < this.peers.length; node++) {
      const skew = c.clockSkew ? this.clockRng.range(-TICK / 20, TICK / 20 + 1) : 0
      this.clockPeriod.push(TICK + skew)
      this.clockBase.push(0)
      this.clockTicks.push(0)
      this.scheduleTick(node)
    }
    this.queue.schedule(TICK, EventKind.Control, -1, -1, 0, 0, undefined, undefined)
    for (let r = 0; r < this.n; r++) this.drainReplica(r)
  }

  slot(r: number): ReplicaSlot<M> {
    const s = this.replicas[r]
    if (s === undefined) throw new RangeError(`no replica ${r}`)
    return s
  }

  /** Time of the next event (Infinity when none). */
  nextTime(): number {
    return this.queue.peek()?.time ?? Infinity
  }

  step(): boolean {
    const e = this.queue.pop()
    if (e === undefined) return false
    this.time = e.time
    this.stats.steps++
    this.trace.int(e.time)
    this.trace.int(e.kind * 4096 + e.node)
    switch (e.kind) {
      case EventKind.Deliver:
        this.deliver(e)
        break
      case EventKind.Tick:
        this.tick(e.node)
        break
      case EventKind.Control:
        this.queue.schedule(this.time + TICK, EventKind.Control, -1, -1, 0, 0, undefined, undefined)
        this.adversary?.tick()
        this.c.onTick()
        break
    }
    return true
  }

  submit(client: number, command: Uint8Array, readOnly: boolean): number | undefined {
    const c = this.clients[client]
    if (c === undefined) throw new RangeError(`no client ${client}`)
    const seq = c.driver.submit(command, { readOnly })
    if (seq === undefined) return undefined
    c.submitted++
    const op: ClientOp = {
      client,
      clientId: c.clientId,
      seq,
      command,
      commandDigest: this.checkers.submit(c.clientId, seq, command),
      readOnly,
      invokedAt: this.time,
      completedAt: undefined,
      outcome: undefined,
      afterHeal: this.afterHeal
    }
    this.ops.push(op)
    this.opIndex.set(`${c.clientId}#${seq}`, op)
    this.stats.submitted++
    this.trace.int(seq)
    this.drainClient(client)
    return seq
  }

  /** Stop a replica: its driver and whatever it had not persisted are gone; frames it sent die in flight. */
  crash(r: number): void {
    const s = this.slot(r)
    if (!s.up) return
    s.up = false
    s.incarnation++
    s.crashAtReady = false
    this.stats.crashes++
    this.trace.int(-1 - r)
  }

  /** Rebuild a stopped replica's driver from its disk (wiped first for an amnesiac Byzantine return). */
  restart(r: number, wipeDisk: boolean): void {
    const s = this.slot(r)
    if (s.up) return
    if (wipeDisk) s.disk.clear()
    s.driver = this.buildReplica(r, s.signer, s.disk, s.incarnation)
    s.up = true
    s.lastApplied = -1
    this.stats.restarts++
    this.trace.int(-100 - r)
    if (!s.byzantine) this.checkers.exactlyOnce.restarted(r)
    this.drainReplica(r)
  }

  private addPeer(peer: PeerId): void {
    this.nodeOfPeer.set(peer, this.peers.length)
    this.peers.push(peer)
  }

  private buildReplica(r: number, signer: Signer, disk: ReadonlyMap<string, Uint8Array>, incarnation: number): Driver<M> {
    return this.c.protocol.makeReplica({
      id: r as ReplicaId,
      trust: this.c.trust,
      signer,
      keys: this.keys,
      stateMachine: this.c.stateMachine,
      disk: new Map(disk),
      seed: Prng.seedFor(this.c.seed, `replica/${r}/${incarnation}`)
    })
  }

  private incarnationOf(node: number): number {
    return node < this.n ? this.replicas[node]!.incarnation : 0
  }

  private scheduleTick(node: number): void {
    this.clockBase[node]! += this.clockPeriod[node]!
    const time = this.clockBase[node]! + this.clockRng.int(JITTER)
    this.queue.schedule(time, EventKind.Tick, node, -1, 0, 0, undefined, undefined)
  }

  private tick(node: number): void {
    this.scheduleTick(node)
    this.clockTicks[node]!++
    if (node < this.n) {
      const s = this.replicas[node]!
      if (!s.up) return
      this.stats.clockTicks++
      s.driver.step(TICK_INPUT)
      this.drainReplica(node)
    } else {
      this.clients[node - this.n]!.driver.step(TICK_INPUT)
      this.drainClient(node - this.n)
    }
  }

  private deliver(e: SimEvent): void {
    if (!this.network.arrive(e)) return
    if (e.from < this.n && this.replicas[e.from]!.incarnation !== e.incarnation) {
      this.network.lose("sender-crashed")
      return
    }
    const frame = e.frame!
    const to = e.node
    if (to < this.n && !this.replicas[to]!.up) {
      this.network.lose("receiver-down")
      return
    }
    this.stats.deliveries++
    this.trace.frame(frame)
    const opened = this.open(e, frame)
    if (to < this.n) {
      const s = this.replicas[to]!
      if (s.byzantine) this.adversary!.record(to, frame)
      if (opened._tag === "Left") {
        bump(this.stats.rejections, opened.left.reason)
        s.events.push({ _tag: "Rejected", from: this.peers[e.from]!, rejection: opened.left })
        return
      }
      s.driver.step({ _tag: "Receive", envelope: opened.right })
      this.drainReplica(to)
    } else {
      if (opened._tag === "Left") {
        bump(this.stats.rejections, opened.left.reason)
        return
      }
      this.clients[to - this.n]!.driver.step({ _tag: "Receive", envelope: opened.right })
      this.drainClient(to - this.n)
    }
  }

  /**
   * `Envelope.open` for this delivery. Copies of one sealed frame from one
   * sender (a broadcast, a duplicate) share one outcome: opening identical bytes
   * from the same sender always gives the same result, so it is computed once
   * per frame and every receiver gets it. Receivers then share the decoded
   * message object, as they already share the frame bytes: cores must not
   * mutate what they receive (their messages are readonly).
   */
  private open(e: SimEvent, frame: Uint8Array): Either.Either<Verified<M>, Rejection> {
    const shared = e.opened
    if (shared !== undefined && shared.result !== undefined) return shared.result as Either.Either<Verified<M>, Rejection>
    const result = open(this.envelope, this.keys, frame, this.peers[e.from])
    if (shared !== undefined) shared.result = result
    return result
  }

  /** A fresh shared-outcome slot for one sealed frame, or none when every copy is to be opened on its own. */
  private openedSlot(): OpenedFrame | undefined {
    return this.c.openOncePerFrame ? { result: undefined } : undefined
  }

  /** Carry out a replica's Readys in the shell's order: persist, send, sendAfterPersist, events, advance. */
  private drainReplica(r: number): void {
    const s = this.replicas[r]!
    for (let i = 0; s.up && s.driver.hasReady(); i++) {
      if (i === MAX_READYS_PER_STEP) {
        this.violations.push({ checker: "driver", step: this.stats.steps, message: `replica ${r} still has a Ready after ${i} advances` })
        return
      }
      const ready = s.driver.ready()
      if (s.crashAtReady && ready.persist.length > 0) {
        // the crash strikes before the batch is durable; `send` may already have left
        if (this.crashRng.chance(0.5)) for (const out of ready.send) this.sendOut(r, s, out)
        this.stats.unsyncedLost++
        this.crash(r)
        return
      }
      applyBatch(s.disk, ready.persist)
      for (const out of ready.send) this.sendOut(r, s, out)
      for (const out of ready.sendAfterPersist) this.sendOut(r, s, out)
      for (const ev of ready.events) this.onEvent(r, s, ev)
      s.driver.advance()
      if (!s.byzantine) this.afterReady(r, s)
    }
  }

  private sendOut(r: number, s: ReplicaSlot<M>, out: Outbound<M>): void {
    const frame = seal(this.envelope, s.signer, out.message)
    const opened = this.openedSlot()
    if (s.byzantine) {
      const to: Array<number> = []
      for (const peer of out.to) {
        const node = this.nodeOfPeer.get(peer)
        if (node === undefined) this.stats.unroutable++
        else to.push(node)
      }
      this.adversary!.outbound(r, out.message, frame, to)
      return
    }
    for (const peer of out.to) {
      const node = this.nodeOfPeer.get(peer)
      if (node === undefined) this.stats.unroutable++
      else this.network.send(r, node, frame, this.time, s.incarnation, opened)
    }
  }

  private onEvent(r: number, s: ReplicaSlot<M>, ev: ProtocolEvent): void {
    s.events.push(ev)
    if (ev._tag === "Rejected") bump(this.stats.coreRejections, ev.rejection.reason)
    if (s.byzantine) return
    if (ev._tag === "Committed") {
      this.trace.string(ev.entryDigest)
      if (ev.index > s.lastCommitted) s.lastCommitted = ev.index
      this.checkers.event(r, ev, this.stats.steps, this.violations)
      this.stats.commits = this.checkers.agreement.size
    } else if (ev._tag === "Executed") {
      this.stats.executed++
      this.checkers.event(r, ev, this.stats.steps, this.violations)
    }
  }

  private afterReady(r: number, s: ReplicaSlot<M>): void {
    const applied = s.driver.appliedIndex()
    if (applied === s.lastApplied) return
    s.lastApplied = applied
    this.checkers.applied(r, applied, s.driver.stateDigest(), this.stats.steps, this.violations)
    const problems = s.driver.invariants?.()
    if (problems !== undefined && problems.length > 0) this.violations.push(...invariantViolations(r, problems, this.stats.steps))
  }

  private drainClient(c: number): void {
    const slot = this.clients[c]!
    const node = this.n + c
    while (slot.driver.hasReady()) {
      const ready = slot.driver.ready()
      for (const out of ready.send) {
        const frame = seal(this.envelope, slot.signer, out.message)
        const opened = this.openedSlot()
        for (const peer of out.to) {
          const to = this.nodeOfPeer.get(peer)
          if (to === undefined) this.stats.unroutable++
          else this.network.send(node, to, frame, this.time, 0, opened)
        }
      }
      slot.driver.advance()
    }
    for (const done of slot.driver.takeCompletions()) this.complete(c, done)
  }

  private complete(c: number, done: ClientCompletion): void {
    const { seq, outcome } = done
    const clientId = this.clients[c]!.clientId
    const op = this.opIndex.get(`${clientId}#${seq}`)
    if (op === undefined || op.outcome !== undefined) {
      const what = op === undefined ? "never submitted" : "already completed"
      this.violations.push({ checker: "client", step: this.stats.steps, message: `client ${clientId} completed #${seq}, ${what}` })
      return
    }
    this.completions.push(done)
    op.outcome = outcome
    op.completedAt = this.time
    this.stats.completed++
    this.stats.outcomes[outcome._tag]++
    this.trace.int(seq * 4 + (outcome._tag === "Committed" ? 1 : outcome._tag === "Rejected" ? 2 : 3))
    if (op.afterHeal && outcome._tag === "TimedOut") {
      this.livenessFailures.push(`${clientId}#${seq} timed out (submitted at tick ${Math.floor(op.invokedAt / TICK)})`)
    }
  }
}
