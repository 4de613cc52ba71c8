/**
 * @synod/pbft — PBFT (Castro & Liskov, OSDI'99; TOCS'02): pure core, driver,
 * client driver, reply certificates, simulator adapter and Effect shells.
 *
 * PBFT's messages live in the `Pbft` namespace (`Pbft.Prepare` is PBFT's
 * prepare, not Paxos's).
 */
export * as Pbft from "./Messages.js"
export * as Certificates from "./Certificates.js"
export * as Checkpoints from "./Checkpoints.js"
export * as PbftConfig from "./Config.js"
export * as Digest from "./Digest.js"
export * as Evidence from "./Evidence.js"
export * as Log from "./Log.js"
export * as StateTransfer from "./StateTransfer.js"
export * as ViewChange from "./ViewChange.js"
export * as ReplyCertificate from "./ReplyCertificate.js"
export { verifyReplyCertificate } from "./ReplyCertificate.js"
export { verifyEvidence } from "./Evidence.js"
export { PbftCore, type PbftReplicaParams } from "./Core.js"
export * as PbftDriver from "./Driver.js"
/** `status()` of a replica, field by field. */
export * as PbftStatus from "./Status.js"
export * as Client from "./Client.js"
export { PbftClientDriver, type PbftClientConfig, type PbftClientParams } from "./Client.js"
/** The client driver under its first name (kept for code that constructs `new PbftClient(...)`). */
export { PbftClientDriver as PbftClient } from "./Client.js"
/** The Effect shells: `PbftReplica.run`, `PbftClientShell.make`. */
export * as PbftReplica from "./PbftReplica.js"
export * as PbftClientShell from "./PbftClient.js"
export { simProtocol } from "./SimProtocol.js"
export type { PbftMessage } from "./Messages.js"
