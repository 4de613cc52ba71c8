/**
 * A small but real replicated log for the simulator's own tests: a fixed
 * sequencer (replica 0) orders client requests, followers persist and
 * acknowledge them, and an entry commits once a replication quorum holds it.
 *
 *   client    --Request-->  every replica (only the sequencer orders; the others answer retries from their session table)
 *   sequencer --Order-->    followers   (after persisting the entry; retransmitted until acknowledged)
 *   follower  --Ack-->      sequencer   (after persisting; carries a hash chain over its whole log prefix)
 *   sequencer --Commit-->   followers   (commit index; also the heartbeat)
 *   replica   --Reply-->    client      (when it executes the request; the client waits for a weak quorum of equal replies)
 *
 * It tolerates crashes of followers (they reload their log from disk and
 * replay it) and restarts of the sequencer from its disk, but not a lost
 * sequencer: there is no view change. Its "view" is fixed at 1 so that stale
 * (0) and future views can be expressed and are rejected. In the Byzantine
 * variant the sequencer is assumed correct (`alwaysCorrect`), acknowledgements
 * must match the sequencer's own hash chain, and clients need f+1 equal replies.
 *
 * `broken: true` is deliberately wrong: every fifth index, even-numbered
 * followers are sent a copy of the previous request instead of the real one.
 * The simulator must catch it (agreement).
 */
import { sha256Hex } from "../Crypto.js"
import { clientPeer, type PeerId, peerClient, peerReplica, replicaPeer } from "../Ids.js"
import { type Core, driverOf, type Input, type ReadyBuffer } from "../Protocol.js"
import { reject, type RejectionReason } from "../Rejection.js"
import type { StateMachineInstance } from "../StateMachine.js"
import type { QuorumSystem } from "../TrustModel.js"
import { ReferenceClient } from "./internal/ReferenceClient.js"
import { type Ack, b64, codec, type Commit, type Message, type Order, type Request, SEQUENCER, unb64, VIEW } from "./internal/ReferenceMessages.js"
import type { ReplicaParams, SimProtocol } from "./SimProtocol.js"
import { type CommandCodec, commandCodec } from "./Workload.js"

export { Ack, codec, Commit, Message, Order, Reply, Request, SEQUENCER, VIEW } from "./internal/ReferenceMessages.js"

/** Ticks between sequencer heartbeats (Commit). */
const HEARTBEAT_TICKS = 5
/** Ticks between retransmissions of unacknowledged entries, and how many per follower. */
const RETRANSMIT_TICKS = 4
const RETRANSMIT_WINDOW = 16
/** Entries ordered but not committed; further requests are refused (overloaded) until some commit. */
const MAX_UNCOMMITTED = 256
/** How far ahead of its log a follower keeps out-of-order entries. */
const REORDER_WINDOW = 256

interface Entry {
  readonly index: number
  readonly clientId: string
  readonly seq: number
  readonly command: string
  readonly commandDigest: string
  readonly entryDigest: string
}

interface Session {
  readonly seq: number
  readonly index: number
  readonly ok: boolean
  readonly result: string
}

const GENESIS = "genesis"
const entryKey = (index: number) => `ref/entry/${String(index).padStart(10, "0")}`
const textEncoder = new TextEncoder()

const makeEntry = (index: number, clientId: string, seq: number, command: string): Entry => {
  const commandDigest = sha256Hex(unb64(command))
  return { index, clientId, seq, command, commandDigest, entryDigest: sha256Hex(`${clientId}\n${seq}\n${commandDigest}`) }
}

class ReferenceCore implements Core<Message> {
  private readonly self: PeerId
  private readonly log: Array<Entry> = []
  /** chains[i] = hash chain over entries 1..i. */
  private readonly chains: Array<string> = [GENESIS]
  private readonly early = new Map<number, Entry>()
  private commitIndex = 0
  private applied = 0
  private readonly sm: StateMachineInstance<unknown, unknown, unknown>
  private readonly codec: CommandCodec<unknown, unknown>
  private readonly sessions = new Map<string, Session>()
  /** Sequencer: highest seq of each client already in the log. */
  private readonly ordered = new Map<string, number>()
  /** Sequencer: per replica, the longest log prefix it acknowledged with a matching chain. */
  private readonly match: Array<number>
  private readonly followers: Array<PeerId>
  private ticks = 0

