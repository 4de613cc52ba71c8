/**
 * @synod/example-kv: a linearizable key-value store on Multi-Paxos over
 * WebSocket with durable SQLite storage, its `synod-kv` command line, a load
 * generator that writes client histories, and a local cluster harness (used
 * by the tests, the demo and the benchmarks).
 */
export * as Cli from "./Cli.js"
export * as CliError from "./CliError.js"
export * as ClientSession from "./ClientSession.js"
export * as ClusterDir from "./ClusterDir.js"
export * as HistoryFile from "./HistoryFile.js"
export * as KvClient from "./KvClient.js"
export { Latency } from "./Latency.js"
export * as Load from "./Load.js"
export * as LoadMix from "./LoadMix.js"
export * as LocalCluster from "./LocalCluster.js"
export * as Output from "./Output.js"
export type { KvReplicaStatus } from "./StatusServer.js"
