import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { describe, expect, it, layer } from "@effect/vitest"
import { Effect, Either } from "effect"
import {
  CLUSTER_FILE_FORMAT,
  decode,
  encode,
  generateCluster,
  type GenerateOptions,
  keyRing,
  quorumSystem,
  readFile,
  replicaAddresses,
  writeCluster
} from "../src/ClusterConfig.js"
import { rawPublicKey } from "../src/Crypto.js"
import { clientPeer, type ReplicaId, replicaPeer } from "../src/Ids.js"
import { parsePrivateKeyFile, readPrivateKeyFile, signerOf } from "../src/Keys.js"

const enc = new TextEncoder()
const reasonOf = (r: Either.Either<unknown, { readonly reason: string }>) => (Either.isLeft(r) ? r.left.reason : "accepted")
const ids = (xs: ReadonlyArray<number>) => xs as ReadonlyArray<ReplicaId>
const generate = (options: GenerateOptions) => Either.getOrThrow(generateCluster(options))

// one generated cluster whose JSON the invalid cases below edit
const base = generate({ n: 4, protocol: "pbft", clients: ["alice", "bob"], basePort: 9000, clusterId: "ledger" })
const baseJson = () => JSON.parse(encode(base.config)) as {
  format: string
  clusterId: string
  protocol: string
  trust: Record<string, unknown>
  replicas: Array<{ id: number; address: string; publicKey: string }>
  clients: Array<{ id: string; publicKey: string }>
}
const decodeEdited = (edit: (o: ReturnType<typeof baseJson>) => void) => {
  const o = baseJson()
  edit(o)
  return decode(JSON.stringify(o))
}