  constructor(private readonly p: ReplicaParams, private readonly broken: boolean) {
    this.self = replicaPeer(p.id)
    this.sm = p.stateMachine.make()
    this.codec = commandCodec(p.stateMachine)
    this.match = p.trust.replicas.map(() => 0)
    this.followers = p.trust.replicas.filter((r) => r !== p.id).map((r) => replicaPeer(r))
    const stored = [...p.disk.keys()].filter((k) => k.startsWith("ref/entry/")).sort()
    for (const key of stored) {
      const e = JSON.parse(new TextDecoder().decode(p.disk.get(key)!)) as { index: number; clientId: string; seq: number; command: string }
      if (e.index !== this.log.length + 1) break // a gap: the rest is refetched from the sequencer
      this.append(makeEntry(e.index, e.clientId, e.seq, e.command))
    }
  }

  private get isSequencer(): boolean {
    return this.p.id === SEQUENCER
  }

  appliedIndex(): number {
    return this.applied
  }

  stateDigest(): string {
    return this.sm.digest()
  }

  invariants(): ReadonlyArray<string> {
    return this.sm.invariants?.() ?? []
  }

  step(input: Input<Message>, out: ReadyBuffer<Message>): void {
    if (input._tag === "Tick") return this.onTick(out)
    const { from, message: m } = input.envelope
    if (m.view !== VIEW) return this.reject(out, from, m.view < VIEW ? "stale" : "wrong-view", `view ${m.view}`)
    switch (m._tag) {
      case "Request":
        return this.onRequest(out, from, m)
      case "Order":
        return this.onOrder(out, from, m)
      case "Ack":
        return this.onAck(out, from, m)
      case "Commit":
        return this.onCommit(out, from, m)
      case "Reply":
        return this.reject(out, from, "invalid", "replicas do not take replies")
    }
  }

  private onTick(out: ReadyBuffer<Message>): void {
    this.ticks++
    if (!this.isSequencer) return
    if (this.ticks % HEARTBEAT_TICKS === 0) this.broadcastCommit(out)
    if (this.ticks % RETRANSMIT_TICKS !== 0) return
    this.p.trust.replicas.forEach((r, i) => {
      if (r === this.p.id || this.match[i]! >= this.log.length) return
      const upTo = Math.min(this.log.length, this.match[i]! + RETRANSMIT_WINDOW)
      for (let index = this.match[i]! + 1; index <= upTo; index++) this.sendOrder(out, this.log[index - 1]!, [replicaPeer(r)])
    })
  }

  private onRequest(out: ReadyBuffer<Message>, from: PeerId, m: typeof Request.Type): void {
    if (peerClient(from) !== m.clientId) return this.reject(out, from, "invalid", `request for ${m.clientId.slice(0, 64)} signed by ${from}`)
    const session = this.sessions.get(m.clientId)
    if (session !== undefined && session.seq === m.seq) return this.reply(out, m.clientId, session)
    if (session !== undefined && m.seq < session.seq) return this.reject(out, from, "stale", `seq ${m.seq} < ${session.seq}`)
    // followers only answer retries of executed requests; the sequencer orders new ones
    if (!this.isSequencer || (this.ordered.get(m.clientId) ?? 0) >= m.seq) return
    if (this.log.length - this.commitIndex >= MAX_UNCOMMITTED) return this.reject(out, from, "overloaded", "too many uncommitted entries")
    const entry = makeEntry(this.log.length + 1, m.clientId, m.seq, m.command)
    this.append(entry)
    out.persist.push({ key: entryKey(entry.index), value: textEncoder.encode(JSON.stringify({ index: entry.index, clientId: entry.clientId, seq: entry.seq, command: entry.command })) })
    if (this.broken && entry.index % 5 === 0 && entry.index > 1) {
      // the bug: the same index carries two different commands
      const prev = this.log[entry.index - 2]!
      const copy = makeEntry(entry.index, prev.clientId, prev.seq, prev.command)
      this.sendOrder(out, entry, this.followers.filter((_, i) => i % 2 === 0))
      this.sendOrder(out, copy, this.followers.filter((_, i) => i % 2 === 1))
    } else {
      this.sendOrder(out, entry, this.followers)
    }
    this.tryCommit(out)
  }

