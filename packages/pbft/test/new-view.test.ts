/**
 * The view-change protocol's pure parts (OSDI'99 §4.4): checking view-change
 * messages, and O as the new primary must compute it and every backup
 * recomputes it.
 */
import { type LogIndex, type ReplicaId } from "@synod/core"
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { NULL_DIGEST } from "../src/Digest.js"
import type { PreparedCertificate } from "../src/Log.js"
import { NewView, PrePrepare, ViewChange } from "../src/Messages.js"
import * as StateTransfer from "../src/StateTransfer.js"
import { computeNewView, validateNewView, validateViewChange, type ValidViewChange, type ViewChangeContext } from "../src/ViewChange.js"
import { KvStateMachine } from "@synod/core/testing"
import { digest, Fixture, s, v } from "./support/Fixture.js"

const A = digest("a")
const B = digest("b")
const C = digest("c")
const genesis = StateTransfer.stateDigest(KvStateMachine.make(), new Map())

const cert = (view: number, seq: number, d: typeof A): PreparedCertificate => ({ view, seq, digest: d, prePrepare: new Uint8Array(), prepares: [] })

const vc = (from: number, stableSeq: number, certs: ReadonlyArray<PreparedCertificate>): ValidViewChange => ({
  from: from as ReplicaId,
  view: 5,
  stableSeq,
  stableDigest: stableSeq === 0 ? genesis : digest(String(stableSeq % 10)),
  checkpointProof: [],
  prepared: new Map(certs.map((c) => [c.seq, c])),
  frame: new Uint8Array()
})

describe("O (§4.4): min-s, max-s, highest-view certificates and null requests", () => {
  it("starts after the latest stable checkpoint in V and ends at the highest prepared sequence number", () => {
    const plan = computeNewView(5, [vc(0, 0, [cert(1, 3, A)]), vc(1, 2, [cert(1, 3, A), cert(2, 6, B)]), vc(2, 0, [])])
    expect(plan.checkpoint.seq).toBe(2)
    expect(plan.maxSeq).toBe(6)
    expect(plan.prePrepares).toEqual([
      { seq: 3, digest: A },
      { seq: 4, digest: NULL_DIGEST },
      { seq: 5, digest: NULL_DIGEST },
      { seq: 6, digest: B }
    ])
  })

  it("takes the certificate of the highest view for each sequence number", () => {
    const plan = computeNewView(5, [vc(0, 0, [cert(1, 1, A)]), vc(1, 0, [cert(3, 1, B)]), vc(2, 0, [cert(2, 1, C)])])
    expect(plan.prePrepares).toEqual([{ seq: 1, digest: B }])
  })

  it("ignores certificates at or below min-s, and is empty when nothing prepared above it", () => {
    const plan = computeNewView(5, [vc(0, 4, [cert(1, 4, A)]), vc(1, 0, [cert(1, 2, B)]), vc(2, 4, [])])
    expect(plan.checkpoint.seq).toBe(4)
    expect(plan.maxSeq).toBe(4)
    expect(plan.prePrepares).toEqual([])
  })

  it("does not depend on the order of V", () => {
    const set = [vc(0, 0, [cert(1, 2, A)]), vc(1, 2, [cert(2, 3, B)]), vc(3, 0, [cert(2, 4, C)])]
    expect(computeNewView(5, [...set].reverse())).toEqual(computeNewView(5, set))
  })
})

describe("view-change and new-view messages are checked before they are used", () => {
  const f = new Fixture()
  const ctx: ViewChangeContext = { frames: f.frames, trust: f.trust, checkpointInterval: 4, logWindow: 8, genesisDigest: genesis }
  const viewChange = (from: number, view = 1) =>
    f.signed(from, new ViewChange({
      view: v(view),
      stableSeq: s(4),
      stableDigest: A,
      checkpointProof: f.checkpointProof(4, A, [0, 1, 2]),
      prepared: [f.preparedProof(0, 5, B, [1, 2]), f.preparedProof(0, 7, C, [2, 3])]
    }))

  it("a view-change with a valid checkpoint proof and prepared certificates is accepted", () => {
    const ok = validateViewChange(ctx, viewChange(2))
    expect(Either.getOrThrow(ok).prepared.size).toBe(2)
  })

  it("a view-change whose checkpoint proof is short, or whose genesis claim is false, is rejected", () => {
    const short = f.signed(2, new ViewChange({ ...viewChange(2).message, checkpointProof: f.checkpointProof(4, A, [0, 1]) }))
    expect(Either.isLeft(validateViewChange(ctx, short))).toBe(true)
    const falseGenesis = f.signed(2, new ViewChange({ view: v(1), stableSeq: s(0), stableDigest: A, checkpointProof: [], prepared: [] }))
    expect(Either.isLeft(validateViewChange(ctx, falseGenesis))).toBe(true)
  })

  const newView = (vcs: ReadonlyArray<number>, o: ReadonlyArray<[number, typeof A]>, signer = 1) =>
    f.signed(signer, new NewView({
      view: v(1),
      viewChanges: vcs.map((r) => viewChange(r).frame),
      prePrepares: o.map(([seq, d]) => f.signed(signer, new PrePrepare({ view: v(1), seq: seq as LogIndex, digest: d })).frame)
    }))
  const goodO: Array<[number, typeof A]> = [[5, B], [6, NULL_DIGEST], [7, C]]

  it("a new-view whose O is what V implies is accepted", () => {
    const ok = validateNewView(ctx, newView([0, 2, 3], goodO))
    expect(Either.isRight(ok)).toBe(true)
    if (Either.isRight(ok)) expect(ok.right.prePrepares.map((p) => p.message.seq)).toEqual([5, 6, 7])
  })

  it.each([
    ["drops a prepared request", [[5, B], [6, NULL_DIGEST]]],
    ["replaces a prepared request", [[5, A], [6, NULL_DIGEST], [7, C]]],
    ["fills a gap with a request instead of a null request", [[5, B], [6, A], [7, C]]],
    ["adds a sequence number", [[5, B], [6, NULL_DIGEST], [7, C], [8, A]]]
  ] as Array<[string, Array<[number, typeof A]>]>)("a new-view whose O %s is rejected", (_name, o) => {
    expect(Either.isLeft(validateNewView(ctx, newView([0, 2, 3], o)))).toBe(true)
  })

  it("a new-view with too few view-changes, or not from the new primary, is rejected", () => {
    expect(Either.isLeft(validateNewView(ctx, newView([0, 2], goodO)))).toBe(true)
    expect(Either.isLeft(validateNewView(ctx, newView([0, 2, 2], goodO)))).toBe(true)
    expect(Either.isLeft(validateNewView(ctx, newView([0, 2, 3], goodO, 2)))).toBe(true)
  })
})
