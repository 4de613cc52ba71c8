/**
 * The Byzantine adversary. It controls up to f replicas of a Byzantine trust
 * model. Those replicas run the real protocol driver — so they know what a
 * plausible message looks like — and the adversary rewrites what leaves them:
 *
 *   silent             suppresses everything for a while (windows open and close)
 *   crash-then-return  stops the replica and brings it back later, sometimes with a wiped disk
 *   equivocate         sends conflicting messages for the same view/sequence to different peers
 *   forge              frames with a claimed sender it has no key for, or a broken signature
 *   replay             resends old frames it sent or saw (as the original sender would)
 *   shift-view         the same message in a stale or a future view
 *   garbage            bytes that are no envelope, or a signed envelope with an undecodable payload
 *   lie                wrong state in state-transfer / catch-up answers
 *
 * Strategies combine: each controlled replica has its own set, chosen by seed
 * unless given. Every action is counted in `byzantineActions` (and finer kinds
 * in `byzantineDetail`), so tests can prove each strategy really ran.
 */
import { type EnvelopeContext, parseFrame, seal, sealPayload } from "../Envelope.js"
import type { Signer } from "../Crypto.js"
import type { PeerId } from "../Ids.js"
import { bump, type SimStats } from "./internal/Stats.js"
import type { Prng } from "./Prng.js"
import type { SimProtocol } from "./SimProtocol.js"

export const STRATEGIES = [
  "silent",
  "crash-then-return",
  "equivocate",
  "forge",
  "replay",
  "shift-view",
  "garbage",
  "lie"
] as const
export type Strategy = typeof STRATEGIES[number]

export const isStrategy = (s: string): s is Strategy => (STRATEGIES as ReadonlyArray<string>).includes(s)

/** Strategies that act on individual outbound messages. */
const MESSAGE_STRATEGIES: ReadonlyArray<Strategy> = ["equivocate", "forge", "replay", "shift-view", "garbage", "lie"]

/** A non-empty random subset of the strategies. */
export const chooseStrategies = (rng: Prng): ReadonlyArray<Strategy> => {
  const chosen = STRATEGIES.filter(() => rng.chance(0.5))
  return chosen.length > 0 ? chosen : [rng.pick(STRATEGIES)]
}

/** What the adversary may do to the simulated world. */
export interface AdversaryHost {
  /** Put `frame` on the wire on link `from -> to` (the adversary may spoof `from`). */
  emit(from: number, to: number, frame: Uint8Array): void
  isUp(replica: number): boolean
  crash(replica: number): void
  restart(replica: number, wipeDisk: boolean): void
  /** Node number of a PeerId, if known. */
  nodeOf(peer: string): number | undefined
  /** Every principal of the run (replicas and clients), by node number. */
  readonly peers: ReadonlyArray<PeerId>
}

export interface AdversaryOptions<M> {
  readonly protocol: SimProtocol<M>
  readonly envelope: EnvelopeContext<M>
  /** Controlled replica -> its signer (the adversary has these keys, and only these). */
  readonly signers: ReadonlyMap<number, Signer>
  readonly strategies: ReadonlyMap<number, ReadonlyArray<Strategy>>
  readonly rng: Prng
  readonly stats: SimStats
  readonly host: AdversaryHost
  /** Share of outbound messages a message strategy acts on. Default 0.3. */
  readonly intensity?: number
}

/** Frames kept per controlled replica for replays. */
const REPLAY_MEMORY = 64
const SHIFTS = [-3, -1, 1, 2, 9] as const

export class Adversary<M> {
  private readonly intensity: number
  private readonly silent = new Map<number, boolean>()
  private readonly downByUs = new Set<number>()
  private readonly memory = new Map<number, Array<Uint8Array>>()
  private readonly memoryAt = new Map<number, number>()
  private readonly tags: ReadonlyArray<string>

  constructor(private readonly o: AdversaryOptions<M>) {
    this.intensity = o.intensity ?? 0.3
    this.tags = [...o.envelope.codec.tags]
    for (const r of o.strategies.keys()) {
      this.silent.set(r, false)
      this.memory.set(r, [])
      this.memoryAt.set(r, 0)
    }
  }

  controls(replica: number): boolean {
    return this.o.strategies.has(replica)
  }

  /** Replicas the adversary itself took down (the simulator leaves them down when healing). */
  isDownByAdversary(replica: number): boolean {
    return this.downByUs.has(replica)
  }

  /** Keep a frame a controlled replica sent or received, for later replay. */
  record(replica: number, frame: Uint8Array): void {
    const mem = this.memory.get(replica)
    if (mem === undefined) return
    const at = this.memoryAt.get(replica)!
    if (mem.length < REPLAY_MEMORY) mem.push(frame)
    else mem[at % REPLAY_MEMORY] = frame
    this.memoryAt.set(replica, at + 1)
  }

  /** Once per tick: open and close silent windows, crash and bring back replicas. */
  tick(): void {
    const rng = this.o.rng
    for (const [r, strategies] of this.o.strategies) {
      if (strategies.includes("silent") && rng.chance(0.03)) this.silent.set(r, !this.silent.get(r))
      if (!strategies.includes("crash-then-return")) continue
      if (this.downByUs.has(r)) {
        if (rng.chance(0.05)) {
          const wipe = rng.chance(0.25)
          this.downByUs.delete(r)
          this.o.host.restart(r, wipe)
          this.act("crash-then-return", wipe ? "crash-then-return/amnesia" : "crash-then-return/return")
        }
      } else if (this.o.host.isUp(r) && rng.chance(0.01)) {
        this.downByUs.add(r)
        this.o.host.crash(r)
        this.act("crash-then-return", "crash-then-return/crash")
      }
    }
  }

