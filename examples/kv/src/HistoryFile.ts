/**
 * Writes a key-value history file (`shared/history-format.md`: one JSON line
 * per operation, encoded by @synod/core/testing's `History.encodeOperation`),
 * buffered in chunks of `CHUNK_BYTES` so a long load run neither holds its
 * history in memory nor issues one write per operation.
 */
import { Effect, type Scope } from "effect"
import * as fs from "node:fs"
import * as CliError from "./CliError.js"
import { History } from "@synod/core/testing"

export type Operation = History.HistoryOperation

export interface HistoryFile {
  readonly path: string
  record(operation: Operation): void
  /** Lines recorded so far. */
  readonly lines: () => number
}

const CHUNK_BYTES = 64 * 1024

/** Create (or truncate) `path` for the scope; the rest is flushed when the scope closes. */
export const open = (path: string): Effect.Effect<HistoryFile, CliError.CliError, Scope.Scope> =>
  Effect.gen(function*() {
    const fd = yield* Effect.acquireRelease(
      Effect.try({
        try: () => fs.openSync(path, "w", 0o644),
        catch: (e) => CliError.config(`cannot write the history to ${path}: ${(e as Error).message}`)
      }),
      (fd) => Effect.sync(() => fs.closeSync(fd))
    )
    let buffer: Array<string> = []
    let buffered = 0
    let lines = 0
    let failure: string | undefined
    const flush = () => {
      if (buffer.length === 0 || failure !== undefined) return
      const text = buffer.join("")
      buffer = []
      buffered = 0
      try {
        fs.writeSync(fd, text)
      } catch (e) {
        failure = (e as Error).message
      }
    }
    // runs before the file is closed (finalizers run in reverse order)
    yield* Effect.addFinalizer(() =>
      Effect.sync(flush).pipe(
        Effect.zipRight(Effect.suspend(() => failure === undefined ? Effect.void : Effect.logError(`the history ${path} is incomplete: ${failure}`)))
      )
    )
    return {
      path,
      lines: () => lines,
      record: (operation) => {
        const line = History.encodeOperation(operation) + "\n"
        buffer.push(line)
        buffered += line.length
        lines++
        if (buffered >= CHUNK_BYTES) flush()
      }
    }
  })
