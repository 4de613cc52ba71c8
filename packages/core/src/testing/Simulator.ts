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
import type { ClientCompletion } from "../Client.js"
import type { Driver, ProtocolEvent } from "../Protocol.js"
import type { AnyStateMachine } from "../StateMachine.js"
import { byzantine as byzantineQuorums, crashMajority, type QuorumSystem } from "../TrustModel.js"
import { chooseStrategies, type Strategy } from "./Adversary.js"
import { type ClientOp, type HistoryCheck, invariantViolations, linearizabilityViolations, type Violation } from "./Checkers.js"
import { FaultScheduler, type FaultOptions, faultsFromSeed } from "./internal/Faults.js"
import { formatReplay, type SimArgs } from "./internal/SimArgs.js"
import type { SimStats } from "./internal/Stats.js"
import { World } from "./internal/World.js"
import { checkLinearizable, KvStateMachine } from "./KvStateMachine.js"
import { type Network, noFaults, TICK } from "./Network.js"
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
  /**
   * Open (authenticate and decode) each sealed frame once for all its
   * receivers, instead of once per delivery. Same outcomes, far less work per
   * broadcast; receivers share the decoded message. Default true.
   */
  readonly openOncePerFrame?: boolean
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
  readonly faults: FaultOptions
  /** Byzantine replica -> its strategies. */
  readonly byzantine: ReadonlyMap<number, ReadonlyArray<Strategy>>
  private readonly world: World<M>
  private readonly workloadRng: Prng
  private readonly historyCheck: HistoryCheck | undefined
  private phase: "manual" | "safety" | "liveness" = "manual"
  private scheduler: FaultScheduler | undefined
  private workload: Workload.Workload | undefined

  constructor(options: SimulatorOptions<M>) {
    this.options = options
    this.seed = options.seed
    const protocol = options.protocol
    this.n = options.replicas ?? options.trust?.replicas.length ?? (protocol.faultModel === "byzantine" ? 4 : 3)
    this.trust = options.trust ?? (protocol.faultModel === "byzantine" ? byzantineQuorums(this.n) : crashMajority(this.n))
    if (this.trust.replicas.length !== this.n) throw new RangeError(`trust model has ${this.trust.replicas.length} replicas, not ${this.n}`)
    this.faults = { ...faultsFromSeed(Prng.derive(options.seed, "fault-settings")), ...options.faults }
    this.byzantine = this.chooseByzantine(Prng.derive(options.seed, "setup"))
    this.workloadRng = Prng.derive(options.seed, "workload")
    const sm = options.stateMachine ?? KvStateMachine
    this.historyCheck = options.history === false
      ? undefined
      : options.history ?? (sm.name === KvStateMachine.name ? checkLinearizable : undefined)
    this.world = new World({
      protocol,
      seed: options.seed,
      trust: this.trust,
      clients: options.clients ?? 3,
      stateMachine: sm,
      byzantine: this.byzantine,
      adversaryIntensity: options.adversaryIntensity,
      clockSkew: this.faults.clockSkew,
      onTick: () => this.control(),
      openOncePerFrame: options.openOncePerFrame ?? true
    })
  }

  // ---------------------------------------------------------------- public API

  get stats(): SimStats {
    return this.world.stats
  }

  get network(): Network {
    return this.world.network
  }

  now(): number {
    return Math.floor(this.world.time / TICK)
  }

  /** Replica `r`'s live driver (while it is down: the driver it had when it crashed). */
  replica(r: number): Driver<M> {
    return this.world.slot(r).driver
  }

  isUp(r: number): boolean {
    return this.world.slot(r).up
  }

  /** Clock ticks of node `node` (replicas first, then clients) so far, including while it was down. */
  ticksOf(node: number): number {
    return this.world.clockTicks[node] ?? 0
  }

  /** Every event replica `r` reported, over all its incarnations, plus envelope rejections. */
  events(r: number): ReadonlyArray<ProtocolEvent> {
    return this.world.slot(r).events
  }

  /** Every client completion so far, in completion order. */
  completions(): ReadonlyArray<ClientCompletion> {
    return this.world.completions
  }

  /** Every client request so far, completed or not. */
  operations(): ReadonlyArray<ClientOp> {
    return this.world.ops
  }

  violations(): ReadonlyArray<Violation> {
    return this.world.violations
  }

  traceDigest(): string {
    return this.world.trace.hex()
  }

  step(): boolean {
    return this.world.step()
  }

  runFor(ticks: number): void {
    const end = this.world.time + ticks * TICK
    while (this.world.nextTime() <= end) this.world.step()
    this.world.time = end
  }

  runUntil(pred: () => boolean, maxTicks: number): boolean {
    const end = this.world.time + maxTicks * TICK
    while (!pred()) {
      if (this.world.nextTime() > end) return false
      this.world.step()
    }
    return true
  }

  submit(client: number, command: Uint8Array, opts?: { readonly readOnly?: boolean }): number | undefined {
    return this.world.submit(client, command, opts?.readOnly ?? false)
  }

  crash(r: number): void {
    this.world.crash(r)
  }

  restart(r: number): void {
    this.world.restart(r, false)
  }

  partition(groups: ReadonlyArray<ReadonlyArray<number>>): void {
    this.world.network.partition(groups)
  }

  isolate(r: number): void {
    this.world.network.partition([[r], Array.from({ length: this.n }, (_, i) => i).filter((i) => i !== r)])
  }

  heal(): void {
    this.world.network.heal()
  }

  /** Every violation so far (they are checked as events happen) plus invariants and linearizability now. */
  check(): ReadonlyArray<Violation> {
    return [...this.world.violations, ...this.finalChecks()]
  }

  run(): SimResult {
    const w = this.world
    if (this.phase !== "manual" || w.stats.steps > 0) throw new Error("run() drives a fresh simulation from the start")
    const sm = this.options.stateMachine ?? KvStateMachine
    this.workload = this.options.workload ?? Workload.defaultFor(sm)
    if (this.workload === undefined) throw new Error(`no workload for state machine ${sm.name}: pass one`)
    this.phase = "safety"
    w.network.faults = { drop: this.faults.drop, duplicate: this.faults.duplicate, reorder: this.faults.reorder ? 0.05 : 0 }
    this.scheduler = new FaultScheduler(this.faults, Prng.derive(this.seed, "faults"), this.faultHost())
    let stalled: string | undefined
    try {
      stalled = this.runPhases()
    } catch (e) {
      // a driver threw: a bug in the protocol (peer input must become rejections), reported with its seed
      const text = e instanceof Error ? e.stack ?? e.message : String(e)
      w.violations.push({ checker: "exception", step: w.stats.steps, message: text.split("\n").slice(0, 8).join("\n") })
    }
    w.trace.int(w.stats.commits)
    return {
      ok: w.violations.length === 0 && stalled === undefined,
      seed: this.seed,
      violations: w.violations,
      ...(stalled !== undefined ? { stalled } : {}),
      stats: w.stats,
      traceDigest: w.trace.hex(),
      replay: this.replayCommand(),
      ticks: this.now()
    }
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
      clients: this.world.clients.length,
      requests: this.requestsPerClient(),
      safetyTicks: o.safetyTicks ?? 2000,
      livenessTicks: o.livenessTicks ?? 5000,
      ...(o.faults !== undefined ? { faults: o.faults } : {}),
      stateMachine: (o.stateMachine ?? KvStateMachine).name
    })
  }

  // ---------------------------------------------------------------- phases

  /** The safety phase, then the liveness phase; returns why liveness failed, if it did. */
  private runPhases(): string | undefined {
    const w = this.world
    const safetyEnd = (this.options.safetyTicks ?? 2000) * TICK
    while (w.violations.length === 0 && w.nextTime() <= safetyEnd) w.step()
    if (w.violations.length > 0) return undefined
    this.enterLiveness()
    const end = safetyEnd + (this.options.livenessTicks ?? 5000) * TICK
    while (w.violations.length === 0 && !this.workDone() && w.nextTime() <= end) w.step()
    if (w.violations.length > 0) return undefined
    w.violations.push(...this.finalChecks())
    if (!this.workDone()) return this.stallReason()
    if (w.livenessFailures.length > 0) return `liveness: requests submitted after healing did not commit: ${w.livenessFailures.join("; ")}`
    return undefined
  }

  /** Once per tick: the fault scheduler (safety phase) and the workload. */
  private control(): void {
    if (this.phase === "manual") return
    if (this.phase === "safety") this.scheduler!.tick(this.now())
    this.offerWork()
  }

  private requestsPerClient(): number {
    return this.options.requestsPerClient ?? 20
  }

  /** Closed-loop clients: an idle client submits its next request now and then. One request per client is kept for after healing. */
  private offerWork(): void {
    const total = this.requestsPerClient()
    const quota = this.phase === "safety" ? total - 1 : total
    const clients = this.world.clients
    for (let c = 0; c < clients.length; c++) {
      const slot = clients[c]!
      if (slot.submitted >= quota || slot.driver.inFlight() > 0 || !this.workloadRng.chance(0.5)) continue
      const op = this.workload!.next(c, this.workloadRng)
      this.world.submit(c, op.command, op.readOnly)
    }
  }

  private enterLiveness(): void {
    const w = this.world
    this.phase = "liveness"
    w.afterHeal = true
    w.network.faults = noFaults()
    w.network.heal()
    w.replicas.forEach((s, r) => {
      s.crashAtReady = false
      if (!s.up && !(w.adversary?.isDownByAdversary(r) ?? false)) w.restart(r, false)
    })
  }

  private workDone(): boolean {
    const total = this.requestsPerClient()
    for (const c of this.world.clients) if (c.submitted < total || c.driver.inFlight() > 0) return false
    return this.world.ops.every((op) => op.outcome !== undefined)
  }

  private stallReason(): string {
    const w = this.world
    const pending = w.ops.filter((op) => op.outcome === undefined)
    const shown = pending.slice(0, 8).map((op) => `${op.clientId}#${op.seq} (since tick ${Math.floor(op.invokedAt / TICK)})`)
    const total = this.requestsPerClient()
    const unsubmitted = w.clients.filter((c) => c.submitted < total).map((c) => `${c.clientId} ${c.submitted}/${total}`)
    const replicas = w.replicas.map((s, r) =>
      `r${r}${s.byzantine ? "(byzantine)" : ""}${s.up ? "" : "(down)"} committed=${s.lastCommitted} applied=${s.driver.appliedIndex()}`
    )
    return [
      `liveness: not done ${this.options.livenessTicks ?? 5000} ticks after healing`,
      `${pending.length} pending: ${shown.join(", ")}${pending.length > shown.length ? ", ..." : ""}`,
      ...(unsubmitted.length > 0 ? [`not yet submitted: ${unsubmitted.join(", ")}`] : []),
      ...(w.livenessFailures.length > 0 ? [`timed out after healing: ${w.livenessFailures.join("; ")}`] : []),
      `replicas: ${replicas.join("; ")}`
    ].join("; ")
  }

  private finalChecks(): Array<Violation> {
    const out: Array<Violation> = []
    const step = this.world.stats.steps
    this.world.replicas.forEach((s, r) => {
      if (s.byzantine || !s.up) return
      const problems = s.driver.invariants?.()
      if (problems !== undefined) out.push(...invariantViolations(r, problems, step))
    })
    if (this.historyCheck !== undefined) out.push(...linearizabilityViolations(this.historyCheck, this.world.ops, step))
    return out
  }

  // ---------------------------------------------------------------- setup

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

  private faultHost() {
    return {
      replicas: this.n,
      maxDown: Math.max(0, this.trust.f - this.byzantine.size),
      isCorrect: (r: number) => !this.byzantine.has(r),
      isUp: (r: number) => this.world.slot(r).up,
      crash: (r: number) => this.world.crash(r),
      crashAtNextReady: (r: number) => {
        this.world.slot(r).crashAtReady = true
      },
      restart: (r: number) => this.world.restart(r, false),
      partition: (groups: ReadonlyArray<ReadonlyArray<number>>) => this.world.network.partition(groups),
      cutOneWay: (a: number, b: number) => this.world.network.cutOneWay(a, b),
      heal: () => this.world.network.heal()
    }
  }
}
