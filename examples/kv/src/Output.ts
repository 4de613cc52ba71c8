/**
 * Where the CLI writes: an `Output` service with stdout and stderr lines, a
 * process layer, and a capturing layer for tests.
 */
import { Context, Effect, Layer } from "effect"

export interface Lines {
  readonly out: (line: string) => Effect.Effect<void>
  readonly err: (line: string) => Effect.Effect<void>
}

export class Output extends Context.Tag("@synod/example-kv/Output")<Output, Lines>() {}

export const layerProcess: Layer.Layer<Output> = Layer.succeed(Output, {
  out: (line) => Effect.sync(() => void process.stdout.write(line + "\n")),
  err: (line) => Effect.sync(() => void process.stderr.write(line + "\n"))
})

export interface Captured {
  readonly stdout: Array<string>
  readonly stderr: Array<string>
}

/** Collect output in memory (tests). */
export const capture = (): { readonly captured: Captured; readonly layer: Layer.Layer<Output> } => {
  const captured: Captured = { stdout: [], stderr: [] }
  return {
    captured,
    layer: Layer.succeed(Output, {
      out: (line) => Effect.sync(() => void captured.stdout.push(line)),
      err: (line) => Effect.sync(() => void captured.stderr.push(line))
    })
  }
}
