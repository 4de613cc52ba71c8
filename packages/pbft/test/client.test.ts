/**
 * The client driver (OSDI'99 §4.1, §5.1.3) on its own: whom it sends to, when
 * it retransmits, and which replies it accepts.
 */
import { type ClientId, Envelope, type LogIndex, type PeerId, replicaPeer, type RequestSeq, TrustModel, type ViewNumber } from "@synod/core"
import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { PbftClientDriver } from "../src/Client.js"
import { type PbftMessage, Reply } from "../src/Messages.js"
import { envelope } from "./support/Cluster.js"
import { Fixture } from "./support/Fixture.js"

const f = new Fixture()
const enc = new TextEncoder()

const client = (config = {}) => new PbftClientDriver({ clientId: "c0" as ClientId, trust: TrustModel.byzantine(4), config: { requestTimeoutTicks: 5, readTimeoutTicks: 3, maxAttempts: 3, ...config } })

const sent = (c: PbftClientDriver): Array<ReadonlyArray<PeerId>> => {
  const to = c.ready().send.map((o) => o.to)
  c.advance()
  return to
}

const reply = (c: PbftClientDriver, from: number | string, seq: number, result: string, opts: { readOnly?: boolean; index?: number; view?: number } = {}) => {
  const frame = f.seal(from, new Reply({
    view: (opts.view ?? 0) as ViewNumber,
    clientId: "c0" as ClientId,
    seq: seq as RequestSeq,
    index: (opts.index ?? 1) as LogIndex,
    readOnly: opts.readOnly ?? false,
    result: enc.encode(result)
  }))
  c.step({ _tag: "Receive", envelope: Either.getOrThrow(Envelope.open<PbftMessage>(envelope, f.keys, frame)) })
}

const all = [0, 1, 2, 3].map(replicaPeer)

describe("client driver", () => {
  it("sends to the primary, retransmits to every replica on timeout, and times out after its budget", () => {
    const c = client()
    const seq = c.submit(enc.encode("{}"))!
    expect(c.submit(enc.encode("{}"))).toBeUndefined() // one request at a time
    expect(sent(c)).toEqual([[replicaPeer(0)]])
    for (let t = 0; t < 5; t++) c.step({ _tag: "Tick" })
    expect(sent(c)).toEqual([all])
    for (let t = 0; t < 10 + 20; t++) c.step({ _tag: "Tick" })
    expect(c.takeCompletions()).toEqual([{ clientId: "c0", seq, readOnly: false, outcome: { _tag: "TimedOut" } }])
    expect(c.inFlight()).toBe(0)
  })

  it("accepts a result only with f+1 matching replies from distinct replicas", () => {
    const c = client()
    const seq = c.submit(enc.encode("{}"))!
    reply(c, 1, seq, "forged")
    reply(c, 2, seq, "ok")
    reply(c, 2, seq, "ok")
    reply(c, "c1", seq, "ok")
    expect(c.takeCompletions()).toEqual([])
    reply(c, 3, seq, "ok")
    const [done] = c.takeCompletions()
    expect(done?.outcome._tag === "Committed" && new TextDecoder().decode(done.outcome.result)).toBe("ok")
    expect(done?.outcome._tag === "Committed" && done.outcome.certificate?.length).toBe(2)
  })

  it("learns the view from the replies it accepts and sends the next request to that primary", () => {
    const c = client()
    const seq = c.submit(enc.encode("{}"))!
    sent(c)
    reply(c, 2, seq, "ok", { view: 5 })
    reply(c, 3, seq, "ok", { view: 5 })
    c.submit(enc.encode("{}"))
    expect(sent(c)).toEqual([[replicaPeer(1)]])
  })

  it("a read-only request goes to every replica and needs 2f+1 matching replies; when they disagree it is ordered", () => {
    const c = client()
    const seq = c.submit(enc.encode("{}"), { readOnly: true })!
    expect(sent(c)).toEqual([all])
    reply(c, 0, seq, "old", { readOnly: true })
    reply(c, 1, seq, "old", { readOnly: true })
    reply(c, 2, seq, "new", { readOnly: true })
    expect(c.takeCompletions()).toEqual([])
    reply(c, 3, seq, "new", { readOnly: true })
    // every replica answered and no answer has 2f+1: the same request goes through the protocol
    expect(sent(c)).toEqual([[replicaPeer(0)]])
    reply(c, 2, seq, "new")
    reply(c, 3, seq, "new")
    const [done] = c.takeCompletions()
    expect(done).toMatchObject({ seq, readOnly: true, outcome: { _tag: "Committed" } })
  })

  it("a read that gets no 2f+1 matching replies in time falls back to the ordered path", () => {
    const c = client()
    c.submit(enc.encode("{}"), { readOnly: true })
    sent(c)
    for (let t = 0; t < 3; t++) c.step({ _tag: "Tick" })
    expect(sent(c)).toEqual([[replicaPeer(0)]])
  })
})
