/**
 * Entry point of `synod-ledger` (see bin/synod-ledger.js). Runs the CLI on
 * Node and exits with its code. SIGINT/SIGTERM interrupt the command, which
 * closes what it opened (a replica closes its database and sockets) and exits
 * 0 for a replica asked to stop, 130 for anything else. A second signal
 * exits at once, unless it comes within a second of the first: Ctrl-C in a
 * terminal reaches both the launcher (which passes it on) and this process.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { Effect, Exit, Layer } from "effect"
import { run } from "./Cli.js"
import { compactLogger, layerProcess } from "./Terminal.js"

const argv = process.argv.slice(2)
const program = run(argv).pipe(Effect.provide(Layer.mergeAll(NodeFileSystem.layer, layerProcess, compactLogger)))

const fiber = Effect.runFork(program)
let signalledAt: number | undefined
const onSignal = () => {
  if (signalledAt !== undefined) {
    if (Date.now() - signalledAt > 1000) process.exit(130)
    return
  }
  signalledAt = Date.now()
  fiber.unsafeInterruptAsFork(fiber.id())
}
process.on("SIGINT", onSignal)
process.on("SIGTERM", onSignal)
fiber.addObserver((exit) => {
  const code = Exit.isSuccess(exit) ? exit.value : 1
  process.exit(signalledAt !== undefined && argv[0] === "replica" && (code === 130 || code === 0) ? 0 : code)
})
