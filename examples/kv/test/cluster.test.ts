/**
 * The key-value store as it runs: three `synod-kv replica` processes on
 * 127.0.0.1 (WebSocket, SQLite), `synod-kv load` with several closed-loop
 * clients and `--history`, a follower and then the leader killed (SIGKILL)
 * and restarted during the load. The history must be linearizable, the load
 * must make progress after each crash, and the replicas must end with the
 * same state digest.
 */
import { describe, expect, it } from "@effect/vitest"
import { NodeFileSystem } from "@effect/platform-node"
import { Duration, Effect, Either, Fiber, Layer, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import * as Cli from "../src/Cli.js"
import { History, Linearizability } from "@synod/core/testing"
import * as LocalCluster from "../src/LocalCluster.js"
import * as Output from "../src/Output.js"

/**
 * The load must span both crashes and the follower's restart. A replica
 * process takes from one to many seconds to start (TypeScript is compiled at
 * start; a busy machine stretches it), so the load runs for a time scaled by
 * how long the cluster took to start here.
 */
const loadSeconds = (startupSeconds: number) => Math.min(60, Math.max(10, Math.ceil(6 + 2.5 * startupSeconds)))

describe("kv cluster of three processes", () => {
  it.scopedLive("survives a follower crash and a leader crash under load: linearizable history, replicas agree", () =>
    Effect.gen(function*() {
      const lc = yield* LocalCluster.make({ replicas: 3 })
      const startedAt = Date.now()
      yield* Effect.forEach([0, 1, 2], lc.start, { concurrency: "unbounded", discard: true })
      const duration = loadSeconds((Date.now() - startedAt) / 1000)
      const firstLeader = yield* lc.awaitLeader()

      const historyFile = path.join(lc.dir, "history.jsonl")
      const { captured, layer } = Output.capture()
      const argv = ["load", "--dir", lc.dir, "--clients", "6", "--duration", String(duration), "--keys", "6", "--history", historyFile, "--timeout", "6", "--seed", "7"]
      const load = yield* Cli.run(argv).pipe(Effect.provide(Layer.merge(NodeFileSystem.layer, layer)), Effect.fork)

      // a follower crashes and comes back on its database
      yield* Effect.sleep(Duration.seconds(2))
      const follower = [0, 1, 2].find((i) => i !== firstLeader)!
      yield* lc.kill(follower)
      yield* Effect.sleep(Duration.seconds(1))
      yield* lc.start(follower)
      yield* Effect.sleep(Duration.seconds(1))

      // then the leader crashes, while the load still runs
      const leader = yield* lc.awaitLeader()
      const early = yield* Fiber.poll(load)
      expect(Option.isNone(early), `the load ended before the leader crash (a replica restart took longer than the load):\n${[...captured.stdout, ...captured.stderr].join("\n")}`).toBe(true)
      const leaderKilledAt = process.hrtime.bigint()
      yield* lc.kill(leader)
      const successor = yield* lc.awaitLeader()
      expect(successor).not.toBe(leader)
      yield* lc.start(leader)

      const code = yield* Fiber.join(load)
      expect(code, `load failed:\n${captured.stderr.join("\n")}`).toBe(0)
      expect(captured.stdout.some((l) => /^rate +[\d,]+ ops\/s/.test(l))).toBe(true)

      const statuses = yield* lc.awaitConverged(Duration.seconds(30))
      expect(statuses).toHaveLength(3)
      expect(new Set(statuses.map((s) => s.stateDigest)).size).toBe(1)
      expect(statuses[0]!.appliedIndex).toBeGreaterThan(0)

      const parsed = History.parseHistory(fs.readFileSync(historyFile, "utf8"))
      if (Either.isLeft(parsed)) return expect.fail(`history does not parse: ${parsed.left.message}`)
      const ops = parsed.right
      const ok = ops.filter((o) => o.outcome.status === "ok")
      expect(ok.length).toBeGreaterThan(50)
      for (const kind of ["get", "put", "cas"] as const) expect(ok.some((o) => o.op === kind)).toBe(true)
      // progress after the leader crash: operations called after it completed
      expect(ok.some((o) => BigInt(o.callNs) > leaderKilledAt)).toBe(true)

      const verdict = Linearizability.checkHistory(ops)
      expect(verdict._tag === "NotLinearizable" ? Linearizability.formatCheckResult(verdict) : verdict._tag).toBe("Linearizable")
    }).pipe(Effect.provide(NodeFileSystem.layer)), { timeout: 120_000 })
})
