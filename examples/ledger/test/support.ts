/** Test helpers: run the CLI in-process with captured output, temporary directories, crafted certificates. */
import { FileSystem } from "@effect/platform"
import { NodeFileSystem } from "@effect/platform-node"
import { Envelope, Keys, replicaPeer } from "@synod/core"
import { Pbft } from "@synod/pbft"
import { Effect, Layer } from "effect"
import * as CertificateStore from "../src/CertificateStore.js"
import { run } from "../src/Cli.js"
import * as ClusterDir from "../src/ClusterDir.js"
import { commandCodec, resultCodec } from "../src/LedgerClient.js"
import { Applied, type Command } from "../src/Commands.js"
import { capture } from "../src/Terminal.js"

export interface CliRun {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** Run `synod-ledger <argv>` in this process. */
export const cli = (...argv: ReadonlyArray<string>): Effect.Effect<CliRun> => {
  const { captured, layer } = capture()
  return run(argv).pipe(
    Effect.provide(Layer.merge(NodeFileSystem.layer, layer)),
    Effect.map((code) => ({ code, stdout: captured.stdout.join("\n"), stderr: captured.stderr.join("\n") }))
  )
}

/** A fresh temporary directory, removed with the scope. */
export const tempDir = Effect.flatMap(FileSystem.FileSystem, (fs) => fs.makeTempDirectoryScoped({ prefix: "synod-ledger-test-" })).pipe(
  Effect.provide(NodeFileSystem.layer)
)

export const loadCluster = (dir: string) => ClusterDir.load(dir).pipe(Effect.provide(NodeFileSystem.layer))

/**
 * A certificate record for `command` as if the cluster had answered it with
 * `Applied`: a Reply signed by each of `replicas` (their keys from the cluster directory).
 */
export const craftRecord = (
  cluster: ClusterDir.Cluster,
  client: string,
  command: Command,
  options: { readonly seq: number; readonly index: number; readonly replicas: ReadonlyArray<number> }
) =>
  Effect.gen(function*() {
    const result = resultCodec.encode(new Applied({ id: "t", balance: 1n, replayed: false }))
    const ctx = Pbft.envelopeContext(cluster.config.clusterId)
    const certificate = yield* Effect.forEach(options.replicas, (r) =>
      Effect.map(Keys.readPrivateKeyFile(cluster.layout.key(replicaPeer(r))), (pair) =>
        Envelope.seal(ctx, Keys.signerOf(pair), new Pbft.Reply({
          view: 0 as never,
          clientId: client as never,
          seq: options.seq as never,
          index: options.index as never,
          readOnly: false,
          result
        }))))
    return {
      format: CertificateStore.CERTIFICATE_FORMAT,
      at: new Date(0).toISOString(),
      client,
      seq: options.seq,
      index: options.index,
      readOnly: false,
      summary: `crafted ${options.seq}`,
      command: commandCodec.encode(command),
      result,
      certificate
    } satisfies CertificateStore.CertificateRecord
  }).pipe(Effect.provide(NodeFileSystem.layer))

export const appendRecord = (cluster: ClusterDir.Cluster, record: CertificateStore.CertificateRecord) =>
  CertificateStore.append(cluster, record).pipe(Effect.provide(NodeFileSystem.layer))
