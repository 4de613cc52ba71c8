/**
 * The deterministic simulator (in the spirit of TigerBeetle's VOPR): replicas
 * and clients of a real protocol, driven through their `Driver`s exactly as
 * the Effect shell drives them, over a simulated network, with every choice
 * made by one seeded PRNG. A seed replays the identical run; `traceDigest`
 * fingerprints it.
 *
 * A `run()` has two phases:
 *   safety    faults within the trust model: loss, duplication, reordering,
 *             partitions, crashes (unsynced writes may be lost), restarts, clock
 *             skew, and up to f Byzantine replicas run by the `Adversary`;
 *   liveness  the network heals, crashed correct replicas restart, loss stops
 *             (Byzantine replicas keep misbehaving), and every client request
 *             must complete within `livenessTicks`, or the run is reported stalled.
 * Checkers run as events happen; the first violation ends the run.
 *
 * Time is in units of `TICK` per tick; `now()` is in ticks.
 */
import type { ClientCompletion, ClientDriver } from "../Client.js"
import { type KeyRing, type Signer, simulatedKeyRing, simulatedSigner } from "../Crypto.js"
import { type EnvelopeContext, open, seal } from "../Envelope.js"
import { clientPeer, type ClientId, type PeerId, replicaPeer, type ReplicaId } from "../Ids.js"
import type { Driver, Outbound, ProtocolEvent } from "../Protocol.js"
import type { AnyStateMachine } from "../StateMachine.js"
import { applyBatch } from "../Storage.js"
import { byzantine as byzantineQuorums, crashMajority, type QuorumSystem } from "../TrustModel.js"
import { Adversary, chooseStrategies, type Strategy } from "./Adversary.js"
import { type ClientOp, type HistoryCheck, invariantViolations, linearizabilityViolations, TraceCheckers, type Violation } from "./Checkers.js"
import { EventKind, EventQueue, type SimEvent } from "./internal/EventQueue.js"
import { FaultScheduler, type FaultOptions, faultsFromSeed } from "./internal/Faults.js"
import { formatReplay, type SimArgs } from "./internal/SimArgs.js"
import { bump, emptyStats, type SimStats } from "./internal/Stats.js"
import { TraceHash } from "./internal/TraceHash.js"
import { checkLinearizable, KvStateMachine } from "./KvStateMachine.js"
import { defaultNetworkOptions, Network, noFaults, TICK } from "./Network.js"
import { Prng } from "./Prng.js"
import type { SimProtocol } from "./SimProtocol.js"
import * as Workload from "./Workload.js"

export type { ClientOp, Violation } from "./Checkers.js"
export type { FaultOptions } from "./internal/Faults.js"
export type { SimStats } from "./internal/Stats.js"
export { TICK } from "./Network.js"
export { formatReplay, parseSimArgs, type SimArgs, USAGE } from "./internal/SimArgs.js"

export interface SimulatorOptions<M> {
  readonly protocol: SimProtocol<M>
  readonly seed: number
  /** Default 3 for crash protocols, 4 for Byzantine ones. */
  readonly replicas?: number
  /** Default: `crashMajority(n)` or `byzantine(n)` by the protocol's fault model. */
  readonly trust?: QuorumSystem
  /** How many replicas the adversary controls (<= f, Byzantine protocols only). Default 0. */
  readonly byzantine?: number
  /** Exactly which replicas the adversary controls (overrides the seeded choice). */
  readonly byzantineReplicas?: ReadonlyArray<number>
  /** Strategies of every controlled replica. Default: a seeded subset per replica. */
  readonly strategies?: ReadonlyArray<Strategy>
  /** Share of a Byzantine replica's messages the adversary tampers with. Default 0.3. */
  readonly adversaryIntensity?: number
  readonly clients?: number
  /** Default `KvStateMachine`. */
  readonly stateMachine?: AnyStateMachine
  /** Default: the state machine's known workload (KV). */
  readonly workload?: Workload.Workload
  /** Linearizability check of client histories. Default: the KV model for the KV state machine; `false` disables. */
  readonly history?: HistoryCheck | false
  readonly requestsPerClient?: number
  /** Fault settings; those not given are drawn from the seed. */
  readonly faults?: Partial<FaultOptions>
  readonly safetyTicks?: number
  readonly livenessTicks?: number
}

