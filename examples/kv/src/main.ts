/**
 * Entry point of `synod-kv` (see bin/synod-kv.js). Runs the CLI on Node and
 * exits with its code. SIGINT/SIGTERM interrupt the command, which closes
 * what it opened (a replica closes its database and sockets, a load run
 * flushes its history) and exits 0 for a replica asked to stop, 130 for
 * anything else. A second signal more than a second after the first exits
 * at once (Ctrl-C in a terminal reaches both the launcher and this process).
 */
import { NodeFileSystem } from "@effect/platform-node"
import { Effect, Exit, Layer, Logger, LogLevel } from "effect"
import { run } from "./Cli.js"
import { layerProcess } from "./Output.js"

const argv = process.argv.slice(2)
// the commands print what matters themselves; Effect's logs (leader changes, connections) only from warnings up
const quiet = Logger.minimumLogLevel(LogLevel.Warning)
const fiber = Effect.runFork(run(argv).pipe(Effect.provide(Layer.mergeAll(NodeFileSystem.layer, layerProcess, quiet))))
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
  const code = Exit.isSuccess(exit) ? exit.value : Exit.isInterrupted(exit) ? 130 : 1
  process.exit(signalledAt !== undefined && argv[0] === "replica" && (code === 130 || code === 0) ? 0 : code)
})