describe("ClusterConfig", () => {
  it("a generated PBFT cluster: Byzantine quorums, addresses, and keys that sign and verify", () => {
    const { config, keys, files } = base
    expect(config.format).toBe(CLUSTER_FILE_FORMAT)
    expect(config.replicas.map((r) => r.address)).toEqual(["ws://127.0.0.1:9000", "ws://127.0.0.1:9001", "ws://127.0.0.1:9002", "ws://127.0.0.1:9003"])
    expect(replicaAddresses(config).get(replicaPeer(2))).toBe("ws://127.0.0.1:9002")
    const q = quorumSystem(config)
    expect([q.faultModel, q.f]).toEqual(["byzantine", 1])
    expect(q.isQuorum("replication", ids([0, 1, 2]))).toBe(true)
    expect(q.isQuorum("replication", ids([0, 1]))).toBe(false)
    const ring = keyRing(config)
    expect([...ring.peers()]).toEqual(["replica/0", "replica/1", "replica/2", "replica/3", "client/alice", "client/bob"])
    const msg = enc.encode("pre-prepare")
    for (const k of keys) expect(ring.verify(k.peer, msg, signerOf(k).sign(msg)), k.peer).toBe(true)
    expect(ring.verify(clientPeer("alice"), msg, signerOf(keys[0]!).sign(msg))).toBe(false)
    expect(files.map((f) => [f.path, f.mode])).toEqual([
      ["cluster.json", 0o644],
      ["keys/replica-0.key.json", 0o600],
      ["keys/replica-1.key.json", 0o600],
      ["keys/replica-2.key.json", 0o600],
      ["keys/replica-3.key.json", 0o600],
      ["keys/client-alice.key.json", 0o600],
      ["keys/client-bob.key.json", 0o600]
    ])
    const bobFile = Either.getOrThrow(parsePrivateKeyFile(files[6]!.text))
    expect(bobFile.peer).toBe("client/bob")
    expect(rawPublicKey(bobFile.publicKey)).toEqual(config.clients[1]!.publicKey)
  })

  it("encode then decode gives the same config", () => {
    expect(Either.getOrThrow(decode(encode(base.config)))).toEqual(base.config)
  })

  it("builds each trust model's quorum system", () => {
    const paxos = generate({ n: 5, protocol: "paxos", clients: 1 }).config
    expect(paxos.clients.map((c) => c.id)).toEqual(["client-0"])
    const crash = quorumSystem(paxos)
    expect([crash.faultModel, crash.f, crash.isQuorum("election", ids([0, 1, 2])), crash.isQuorum("election", ids([0, 1]))])
      .toEqual(["crash", 2, true, false])

    const flex = quorumSystem(generate({ n: 5, protocol: "paxos", trust: { kind: "flexible", q1: 4, q2: 2 } }).config)
    expect([flex.isQuorum("election", ids([0, 1, 2])), flex.isQuorum("election", ids([0, 1, 2, 3])), flex.isQuorum("replication", ids([3, 4]))])
      .toEqual([false, true, true])

    const w = quorumSystem(generate({ n: 4, protocol: "pbft", trust: { kind: "weighted", weights: [3, 1, 1, 1] } }).config)
    // total 6: a Byzantine quorum holds more than 4
    expect([w.faultModel, w.weight(0 as ReplicaId), w.isQuorum("replication", ids([0, 1, 2])), w.isQuorum("replication", ids([1, 2, 3]))])
      .toEqual(["byzantine", 3, true, false])
  })

  it("accepts wss and IPv6 addresses", () => {
    const c = generate({ n: 1, protocol: "paxos", host: "::1", tls: true, basePort: 443 }).config
    expect(c.replicas[0]!.address).toBe("wss://[::1]:443")
  })

  describe("rejects", () => {
    it("text that is not a JSON object, or has the wrong shapes, as malformed", () => {
      expect(reasonOf(decode("{"))).toBe("malformed")
      expect(reasonOf(decode("[]"))).toBe("malformed")
      const cases: Array<[string, (o: ReturnType<typeof baseJson>) => void]> = [
        ["no replicas", (o) => (o.replicas = [])],
        ["unknown protocol", (o) => (o.protocol = "raft")],
        ["unknown trust kind", (o) => (o.trust = { kind: "majority" })],
        ["http address", (o) => (o.replicas[0]!.address = "http://127.0.0.1:9000")],
        ["address with credentials", (o) => (o.replicas[0]!.address = "ws://u:p@127.0.0.1:9000")],
        ["not a URL", (o) => (o.replicas[0]!.address = "localhost:9000")],
        ["short public key", (o) => (o.replicas[1]!.publicKey = Buffer.alloc(16).toString("base64"))],
        ["bad client id", (o) => (o.clients[0]!.id = "a/b")],
        ["replica id out of range", (o) => (o.replicas[0]!.id = 1024)],
        ["excess field", (o) => Object.assign(o, { extra: true })],
        ["missing clients", (o) => Object.assign(o, { clients: undefined })],
        ["empty cluster id", (o) => (o.clusterId = "")],
        ["zero weight", (o) => (o.trust = { kind: "weighted", weights: [1, 0, 1, 1] })]
      ]
      for (const [name, edit] of cases) expect(reasonOf(decodeEdited(edit)), name).toBe("malformed")
    })

    it("another format as wrong-format", () => {
      expect(reasonOf(decodeEdited((o) => (o.format = "synod-cluster/2")))).toBe("wrong-format")
      expect(reasonOf(decodeEdited((o) => Object.assign(o, { format: undefined })))).toBe("wrong-format")
    })

    it("inconsistent configs as invalid", () => {
      const cases: Array<[string, (o: ReturnType<typeof baseJson>) => void]> = [
        ["ids out of order", (o) => o.replicas.reverse()],
        ["duplicate replica id", (o) => (o.replicas[3]!.id = 2)],
        ["ids not from 0", (o) => o.replicas.forEach((r) => (r.id += 1))],
        ["duplicate address", (o) => (o.replicas[1]!.address = o.replicas[0]!.address)],
        ["same address spelled differently", (o) => (o.replicas[1]!.address = "WS://127.0.0.1:9000/")],
        ["duplicate client id", (o) => (o.clients[1]!.id = "alice")],
        ["shared public key", (o) => (o.clients[0]!.publicKey = o.replicas[0]!.publicKey)],
        ["crash trust under pbft", (o) => (o.trust = { kind: "crash" })],
        ["byzantine f=2 with n=4", (o) => (o.trust = { kind: "byzantine", f: 2 })],
        ["weights for 3 of 4 replicas", (o) => (o.trust = { kind: "weighted", weights: [1, 1, 1] })],
        ["flexible under pbft", (o) => (o.trust = { kind: "flexible", q1: 3, q2: 2 })]
      ]
      for (const [name, edit] of cases) expect(reasonOf(decodeEdited(edit)), name).toBe("invalid")
      // and paxos-only rules
      const paxos = (trust: Record<string, unknown>) =>
        decodeEdited((o) => {
          o.protocol = "paxos"
          o.trust = trust
        })
      expect(reasonOf(paxos({ kind: "crash" }))).toBe("accepted")
      expect(reasonOf(paxos({ kind: "byzantine" }))).toBe("invalid")
      expect(reasonOf(paxos({ kind: "crash", f: 2 }))).toBe("invalid") // needs n >= 5
      expect(reasonOf(paxos({ kind: "flexible", q1: 2, q2: 2 }))).toBe("invalid") // q1 + q2 <= n
      expect(reasonOf(paxos({ kind: "flexible", q1: 5, q2: 1 }))).toBe("invalid") // q1 > n
      expect(reasonOf(paxos({ kind: "flexible", q1: 3, q2: 2 }))).toBe("accepted")
    })

    it("lists every problem, not only the first", () => {
      const r = decodeEdited((o) => {
        o.clients[1]!.id = "alice"
        o.trust = { kind: "byzantine", f: 3 }
      })
      expect(Either.isLeft(r) && r.left.detail).toMatch(/client id alice used twice.*f=3 needs n >= 10/)
    })

    it("generate options that give no valid cluster", () => {
      expect(reasonOf(generateCluster({ n: 0, protocol: "paxos" }))).toBe("invalid")
      expect(reasonOf(generateCluster({ n: 3, protocol: "pbft", trust: { kind: "byzantine", f: 1 } }))).toBe("invalid")
      expect(reasonOf(generateCluster({ n: 3, protocol: "paxos", basePort: 65534 }))).toBe("invalid")
      expect(reasonOf(generateCluster({ n: 3, protocol: "paxos", clients: ["a", "a"] }))).toBe("invalid")
      expect(reasonOf(generateCluster({ n: 3, protocol: "paxos", clients: ["no spaces"] }))).toBe("malformed")
    })
  })
})

