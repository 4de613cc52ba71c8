import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { ClusterConfig, Crypto, Keys, clientPeer, replicaPeer } from "@synod/core"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { ownerOf } from "../src/ClusterDir.js"
import { GetTotals } from "../src/Commands.js"
import { freePorts } from "../src/demo/Ports.js"
import { makeWallet } from "../src/Wallet.js"
import { appendRecord, cli, craftRecord, loadCluster, tempDir } from "./support.js"

const withFs = <A, E>(f: (fs: FileSystem.FileSystem) => Effect.Effect<A, E>) =>
  Effect.flatMap(FileSystem.FileSystem, f).pipe(Effect.provide(NodeFileSystem.layer))

/** A cluster directory made by `init` with the given extra flags. */
const initCluster = (...flags: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const root = yield* tempDir
    const dir = path.join(root, "cluster")
    const r = yield* cli("init", "--dir", dir, ...flags)
    expect(r.code, r.stderr).toBe(0)
    return dir
  })

describe("synod-ledger init", () => {
  it.scoped("writes keys, cluster file and genesis that load back and belong together", () =>
    Effect.gen(function*() {
      const dir = yield* initCluster("--replicas", "4", "--clients", "alice,bob", "--balance", "500", "--base-port", "7100", "--cluster-id", "test-1")
      const cluster = yield* loadCluster(dir)
      expect(cluster.config.clusterId).toBe("test-1")
      expect(cluster.config.protocol).toBe("pbft")
      expect(cluster.config.replicas.map((r) => r.address)).toEqual([7100, 7101, 7102, 7103].map((p) => `ws://127.0.0.1:${p}`))
      expect(cluster.config.clients.map((c) => c.id)).toEqual(["alice", "bob"])
      expect(ClusterConfig.quorumSystem(cluster.config).f).toBe(1)
      // every private key file holds the key the cluster file lists, and only its owner can read it
      for (const peer of [...[0, 1, 2, 3].map(replicaPeer), clientPeer("alice"), clientPeer("bob")]) {
        const file = cluster.layout.key(peer)
        const pair = yield* Keys.readPrivateKeyFile(file).pipe(Effect.provide(NodeFileSystem.layer))
        const listed = ClusterConfig.principals(cluster.config).find((p) => p.peer === peer)!
        expect(pair.publicKey.equals(listed.publicKey)).toBe(true)
        const mode = yield* withFs((fs) => fs.stat(file))
        expect(mode.mode & 0o777).toBe(0o600)
      }
      // the genesis funds one account per client, owned by that client's key; the minter key is the genesis minter
      const alice = yield* Keys.readPrivateKeyFile(cluster.layout.key(clientPeer("alice"))).pipe(Effect.provide(NodeFileSystem.layer))
      expect(cluster.genesis.accounts).toEqual([
        { name: "alice", owner: ownerOf(alice.publicKey), balance: 500n },
        { name: "bob", owner: expect.any(String), balance: 500n }
      ])
      const minter = yield* Keys.readPrivateKeyFile(cluster.layout.minterKey).pipe(Effect.provide(NodeFileSystem.layer))
      expect(cluster.genesis.minters).toEqual([makeWallet(minter).publicKey])
      // the ledger built from it starts with the genesis supply
      const totals = cluster.ledger.make().query(new GetTotals())
      expect(totals).toMatchObject({ _tag: "Totals", supply: 1000n, minted: 1000n, accounts: 2 })
    }))

  it.scoped("prints what it made and how to start the replicas", () =>
    Effect.gen(function*() {
      const root = yield* tempDir
      const dir = path.join(root, "c")
      const r = yield* cli("init", "--dir", dir, "--ports", "7201,7202,7203,7204")
      expect(r.code).toBe(0)
      expect(r.stdout).toContain(`created a 4-replica PBFT ledger in ${dir}`)
      expect(r.stdout).toContain("ws://127.0.0.1:7204")
      expect(r.stdout).toContain(`synod-ledger replica --dir ${dir} --id 3`)
      expect(r.stdout).toContain(`synod-ledger transfer --dir ${dir} --from alice --to bob --amount 10`)
    }))

  it.scoped("refuses to overwrite a cluster; --force replaces it and its data", () =>
    Effect.gen(function*() {
      const dir = yield* initCluster("--cluster-id", "first")
      yield* withFs((fs) => fs.writeFileString(path.join(dir, "replica-0.db"), "old data"))
      const again = yield* cli("init", "--dir", dir)
      expect(again.code).toBe(3)
      expect(again.stderr).toContain(`error: ${dir} already holds a cluster`)
      expect(again.stderr).toContain("--force")
      const forced = yield* cli("init", "--dir", dir, "--force", "--cluster-id", "second")
      expect(forced.code, forced.stderr).toBe(0)
      expect((yield* loadCluster(dir)).config.clusterId).toBe("second")
      expect(yield* withFs((fs) => fs.exists(path.join(dir, "replica-0.db")))).toBe(false)
    }))
})

