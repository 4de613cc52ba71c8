/**
 * The CLI against a real cluster: four replicas (one Byzantine) built by the
 * `replica` command's code, in this process, over WebSockets on loopback,
 * with SQLite storage; the client commands run as a user would run them.
 */
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Layer, Logger, LogLevel } from "effect"
import * as path from "node:path"
import { freePorts } from "../src/demo/Ports.js"
import { getJson } from "../src/demo/Http.js"
import * as ReplicaProcess from "../src/ReplicaProcess.js"
import { decodeLedgerView, decodeStatus } from "../src/ReplicaStatus.js"
import { capture } from "../src/Terminal.js"
import { cli, tempDir } from "./support.js"

const startCluster = Effect.gen(function*() {
  const ports = yield* freePorts(4)
  const dir = path.join(yield* tempDir, "cluster")
  const init = yield* cli("init", "--dir", dir, "--ports", ports.join(","))
  expect(init.code, init.stderr).toBe(0)
  const { captured, layer } = capture()
  for (const id of [0, 1, 2, 3]) {
    yield* ReplicaProcess.run({
      dir,
      id,
      byzantine: id === 3 ? "equivocate" : undefined,
      statusPort: 0,
      tickMs: 10,
      seed: id,
      progressSeconds: 0
    }).pipe(Effect.provide(Layer.mergeAll(NodeFileSystem.layer, layer, Logger.minimumLogLevel(LogLevel.Warning))), Effect.forkScoped)
  }
  const ready = () => captured.stdout.filter((l) => l.startsWith("ready: "))
  while (ready().length < 4) yield* Effect.sleep(Duration.millis(50))
  const urls = new Map(ready().map((l) => [Number(/replica (\d+) of/.exec(l)![1]), /status (http:\/\/\S+)\/status/.exec(l)![1]!] as const))
  return { dir, urls, captured }
})

describe("synod-ledger against a running cluster", () => {
  it.live("transfer, balance, history, refusals and audit, with replica 3 Byzantine", () =>
    Effect.scoped(Effect.gen(function*() {
      const { dir, urls, captured } = yield* startCluster
      expect(captured.stdout.find((l) => l.startsWith("ready: replica 3"))).toContain("BYZANTINE (equivocate")

      const t = yield* cli("transfer", "--dir", dir, "--from", "alice", "--to", "bob", "--amount", "10", "--id", "first")
      expect(t.code, t.stderr).toBe(0)
      expect(t.stdout).toContain("transferred 10 from alice to bob; alice now has 990 units (transfer first)")
      expect(t.stdout).toMatch(/certified by replicas \d, \d|certified by replicas \d and \d/)

      const again = yield* cli("transfer", "--dir", dir, "--from", "alice", "--to", "bob", "--amount", "10", "--id", "first")
      expect(again.code, again.stderr).toBe(0)
      expect(again.stdout).toContain("already done: transfer first was applied before; nothing moved again (alice has 990 units)")

      const poor = yield* cli("transfer", "--dir", dir, "--from", "carol", "--to", "dave", "--amount", "5000")
      expect(poor.code).toBe(5)
      expect(poor.stderr).toContain("error: the ledger refused the transfer: carol has 1000 units, not enough to move 5000")
      const nobody = yield* cli("transfer", "--dir", dir, "--from", "carol", "--to", "zed", "--amount", "1")
      expect(nobody.code).toBe(5)
      expect(nobody.stderr).toContain("there is no account named zed")

      const balance = yield* cli("balance", "bob", "--dir", dir)
      expect(balance.code, balance.stderr).toBe(0)
      expect(balance.stdout).toContain("bob: 1010 units")
      const history = yield* cli("history", "alice", "--dir", dir)
      expect(history.code, history.stderr).toBe(0)
      expect(history.stdout).toMatch(/genesis\s+genesis\s+minted\s+\+1000\s+1000/)
      expect(history.stdout).toMatch(/\d+\s+first\s+to bob\s+-10\s+990/)

      const audit = yield* cli("audit", "--dir", dir)
      expect(audit.code, audit.stdout + audit.stderr).toBe(0)
      // two transfers and a refusal by alice/carol (certified), a balance, a history
      expect(audit.stdout).toContain("✓ all 6 reply certificates verify")

      // every correct replica's status and local ledger
      for (const id of [0, 1, 2]) {
        const status = decodeStatus(yield* getJson(`${urls.get(id)}/status`, 5000))
        expect(Either.isRight(status)).toBe(true)
        if (Either.isLeft(status)) continue
        expect(status.right).toMatchObject({ replica: id, byzantine: null, supply: 4000n, minted: 4000n, accounts: 4 })
        expect(status.right.lastExecuted).toBeGreaterThanOrEqual(2)
        const view = decodeLedgerView(yield* getJson(`${urls.get(id)}/ledger`, 5000))
        expect(Either.isRight(view) && view.right.operations.find((o) => o.id === "first")).toEqual({ id: "first", applied: true })
      }
      const byz = decodeStatus(yield* getJson(`${urls.get(3)}/status`, 5000))
      expect(Either.isRight(byz) && byz.right.byzantine).toBe("equivocate")
      expect(Either.isRight(byz) && Object.values(byz.right.byzantineActions).reduce((a, b) => a + b, 0)).toBeGreaterThan(0)
      const metrics = yield* Effect.either(getJson(`${urls.get(0)}/metrics`, 5000))
      // the metrics page is Prometheus text, not JSON
      expect(Either.isLeft(metrics) && metrics.left.message).toMatch(/not JSON/)
      const missing = yield* Effect.either(getJson(`${urls.get(0)}/nope`, 5000))
      expect(Either.isLeft(missing) && missing.left.message).toMatch(/HTTP 404/)
    })), 60_000)
})
