/**
 * Commands and results cross the wire as the JSON of their Schema-encoded
 * form (UTF-8), like every other payload. A command that does not decode gets
 * the same deterministic rejection on every correct replica.
 */
import type { StateMachine } from "@synod/core"
import { Either, Schema } from "effect"

export interface Commands {
  decode(bytes: Uint8Array): Either.Either<unknown, string>
  encodeResult(result: unknown): Uint8Array
}

const utf8 = new TextEncoder()
const fromUtf8 = new TextDecoder("utf-8", { fatal: true })

export const make = (machine: StateMachine.AnyStateMachine): Commands => {
  const decodeCommand = Schema.decodeUnknownEither(machine.command)
  const encodeResult = Schema.encodeSync(machine.result)
  return {
    decode: (bytes) => {
      try {
        const decoded = decodeCommand(JSON.parse(fromUtf8.decode(bytes)))
        return Either.isRight(decoded) ? Either.right(decoded.right) : Either.left("command does not decode")
      } catch {
        return Either.left("command is not UTF-8 JSON")
      }
    },
    encodeResult: (result) => utf8.encode(JSON.stringify(encodeResult(result)))
  }
}
