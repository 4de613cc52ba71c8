/** `synod-kv replica`: argument parsing for `ReplicaProcess.run`. */
import type { FileSystem } from "@effect/platform"
import type { Config as PaxosConfig } from "@synod/paxos"
import { Effect, type Scope } from "effect"
import * as Args from "../Args.js"
import * as CliError from "../CliError.js"
import * as ClusterDir from "../ClusterDir.js"
import type { Output } from "../Output.js"
import * as ReplicaProcess from "../ReplicaProcess.js"

export const spec = {
  dir: Args.text("dir", "cluster directory", ClusterDir.DEFAULT_DIR, "<path>"),
  id: Args.optionalInteger("id", "which replica to run (0..n-1); required", { min: 0, max: 1023 }),
  statusPort: Args.optionalInteger("status-port", "serve /status and /metrics on this port of 127.0.0.1 (0: any free port)", { min: 0, max: 65535 }),
  tickMs: Args.integer("tick-ms", "logical clock period in milliseconds (Paxos timeouts count ticks)", 10, { min: 1, max: 1000 }),
  pipelineWindow: Args.optionalInteger("pipeline-window", "slots in flight at the leader (default 16; equal on every replica)", { min: 1, max: 4096 }),
  maxBatch: Args.optionalInteger("max-batch", "most commands per slot (default 64)", { min: 1, max: 1024 }),
  batchDelay: Args.optionalInteger("batch-delay", "ticks a partial batch may wait for more commands (default 0)", { min: 0, max: 100 }),
  heartbeat: Args.integer("heartbeat-ticks", "ticks between the leader's heartbeats", 5, { min: 1, max: 1000 }),
  electionTimeout: Args.integer("election-ticks", "a follower that hears no leader for this many ticks (to twice as many, at random) starts an election", 30, {
    min: 2,
    max: 10_000
  })
}

export const summary = "run one replica of the cluster (durable state in <dir>/replica-<id>.db)"

export const run = (flags: Args.Parsed<typeof spec>): Effect.Effect<void, CliError.CliError, FileSystem.FileSystem | Output | Scope.Scope> =>
  Effect.gen(function*() {
    if (flags.id === undefined) return yield* CliError.usage("replica needs --id <n>: which replica of the cluster to run")
    if (flags.heartbeat >= flags.electionTimeout) {
      return yield* CliError.usage(`--heartbeat-ticks (${flags.heartbeat}) must be below --election-ticks (${flags.electionTimeout})`)
    }
    const window = flags.pipelineWindow
    const paxos: Partial<PaxosConfig.PaxosConfig> = {
      // Paxos' defaults (heartbeat every 2 ticks, elections after 10-20) suit an idle network; a replica
      // process shares its machine, and its event loop stops for each fsync, so it waits longer before
      // suspecting the leader (and sends fewer heartbeats while idle)
      heartbeatIntervalTicks: flags.heartbeat,
      electionTimeoutMinTicks: flags.electionTimeout,
      electionTimeoutMaxTicks: 2 * flags.electionTimeout,
      leaderQuorumTimeoutTicks: 3 * flags.electionTimeout,
      // an acceptor must accept at least as far ahead as the leader proposes
      ...(window !== undefined ? { pipelineWindow: window, acceptorWindow: Math.max(256, window) } : {}),
      ...(flags.maxBatch !== undefined ? { maxBatchItems: flags.maxBatch } : {}),
      ...(flags.batchDelay !== undefined ? { batchDelayTicks: flags.batchDelay } : {})
    }
    yield* ReplicaProcess.run({ dir: flags.dir, id: flags.id, statusPort: flags.statusPort, tickMs: flags.tickMs, paxos })
  })
