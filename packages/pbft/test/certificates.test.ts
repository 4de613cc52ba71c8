/**
 * Certificates (OSDI'99 §4.2, §4.3) counted by the trust model's quorum
 * system, and the watermarks of the log.
 */
import { type ReplicaId, TrustModel } from "@synod/core"
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { isCommittedLocal, preparedCertificate, primaryOf, verifyCheckpointProof, verifyPreparedProof } from "../src/Certificates.js"
import { Checkpoints } from "../src/Checkpoints.js"
import { Log } from "../src/Log.js"
import { Checkpoint, Commit, PreparedProof } from "../src/Messages.js"
import { digest, Fixture, s, tamper, v } from "./support/Fixture.js"

const D = digest("a")
const E = digest("b")

describe("prepared certificate (§4.2): pre-prepare + 2f matching prepares from distinct backups", () => {
  const f = new Fixture()

  it("the primary's pre-prepare and prepares from 2f backups prepare a request", () => {
    const cert = preparedCertificate(f.slot(0, 1, D, [1, 2]), f.trust)
    expect(cert).toMatchObject({ view: 0, seq: 1, digest: D })
    expect(cert!.prepares.length).toBe(2)
  })

  it("one backup is not enough, and neither are prepares for another digest", () => {
    expect(preparedCertificate(f.slot(0, 1, D, [1]), f.trust)).toBeUndefined()
    expect(preparedCertificate(f.slot(0, 1, D, [1, 2], E), f.trust)).toBeUndefined()
  })

  it("without the pre-prepare nothing is prepared, however many prepares there are", () => {
    const slot = f.slot(0, 1, D, [1, 2, 3])
    slot.prePrepare = undefined
    expect(preparedCertificate(slot, f.trust)).toBeUndefined()
  })

  it("committed-local needs prepared plus 2f+1 matching commits", () => {
    const slot = f.slot(0, 1, D, [1, 2])
    slot.commitSent = true
    for (const r of [0, 1]) slot.commits.set(r as ReplicaId, f.signed(r, new Commit({ view: v(0), seq: s(1), digest: D })))
    expect(isCommittedLocal(slot, f.trust)).toBe(false)
    slot.commits.set(3 as ReplicaId, f.signed(3, new Commit({ view: v(0), seq: s(1), digest: E })))
    expect(isCommittedLocal(slot, f.trust)).toBe(false)
    slot.commits.set(2 as ReplicaId, f.signed(2, new Commit({ view: v(0), seq: s(1), digest: D })))
    expect(isCommittedLocal(slot, f.trust)).toBe(true)
  })

  it("weighted voting power: a quorum is more than 2/3 of the power, not 2f+1 replicas", () => {
    // replica 3 holds half of the power: {0, 1, 2} is three replicas but only 3/6 of it
    const weighted = new Fixture(TrustModel.weighted("byzantine", new Map([[0, 1], [1, 1], [2, 1], [3, 3]] as Array<[ReplicaId, number]>)))
    expect(preparedCertificate(weighted.slot(0, 1, D, [1, 2]), weighted.trust)).toBeUndefined()
    expect(preparedCertificate(weighted.slot(0, 1, D, [3, 1]), weighted.trust)).toBeDefined()
  })
})

