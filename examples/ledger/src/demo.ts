/**
 * `npm run demo`: the Byzantine-tolerant ledger, end to end, in one command
 * (see demo/Demo.ts for what it does and proves).
 *
 *   --byzantine <strategy>    equivocate (default), silent, stale-view, lie
 *   --byzantine-replica <id>  which replica misbehaves (default 0: the first primary)
 *   --duration <s>            how long the clients send transfers (default 30)
 *   --clients <n>             2..8 clients, one account each (default 4)
 *   --no-crash                do not kill and restart the primary
 *   --seed <n>                seed of the clients' choices (default: random)
 *   --keep                    keep the cluster directory, logs and certificates
 *   --checkpoint-interval <k> PBFT checkpoint interval (default 32, so checkpoints show in a short run)
 *
 * Exit code 0 only when every check passed; 1 when a check failed; 2 for bad
 * arguments; 130 when interrupted (Ctrl-C), after stopping every process.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { Effect, Either, Exit, Layer } from "effect"
import * as crypto from "node:crypto"
import * as Args from "./Args.js"
import { DEFAULT_STRATEGY, STRATEGIES } from "./Byzantine.js"
import { ACCOUNTS, REPLICAS, run } from "./demo/Demo.js"
import { layerProcess, Output } from "./Terminal.js"

const spec = {
  byzantine: Args.choice("byzantine", "strategy of the Byzantine replica", STRATEGIES, DEFAULT_STRATEGY),
  byzantineReplica: Args.integer("byzantine-replica", "which replica is Byzantine", 0, { min: 0, max: REPLICAS - 1 }),
  duration: Args.seconds("duration", "seconds of client traffic", 30, { min: 2, max: 3600 }),
  clients: Args.integer("clients", "number of clients (one account each)", 4, { min: 2, max: ACCOUNTS.length }),
  noCrash: Args.boolean("no-crash", "do not kill and restart the primary mid-run"),
  seed: Args.optionalInteger("seed", "seed of the clients' random transfers", { min: 0, max: 2 ** 31 }),
  keep: Args.boolean("keep", "keep the cluster directory, logs and certificates"),
  checkpointInterval: Args.integer("checkpoint-interval", "PBFT checkpoint interval K", 32, { min: 1, max: 2048 })
}

const program = Effect.gen(function*() {
  const out = yield* Output
  const argv = process.argv.slice(2)
  if (argv.includes("--help") || argv.includes("-h")) {
    yield* out.out("npm run demo -- [options]\n\n  the Byzantine-tolerant ledger, end to end\n\noptions:")
    for (const line of Args.helpLines(spec)) yield* out.out(line)
    return 0
  }
  const parsed = Args.parse("demo", spec, argv)
  if (Either.isLeft(parsed)) {
    yield* out.err(`error: ${parsed.left.detail}`)
    return 2
  }
  const f = parsed.right.flags
  const result = yield* Effect.scoped(run({
    byzantine: f.byzantine,
    byzantineReplica: f.byzantineReplica,
    durationSeconds: f.duration,
    clients: f.clients,
    crash: !f.noCrash,
    seed: f.seed ?? crypto.randomInt(2 ** 31),
    keep: f.keep,
    checkpointInterval: f.checkpointInterval
  })).pipe(
    Effect.catchAll((e) => Effect.as(out.err(`demo failed: ${e.message}`), { ok: false, dir: "" }))
  )
  return result.ok ? 0 : 1
})

const fiber = Effect.runFork(program.pipe(Effect.provide(Layer.mergeAll(NodeFileSystem.layer, layerProcess))))
let interrupted = false
const onSignal = () => {
  if (interrupted) return
  interrupted = true
  process.stderr.write("\ninterrupted: stopping every replica process...\n")
  fiber.unsafeInterruptAsFork(fiber.id())
}
process.on("SIGINT", onSignal)
process.on("SIGTERM", onSignal)
fiber.addObserver((exit) => {
  if (Exit.isFailure(exit) && !interrupted) process.stderr.write(`demo crashed: ${String(exit.cause)}\n`)
  process.exit(interrupted ? 130 : Exit.isSuccess(exit) ? exit.value : 1)
})
