import { Arbitrary, FastCheck as fc, Schema } from "effect"
import { sha256Hex } from "../src/Crypto.js"
import type { StateMachine } from "../src/StateMachine.js"
import * as Kv from "../src/testing/KvStateMachine.js"
import { stateMachineSuite } from "../src/testing/StateMachineSuite.js"

/** A counter with a history length: small, but with reads, writes and a structured snapshot. */
const Add = Schema.TaggedStruct("Add", { amount: Schema.Int })
const Read = Schema.TaggedStruct("Read", {})
const Reset = Schema.TaggedStruct("Reset", {})
const Command = Schema.Union(Add, Read, Reset)
type Command = typeof Command.Type
const Result = Schema.Struct({ value: Schema.Int, ops: Schema.Int })
type Result = typeof Result.Type
const Snapshot = Schema.Struct({ value: Schema.Int, ops: Schema.Int, lastIndex: Schema.Int })
type Snapshot = typeof Snapshot.Type

const Counter: StateMachine<Command, Result, Snapshot> = {
  name: "counter",
  command: Command,
  result: Result,
  snapshot: Snapshot,
  make: () => {
    let state = { value: 0, ops: 0, lastIndex: 0 }
    return {
      apply: (c, ctx) => {
        if (c._tag !== "Read") {
          state = { value: c._tag === "Add" ? state.value + c.amount : 0, ops: state.ops + 1, lastIndex: ctx.index }
        }
        return { value: state.value, ops: state.ops }
      },
      query: () => ({ value: state.value, ops: state.ops }),
      isReadOnly: (c) => c._tag === "Read",
      snapshot: () => ({ ...state }),
      restore: (s) => {
        state = { ...s }
      },
      digest: () => sha256Hex(`${state.value}|${state.ops}|${state.lastIndex}`),
      invariants: () => (state.ops < 0 ? ["negative op count"] : [])
    }
  }
}

const counterCommand: fc.Arbitrary<Command> = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }).map((amount) => ({ _tag: "Add" as const, amount })),
  fc.constant({ _tag: "Read" as const }),
  fc.constant({ _tag: "Reset" as const })
)

stateMachineSuite("counter", Counter, { commands: fc.array(counterCommand, { maxLength: 30 }) })

/** Commands derived from the KV Schema (so they follow it as it evolves), on a few shared keys so they interact. */
const kvCommand: fc.Arbitrary<Kv.Command> = fc.tuple(Arbitrary.make(Kv.Command), fc.constantFrom("a", "b", "c", "d")).map(
  ([command, key]) => ({ ...command, key })
)

stateMachineSuite("kv (testing/KvStateMachine)", Kv.KvStateMachine, { commands: fc.array(kvCommand, { maxLength: 30 }) })
