/** `synod-ledger replica`: argument parsing for `ReplicaProcess.run`. */
import type { FileSystem } from "@effect/platform"
import { Observability } from "@synod/core"
import { Effect, Option, type Scope } from "effect"
import * as crypto from "node:crypto"
import * as Args from "../Args.js"
import { isStrategy, STRATEGIES, type Strategy } from "../Byzantine.js"
import * as CliError from "../CliError.js"
import * as ClusterDir from "../ClusterDir.js"
import * as ReplicaProcess from "../ReplicaProcess.js"
import type { Output } from "../Terminal.js"

export const spec = {
  dir: Args.text("dir", "cluster directory", ClusterDir.DEFAULT_DIR, "<path>"),
  id: Args.optionalInteger("id", "which replica to run (0..n-1); required", { min: 0, max: 1023 }),
  byzantine: Args.optionalText("byzantine", `run as a Byzantine replica: ${STRATEGIES.join(", ")}`, "<strategy>"),
  statusPort: Args.optionalInteger(
    "status-port",
    "serve /status, /metrics and /ledger on this port of 127.0.0.1 (0: any free port; default: $SYNOD_OBSERVABILITY_PORT, else none)",
    { min: 0, max: 65535 }
  ),
  tickMs: Args.integer("tick-ms", "logical clock period in milliseconds (PBFT timeouts count ticks)", 10, { min: 1, max: 1000 }),
  checkpointInterval: Args.optionalInteger("checkpoint-interval", "checkpoint every K sequence numbers (default 128)", { min: 1, max: 2048 }),
  seed: Args.optionalInteger("seed", "seed of the Byzantine strategy's choices (default: random)", { min: 0, max: 2 ** 31 }),
  progress: Args.integer("progress", "seconds between progress lines; 0 for none", 5, { min: 0, max: 3600 })
}

export const summary = "run one replica of the cluster (durable state in <dir>/replica-<id>.db)"

export const run = (flags: Args.Parsed<typeof spec>): Effect.Effect<void, CliError.CliError, FileSystem.FileSystem | Output | Scope.Scope> =>
  Effect.gen(function*() {
    if (flags.id === undefined) return yield* CliError.usage("replica needs --id <n>: which replica of the cluster to run")
    let strategy: Strategy | undefined
    if (flags.byzantine !== undefined) {
      if (!isStrategy(flags.byzantine)) {
        return yield* CliError.usage(`--byzantine must be one of ${STRATEGIES.join(", ")}, got ${JSON.stringify(flags.byzantine)}`)
      }
      strategy = flags.byzantine
    }
    const k = flags.checkpointInterval
    // like every Synod replica process: SYNOD_OBSERVABILITY_PORT / _HOST when no flag says otherwise
    const fromEnv = yield* Observability.listenConfig.pipe(
      Effect.mapError((e) => CliError.usage(`SYNOD_OBSERVABILITY_PORT or SYNOD_OBSERVABILITY_HOST is not valid: ${e.message}`))
    )
    const env = Option.getOrUndefined(fromEnv)
    yield* ReplicaProcess.run({
      dir: flags.dir,
      id: flags.id,
      byzantine: strategy,
      statusPort: flags.statusPort ?? env?.port,
      ...(flags.statusPort === undefined && env !== undefined ? { statusHost: env.host } : {}),
      tickMs: flags.tickMs,
      seed: flags.seed ?? crypto.randomInt(2 ** 31),
      progressSeconds: flags.progress,
      ...(k !== undefined ? { pbft: { checkpointInterval: k, logWindow: 2 * k } } : {})
    })
  })