  private onOrder(out: ReadyBuffer<Message>, from: PeerId, m: typeof Order.Type): void {
    if (peerReplica(from) !== SEQUENCER || this.isSequencer) return this.reject(out, from, "not-leader", "only the sequencer orders")
    if (m.index > this.log.length + REORDER_WINDOW) return this.reject(out, from, "out-of-window", `index ${m.index}`)
    if (m.index > this.log.length) {
      this.early.set(m.index, makeEntry(m.index, m.clientId, m.seq, m.command))
      for (let next = this.early.get(this.log.length + 1); next !== undefined; next = this.early.get(this.log.length + 1)) {
        this.early.delete(next.index)
        this.append(next)
        out.persist.push({ key: entryKey(next.index), value: textEncoder.encode(JSON.stringify({ index: next.index, clientId: next.clientId, seq: next.seq, command: next.command })) })
      }
    }
    this.ack(out)
    this.apply(out)
  }

  private onAck(out: ReadyBuffer<Message>, from: PeerId, m: typeof Ack.Type): void {
    const r = peerReplica(from)
    const i = r === undefined ? -1 : this.p.trust.replicas.indexOf(r)
    if (!this.isSequencer || i < 0) return this.reject(out, from, "invalid", "acks go to the sequencer, from replicas")
    if (m.upTo > this.log.length) return this.reject(out, from, "invalid", `acks ${m.upTo} of ${this.log.length} entries`)
    if (this.chains[m.upTo] !== m.chain) return this.reject(out, from, "invalid", `log prefix ${m.upTo} differs from the sequencer's`)
    if (m.upTo > this.match[i]!) this.match[i] = m.upTo
    this.tryCommit(out)
  }

  private onCommit(out: ReadyBuffer<Message>, from: PeerId, m: typeof Commit.Type): void {
    if (peerReplica(from) !== SEQUENCER || this.isSequencer) return this.reject(out, from, "not-leader", "only the sequencer commits")
    if (m.commitIndex > this.commitIndex) this.commitIndex = m.commitIndex
    // the sequencer has uncommitted entries, or we lag: tell it what we hold
    if (m.lastIndex > m.commitIndex || this.log.length < m.lastIndex) this.ack(out)
    this.apply(out)
  }

  private append(e: Entry): void {
    this.log.push(e)
    this.chains.push(sha256Hex(this.chains[this.chains.length - 1]!, e.entryDigest))
    if (this.isSequencer && e.seq > (this.ordered.get(e.clientId) ?? 0)) this.ordered.set(e.clientId, e.seq)
  }

  private tryCommit(out: ReadyBuffer<Message>): void {
    const trust: QuorumSystem = this.p.trust
    for (let index = this.log.length; index > this.commitIndex; index--) {
      const holders = trust.replicas.filter((r, i) => r === this.p.id || this.match[i]! >= index)
      if (!trust.isQuorum("replication", holders)) continue
      this.commitIndex = index
      this.broadcastCommit(out)
      this.apply(out)
      return
    }
  }

  /** Execute committed entries in order; reply to their clients. */
  private apply(out: ReadyBuffer<Message>): void {
    const upTo = Math.min(this.commitIndex, this.log.length)
    while (this.applied < upTo) {
      const e = this.log[this.applied]!
      this.applied++
      out.events.push({
        _tag: "Committed",
        index: e.index,
        entryDigest: e.entryDigest,
        requests: [{ clientId: e.clientId, seq: e.seq, commandDigest: e.commandDigest }]
      })
      const prior = this.sessions.get(e.clientId)
      if (prior !== undefined && e.seq <= prior.seq) continue // already executed: exactly once
      const command = this.codec.decodeCommand(unb64(e.command))
      let session: Session
      if (command === undefined) {
        session = { seq: e.seq, index: e.index, ok: false, result: "command does not decode" }
      } else {
        const result = this.sm.apply(command, { index: e.index, clientId: e.clientId, seq: e.seq })
        session = { seq: e.seq, index: e.index, ok: true, result: b64(this.codec.encodeResult(result)) }
        out.events.push({ _tag: "Executed", index: e.index, clientId: e.clientId, seq: e.seq })
      }
      this.sessions.set(e.clientId, session)
      this.reply(out, e.clientId, session)
    }
  }