  /** A controlled replica's driver wants to send `message` (sealed honestly as `frame`) to `to`. */
  outbound(replica: number, message: M, frame: Uint8Array, to: ReadonlyArray<number>): void {
    this.record(replica, frame)
    if (to.length === 0) return
    const strategies = this.o.strategies.get(replica) ?? []
    if (this.silent.get(replica) === true) {
      this.act("silent", "silent/suppressed")
      return
    }
    const rng = this.o.rng
    if (rng.chance(this.intensity)) {
      const usable = strategies.filter((s) => MESSAGE_STRATEGIES.includes(s))
      if (usable.length > 0 && this.apply(rng.pick(usable), replica, message, frame, to)) return
    }
    this.sendAll(replica, frame, to)
  }

  /** Carry out one strategy; false when it has nothing to work with (then the honest frame goes). */
  private apply(s: Strategy, r: number, message: M, frame: Uint8Array, to: ReadonlyArray<number>): boolean {
    const { rng, protocol } = this.o
    switch (s) {
      case "equivocate": {
        const alt = protocol.tamper.equivocate(message, rng)
        if (alt === undefined) return false
        this.split(r, frame, this.seal(r, alt), to)
        this.act(s, to.length > 1 ? "equivocate/split" : "equivocate/single")
        return true
      }
      case "shift-view": {
        const delta = rng.pick(SHIFTS)
        const alt = protocol.tamper.shiftView(message, delta)
        if (alt === undefined) return false
        this.split(r, frame, this.seal(r, alt), to)
        this.act(s, delta < 0 ? "shift-view/stale" : "shift-view/future")
        return true
      }
      case "lie": {
        const alt = protocol.tamper.lie(message, rng)
        if (alt === undefined) return false
        this.sendAll(r, this.seal(r, alt), to)
        this.act(s, "lie")
        return true
      }
      case "forge":
        this.forge(r, frame, to)
        this.sendAll(r, frame, to)
        return true
      case "replay": {
        const mem = this.memory.get(r)!
        const old = rng.pick(mem)
        const sender = parseFrame(old)
        // replay as the original sender would appear on the wire: a network-level replay
        const from = sender._tag === "Right" ? this.o.host.nodeOf(sender.right.sender) ?? r : r
        this.o.host.emit(from, rng.pick(to), old)
        this.act(s, from === r ? "replay/own" : "replay/observed")
        this.sendAll(r, frame, to)
        return true
      }
      case "garbage":
        this.o.host.emit(r, rng.pick(to), this.garbage(r, frame))
        this.sendAll(r, frame, to)
        return true
      default:
        return false
    }
  }

  private forge(r: number, frame: Uint8Array, to: ReadonlyArray<number>): void {
    const { rng, host } = this.o
    const dest = rng.pick(to)
    const h = parseFrame(frame)
    const others = host.peers.filter((_, i) => i !== r && i !== dest)
    if (rng.chance(0.5) && h._tag === "Right" && others.length > 0) {
      // claim to be someone else, spoofing their network address too; we cannot sign as them
      const victim = rng.pick(others)
      const forged = sealPayload(this.o.envelope, this.o.signers.get(r)!, h.right.type, h.right.payload, victim)
      host.emit(host.nodeOf(victim) ?? r, dest, forged)
      this.act("forge", "forge/sender")
    } else {
      const forged = frame.slice()
      forged[forged.length - 1 - rng.int(Math.min(16, forged.length))]! ^= 1 + rng.int(255)
      host.emit(r, dest, forged)
      this.act("forge", "forge/signature")
    }
  }

  private garbage(r: number, frame: Uint8Array): Uint8Array {
    const rng = this.o.rng
    switch (rng.int(4)) {
      case 0:
        this.act("garbage", "garbage/random")
        return rng.bytes(rng.int(96))
      case 1: {
        this.act("garbage", "garbage/truncated")
        return frame.subarray(0, rng.int(frame.length))
      }
      case 2: {
        // authentic, but the payload does not decode
        this.act("garbage", "garbage/payload")
        const type = this.tags.length > 0 ? rng.pick(this.tags) : "x"
        return sealPayload(this.o.envelope, this.o.signers.get(r)!, type, rng.bytes(1 + rng.int(64)))
      }
      default:
        // authentic, but a message type the protocol does not have
        this.act("garbage", "garbage/tag")
        return sealPayload(this.o.envelope, this.o.signers.get(r)!, "NoSuchMessage", new TextEncoder().encode("{}"))
    }
  }

  private seal(r: number, message: M): Uint8Array {
    return seal(this.o.envelope, this.o.signers.get(r)!, message)
  }

  /** Some destinations get `a`, the others `b`; a single destination gets `b`. */
  private split(r: number, a: Uint8Array, b: Uint8Array, to: ReadonlyArray<number>): void {
    if (to.length <= 1) {
      for (const t of to) this.o.host.emit(r, t, b)
      return
    }
    const order = this.o.rng.shuffle([...to])
    const cut = 1 + this.o.rng.int(order.length - 1)
    order.forEach((t, i) => this.o.host.emit(r, t, i < cut ? b : a))
  }

  private sendAll(r: number, frame: Uint8Array, to: ReadonlyArray<number>): void {
    for (const t of to) this.o.host.emit(r, t, frame)
  }

  private act(strategy: Strategy, detail: string): void {
    bump(this.o.stats.byzantineActions, strategy)
    bump(this.o.stats.byzantineDetail, detail)
  }
}
