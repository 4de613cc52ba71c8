/**
 * PBFT for the deterministic simulator: replicas and clients are the
 * production drivers; the `tamper` functions give the adversary well-formed
 * but wrong PBFT messages (conflicting pre-prepares and votes, shifted views,
 * state-transfer answers with wrong state).
 *
 * The simulator's network delivers in about one tick, so the default timeouts
 * here are scaled to it (the production defaults assume 10 ms ticks).
 */
import type { LogIndex, ViewNumber } from "@synod/core"
import type { Rng, SimProtocol } from "@synod/core/testing"
import { PbftClientDriver, type PbftClientConfig } from "./Client.js"
import type { PbftConfig } from "./Config.js"
import { batchDigestOfFrames, NULL_DIGEST } from "./Digest.js"
import * as Driver from "./Driver.js"
import { Batch, Checkpoint, codec, Commit, type Digest, NewView, type PbftMessage, PrePrepare, Prepare, PROTOCOL, Reply, StateReply, Status, ViewChange } from "./Messages.js"

export interface SimOptions {
  readonly config?: Partial<PbftConfig>
  readonly client?: Partial<PbftClientConfig>
}

/** Replica settings for the simulator's time scale (about one tick per message delay). */
export const simConfig: Partial<PbftConfig> = {
  checkpointInterval: 8,
  logWindow: 32,
  maxInFlightBatches: 8,
  maxBatchSize: 16,
  viewChangeTimeoutTicks: 40,
  maxViewChangeTimeoutTicks: 640,
  statusIntervalTicks: 12,
  stateTransferRetryTicks: 20
}

export const simClientConfig: Partial<PbftClientConfig> = {
  requestTimeoutTicks: 25,
  maxRequestTimeoutTicks: 400,
  readTimeoutTicks: 12,
  maxAttempts: 30
}

const randomDigest = (rng: Rng): Digest => {
  let s = ""
  for (let i = 0; i < 64; i++) s += "0123456789abcdef"[rng.int(16)]
  return s as Digest
}

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder()

/** Another digest for the same place: the null batch for a pre-prepare (acceptable without a batch), else random. */
const equivocate = (m: PbftMessage, rng: Rng): PbftMessage | undefined => {
  switch (m._tag) {
    case "PrePrepare":
      return new PrePrepare({ ...m, digest: m.digest === NULL_DIGEST ? randomDigest(rng) : NULL_DIGEST })
    case "Prepare":
      return new Prepare({ ...m, digest: rng.chance(0.5) ? NULL_DIGEST : randomDigest(rng) })
    case "Commit":
      return new Commit({ ...m, digest: rng.chance(0.5) ? NULL_DIGEST : randomDigest(rng) })
    case "Checkpoint":
      return new Checkpoint({ ...m, stateDigest: randomDigest(rng) })
    case "Batch": {
      if (m.requests.length === 0) return undefined
      const requests = m.requests.filter((_, i) => i !== rng.int(m.requests.length))
      return new Batch({ digest: batchDigestOfFrames(requests), requests })
    }
    case "ViewChange":
      // claims to have prepared nothing: a lie about P that the other view-changes must outvote
      return m.prepared.length === 0 ? undefined : new ViewChange({ ...m, prepared: [] })
    case "Reply":
      return new Reply({ ...m, result: utf8.encode(JSON.stringify({ _tag: "Got", value: `forged-${rng.int(1000)}` })) })
    case "Status":
      return new Status({ ...m, lastExecuted: 0 as LogIndex })
    default:
      return undefined
  }
}

/** The messages that name a view, rebuilt with another one. */
const withView: { readonly [T in PbftMessage["_tag"]]?: (m: Extract<PbftMessage, { _tag: T }>, view: ViewNumber) => PbftMessage } = {
  PrePrepare: (m, view) => new PrePrepare({ ...m, view }),
  Prepare: (m, view) => new Prepare({ ...m, view }),
  Commit: (m, view) => new Commit({ ...m, view }),
  ViewChange: (m, view) => new ViewChange({ ...m, view }),
  NewView: (m, view) => new NewView({ ...m, view }),
  Reply: (m, view) => new Reply({ ...m, view }),
  Status: (m, view) => new Status({ ...m, view })
}

const shiftView = (m: PbftMessage, delta: number): PbftMessage | undefined => {
  const rebuild = withView[m._tag] as ((m: PbftMessage, view: ViewNumber) => PbftMessage) | undefined
  const view = (m as { readonly view?: number }).view
  if (rebuild === undefined || view === undefined || delta === 0 || view + delta < 0) return undefined
  return rebuild(m, (view + delta) as ViewNumber)
}

/** A state-transfer answer with state that is not the certified one (or a batch/reply that is not what was asked). */
const lie = (m: PbftMessage, rng: Rng): PbftMessage | undefined => {
  switch (m._tag) {
    case "StateReply": {
      let snapshot: Uint8Array
      try {
        const state = JSON.parse(fromUtf8.decode(m.snapshot)) as { replies: Array<unknown> }
        state.replies.push({ clientId: `liar-${rng.int(1000)}`, seq: 1, index: m.seq, result: "" })
        snapshot = utf8.encode(JSON.stringify(state))
      } catch {
        snapshot = new Uint8Array([...m.snapshot, 0x20])
      }
      return new StateReply({ ...m, snapshot })
    }
    case "Batch":
      return m.requests.length === 0 ? undefined : new Batch({ digest: m.digest, requests: m.requests.slice(1) })
    case "Reply":
      return equivocate(m, rng)
    default:
      return undefined
  }
}

export const simProtocol = (options: SimOptions = {}): SimProtocol<PbftMessage> => ({
  name: "pbft",
  envelope: { protocol: PROTOCOL, codec },
  faultModel: "byzantine",
  makeReplica: (p) =>
    Driver.make({
      id: p.id,
      trust: p.trust,
      signer: p.signer,
      keys: p.keys,
      stateMachine: p.stateMachine,
      disk: p.disk,
      config: { ...simConfig, ...options.config }
    }),
  makeClient: (p) => new PbftClientDriver({ clientId: p.clientId, trust: p.trust, config: { ...simClientConfig, ...options.client } }),
  tamper: { equivocate, shiftView, lie }
})
