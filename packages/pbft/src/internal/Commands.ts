/**
 * Commands and results cross the wire as the UTF-8 JSON of their
 * Schema-encoded form (`Codec.makeCodec` on the state machine's Schemas, as
 * the client shell encodes them). A command that does not decode gets the same
 * deterministic rejection on every correct replica.
 */
import { Codec, type StateMachine } from "@synod/core"
import { Either } from "effect"

export interface Commands {
  decode(bytes: Uint8Array): Either.Either<unknown, string>
  encodeResult(result: unknown): Uint8Array
}

export const make = (machine: StateMachine.AnyStateMachine): Commands => {
  const commands = Codec.makeCodec(machine.command)
  const results = Codec.makeCodec(machine.result)
  return {
    // the reason is part of the reply every correct replica sends, so it must not depend on the replica
    decode: (bytes) => Either.mapLeft(commands.decode(bytes), (r) => `bad command: ${r.reason}`),
    encodeResult: (result) => results.encode(result)
  }
}
