/**
 * What the load generator submits: a weighted mix of get / put / delete /
 * compare-and-set over keys `k0000000 .. k<K-1>` (8 bytes each, as in etcd's
 * benchmark tool), with values of a fixed size.
 *
 * Written values are unique (`<client>.<n>:` padded with `x` to the value
 * size), which keeps the linearizability check fast and makes every read
 * attributable to one write. A cas expects the value this process last saw
 * for the key (written or read) and fails on purpose now and then, so both of
 * its outcomes occur.
 */
import type { Kv } from "@synod/core/testing"
import { Either } from "effect"

export type OpKind = "get" | "put" | "delete" | "cas"
export const OP_KINDS: ReadonlyArray<OpKind> = ["get", "put", "delete", "cas"]

/** Relative weights of the operation kinds. */
export type Mix = Readonly<Record<OpKind, number>>

export const DEFAULT_MIX: Mix = { get: 40, put: 35, delete: 10, cas: 15 }
/** The benchmark workload: puts only. */
export const PUT_ONLY: Mix = { get: 0, put: 1, delete: 0, cas: 0 }

export const formatMix = (mix: Mix): string =>
  OP_KINDS.filter((k) => mix[k] > 0).map((k) => `${k}=${mix[k]}`).join(",")

/** `get=40,put=35,cas=15,delete=10`, or a single kind (`put`) for that kind only. */
export const parseMix = (text: string): Either.Either<Mix, string> => {
  const weights: Record<OpKind, number> = { get: 0, put: 0, delete: 0, cas: 0 }
  const parts = text.split(",").map((p) => p.trim()).filter((p) => p !== "")
  if (parts.length === 0) return Either.left("the mix is empty")
  for (const part of parts) {
    const [kind, weight, ...rest] = part.split("=")
    if (!OP_KINDS.includes(kind as OpKind)) {
      return Either.left(`${JSON.stringify(kind)} is not an operation: use ${OP_KINDS.join(", ")}`)
    }
    if (rest.length > 0 || (weight !== undefined && !/^[0-9]+$/.test(weight))) {
      return Either.left(`the weight of ${kind} must be a whole number, got ${JSON.stringify(part)}`)
    }
    weights[kind as OpKind] += weight === undefined ? 1 : Number(weight)
  }
  if (OP_KINDS.every((k) => weights[k] === 0)) return Either.left("every weight is 0")
  return Either.right(weights)
}

export const KEY_BYTES = 8
/** Most keys: `k` and seven digits. */
export const MAX_KEYS = 10_000_000

export const keyName = (i: number): string => `k${String(i).padStart(KEY_BYTES - 1, "0")}`

/** A small fast PRNG (xorshift32); the load's choices need no cryptographic quality. */
export class Rng {
  private state: number
  constructor(seed: number) {
    this.state = (seed >>> 0) || 0x9e3779b9
  }
  next(): number {
    let x = this.state
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.state = x >>> 0
    return this.state / 2 ** 32
  }
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
}

export interface Generator {
  /** The next command of closed-loop client `client`. */
  next(client: number): Kv.Command
  /** Tell the generator what a completed command showed about its key. */
  observe(key: string, value: Kv.Value | undefined): void
}

export const generator = (options: { readonly keys: number; readonly valueBytes: number; readonly mix: Mix; readonly seed: number }): Generator => {
  const rng = new Rng(options.seed)
  const total = OP_KINDS.reduce((a, k) => a + options.mix[k], 0)
  const known = new Map<string, Kv.Value>()
  const counters: Array<number> = []
  const fresh = (client: number): string => {
    const n = counters[client] ?? 0
    counters[client] = n + 1
    const id = `${client}.${n}:`
    return id.length >= options.valueBytes ? id : id.padEnd(options.valueBytes, "x")
  }
  const pick = (): OpKind => {
    let roll = rng.next() * total
    for (const k of OP_KINDS) {
      roll -= options.mix[k]
      if (roll < 0) return k
    }
    return "put"
  }
  return {
    next: (client) => {
      const key = keyName(rng.int(options.keys))
      switch (pick()) {
        case "get":
          return { _tag: "Get", key }
        case "put":
          return { _tag: "Put", key, value: fresh(client) }
        case "delete":
          return { _tag: "Delete", key }
        case "cas": {
          const current = known.get(key)
          const expected = current === undefined || rng.next() < 0.2 ? fresh(client) : current
          return { _tag: "Cas", key, expected, value: fresh(client) }
        }
      }
    },
    observe: (key, value) => {
      if (value === undefined) known.delete(key)
      else known.set(key, value)
    }
  }
}