describe("synod-ledger user mistakes", () => {
  const usage: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp]> = [
    [["frobnicate"], /unknown command "frobnicate"/],
    [["init", "--nope"], /unknown option --nope for init/],
    [["init", "--replicas", "x"], /--replicas must be a whole number, got "x"/],
    [["init", "--replicas", "0"], /--replicas must be from 1 to 64, got 0/],
    [["init", "--clients", "alice,alice"], /--clients lists a name twice/],
    [["init", "--ports", "7000,7000,7001,7002"], /--ports lists a port twice/],
    [["transfer", "--from", "alice", "--to", "bob"], /--amount is required/],
    [["transfer", "--from", "alice", "--to", "bob", "--amount", "1.5"], /the amount must be a whole number of units, got 1.5/],
    [["transfer", "--from", "alice", "--to", "bob", "--amount", "0"], /the amount must be at least 1/],
    [["transfer", "--from", "alice", "--to", "bob", "--amount", "-3"], /the amount must be positive, got -3/],
    [["transfer", "--from", "alice", "--to", "bob", "--amount", "ten"], /the amount must be a whole number of units, got "ten"/],
    [["transfer", "--from", "alice", "--to", "bob", "--amount", "9223372036854775808"], /the amount must be at most 9223372036854775807/],
    [["transfer", "--from", "alice", "--to", "bob", "--amount"], /--amount needs a value <units>/],
    [["transfer", "--from", "alice", "--to", "bob bob", "--amount", "1"], /--to: "bob bob" is not an account name/],
    [["transfer", "--from", "alice", "--to", "bob", "--amount", "1", "--id", "a b"], /--id: "a b" is not an operation id/],
    [["balance"], /balance needs an account name/],
    [["replica"], /replica needs --id <n>/],
    [["replica", "--id", "1", "--byzantine", "evil"], /--byzantine must be one of equivocate, silent, stale-view, lie, got "evil"/]
  ]
  for (const [argv, message] of usage) {
    it.effect(`${argv.join(" ")} -> exit 2`, () =>
      Effect.gen(function*() {
        const r = yield* cli(...argv)
        expect(r.code).toBe(2)
        expect(r.stderr).toMatch(message)
        expect(r.stdout).toBe("")
      }))
  }

  it.scoped("a missing cluster directory: exit 3, and how to create one", () =>
    Effect.gen(function*() {
      const dir = path.join(yield* tempDir, "nowhere")
      for (const argv of [
        ["transfer", "--from", "alice", "--to", "bob", "--amount", "1"],
        ["balance", "bob"],
        ["history", "bob"],
        ["audit"],
        ["replica", "--id", "0"]
      ]) {
        const r = yield* cli(...argv, "--dir", dir)
        expect(r.code, argv.join(" ")).toBe(3)
        expect(r.stderr).toContain(`error: no cluster directory at ${dir}`)
        expect(r.stderr).toContain(`hint: create one with: synod-ledger init --dir ${dir}`)
      }
    }))

  it.scoped("a directory that holds no cluster, or a damaged one: exit 3", () =>
    Effect.gen(function*() {
      const empty = yield* tempDir
      const r = yield* cli("balance", "bob", "--dir", empty)
      expect(r.code).toBe(3)
      expect(r.stderr).toContain(`${empty} is not a cluster directory (it has no cluster.json)`)
      const dir = yield* initCluster()
      yield* withFs((fs) => fs.writeFileString(path.join(dir, "cluster.json"), "{ not json"))
      const damaged = yield* cli("audit", "--dir", dir)
      expect(damaged.code).toBe(3)
      expect(damaged.stderr).toMatch(/cannot use .*cluster\.json: malformed: not JSON/)
    }))

  it.scoped("the wrong key: another client's, another cluster's, or none: exit 3", () =>
    Effect.gen(function*() {
      const dir = yield* initCluster()
      const other = yield* initCluster()
      const transfer = ["transfer", "--dir", dir, "--from", "alice", "--to", "bob", "--amount", "1", "--timeout", "1"]
      const bobs = yield* cli(...transfer, "--key", path.join(dir, "keys", "client-bob.key.json"))
      expect(bobs.code).toBe(3)
      expect(bobs.stderr).toContain("wrong key: ")
      expect(bobs.stderr).toContain("holds the key of client/bob, not client/alice")
      const foreign = yield* cli(...transfer, "--key", path.join(other, "keys", "client-alice.key.json"))
      expect(foreign.code).toBe(3)
      expect(foreign.stderr).toMatch(/wrong key: .* is not the key of client\/alice in .*cluster\.json \(is it from another cluster directory\?\)/)
      yield* withFs((fs) => fs.remove(path.join(dir, "keys", "client-alice.key.json")))
      const none = yield* cli(...transfer)
      expect(none.code).toBe(3)
      expect(none.stderr).toContain("no key file for client/alice")
    }))

  it.scoped("a client or replica the cluster does not have: exit 2, naming the ones it has", () =>
    Effect.gen(function*() {
      const dir = yield* initCluster("--clients", "alice,bob")
      const client = yield* cli("transfer", "--dir", dir, "--from", "zed", "--to", "bob", "--amount", "1")
      expect(client.code).toBe(2)
      expect(client.stderr).toContain(`there is no client "zed" in ${dir}: its clients are alice, bob`)
      const replica = yield* cli("replica", "--dir", dir, "--id", "7")
      expect(replica.code).toBe(2)
      expect(replica.stderr).toContain(`there is no replica 7 in ${dir}: its replicas are 0..3`)
    }))

  it.live("an unreachable cluster: exit 4 after the timeout, saying no replica accepts connections", () =>
    Effect.scoped(Effect.gen(function*() {
      const ports = yield* freePorts(4)
      const dir = yield* initCluster("--ports", ports.join(","))
      const started = Date.now()
      const r = yield* cli("transfer", "--dir", dir, "--from", "alice", "--to", "bob", "--amount", "1", "--timeout", "1")
      expect(r.code).toBe(4)
      expect(r.stderr).toContain("no answer from the cluster within 1 s: none of its 4 replicas accepts connections")
      expect(r.stderr).toContain(`hint: start them with: synod-ledger replica --dir ${dir} --id <0..3>`)
      expect(Date.now() - started).toBeGreaterThanOrEqual(900)
      const read = yield* cli("balance", "bob", "--dir", dir, "--timeout", "0.5")
      expect(read.code).toBe(4)
    })))
})