layer(NodeFileSystem.layer)("ClusterConfig files", (it) => {
  it.scoped("writeCluster writes a config and key files that read back", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = `${yield* fs.makeTempDirectoryScoped({ prefix: "synod-cluster-" })}/demo`
      const paths = yield* writeCluster(dir, base)
      expect(paths).toHaveLength(7)
      expect(yield* readFile(`${dir}/cluster.json`)).toEqual(base.config)
      const alice = yield* readPrivateKeyFile(`${dir}/keys/client-alice.key.json`)
      const msg = enc.encode("request")
      expect(keyRing(base.config).verify(alice.peer, msg, signerOf(alice).sign(msg))).toBe(true)
      expect((yield* fs.stat(`${dir}/keys/replica-0.key.json`)).mode & 0o777).toBe(0o600)
      expect((yield* fs.stat(`${dir}/keys`)).mode & 0o077).toBe(0)
    }))

  it.scoped("readFile reports missing, unreadable and invalid files", () =>
    Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const dir = yield* fs.makeTempDirectoryScoped({ prefix: "synod-cluster-" })
      yield* fs.writeFileString(`${dir}/bad.json`, JSON.stringify({ ...baseJson(), protocol: "paxos" }))
      const reason = (path: string) => Effect.map(Effect.either(readFile(path)), reasonOf)
      expect(yield* reason(`${dir}/none.json`)).toBe("missing")
      expect(yield* reason(dir)).toBe("unreadable")
      expect(yield* reason(`${dir}/bad.json`)).toBe("invalid")
    }))
})
