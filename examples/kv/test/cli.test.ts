/**
 * The command line, in process: user mistakes get one clear sentence and a
 * non-zero exit code (CliError.ts), `init` writes a usable cluster directory,
 * and client identities are locked and numbered across processes.
 */
import { describe, expect, it } from "@effect/vitest"
import { NodeFileSystem } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Cli from "../src/Cli.js"
import * as ClientSession from "../src/ClientSession.js"
import * as ClusterDir from "../src/ClusterDir.js"
import * as LocalCluster from "../src/LocalCluster.js"
import * as Output from "../src/Output.js"

const cli = (...argv: Array<string>) =>
  Effect.gen(function*() {
    const { captured, layer } = Output.capture()
    const code = yield* Cli.run(argv).pipe(Effect.provide(Layer.merge(NodeFileSystem.layer, layer)))
    return { code, out: captured.stdout.join("\n"), err: captured.stderr.join("\n") }
  })

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "synod-kv-cli-"))),
  (d) => Effect.sync(() => fs.rmSync(d, { recursive: true, force: true }))
)

describe("synod-kv command line", () => {
  it.live("prints the overview without arguments and a command's options with --help", () =>
    Effect.gen(function*() {
      const none = yield* cli()
      expect(none.code).toBe(0)
      expect(none.out).toMatch(/synod-kv: a linearizable key-value store on Multi-Paxos/)
      const help = yield* cli("load", "--help")
      expect(help.code).toBe(0)
      expect(help.out).toMatch(/--history <file>/)
    }))

  it.live("rejects unknown commands, unknown flags, missing and malformed arguments with exit code 2", () =>
    Effect.gen(function*() {
      const cases: Array<[Array<string>, RegExp]> = [
        [["frobnicate"], /unknown command "frobnicate"/],
        [["get"], /get needs <key>/],
        [["put", "k"], /put needs <key> <value>/],
        [["get", "a", "b"], /unexpected argument "b"/],
        [["get", "k", "--colour"], /unknown option --colour/],
        [["put", "--json", "k", "{oops"], /is not JSON/],
        [["put", "--json", "k", "null"], /cannot be null/],
        [["cas", "--json", "k", "1", "[1]"], /must be a string .* a finite number or a boolean/],
        [["replica"], /replica needs --id/],
        [["load", "--clients", "0"], /--clients must be from 1/],
        [["load", "--mix", "get=1,scan=2"], /"scan" is not an operation/],
        [["load", "--duration", "2", "--warmup", "3"], /--warmup \(3 s\) must be shorter than --duration/],
        [["init", "--replicas", "0"], /--replicas must be from 1/],
        [["get", "k", "--timeout"], /--timeout needs a value/]
      ]
      for (const [argv, message] of cases) {
        const r = yield* cli(...argv)
        expect(r.code, argv.join(" ")).toBe(2)
        expect(r.err, argv.join(" ")).toMatch(message)
      }
    }))

  it.scopedLive("points at init when the cluster directory is missing, and refuses to overwrite one", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const cluster = path.join(dir, "c")
      const missing = yield* cli("put", "--dir", cluster, "k", "v")
      expect(missing.code).toBe(3)
      expect(missing.err).toMatch(/no cluster directory at .*\nhint: create one with: synod-kv init --dir /)

      const init = yield* cli("init", "--dir", cluster, "--base-port", "17300")
      expect(init.code).toBe(0)
      expect(init.out).toMatch(/created a 3-replica Multi-Paxos key-value store/)
      const config = JSON.parse(fs.readFileSync(path.join(cluster, "cluster.json"), "utf8"))
      expect(config.protocol).toBe("paxos")
      expect(config.trust).toEqual({ kind: "crash" })
      expect(config.replicas.map((r: { address: string }) => r.address)).toEqual(["ws://127.0.0.1:17300", "ws://127.0.0.1:17301", "ws://127.0.0.1:17302"])
      expect(config.clients.map((c: { id: string }) => c.id)).toEqual(["cli", "load-0", "load-1", "load-2", "load-3"])
      expect(fs.statSync(path.join(cluster, "keys", "replica-0.key.json")).mode & 0o777).toBe(0o600)

      const again = yield* cli("init", "--dir", cluster)
      expect(again.code).toBe(3)
      expect(again.err).toMatch(/already holds a cluster\nhint: .*--force/)
      expect((yield* cli("init", "--dir", cluster, "--force", "--replicas", "5")).code).toBe(0)
      expect(JSON.parse(fs.readFileSync(path.join(cluster, "cluster.json"), "utf8")).replicas).toHaveLength(5)

      const noReplica = yield* cli("replica", "--dir", cluster, "--id", "9")
      expect(noReplica.code).toBe(2)
      expect(noReplica.err).toMatch(/there is no replica 9 .*its replicas are 0..4/)
      const tooMany = yield* cli("load", "--dir", cluster, "--clients", "200")
      expect(tooMany.code).toBe(3)
      expect(tooMany.err).toMatch(/200 clients need 7 load client identities .* has 4\nhint: .*--load-clients 7/)
    }))

  it.scopedLive("says which replicas it could not reach when none runs (exit 4)", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const ports = yield* LocalCluster.freePorts(3)
      expect((yield* cli("init", "--dir", dir, "--force", "--ports", ports.join(","))).code).toBe(0)
      const r = yield* cli("put", "--dir", dir, "--timeout", "0.5", "k", "v")
      expect(r.code).toBe(4)
      expect(r.err).toMatch(/no answer within 0.5 s: none of the 3 replicas accepts connections .*; the write may or may not have taken effect/)
      expect(r.err).toMatch(/hint: start them with: synod-kv replica --dir /)
    }))

  it.scopedLive("locks a client identity against a second live process and numbers each process above the last", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const { cluster } = yield* ClusterDir.init({ dir, replicas: 3, loadClients: 1, host: "127.0.0.1", basePort: 17400, force: false })
      const first = yield* Effect.scoped(Effect.gen(function*() {
        const s = yield* ClientSession.open(cluster, "cli", 1_000)
        yield* s.release(5)
        return s.firstSeq
      }))
      expect(first).toBe(1_000_000)
      // the clock stepped back: the file still keeps the numbers fresh
      const second = yield* Effect.scoped(Effect.map(ClientSession.open(cluster, "cli", 10), (s) => s.firstSeq))
      expect(second).toBe(first + 5 + 1)
      // a lock held by another live process (pid 1 always exists)
      fs.writeFileSync(path.join(dir, "clients", "cli.lock"), "1")
      const locked = yield* Effect.scoped(ClientSession.open(cluster, "cli", 20)).pipe(Effect.flip)
      expect(locked.kind).toBe("config")
      expect(locked.detail).toMatch(/client cli is in use by process 1/)
      // a lock left by a process that is gone is taken over
      fs.writeFileSync(path.join(dir, "clients", "cli.lock"), "999999999")
      const taken = yield* Effect.scoped(Effect.map(ClientSession.open(cluster, "cli", 30), (s) => s.firstSeq))
      expect(taken).toBeGreaterThan(second)
      expect(fs.existsSync(path.join(dir, "clients", "cli.lock"))).toBe(false)
    }).pipe(Effect.provide(NodeFileSystem.layer)))
})
