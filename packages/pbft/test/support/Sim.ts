/** Helpers for simulator scenarios: a quiet network, keys of a run, and small drivers of the manual API. */
import { type Client, clientPeer, Crypto, type PeerId, replicaPeer } from "@synod/core"
import { Kv, Simulator } from "@synod/core/testing"
import type { PbftDriver } from "../../src/Driver.js"
import type { PbftMessage } from "../../src/Messages.js"

export const quiet = { drop: 0, duplicate: 0, reorder: false, partitions: false, crashes: false, unsyncedLoss: 0, clockSkew: false }

/** The key ring the simulator builds for a run (so certificates can be checked offline). */
export const simKeys = (seed: number, replicas: number, clients: number): Crypto.KeyRing => {
  const peers: Array<PeerId> = []
  for (let r = 0; r < replicas; r++) peers.push(replicaPeer(r))
  for (let c = 0; c < clients; c++) peers.push(clientPeer(`c${c}`))
  return Crypto.simulatedKeyRing(`sim-${seed}`, peers)
}

export type Sim = Simulator.Simulation<PbftMessage>

export const pbft = (sim: Sim, r: number): PbftDriver => sim.replica(r) as PbftDriver

/** Submit `command` from `client` and run until it completes; the completed operation. */
export const request = (sim: Sim, client: number, command: Kv.Command, opts: { readOnly?: boolean; maxTicks?: number } = {}): Client.ClientCompletion => {
  const seq = sim.submit(client, Kv.encodeCommand(command), { readOnly: opts.readOnly ?? false })
  if (seq === undefined) throw new Error(`client ${client} is busy`)
  const done = () => sim.completions().find((op) => op.clientId === `c${client}` && op.seq === seq)
  if (!sim.runUntil(() => done() !== undefined, opts.maxTicks ?? 3000)) throw new Error(`request ${seq} of client ${client} did not complete`)
  return done()!
}

export const views = (sim: Sim, replicas: ReadonlyArray<number>): Array<number> => replicas.map((r) => pbft(sim, r).view())
