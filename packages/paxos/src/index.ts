/**
 * @synod/paxos: Multi-Paxos for crash faults (Lamport, "Paxos Made Simple",
 * 2001) as a pure core, a synchronous driver, and Effect shells.
 *
 * The wire messages live in the `Messages` namespace (`Messages.Prepare` is
 * Paxos phase 1a, not PBFT's prepare).
 */
export * as Ballot from "./Ballot.js"
export * as Client from "./Client.js"
export * as Config from "./Config.js"
export { PaxosCore } from "./Core.js"
export type { CoreParams } from "./Core.js"
export * as Driver from "./Driver.js"
export type { PaxosDriver } from "./Driver.js"
export type { PaxosApplyContext } from "./Learner.js"
export * as Log from "./Log.js"
export * as Messages from "./Messages.js"
export * as PaxosClient from "./PaxosClient.js"
export * as PaxosReplica from "./PaxosReplica.js"
export type { PaxosMessage } from "./Messages.js"
export * as ReadIndex from "./ReadIndex.js"
export * as Reconfiguration from "./Reconfiguration.js"
export * as Session from "./Session.js"
export { simProtocol } from "./SimProtocol.js"
export type { SimOptions } from "./SimProtocol.js"
