/**
 * What simulated clients submit. A workload turns the simulator's PRNG into
 * encoded commands; the simulator never looks inside them (validity compares
 * digests of the bytes, the linearizability check decodes them through the
 * state machine's own adapter).
 *
 * Command bytes follow the convention every protocol and client in Synod
 * shares: the Schema-encoded command as UTF-8 JSON (`commandCodec`).
 */
import { Either, Schema } from "effect"
import type { AnyStateMachine } from "../StateMachine.js"
import * as Kv from "./KvStateMachine.js"
import type { Prng } from "./Prng.js"

export interface WorkloadOp {
  readonly command: Uint8Array
  /** Submit through the protocol's read path (no log write). */
  readonly readOnly: boolean
}

export interface Workload {
  readonly name: string
  /** The next request of client number `client`. Deterministic in `rng`. */
  next(client: number, rng: Prng): WorkloadOp
}

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder("utf-8", { fatal: true })

export interface CommandCodec<C, R> {
  encodeCommand(command: C): Uint8Array
  decodeCommand(bytes: Uint8Array): C | undefined
  encodeResult(result: R): Uint8Array
  decodeResult(bytes: Uint8Array): R | undefined
}

const parse = (bytes: Uint8Array): unknown => {
  try {
    return JSON.parse(textDecoder.decode(bytes))
  } catch {
    return undefined
  }
}

/** The JSON/Schema byte encoding of a state machine's commands and results. */
export const commandCodec = <C, R>(sm: { readonly command: Schema.Schema<C, any, never>; readonly result: Schema.Schema<R, any, never> }): CommandCodec<C, R> => {
  const encC = Schema.encodeSync(sm.command)
  const decC = Schema.decodeUnknownEither(sm.command)
  const encR = Schema.encodeSync(sm.result)
  const decR = Schema.decodeUnknownEither(sm.result)
  return {
    encodeCommand: (c) => textEncoder.encode(JSON.stringify(encC(c))),
    decodeCommand: (b) => Either.getOrUndefined(decC(parse(b))),
    encodeResult: (r) => textEncoder.encode(JSON.stringify(encR(r))),
    decodeResult: (b) => Either.getOrUndefined(decR(parse(b)))
  }
}

export interface KvWorkloadOptions {
  /** Keys `k0 .. k(keys-1)`; few keys mean many conflicts. Default 3. */
  readonly keys?: number
  /** Share of operations that are reads. Default 0.3. */
  readonly reads?: number
  /** Share of reads flagged read-only (taking the protocol's read path). Default 0.5. */
  readonly readOnly?: number
}

/**
 * Random get / put / delete / cas over a few keys. Written values are unique
 * (`c<client>.<n>`), which keeps linearizability checking fast; a cas expects
 * the latest value this workload wrote to the key, so some succeed.
 */
export const kv = (options: KvWorkloadOptions = {}): Workload => {
  const keys = options.keys ?? 3
  const reads = options.reads ?? 0.3
  const readOnly = options.readOnly ?? 0.5
  const lastWritten = new Map<string, Kv.Value>()
  let counter = 0
  const fresh = (client: number): Kv.Value => `c${client}.${counter++}`
  return {
    name: "kv",
    next: (client, rng) => {
      const key = `k${rng.int(keys)}`
      const roll = rng.next()
      let command: Kv.Command
      if (roll < reads) {
        const ro = rng.chance(readOnly)
        return { command: Kv.encodeCommand({ _tag: "Get", key }), readOnly: ro }
      } else if (roll < reads + (1 - reads) * 0.5) {
        const value = fresh(client)
        lastWritten.set(key, value)
        command = { _tag: "Put", key, value }
      } else if (roll < reads + (1 - reads) * 0.65) {
        command = { _tag: "Delete", key }
      } else {
        const value = fresh(client)
        const expected = lastWritten.get(key)
        command = { _tag: "Cas", key, expected: expected === undefined || rng.chance(0.2) ? fresh(client) : expected, value }
        lastWritten.set(key, value)
      }
      return { command: Kv.encodeCommand(command), readOnly: false }
    }
  }
}

/** The default workload of a state machine, if Synod knows one. */
export const defaultFor = (sm: AnyStateMachine): Workload | undefined => (sm.name === Kv.KvStateMachine.name ? kv() : undefined)