export interface SimResult {
  readonly ok: boolean
  readonly seed: number
  readonly violations: ReadonlyArray<Violation>
  /** Why the liveness phase did not finish, when it did not. */
  readonly stalled?: string
  readonly stats: SimStats
  /** Equal for equal seeds and options; differs when anything in the run differs. */
  readonly traceDigest: string
  /** The command that replays this run. */
  readonly replay: string
  /** Logical time at the end, in ticks. */
  readonly ticks: number
}

interface ReplicaSlot<M> {
  driver: Driver<M>
  readonly disk: Map<string, Uint8Array>
  readonly signer: Signer
  readonly byzantine: boolean
  up: boolean
  incarnation: number
  crashAtReady: boolean
  lastApplied: number
  lastCommitted: number
  readonly events: Array<ProtocolEvent>
}

interface ClientSlot<M> {
  readonly driver: ClientDriver<M>
  readonly clientId: ClientId
  readonly signer: Signer
  submitted: number
}

/** Ticks of a clock: base period (skewed per node) plus a little jitter per tick. */
const JITTER = TICK / 50
/** Readys one input may produce before we call the driver broken. */
const MAX_READYS_PER_STEP = 64

export const make = <M>(options: SimulatorOptions<M>): Simulation<M> => new Simulation(options)

/** What a command line adds to the parsed arguments: the loaded protocol and state machine. */
export interface Loaded<M> {
  readonly protocol: SimProtocol<M>
  readonly stateMachine: AnyStateMachine
  readonly workload: Workload.Workload
  readonly history?: HistoryCheck
}

/**
 * Simulator options for one seed of a command line. Byzantine protocols get a
 * seeded number of Byzantine replicas in [0, f] unless told; the replay
 * command of the run spells out the number chosen.
 */
export const fromArgs = <M>(args: Omit<SimArgs, "seeds">, loaded: Loaded<M>): SimulatorOptions<M> => {
  const n = args.replicas ?? (loaded.protocol.faultModel === "byzantine" ? 4 : 3)
  const f = Math.floor((n - 1) / 3)
  const byzantine = args.byzantineReplicas?.length ?? args.byzantine ??
    (loaded.protocol.faultModel === "byzantine" ? Prng.derive(args.seed, "cli-byzantine").int(f + 1) : 0)
  return {
    protocol: loaded.protocol,
    seed: args.seed,
    replicas: n,
    byzantine,
    ...(args.byzantineReplicas !== undefined ? { byzantineReplicas: args.byzantineReplicas } : {}),
    ...(args.strategies !== undefined ? { strategies: args.strategies } : {}),
    ...(args.clients !== undefined ? { clients: args.clients } : {}),
    ...(args.requests !== undefined ? { requestsPerClient: args.requests } : {}),
    ...(args.safetyTicks !== undefined ? { safetyTicks: args.safetyTicks } : {}),
    ...(args.livenessTicks !== undefined ? { livenessTicks: args.livenessTicks } : {}),
    ...(args.faults !== undefined ? { faults: args.faults } : {}),
    stateMachine: loaded.stateMachine,
    workload: loaded.workload,
    ...(loaded.history !== undefined ? { history: loaded.history } : {})
  }
}

