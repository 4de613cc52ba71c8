import { describe, expect, it } from "@effect/vitest"
import type { PeerId, Protocol } from "@synod/core"
import { byzantine, type Tamper } from "../src/Byzantine.js"

/** A message of a toy protocol: a view and a value. */
interface Msg {
  readonly kind: "vote" | "state" | "status"
  readonly view: number
  readonly value: string
}

const peers = ["replica/1", "replica/2", "replica/3"] as Array<PeerId>

/** A driver whose next Ready is whatever the test queues. */
const scripted = () => {
  const queue: Array<Protocol.Ready<Msg>> = []
  let advanced = 0
  const driver: Protocol.Driver<Msg> = {
    step: () => {},
    hasReady: () => queue.length > 0,
    ready: () => queue[0]!,
    advance: () => {
      queue.shift()
      advanced++
    },
    appliedIndex: () => 7,
    stateDigest: () => "d",
    invariants: () => ["inner invariant"]
  }
  return { driver, push: (r: Partial<Protocol.Ready<Msg>>) => queue.push({ persist: [], send: [], sendAfterPersist: [], events: [], ...r }), advanced: () => advanced }
}

let variants = 0
const tamper: Tamper<Msg> = {
  // votes get a fresh conflicting value each time; other messages have nothing to equivocate about
  equivocate: (m) => (m.kind === "vote" ? { ...m, value: `forged-${++variants}` } : undefined),
  shiftView: (m, delta) => (m.view + delta < 0 ? undefined : { ...m, view: m.view + delta }),
  lie: (m) => (m.kind === "state" ? { ...m, value: "lie" } : undefined)
}

const vote = (view = 3): Msg => ({ kind: "vote", view, value: "honest" })
const persist = [{ key: "k", value: new Uint8Array([1]) }]
const event: Protocol.ProtocolEvent = { _tag: "Executed", index: 1, clientId: "c", seq: 1 }

describe("Byzantine driver decorator", () => {
  it("equivocate: one destination gets the honest message, every other its own conflicting variant", () => {
    const { driver, push } = scripted()
    const b = byzantine(driver, { strategy: "equivocate", tamper, seed: 1 })
    push({ sendAfterPersist: [{ to: peers, message: vote() }], persist, events: [event] })
    const ready = b.ready()
    const sent = ready.sendAfterPersist
    expect(sent.map((o) => o.to.length)).toEqual([1, 1, 1])
    expect(new Set(sent.flatMap((o) => o.to))).toEqual(new Set(peers))
    const values = sent.map((o) => o.message.value)
    expect(values.filter((v) => v === "honest")).toHaveLength(1)
    expect(new Set(values).size).toBe(3)
    // durability and observability pass through untouched
    expect(ready.persist).toBe(persist)
    expect(ready.events).toEqual([event])
    expect(b.actions()).toEqual({ "equivocate/split": 1 })
  })

  it("equivocate: a single destination gets a variant; a message without one goes out honestly", () => {
    const { driver, push } = scripted()
    const b = byzantine(driver, { strategy: "equivocate", tamper, seed: 2 })
    const status: Msg = { kind: "status", view: 0, value: "s" }
    push({ send: [{ to: [peers[0]!], message: vote() }, { to: peers, message: status }] })
    const sent = b.ready().send
    expect(sent[0]!.message.value).toMatch(/^forged-/)
    expect(sent[1]).toEqual({ to: peers, message: status })
    expect(b.actions()).toEqual({ "equivocate/single": 1 })
  })

  it("silent: nothing leaves, but writes and events still happen", () => {
    const { driver, push } = scripted()
    const b = byzantine(driver, { strategy: "silent", tamper, seed: 3 })
    push({ send: [{ to: peers, message: vote() }], sendAfterPersist: [{ to: peers, message: vote() }], persist, events: [event] })
    const ready = b.ready()
    expect(ready.send).toEqual([])
    expect(ready.sendAfterPersist).toEqual([])
    expect(ready.persist).toBe(persist)
    expect(ready.events).toEqual([event])
    expect(b.actions()).toEqual({ "silent/suppressed": 2 })
  })

  it("stale-view: claims an older view; in view 0 there is none, so the message is honest", () => {
    const { driver, push } = scripted()
    const b = byzantine(driver, { strategy: "stale-view", tamper, seed: 4 })
    push({ send: [{ to: peers, message: vote(3) }, { to: peers, message: vote(0) }] })
    const sent = b.ready().send
    expect(sent.map((o) => o.message.view)).toEqual([2, 0])
    expect(b.actions()).toEqual({ "stale-view/shifted": 1 })
  })

  it("lie: only state-transfer answers are rewritten", () => {
    const { driver, push } = scripted()
    const b = byzantine(driver, { strategy: "lie", tamper, seed: 5 })
    const state: Msg = { kind: "state", view: 1, value: "true state" }
    push({ send: [{ to: peers, message: vote() }, { to: [peers[1]!], message: state }] })
    const sent = b.ready().send
    expect(sent[0]!.message).toEqual(vote())
    expect(sent[1]).toEqual({ to: [peers[1]!], message: { ...state, value: "lie" } })
    expect(b.actions()).toEqual({ "lie/state": 1 })
  })

  it("keeps the driver contract: the same rewritten Ready until advance, then the next one", () => {
    const { driver, push, advanced } = scripted()
    const b = byzantine(driver, { strategy: "equivocate", tamper, seed: 6 })
    push({ send: [{ to: peers, message: vote(1) }] })
    push({ send: [{ to: peers, message: vote(2) }] })
    const first = b.ready()
    expect(b.ready()).toBe(first)
    expect(b.hasReady()).toBe(true)
    b.advance()
    expect(advanced()).toBe(1)
    const second = b.ready()
    expect(second).not.toBe(first)
    expect(second.send.every((o) => o.message.view === 2)).toBe(true)
    b.advance()
    expect(b.hasReady()).toBe(false)
    expect(b.appliedIndex()).toBe(7)
    expect(b.stateDigest()).toBe("d")
    expect(b.invariants?.()).toEqual(["inner invariant"])
  })

  it("is deterministic for a seed", () => {
    const run = (seed: number) => {
      variants = 0
      const { driver, push } = scripted()
      const b = byzantine(driver, { strategy: "equivocate", tamper, seed })
      const order: Array<string> = []
      for (let i = 0; i < 20; i++) {
        push({ send: [{ to: peers, message: vote() }] })
        order.push(b.ready().send.map((o) => `${o.to[0]}=${o.message.value}`).join(","))
        b.advance()
      }
      return order
    }
    expect(run(42)).toEqual(run(42))
    expect(run(42)).not.toEqual(run(43))
  })
})
