import { describe, expect, it } from "@effect/vitest"
import { EventKind, EventQueue, type SimEvent } from "../src/testing/internal/EventQueue.js"
import { emptyStats } from "../src/testing/internal/Stats.js"
import { defaultNetworkOptions, Network, type NetworkOptions, TICK } from "../src/testing/Network.js"
import { Prng } from "../src/testing/Prng.js"

const frame = (i: number) => new Uint8Array([i & 0xff, i >> 8])

/** 3 replicas (0-2) and 1 client (3). */
const setup = (seed = 1, options: Partial<NetworkOptions> = {}) => {
  const queue = new EventQueue()
  const stats = emptyStats()
  const net = new Network({ ...defaultNetworkOptions(3, 1), ...options }, queue, new Prng(seed), stats)
  /** Pop everything, returning the packets that survived their link, in arrival order. */
  const drain = (): Array<SimEvent> => {
    const out: Array<SimEvent> = []
    for (let e = queue.pop(); e !== undefined; e = queue.pop()) if (net.arrive(e)) out.push(e)
    return out
  }
  return { queue, stats, net, drain }
}

describe("Network", () => {
  it("loses about `drop` of the packets, counted by cause", () => {
    const { net, stats, drain } = setup()
    net.faults = { drop: 0.3, duplicate: 0, reorder: 0 }
    for (let i = 0; i < 2000; i++) net.send(0, 1, frame(i), 0, 0)
    const arrived = drain().length
    expect(arrived + stats.drops).toBe(2000)
    expect(stats.dropsByCause.loss).toBe(stats.drops)
    expect(stats.drops).toBeGreaterThan(500)
    expect(stats.drops).toBeLessThan(700)
  })

  it("duplicates packets: each copy arrives, and is counted", () => {
    const { net, stats, drain } = setup()
    net.faults = { drop: 0, duplicate: 0.25, reorder: 0 }
    for (let i = 0; i < 1000; i++) net.send(0, 1, frame(i), 0, 0)
    const arrived = drain()
    expect(stats.duplicates).toBeGreaterThan(200)
    expect(arrived.length).toBe(1000 + stats.duplicates)
  })

  it("keeps a link FIFO with a fixed delay, and reorders packets with long paths", () => {
    const fifo = setup(1, { minDelay: 100, maxDelay: 100 })
    for (let i = 0; i < 100; i++) fifo.net.send(0, 1, frame(i), i, 0)
    expect(fifo.drain().map((e) => e.frame![0])).toEqual(Array.from({ length: 100 }, (_, i) => i))
    expect(fifo.stats.reorders).toBe(0)

    const mixed = setup(1, { minDelay: 100, maxDelay: 100 })
    mixed.net.faults = { drop: 0, duplicate: 0, reorder: 0.2 }
    for (let i = 0; i < 100; i++) mixed.net.send(0, 1, frame(i), i * 10, 0)
    const order = mixed.drain().map((e) => e.frame![0]!)
    expect(mixed.stats.longDelays).toBeGreaterThan(0)
    expect(mixed.stats.reorders).toBeGreaterThan(0)
    expect(order).not.toEqual([...order].sort((a, b) => a - b))
  })

  it("cuts both directions between partition groups, loses packets already in flight, and heals", () => {
    const { net, stats, drain } = setup()
    net.send(0, 1, frame(1), 0, 0) // in flight when the partition starts
    net.partition([[0], [1, 2]])
    net.send(1, 0, frame(2), 0, 0)
    net.send(1, 2, frame(3), 0, 0)
    net.send(3, 0, frame(4), 0, 0) // clients are never partitioned
    net.send(0, 3, frame(5), 0, 0)
    expect(drain().map((e) => e.frame![0]).sort()).toEqual([3, 4, 5])
    expect(stats.dropsByCause.partition).toBe(2)
    expect(stats.partitions).toBe(1)
    expect(net.isPartitioned()).toBe(true)
    net.heal()
    expect(net.isPartitioned()).toBe(false)
    expect(stats.heals).toBe(1)
    net.send(0, 1, frame(6), 0, 0)
    expect(drain().map((e) => e.frame![0])).toEqual([6])
  })

  it("treats replicas in no group as cut off from everyone", () => {
    const { net, drain } = setup()
    net.partition([[0, 1]])
    net.send(0, 1, frame(1), 0, 0)
    net.send(0, 2, frame(2), 0, 0)
    net.send(2, 1, frame(3), 0, 0)
    expect(drain().map((e) => e.frame![0])).toEqual([1])
    expect(() => net.partition([[7]])).toThrow(RangeError)
  })

  it("cuts one direction only (asymmetric partition)", () => {
    const { net, stats, drain } = setup()
    net.cutOneWay(0, 1)
    expect(net.isCut(0, 1)).toBe(true)
    expect(net.isCut(1, 0)).toBe(false)
    net.send(0, 1, frame(1), 0, 0)
    net.send(1, 0, frame(2), 0, 0)
    expect(drain().map((e) => e.frame![0])).toEqual([2])
    expect(stats.asymmetricPartitions).toBe(1)
  })

  it("bounds the packets in flight per link", () => {
    const { net, stats, drain } = setup(1, { linkCapacity: 5 })
    for (let i = 0; i < 8; i++) net.send(0, 1, frame(i), 0, 0)
    net.send(1, 0, frame(9), 0, 0)
    expect(stats.dropsByCause.overflow).toBe(3)
    expect(drain().length).toBe(6)
    net.send(0, 1, frame(10), 0, 0) // room again once delivered
    expect(drain().length).toBe(1)
  })

  it("delivers loopback packets without faults", () => {
    const { net, drain } = setup()
    net.faults = { drop: 1, duplicate: 0, reorder: 0 }
    net.send(2, 2, frame(1), 0, 0)
    net.send(2, 1, frame(2), 0, 0)
    expect(drain().map((e) => e.frame![0])).toEqual([1])
  })

  it("schedules identically for the same seed and differently for another", () => {
    const schedule = (seed: number) => {
      const { net, drain } = setup(seed)
      net.faults = { drop: 0.1, duplicate: 0.1, reorder: 0.1 }
      for (let i = 0; i < 200; i++) net.send(i % 3, (i + 1) % 3, frame(i), i * TICK / 10, 0)
      return drain().map((e) => `${e.time}:${e.frame![0]}`)
    }
    expect(schedule(5)).toEqual(schedule(5))
    expect(schedule(6)).not.toEqual(schedule(5))
  })
})

describe("EventQueue", () => {
  it("pops by time, and by scheduling order among equal times", () => {
    const q = new EventQueue()
    const rng = new Prng(4)
    const pushed: Array<{ time: number; label: number }> = []
    for (let label = 0; label < 500; label++) {
      const time = rng.int(20)
      pushed.push({ time, label })
      q.push({ time, seq: 0, kind: EventKind.Tick, node: label, from: -1, incarnation: 0, linkSeq: 0, frame: undefined })
    }
    const popped: Array<{ time: number; label: number }> = []
    for (let e = q.pop(); e !== undefined; e = q.pop()) popped.push({ time: e.time, label: e.node })
    const expected = [...pushed].sort((a, b) => a.time - b.time || a.label - b.label)
    expect(popped).toEqual(expected)
    expect(q.size).toBe(0)
    expect(q.peek()).toBeUndefined()
  })
})
