/**
 * What a replica keeps on disk, and recovery from it (TOCS'02 §5: a replica
 * must not contradict, after a restart, what it said before). Written through
 * `Ready.persist` before the messages that vouch for it:
 *
 *   pbft/meta                  {clusterId, view, normal}     before a view-change / on a new view
 *   pbft/view-change           our latest view-change frame  before sending it
 *   pbft/new-view              the new-view of our view       when we enter it
 *   pbft/stable                stable checkpoint, proof and state snapshot
 *   pbft/log/<n>/pre-prepare   accepted pre-prepare frame    before our prepare (or, primary, the pre-prepare)
 *   pbft/log/<n>/batch         its batch's request frames
 *   pbft/log/<n>/prepared      prepared certificate           before our commit
 *
 * Log keys at or below a new stable checkpoint are deleted. A restarted
 * replica resumes from its stable checkpoint and its log, and catches up
 * through retransmission and state transfer.
 */
import type { PreparedCertificate } from "../Log.js"
import type { ReplicaState } from "./State.js"

export const KEY_META = "pbft/meta"
export const KEY_VIEW_CHANGE = "pbft/view-change"
export const KEY_NEW_VIEW = "pbft/new-view"
export const KEY_STABLE = "pbft/stable"
const LOG_PREFIX = "pbft/log/"

export type LogKind = "pre-prepare" | "batch" | "prepared"
export const logKey = (seq: number, kind: LogKind): string => `${LOG_PREFIX}${String(seq).padStart(12, "0")}/${kind}`

const utf8 = new TextEncoder()
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64")
export const json = (value: unknown): Uint8Array => utf8.encode(JSON.stringify(value))

export const persistMeta = (r: ReplicaState): void =>
  r.persist(KEY_META, json({ clusterId: r.frames.clusterId, view: r.view, normal: r.normal }))

export const persistPrePrepare = (r: ReplicaState, seq: number, ppFrame: Uint8Array, batch: ReadonlyArray<Uint8Array> | undefined): void => {
  r.persist(logKey(seq, "pre-prepare"), ppFrame)
  r.persist(logKey(seq, "batch"), batch === undefined ? null : json(batch.map(b64)))
  r.persistedSeqs.add(seq)
}

export const persistBatch = (r: ReplicaState, seq: number, batch: ReadonlyArray<Uint8Array>): void => {
  r.persist(logKey(seq, "batch"), json(batch.map(b64)))
  r.persistedSeqs.add(seq)
}

export const persistPrepared = (r: ReplicaState, cert: PreparedCertificate): void => {
  r.persist(logKey(cert.seq, "prepared"), json({ prePrepare: b64(cert.prePrepare), prepares: cert.prepares.map(b64) }))
  r.persistedSeqs.add(cert.seq)
}

export const persistStable = (r: ReplicaState): void => {
  const s = r.stable
  if (s.snapshot === undefined) return
  r.persist(KEY_STABLE, json({ seq: s.seq, digest: s.digest, proof: s.proof.map(b64), snapshot: b64(s.snapshot) }))
}

/** Delete log keys at or below the stable checkpoint. */
export const collectLog = (r: ReplicaState, h: number): void => {
  for (const seq of [...r.persistedSeqs]) {
    if (seq > h) continue
    for (const kind of ["pre-prepare", "batch", "prepared"] as const) r.persist(logKey(seq, kind), null)
    r.persistedSeqs.delete(seq)
  }
}

// ---- reading back -------------------------------------------------------------------------

const fromUtf8 = new TextDecoder("utf-8", { fatal: true })
const unb64 = (s: unknown): Uint8Array => {
  if (typeof s !== "string") throw new Error("not base64")
  return new Uint8Array(Buffer.from(s, "base64"))
}

export const parseJson = (bytes: Uint8Array | undefined): unknown => (bytes === undefined ? undefined : JSON.parse(fromUtf8.decode(bytes)))

export interface StoredMeta {
  readonly clusterId: string | undefined
  readonly view: number
  readonly normal: boolean
}

export const readMeta = (disk: ReadonlyMap<string, Uint8Array>): StoredMeta | undefined => {
  const m = parseJson(disk.get(KEY_META)) as { clusterId?: unknown; view?: unknown; normal?: unknown } | undefined
  if (m === undefined) return undefined
  return {
    clusterId: typeof m.clusterId === "string" ? m.clusterId : undefined,
    view: typeof m.view === "number" && Number.isInteger(m.view) && m.view >= 0 ? m.view : 0,
    normal: m.normal !== false
  }
}

export interface StoredStable {
  readonly seq: number
  readonly digest: string
  readonly proof: ReadonlyArray<Uint8Array>
  readonly snapshot: Uint8Array
}

export const readStable = (disk: ReadonlyMap<string, Uint8Array>): StoredStable | undefined => {
  const s = parseJson(disk.get(KEY_STABLE)) as { seq?: unknown; digest?: unknown; proof?: unknown; snapshot?: unknown } | undefined
  if (s === undefined || typeof s.seq !== "number" || typeof s.digest !== "string" || !Array.isArray(s.proof)) return undefined
  return { seq: s.seq, digest: s.digest, proof: s.proof.map(unb64), snapshot: unb64(s.snapshot) }
}

export interface StoredSlot {
  readonly seq: number
  readonly prePrepare: Uint8Array | undefined
  readonly batch: ReadonlyArray<Uint8Array> | undefined
  readonly prepared: { readonly prePrepare: Uint8Array; readonly prepares: ReadonlyArray<Uint8Array> } | undefined
}

export const readLog = (disk: ReadonlyMap<string, Uint8Array>): Array<StoredSlot> => {
  const seqs = new Set<number>()
  for (const key of disk.keys()) {
    if (!key.startsWith(LOG_PREFIX)) continue
    const seq = Number(key.slice(LOG_PREFIX.length, LOG_PREFIX.length + 12))
    if (Number.isInteger(seq)) seqs.add(seq)
  }
  return [...seqs].sort((a, b) => a - b).map((seq) => {
    const batch = parseJson(disk.get(logKey(seq, "batch")))
    const prepared = parseJson(disk.get(logKey(seq, "prepared"))) as { prePrepare?: unknown; prepares?: unknown } | undefined
    return {
      seq,
      prePrepare: disk.get(logKey(seq, "pre-prepare")),
      batch: Array.isArray(batch) ? batch.map(unb64) : undefined,
      prepared: prepared !== undefined && Array.isArray(prepared.prepares)
        ? { prePrepare: unb64(prepared.prePrepare), prepares: prepared.prepares.map(unb64) }
        : undefined
    }
  })
}