export class Simulation<M> {
  readonly options: SimulatorOptions<M>
  readonly seed: number
  readonly n: number
  readonly trust: QuorumSystem
  readonly stats: SimStats = emptyStats()
  readonly faults: FaultOptions
  readonly network: Network
  /** Byzantine replica -> its strategies. */
  readonly byzantine: ReadonlyMap<number, ReadonlyArray<Strategy>>
  private readonly envelope: EnvelopeContext<M>
  private readonly keys: KeyRing
  private readonly peers: Array<PeerId> = []
  private readonly nodeOfPeer = new Map<string, number>()
  private readonly replicas: Array<ReplicaSlot<M>> = []
  private readonly clients: Array<ClientSlot<M>> = []
  private readonly queue = new EventQueue()
  private readonly checkers = new TraceCheckers()
  private readonly ops: Array<ClientOp> = []
  private readonly completionList: Array<ClientCompletion> = []
  private readonly opIndex = new Map<string, ClientOp>()
  private readonly violationList: Array<Violation> = []
  private readonly trace = new TraceHash()
  private readonly clockRng: Prng
  private readonly crashRng: Prng
  private readonly workloadRng: Prng
  private readonly clockPeriod: Array<number> = []
  private readonly clockBase: Array<number> = []
  private readonly clockTicks: Array<number> = []
  private readonly adversary: Adversary<M> | undefined
  private readonly historyCheck: HistoryCheck | undefined
  private time = 0
  private phase: "manual" | "safety" | "liveness" = "manual"
  private scheduler: FaultScheduler | undefined
  private workload: Workload.Workload | undefined
  private readonly livenessFailures: Array<string> = []

  constructor(options: SimulatorOptions<M>) {
    this.options = options
    this.seed = options.seed
    const protocol = options.protocol
    const setup = Prng.derive(options.seed, "setup")
    this.n = options.replicas ?? options.trust?.replicas.length ?? (protocol.faultModel === "byzantine" ? 4 : 3)
    this.trust = options.trust ?? (protocol.faultModel === "byzantine" ? byzantineQuorums(this.n) : crashMajority(this.n))
    if (this.trust.replicas.length !== this.n) throw new RangeError(`trust model has ${this.trust.replicas.length} replicas, not ${this.n}`)
    this.faults = { ...faultsFromSeed(Prng.derive(options.seed, "fault-settings")), ...options.faults }
    this.byzantine = this.chooseByzantine(setup)
    this.clockRng = Prng.derive(options.seed, "clock")
    this.crashRng = Prng.derive(options.seed, "crash")
    this.workloadRng = Prng.derive(options.seed, "workload")
    const sm = options.stateMachine ?? KvStateMachine
    this.historyCheck = options.history === false
      ? undefined
      : options.history ?? (sm.name === KvStateMachine.name ? checkLinearizable : undefined)

    const clients = options.clients ?? 3
    for (let r = 0; r < this.n; r++) this.addPeer(replicaPeer(r))
    for (let c = 0; c < clients; c++) this.addPeer(clientPeer(`c${c}`))
    const keySeed = `sim-${options.seed}`
    this.keys = simulatedKeyRing(keySeed, this.peers)
    this.envelope = { ...protocol.envelope, clusterId: "sim" }
    this.network = new Network(defaultNetworkOptions(this.n, clients), this.queue, Prng.derive(options.seed, "network"), this.stats)

    for (let r = 0; r < this.n; r++) {
      const signer = simulatedSigner(keySeed, this.peers[r]!)
      const disk = new Map<string, Uint8Array>()
      const slot: ReplicaSlot<M> = {
        driver: this.buildReplica(r, signer, disk, 0),
        disk,
        signer,
        byzantine: this.byzantine.has(r),
        up: true,
        incarnation: 0,
        crashAtReady: false,
        lastApplied: -1,
        lastCommitted: 0,
        events: []
      }
      this.replicas.push(slot)
    }
    for (let c = 0; c < clients; c++) {
      const clientId = `c${c}` as ClientId
      const signer = simulatedSigner(keySeed, this.peers[this.n + c]!)
      const driver = protocol.makeClient({ clientId, trust: this.trust, signer, keys: this.keys, seed: Prng.seedFor(options.seed, `client/${c}`) })
      this.clients.push({ driver, clientId, signer, submitted: 0 })
    }
    this.adversary = this.byzantine.size === 0 ? undefined : new Adversary({
      protocol,
      envelope: this.envelope,
      signers: new Map([...this.byzantine.keys()].map((r) => [r, this.replicas[r]!.signer] as const)),
      strategies: this.byzantine,
      rng: Prng.derive(options.seed, "adversary"),
      stats: this.stats,
      host: {
        emit: (from, to, frame) => this.network.send(from, to, frame, this.time, this.incarnationOf(from)),
        isUp: (r) => this.replicas[r]!.up,
        crash: (r) => this.crash(r),
        restart: (r, wipe) => this.restartWith(r, wipe),
        nodeOf: (peer) => this.nodeOfPeer.get(peer),
        peers: this.peers
      },
      ...(options.adversaryIntensity !== undefined ? { intensity: options.adversaryIntensity } : {})
    })

    for (let node = 0; node < this.peers.length; node++) {
      const skew = this.faults.clockSkew ? this.clockRng.range(-TICK / 20, TICK / 20 + 1) : 0
      this.clockPeriod.push(TICK + skew)
      this.clockBase.push(0)
      this.clockTicks.push(0)
      this.scheduleTick(node)
    }
    this.queue.push({ time: TICK, seq: 0, kind: EventKind.Control, node: -1, from: -1, incarnation: 0, linkSeq: 0, frame: undefined })
    for (let r = 0; r < this.n; r++) this.drainReplica(r)
  }

