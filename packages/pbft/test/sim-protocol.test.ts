/** The simulator adapter's tampering: well-formed PBFT messages that are wrong in the way each strategy needs. */
import { type ClientId, type LogIndex, type RequestSeq, type ViewNumber } from "@synod/core"
import { KvStateMachine, Prng } from "@synod/core/testing"
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { NULL_DIGEST } from "../src/Digest.js"
import { codec, FetchState, type PbftMessage, Prepare, PrePrepare, Request, StateReply } from "../src/Messages.js"
import { simProtocol } from "../src/SimProtocol.js"
import * as StateTransfer from "../src/StateTransfer.js"
import { digest } from "./support/Fixture.js"

const { tamper } = simProtocol()
const rng = () => Prng.derive(7, "tamper")
const roundTrips = (m: PbftMessage) => expect(Either.isRight(codec.decode(codec.encode(m)))).toBe(true)

describe("simProtocol tampering", () => {
  it("equivocate: the same view and sequence number with another digest", () => {
    const pp = new PrePrepare({ view: 2 as ViewNumber, seq: 9 as LogIndex, digest: digest("a") })
    const alt = tamper.equivocate(pp, rng()) as PrePrepare
    expect([alt._tag, alt.view, alt.seq]).toEqual(["PrePrepare", 2, 9])
    expect(alt.digest).toBe(NULL_DIGEST)
    const prepare = tamper.equivocate(new Prepare({ view: 2 as ViewNumber, seq: 9 as LogIndex, digest: digest("a") }), rng()) as Prepare
    expect(prepare.digest).not.toBe(digest("a"))
    roundTrips(alt)
    roundTrips(prepare)
  })

  it("shiftView: the same message in another view, never a negative one", () => {
    const pp = new PrePrepare({ view: 2 as ViewNumber, seq: 9 as LogIndex, digest: digest("a") })
    expect((tamper.shiftView(pp, 9) as PrePrepare).view).toBe(11)
    expect((tamper.shiftView(pp, -1) as PrePrepare).view).toBe(1)
    expect(tamper.shiftView(pp, -3)).toBeUndefined()
    expect(tamper.shiftView(new FetchState({ seq: 8 as LogIndex }), 1)).toBeUndefined()
  })

  it("lie: a state-transfer answer whose state does not match the digest it claims", () => {
    const sm = KvStateMachine.make()
    sm.apply({ _tag: "Put", key: "k", value: "v" }, { index: 1, clientId: "c0", seq: 1 })
    const state = StateTransfer.capture(KvStateMachine, sm, new Map([["c0", { seq: 1, index: 1, result: new Uint8Array() }]]))
    const honest = new StateReply({ seq: 8 as LogIndex, stateDigest: state.digest, snapshot: state.bytes, checkpointProof: [] })
    expect(Either.isRight(StateTransfer.restore(KvStateMachine, honest.snapshot, honest.stateDigest))).toBe(true)
    const lie = tamper.lie(honest, rng()) as StateReply
    expect(lie.stateDigest).toBe(honest.stateDigest)
    expect(Either.isLeft(StateTransfer.restore(KvStateMachine, lie.snapshot, lie.stateDigest))).toBe(true)
    roundTrips(lie)
    expect(tamper.lie(new Request({ clientId: "c0" as ClientId, seq: 1 as RequestSeq, command: new Uint8Array(), readOnly: false }), rng())).toBeUndefined()
  })
})
