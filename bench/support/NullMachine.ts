/**
 * The null state machine of the PBFT benchmarks (the paper's "null
 * operations"): a command is a string (8 characters unless a suite varies it), the
 * result is the empty string, and the state is only the count of commands
 * applied, so what is measured is agreement, not execution.
 */
import { Crypto, type StateMachine } from "@synod/core"
import { Schema } from "effect"

/** Up to 64 KiB: the scaling suite varies the payload. */
export const NullCommand = Schema.String.pipe(Schema.maxLength(64 * 1024))

export const nullMachine: StateMachine.StateMachine<string, string, number> = {
  name: "null",
  command: NullCommand,
  result: Schema.String,
  snapshot: Schema.NonNegativeInt,
  make: () => {
    let applied = 0
    return {
      apply: () => {
        applied++
        return ""
      },
      query: () => "",
      isReadOnly: () => false,
      snapshot: () => applied,
      restore: (n) => {
        applied = n
      },
      digest: () => Crypto.sha256Hex(String(applied))
    }
  }
}