  // ---------------------------------------------------------------- public API

  now(): number {
    return Math.floor(this.time / TICK)
  }

  replica(r: number): Driver<M> {
    return this.slot(r).driver
  }

  isUp(r: number): boolean {
    return this.slot(r).up
  }

  /** Clock ticks of node `node` (replicas first, then clients) so far, including while it was down. */
  ticksOf(node: number): number {
    return this.clockTicks[node] ?? 0
  }

  events(r: number): ReadonlyArray<ProtocolEvent> {
    return this.slot(r).events
  }

  /** Every client completion so far, in completion order. */
  completions(): ReadonlyArray<ClientCompletion> {
    return this.completionList
  }

  /** Every client request so far, completed or not. */
  operations(): ReadonlyArray<ClientOp> {
    return this.ops
  }

  violations(): ReadonlyArray<Violation> {
    return this.violationList
  }

  traceDigest(): string {
    return this.trace.hex()
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
        this.control()
        break
    }
    return true
  }

  runFor(ticks: number): void {
    const end = this.time + ticks * TICK
    while ((this.queue.peek()?.time ?? Infinity) <= end) this.step()
    this.time = end
  }

  runUntil(pred: () => boolean, maxTicks: number): boolean {
    const end = this.time + maxTicks * TICK
    while (!pred()) {
      if ((this.queue.peek()?.time ?? Infinity) > end) return false
      this.step()
    }
    return true
  }

  submit(client: number, command: Uint8Array, opts?: { readonly readOnly?: boolean }): number | undefined {
    const c = this.clients[client]
    if (c === undefined) throw new RangeError(`no client ${client}`)
    const readOnly = opts?.readOnly ?? false
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
      afterHeal: this.phase === "liveness"
    }
    this.ops.push(op)
    this.opIndex.set(`${c.clientId}#${seq}`, op)
    this.stats.submitted++
    this.trace.int(seq)
    this.drainClient(client)
    return seq
  }

  crash(r: number): void {
    const s = this.slot(r)
    if (!s.up) return
    s.up = false
    s.incarnation++
    s.crashAtReady = false
    this.stats.crashes++
    this.trace.int(-1 - r)
  }

  restart(r: number): void {
    this.restartWith(r, false)
  }

  partition(groups: ReadonlyArray<ReadonlyArray<number>>): void {
    this.network.partition(groups)
  }

  isolate(r: number): void {
    this.network.partition([[r], Array.from({ length: this.n }, (_, i) => i).filter((i) => i !== r)])
  }

  heal(): void {
    this.network.heal()
  }

  /** Every violation so far plus the whole-run checks (state digests now, invariants, linearizability). */
  check(): ReadonlyArray<Violation> {
    return [...this.violationList, ...this.finalChecks()]
  }

  run(): SimResult {
    if (this.phase !== "manual" || this.stats.steps > 0) throw new Error("run() drives a fresh simulation from the start")
    const sm = this.options.stateMachine ?? KvStateMachine
    this.workload = this.options.workload ?? Workload.defaultFor(sm)
    if (this.workload === undefined) throw new Error(`no workload for state machine ${sm.name}: pass one`)
    this.phase = "safety"
    this.network.faults = { drop: this.faults.drop, duplicate: this.faults.duplicate, reorder: this.faults.reorder ? 0.05 : 0 }
    this.scheduler = new FaultScheduler(this.faults, Prng.derive(this.seed, "faults"), this.faultHost())
    let stalled: string | undefined
    try {
      stalled = this.runPhases()
    } catch (e) {
      // a driver threw: a bug in the protocol (peer input must become rejections), reported with its seed
      const text = e instanceof Error ? e.stack ?? e.message : String(e)
      this.violationList.push({ checker: "exception", step: this.stats.steps, message: text.split("\n").slice(0, 8).join("\n") })
    }
    this.stats.commits = this.checkers.agreement.size
    this.trace.int(this.stats.commits)
    return {
      ok: this.violationList.length === 0 && stalled === undefined,
      seed: this.seed,
      violations: this.violationList,
      ...(stalled !== undefined ? { stalled } : {}),
      stats: this.stats,
      traceDigest: this.trace.hex(),
      replay: this.replayCommand(),
      ticks: this.now()
    }
  }

  /** The safety phase, then the liveness phase; returns why liveness failed, if it did. */
  private runPhases(): string | undefined {
    const safetyEnd = (this.options.safetyTicks ?? 2000) * TICK
    while (this.violationList.length === 0 && (this.queue.peek()?.time ?? Infinity) <= safetyEnd) this.step()
    if (this.violationList.length > 0) return undefined
    this.enterLiveness()
    const end = safetyEnd + (this.options.livenessTicks ?? 5000) * TICK
    while (this.violationList.length === 0 && !this.workDone() && (this.queue.peek()?.time ?? Infinity) <= end) this.step()
    if (this.violationList.length > 0) return undefined
    this.violationList.push(...this.finalChecks())
    if (!this.workDone()) return this.stallReason()
    if (this.livenessFailures.length > 0) return `liveness: requests submitted after healing did not commit: ${this.livenessFailures.join("; ")}`
    return undefined
  }

  replayCommand(): string {
    const o = this.options
    return formatReplay({
      protocol: o.protocol.name,
      seed: this.seed,
      replicas: this.n,
      byzantine: this.byzantine.size,
      ...(o.byzantineReplicas !== undefined ? { byzantineReplicas: o.byzantineReplicas } : {}),
      ...(o.strategies !== undefined ? { strategies: o.strategies } : {}),
      clients: this.clients.length,
      requests: o.requestsPerClient ?? 20,
      safetyTicks: o.safetyTicks ?? 2000,
      livenessTicks: o.livenessTicks ?? 5000,
      ...(o.faults !== undefined ? { faults: o.faults } : {}),
      stateMachine: (o.stateMachine ?? KvStateMachine).name
    })
  }

  // ---------------------------------------------------------------- setup

  private addPeer(peer: PeerId): void {
    this.nodeOfPeer.set(peer, this.peers.length)
    this.peers.push(peer)
  }

  private chooseByzantine(rng: Prng): Map<number, ReadonlyArray<Strategy>> {
    const o = this.options
    const count = o.byzantineReplicas?.length ?? o.byzantine ?? 0
    if (count === 0) return new Map()
    if (o.protocol.faultModel !== "byzantine") throw new RangeError(`${o.protocol.name} tolerates crash faults only: no Byzantine replicas`)
    if (count > this.trust.f) throw new RangeError(`${count} Byzantine replicas exceed f=${this.trust.f} of ${this.trust.name}`)
    const trusted = new Set<number>(o.protocol.alwaysCorrect ?? [])
    const chosen = o.byzantineReplicas ?? rng.shuffle(Array.from({ length: this.n }, (_, i) => i).filter((r) => !trusted.has(r))).slice(0, count)
    if (chosen.length < count || chosen.some((r) => r < 0 || r >= this.n || trusted.has(r))) {
      throw new RangeError(`cannot make replicas [${chosen.join(",")}] Byzantine (n=${this.n}, always correct: [${[...trusted].join(",")}])`)
    }
    return new Map(chosen.map((r) => [r, o.strategies ?? chooseStrategies(rng)] as const))
  }

  private buildReplica(r: number, signer: Signer, disk: ReadonlyMap<string, Uint8Array>, incarnation: number): Driver<M> {
    return this.options.protocol.makeReplica({
      id: r as ReplicaId,
      trust: this.trust,
      signer,
      keys: this.keys,
      stateMachine: this.options.stateMachine ?? KvStateMachine,
      disk: new Map(disk),
      seed: Prng.seedFor(this.seed, `replica/${r}/${incarnation}`)
    })
  }

  private slot(r: number): ReplicaSlot<M> {
    const s = this.replicas[r]
    if (s === undefined) throw new RangeError(`no replica ${r}`)
    return s
  }

  private incarnationOf(node: number): number {
    return node < this.n ? this.replicas[node]!.incarnation : 0
  }

  private restartWith(r: number, wipeDisk: boolean): void {
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

  private faultHost() {
    return {
      replicas: this.n,
      maxDown: Math.max(0, this.trust.f - this.byzantine.size),
      isCorrect: (r: number) => !this.byzantine.has(r),
      isUp: (r: number) => this.replicas[r]!.up,
      crash: (r: number) => this.crash(r),
      crashAtNextReady: (r: number) => {
        this.replicas[r]!.crashAtReady = true
      },
      restart: (r: number) => this.restart(r),
      partition: (groups: ReadonlyArray<ReadonlyArray<number>>) => this.network.partition(groups),
      cutOneWay: (a: number, b: number) => this.network.cutOneWay(a, b),
      heal: () => this.network.heal()
    }
  }

  // ---------------------------------------------------------------- the hot loop

  private scheduleTick(node: number): void {
    this.clockBase[node]! += this.clockPeriod[node]!
    const time = this.clockBase[node]! + this.clockRng.int(JITTER)
    this.queue.push({ time, seq: 0, kind: EventKind.Tick, node, from: -1, incarnation: 0, linkSeq: 0, frame: undefined })
  }

  private tick(node: number): void {
    this.scheduleTick(node)
    this.clockTicks[node]!++
    if (node < this.n) {
      const s = this.replicas[node]!
      if (!s.up) return
      this.stats.clockTicks++
      s.driver.step({ _tag: "Tick" })
      this.drainReplica(node)
    } else {
      this.clients[node - this.n]!.driver.step({ _tag: "Tick" })
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
    this.trace.bytes(frame)
    const opened = open(this.envelope, this.keys, frame, this.peers[e.from])
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

  /** Carry out a replica's Readys in the shell's order: persist, send, sendAfterPersist, events, advance. */
  private drainReplica(r: number): void {
    const s = this.replicas[r]!
    for (let i = 0; s.up && s.driver.hasReady(); i++) {
      if (i === MAX_READYS_PER_STEP) {
        this.violationList.push({ checker: "driver", step: this.stats.steps, message: `replica ${r} still has a Ready after ${i} advances` })
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
      else this.network.send(r, node, frame, this.time, s.incarnation)
    }
  }

  private onEvent(r: number, s: ReplicaSlot<M>, ev: ProtocolEvent): void {
    s.events.push(ev)
    if (ev._tag === "Rejected") bump(this.stats.coreRejections, ev.rejection.reason)
    if (s.byzantine) return
    if (ev._tag === "Committed") {
      this.trace.string(ev.entryDigest)
      if (ev.index > s.lastCommitted) s.lastCommitted = ev.index
    } else if (ev._tag === "Executed") {
      this.stats.executed++
    }
    this.checkers.event(r, ev, this.stats.steps, this.violationList)
  }

  private afterReady(r: number, s: ReplicaSlot<M>): void {
    const applied = s.driver.appliedIndex()
    if (applied === s.lastApplied) return
    s.lastApplied = applied
    this.checkers.applied(r, applied, s.driver.stateDigest(), this.stats.steps, this.violationList)
    const problems = s.driver.invariants?.()
    if (problems !== undefined && problems.length > 0) this.violationList.push(...invariantViolations(r, problems, this.stats.steps))
  }

  private drainClient(c: number): void {
    const slot = this.clients[c]!
    const node = this.n + c
    while (slot.driver.hasReady()) {
      const ready = slot.driver.ready()
      for (const out of ready.send) {
        const frame = seal(this.envelope, slot.signer, out.message)
        for (const peer of out.to) {
          const to = this.nodeOfPeer.get(peer)
          if (to === undefined) this.stats.unroutable++
          else this.network.send(node, to, frame, this.time, 0)
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
      this.violationList.push({ checker: "client", step: this.stats.steps, message: `client ${clientId} completed #${seq}, ${what}` })
      return
    }
    this.completionList.push(done)
    op.outcome = outcome
    op.completedAt = this.time
    this.stats.completed++
    this.stats.outcomes[outcome._tag]++
    this.trace.int(seq * 4 + (outcome._tag === "Committed" ? 1 : outcome._tag === "Rejected" ? 2 : 3))
    if (op.afterHeal && outcome._tag === "TimedOut") {
      this.livenessFailures.push(`${clientId}#${seq} timed out (submitted at tick ${Math.floor(op.invokedAt / TICK)})`)
    }
  }

  // ---------------------------------------------------------------- phases

  private control(): void {
    this.queue.push({ time: this.time + TICK, seq: 0, kind: EventKind.Control, node: -1, from: -1, incarnation: 0, linkSeq: 0, frame: undefined })
    this.adversary?.tick()
    if (this.phase === "manual") return
    if (this.phase === "safety") this.scheduler!.tick(this.now())
    this.offerWork()
  }

  /** Closed-loop clients: an idle client submits its next request now and then. One request per client is kept for after healing. */
  private offerWork(): void {
    const total = this.options.requestsPerClient ?? 20
    const quota = this.phase === "safety" ? total - 1 : total
    for (let c = 0; c < this.clients.length; c++) {
      const slot = this.clients[c]!
      if (slot.submitted >= quota || slot.driver.inFlight() > 0 || !this.workloadRng.chance(0.5)) continue
      const op = this.workload!.next(c, this.workloadRng)
      this.submit(c, op.command, { readOnly: op.readOnly })
    }
  }

  private enterLiveness(): void {
    this.phase = "liveness"
    this.network.faults = noFaults()
    this.network.heal()
    for (let r = 0; r < this.n; r++) {
      const s = this.replicas[r]!
      s.crashAtReady = false
      if (!s.up && !(this.adversary?.isDownByAdversary(r) ?? false)) this.restart(r)
    }
  }

  private workDone(): boolean {
    const total = this.options.requestsPerClient ?? 20
    for (const c of this.clients) if (c.submitted < total || c.driver.inFlight() > 0) return false
    return this.ops.every((op) => op.outcome !== undefined)
  }

  private stallReason(): string {
    const pending = this.ops.filter((op) => op.outcome === undefined)
    const shown = pending.slice(0, 8).map((op) => `${op.clientId}#${op.seq} (since tick ${Math.floor(op.invokedAt / TICK)})`)
    const total = this.options.requestsPerClient ?? 20
    const unsubmitted = this.clients.filter((c) => c.submitted < total).map((c) => `${c.clientId} ${c.submitted}/${total}`)
    const replicas = this.replicas.map((s, r) =>
      `r${r}${s.byzantine ? "(byzantine)" : ""}${s.up ? "" : "(down)"} committed=${s.lastCommitted} applied=${s.driver.appliedIndex()}`
    )
    return [
      `liveness: not done ${this.options.livenessTicks ?? 5000} ticks after healing`,
      `${pending.length} pending: ${shown.join(", ")}${pending.length > shown.length ? ", ..." : ""}`,
      ...(unsubmitted.length > 0 ? [`not yet submitted: ${unsubmitted.join(", ")}`] : []),
      ...(this.livenessFailures.length > 0 ? [`timed out after healing: ${this.livenessFailures.join("; ")}`] : []),
      `replicas: ${replicas.join("; ")}`
    ].join("; ")
  }

  private finalChecks(): Array<Violation> {
    const out: Array<Violation> = []
    const step = this.stats.steps
    this.replicas.forEach((s, r) => {
      if (s.byzantine || !s.up) return
      const problems = s.driver.invariants?.()
      if (problems !== undefined) out.push(...invariantViolations(r, problems, step))
    })
    if (this.historyCheck !== undefined) out.push(...linearizabilityViolations(this.historyCheck, this.ops, step))
    return out
  }
}