describe("synod-ledger audit", () => {
  it.scoped("with nothing kept yet: says so, exit 0", () =>
    Effect.gen(function*() {
      const dir = yield* initCluster()
      const r = yield* cli("audit", "--dir", dir)
      expect(r.code).toBe(0)
      expect(r.stdout).toContain("no certificates kept yet")
    }))

  it.scoped("verifies kept certificates and fails (exit 6) on one that does not verify", () =>
    Effect.gen(function*() {
      const dir = yield* initCluster()
      const cluster = yield* loadCluster(dir)
      const alice = makeWallet(yield* Keys.readPrivateKeyFile(cluster.layout.key(clientPeer("alice"))).pipe(Effect.provide(NodeFileSystem.layer)))
      const t = alice.transfer("t1", "alice", "bob", 5n)
      yield* appendRecord(cluster, yield* craftRecord(cluster, "alice", t, { seq: 10, index: 3, replicas: [0, 2] }))
      yield* appendRecord(cluster, yield* craftRecord(cluster, "alice", t, { seq: 11, index: 4, replicas: [1, 2, 3] }))
      const ok = yield* cli("audit", "--dir", dir, "--verbose")
      expect(ok.code, ok.stderr).toBe(0)
      expect(ok.stdout).toContain("a write needs 2 matching signed replies, a read 3")
      expect(ok.stdout).toContain("✓ all 2 reply certificates verify")
      expect(ok.stdout).toContain("crafted 10 (sequence 3, replicas 0, 2)")

      // one reply is not f+1; a certificate for another request; a result the replicas did not sign
      const single = yield* craftRecord(cluster, "alice", t, { seq: 12, index: 5, replicas: [1] })
      yield* appendRecord(cluster, single)
      const wrongSeq = yield* craftRecord(cluster, "alice", t, { seq: 13, index: 6, replicas: [0, 1] })
      yield* appendRecord(cluster, { ...wrongSeq, seq: 14 })
      const altered = yield* craftRecord(cluster, "alice", t, { seq: 15, index: 7, replicas: [0, 1] })
      yield* appendRecord(cluster, { ...altered, result: new TextEncoder().encode("{\"_tag\":\"Applied\",\"id\":\"t\",\"balance\":\"999\",\"replayed\":false}") })
      const bad = yield* cli("audit", "--dir", dir, "--as", "alice")
      expect(bad.code).toBe(6)
      expect(bad.stdout).toContain("2 valid, 3 INVALID")
      expect(bad.stdout).toMatch(/line 3: crafted 12: invalid: 1 replies are not a weak quorum/)
      expect(bad.stdout).toMatch(/line 4: crafted 13: the replies are for request 13, not 14/)
      expect(bad.stdout).toMatch(/line 5: crafted 15: the replies certify a different result than the one recorded/)
      expect(bad.stderr).toContain("error: 3 of 5 reply certificates do not verify")
    }))

  it.scoped("rejects certificates signed with another cluster's replica keys", () =>
    Effect.gen(function*() {
      const dir = yield* initCluster("--cluster-id", "same")
      const other = yield* initCluster("--cluster-id", "same")
      const cluster = yield* loadCluster(dir)
      const impostor = yield* loadCluster(other)
      const t = makeWallet(Crypto.generateEd25519()).transfer("t1", "alice", "bob", 5n)
      // signed by the other cluster's replicas, kept in this cluster's directory
      yield* appendRecord(cluster, yield* craftRecord(impostor, "alice", t, { seq: 1, index: 1, replicas: [0, 1] }))
      const r = yield* cli("audit", "--dir", dir)
      expect(r.code).toBe(6)
      expect(r.stdout).toMatch(/line 1: crafted 1: bad-signature/)
    }))
})

describe("bin/synod-ledger.js", () => {
  const bin = fileURLToPath(new URL("../bin/synod-ledger.js", import.meta.url))

  it("runs the CLI through tsx and exits with its code", () => {
    const help = spawnSync(process.execPath, [bin, "--help"], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } })
    expect(help.status).toBe(0)
    expect(help.stdout).toContain("synod-ledger: a Byzantine-tolerant ledger on PBFT")
    const missing = spawnSync(process.execPath, [bin, "balance", "bob", "--dir", "/nonexistent/synod-ledger"], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } })
    expect(missing.status).toBe(3)
    expect(missing.stderr).toContain("error: no cluster directory at /nonexistent/synod-ledger")
  }, 60_000)
})
