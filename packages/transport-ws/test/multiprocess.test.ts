/**
 * Real clusters in separate processes on 127.0.0.1, each replica started by the
 * generic Runner from a cluster file and its key file, over the WebSocket
 * transport, with durable SQLite storage: a 3-replica Multi-Paxos cluster and
 * a 4-replica PBFT cluster. A client in the test process commits requests
 *   - while a fuzzer throws malformed frames at replica 0 (which must stay up),
 *   - while replicas are killed (SIGKILL) and restarted one at a time; a
 *     restarted replica must rejoin, since the next kill leaves a quorum only
 *     with it;
 * and SIGTERM and SIGINT shut replicas down gracefully (exit code 0).
 *
 * Each phase's time is logged: process start-up dominates on a loaded machine.
 * Seeded fuzz: set SYNOD_FUZZ_SEED to replay.
 */
import { describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Option } from "effect"
import { clusterDir, fuzzReplica, type KvClient, killReplica, kvClient, startReplica } from "./processes.js"

const SEED = Number(process.env.SYNOD_FUZZ_SEED ?? Date.now() % 1_000_000)

/** Commit `count` puts of `<prefix>-i` (sequentially: each must commit). */
const commit = (client: KvClient, prefix: string, count: number) =>
  Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) =>
    client.put(`${prefix}-${i}`, `v-${prefix}-${i}`).pipe(
      Effect.timeoutFail({ duration: "30 seconds", onTimeout: () => new Error(`put ${prefix}-${i} did not commit in 30 s`) })
    ), { discard: true })

const scenario = (protocol: "paxos" | "pbft", n: number, fuzzFrames: number) =>
  Effect.gen(function*() {
    const t0 = performance.now()
    const phase = (what: string) => Effect.log(`[${protocol}] ${what} (${Math.round(performance.now() - t0)} ms)`)
    const cluster = yield* clusterDir(protocol, n, ["tester", "fuzzer"])
    const replicas = yield* Effect.all(Array.from({ length: n }, (_, i) => startReplica(cluster, i)), { concurrency: "unbounded" })
    const client = yield* kvClient(cluster, "tester")
    yield* phase("replicas started")

    yield* commit(client, "all-up", 10)
    yield* phase("committed with every replica up")

    // a fuzzer throws malformed frames at replica 0 while the client keeps committing
    const [sent] = yield* Effect.all([fuzzReplica(cluster, 0, "fuzzer", fuzzFrames, SEED), commit(client, "fuzzed", 10)], { concurrency: 2 })
    expect(sent).toBe(fuzzFrames)
    expect(Option.isNone(yield* Deferred.poll(replicas[0]!.exited))).toBe(true)
    yield* commit(client, "after-fuzz", 5)
    yield* phase(`committed during and after ${sent} malformed frames at replica 0 (seed ${SEED})`)

    yield* killReplica(replicas[1]!)
    yield* commit(client, "r1-down", 10)
    yield* phase("committed with replica 1 killed")

    replicas[1] = yield* startReplica(cluster, 1)
    yield* killReplica(replicas[2]!)
    yield* commit(client, "r2-down", 10)
    yield* phase("committed with replica 1 restarted and replica 2 killed")

    replicas[2] = yield* startReplica(cluster, 2)
    yield* commit(client, "all-back", 5)
    expect(yield* client.get("fuzzed-3")).toEqual({ _tag: "Got", value: "v-fuzzed-3" })
    expect(yield* client.get("r1-down-3")).toEqual({ _tag: "Got", value: "v-r1-down-3" })
    expect(yield* client.get("r2-down-9")).toEqual({ _tag: "Got", value: "v-r2-down-9" })
    yield* phase("committed and read back with replica 2 restarted")

    const codes = yield* Effect.all([killReplica(replicas[0]!, "SIGTERM"), killReplica(replicas[1]!, "SIGINT")], { concurrency: 2 })
    expect(codes).toEqual([0, 0])
    for (const p of [replicas[0]!, replicas[1]!]) expect(p.output.join("\n")).toContain("shutting down")
    yield* phase("replica 0 shut down on SIGTERM, replica 1 on SIGINT")
  })

describe("multi-process clusters over WebSocket", () => {
  it.scopedLive("3-replica Multi-Paxos: commits under fuzzing and through kills and restarts", () => scenario("paxos", 3, 10_000), 300_000)
  it.scopedLive("4-replica PBFT: commits under fuzzing and through kills and restarts", () => scenario("pbft", 4, 2_000), 300_000)
})
