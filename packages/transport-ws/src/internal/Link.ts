/**
 * What the transport knows about one peer: its address (replicas), its
 * authenticated connections in each direction, the bounded queue of frames
 * waiting for it, and who waits for it to come up.
 *
 * Route: our dialed connection when it is open, else the peer's newest
 * connection to us (replies to clients, which do not listen, and a restarted
 * replica reachable before our back-off expires). The pump moves queued frames
 * to the route until the queue is empty or the socket's buffered amount
 * reaches `maxBufferedBytes`; the socket's next completed write restarts it.
 */
import type { PeerId } from "@synod/core"
import { Deferred, Effect } from "effect"
import type { Connection } from "../Connection.js"
import type { WsLimits } from "../Limits.js"
import { Outbox } from "./Outbox.js"

export interface Link {
  readonly peer: PeerId
  address: string | undefined
  readonly outbox: Outbox
  outbound: Connection | undefined
  inbound: Connection | undefined
  waiters: Array<Deferred.Deferred<void>>
  stopDialing: (() => void) | undefined
}

export const makeLink = (peer: PeerId, address: string | undefined, limits: WsLimits): Link => ({
  peer,
  address,
  outbox: new Outbox(limits.maxQueuedFrames, limits.maxQueuedBytes),
  outbound: undefined,
  inbound: undefined,
  waiters: [],
  stopDialing: undefined
})

export const route = (link: Link): Connection | undefined =>
  link.outbound?.writable ? link.outbound : link.inbound?.writable ? link.inbound : undefined

export const pumpLink = (link: Link, maxBufferedBytes: number): void => {
  const conn = route(link)
  if (conn === undefined) return
  while (link.outbox.length > 0) {
    if (conn.bufferedAmount >= maxBufferedBytes) {
      conn.wantsWritable = true
      return
    }
    conn.send(link.outbox.shift()!)
  }
}

/** Release everyone waiting for this peer to be reachable. */
export const wakeWaiters = (link: Link): void => {
  const waiters = link.waiters
  link.waiters = []
  for (const d of waiters) Deferred.unsafeDone(d, Effect.void)
}