  private ack(out: ReadyBuffer<Message>): void {
    // after persisting: it vouches for the entries just written
    out.sendAfterPersist.push({ to: [replicaPeer(SEQUENCER)], message: { _tag: "Ack", view: VIEW, upTo: this.log.length, chain: this.chains[this.log.length]! } })
  }

  private sendOrder(out: ReadyBuffer<Message>, e: Entry, to: ReadonlyArray<PeerId>): void {
    if (to.length === 0) return
    out.sendAfterPersist.push({ to, message: { _tag: "Order", view: VIEW, index: e.index, clientId: e.clientId, seq: e.seq, command: e.command } })
  }

  private broadcastCommit(out: ReadyBuffer<Message>): void {
    if (this.followers.length === 0) return
    out.sendAfterPersist.push({ to: this.followers, message: { _tag: "Commit", view: VIEW, commitIndex: this.commitIndex, lastIndex: this.log.length } })
  }

  private reply(out: ReadyBuffer<Message>, clientId: string, s: Session): void {
    out.send.push({ to: [clientPeer(clientId)], message: { _tag: "Reply", view: VIEW, clientId, seq: s.seq, index: s.index, ok: s.ok, result: s.result } })
  }

  private reject(out: ReadyBuffer<Message>, from: PeerId, reason: RejectionReason, detail: string): void {
    if (from === this.self) return
    out.events.push({ _tag: "Rejected", from, rejection: reject(reason, detail) })
  }
}

const randomHex = (rng: { int(n: number): number }) => Array.from({ length: 64 }, () => "0123456789abcdef"[rng.int(16)]).join("")
const randomBlob = (rng: { int(n: number): number }) => b64(Uint8Array.from({ length: 8 }, () => rng.int(256)))

export interface ReferenceOptions {
  /** "crash" (default): n = 2f+1, one reply suffices. "byzantine": followers may be Byzantine, f+1 equal replies. */
  readonly faultModel?: "crash" | "byzantine"
  /** The deliberately broken sequencer (see the module comment). */
  readonly broken?: boolean
}

/** Registry names: `reference`, `reference-bft`, `reference-broken`. */
export const protocolName = (o: ReferenceOptions): string =>
  o.broken === true ? "reference-broken" : o.faultModel === "byzantine" ? "reference-bft" : "reference"

export const simProtocol = (options: ReferenceOptions = {}): SimProtocol<Message> => ({
  name: protocolName(options),
  envelope: { protocol: "reference/1", codec },
  faultModel: options.faultModel ?? "crash",
  alwaysCorrect: [SEQUENCER],
  makeReplica: (params) => driverOf(new ReferenceCore(params, options.broken === true)),
  makeClient: (params) => new ReferenceClient(params),
  tamper: {
    equivocate: (m, rng) => {
      switch (m._tag) {
        case "Ack":
          return { ...m, chain: randomHex(rng) }
        case "Commit":
          return { ...m, commitIndex: m.commitIndex + 1 + rng.int(3) }
        case "Reply":
          return { ...m, result: randomBlob(rng) }
        case "Order":
          return { ...m, command: randomBlob(rng) }
        case "Request":
          return undefined
      }
    },
    shiftView: (m, delta) => (m.view + delta < 0 ? undefined : { ...m, view: m.view + delta }),
    lie: (m, rng) => {
      switch (m._tag) {
        case "Reply":
          return { ...m, ok: true, result: randomBlob(rng) }
        case "Ack":
          return { ...m, upTo: m.upTo + 1 + rng.int(4), chain: randomHex(rng) }
        default:
          return undefined
      }
    }
  }
})