describe("certificates carried as frames are re-verified", () => {
  const f = new Fixture()
  const bounds = { beforeView: 1, low: 0, high: 8 }

  it("a valid prepared certificate verifies", () => {
    const cert = verifyPreparedProof(f.frames, f.trust, f.preparedProof(0, 3, D, [1, 2]), bounds)
    expect(Either.getOrThrow(cert)).toMatchObject({ view: 0, seq: 3, digest: D })
  })

  it.each([
    ["a prepare with a broken signature", () => {
      const p = f.preparedProof(0, 3, D, [1, 2])
      return new PreparedProof({ prePrepare: p.prePrepare, prepares: [p.prepares[0]!, tamper(p.prepares[1]!)] })
    }, "bad-signature"],
    ["two prepares from one backup", () => f.preparedProof(0, 3, D, [1, 1]), "distinct"],
    ["a prepare from the primary", () => f.preparedProof(0, 3, D, [0, 1]), "distinct"],
    ["too few prepares", () => f.preparedProof(0, 3, D, [1]), "quorum"],
    ["a pre-prepare signed by a backup", () => new PreparedProof({ prePrepare: f.signed(2, f.prePrepare(0, 3, D).message).frame, prepares: f.preparedProof(0, 3, D, [1, 3]).prepares }), "primary"],
    ["a prepare for another digest", () => new PreparedProof({ prePrepare: f.prePrepare(0, 3, D).frame, prepares: [f.prepare(1, 0, 3, D).frame, f.prepare(2, 0, 3, E).frame] }), "match"],
    ["a certificate of the view being changed to", () => f.preparedProof(1, 3, D, [2, 3]), "view"],
    ["a sequence number above the window", () => f.preparedProof(0, 9, D, [1, 2]), "outside"]
  ])("%s is rejected", (_name, make, detail) => {
    const cert = verifyPreparedProof(f.frames, f.trust, make(), bounds)
    expect(Either.isLeft(cert)).toBe(true)
    if (Either.isLeft(cert)) expect(cert.left.detail).toContain(detail)
  })

  it("a checkpoint proof needs 2f+1 matching, distinct, authentic checkpoint messages", () => {
    const ok = verifyCheckpointProof(f.frames, f.trust, f.checkpointProof(8, D, [0, 1, 3]), 8, D)
    expect(Either.isRight(ok)).toBe(true)
    const bad = [
      f.checkpointProof(8, D, [0, 1]),
      f.checkpointProof(8, D, [0, 1, 1]),
      [...f.checkpointProof(8, D, [0, 1]), tamper(f.checkpointProof(8, D, [3])[0]!)],
      [...f.checkpointProof(8, D, [0, 1]), f.seal(3, new Checkpoint({ seq: s(8), stateDigest: E }))],
      f.checkpointProof(16, D, [0, 1, 2])
    ]
    for (const proof of bad) expect(Either.isLeft(verifyCheckpointProof(f.frames, f.trust, proof, 8, D))).toBe(true)
  })
})

describe("log and watermarks (§4.3)", () => {
  it("accepts sequence numbers in (h, h + L] only", () => {
    const log = new Log(8)
    expect([0, 1, 8, 9].map((n) => log.inWindow(n))).toEqual([false, true, true, false])
    log.truncate(4)
    expect([4, 5, 12, 13].map((n) => log.inWindow(n))).toEqual([false, true, true, false])
  })

  it("garbage collection drops every slot at or below the stable checkpoint", () => {
    const log = new Log(8)
    for (const n of [1, 2, 3, 4, 5]) log.slot(n, 0)
    log.truncate(4)
    expect(log.ordered().map((x) => x.seq)).toEqual([5])
    log.truncate(2) // never backwards
    expect(log.low).toBe(4)
  })

  it("moving a slot to a new view drops the old view's votes but keeps its prepared certificate", () => {
    const f = new Fixture()
    const slot = f.slot(0, 1, D, [1, 2])
    slot.prepared = preparedCertificate(slot, f.trust)
    const log = new Log(8)
    const fresh = log.slot(1, 0)
    Object.assign(fresh, { prePrepare: slot.prePrepare, prepared: slot.prepared })
    for (const [k, p] of slot.prepares) fresh.prepares.set(k, p)
    const moved = log.slot(1, 1)
    expect(moved.view).toBe(1)
    expect(moved.prePrepare).toBeUndefined()
    expect(moved.prepares.size).toBe(0)
    expect(moved.prepared?.digest).toBe(D)
  })

  it("the primary of view v is replicas[v mod n]", () => {
    const trust = TrustModel.byzantine(4)
    expect([0, 1, 5, 7].map((view) => primaryOf(trust, view))).toEqual([0, 1, 1, 3])
  })
})

describe("stable checkpoints (§4.3)", () => {
  const f = new Fixture()
  const cp = (from: number, seq: number, d = D) => f.signed(from, new Checkpoint({ seq: s(seq), stateDigest: d }))

  it("a checkpoint is stable with 2f+1 matching messages; a conflicting one is reported", () => {
    const cps = new Checkpoints(4)
    cps.add(cp(0, 8))
    cps.add(cp(1, 8))
    cps.add(cp(2, 8, E))
    expect(cps.certificate(8, f.trust)).toBeUndefined()
    expect(cps.add(cp(1, 8))._tag).toBe("Duplicate")
    expect(cps.add(cp(1, 8, E))._tag).toBe("Conflict")
    cps.add(cp(3, 8))
    const cert = cps.certificate(8, f.trust)
    expect(cert?.digest).toBe(D)
    expect(cert?.proof.length).toBe(3)
  })

  it("keeps at most a bounded number of checkpoints per sender", () => {
    const cps = new Checkpoints(2)
    for (const seq of [8, 16, 24, 32]) cps.add(cp(1, seq))
    expect(cps.size()).toBe(2)
    expect(cps.own(8, 1 as ReplicaId)).toBeUndefined()
    expect(cps.own(32, 1 as ReplicaId)).toBeDefined()
  })
})
