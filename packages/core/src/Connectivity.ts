/**
 * Connection up/down events per peer (partition events) for the in-memory
 * network. A transport reports each transition of a link with
 * `Metrics.recordConnection` (`synod_connection_events_total{transport,self,peer,event}`
 * and `synod_peer_connected{transport,self,peer}`); the WebSocket transport has
 * its own per-connection counters (`synod_ws_connections_total`).
 *
 * `MemoryTransport` models partitions as links that `disconnect`/`reconnect`
 * turn off and on. `observe` wraps a `MemoryNetwork` so that each of those
 * calls that changes a link's state records one event per direction (from
 * `a`'s side about `b` and from `b`'s side about `a`) under
 * `transport="memory"`. Repeating a call that changes nothing records nothing.
 * A peer that leaves the network (crash) is not a link event here: its frames
 * are counted as `peer-down` drops by the network itself.
 */
import { Effect } from "effect"
import type { PeerId } from "./Ids.js"
import type { MemoryNetwork } from "./MemoryTransport.js"
import * as Metrics from "./Metrics.js"

export const MEMORY_TRANSPORT = "memory"

const linkKey = (a: PeerId, b: PeerId) => (a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`)

/** `network`, with its link changes recorded as connection events. */
export const observe = (network: MemoryNetwork): MemoryNetwork => {
  // links currently down, by unordered pair; bounded by the pairs of peers the caller names
  const down = new Set<string>()
  const transition = (a: PeerId, b: PeerId, event: "up" | "down") =>
    Effect.suspend(() => {
      const key = linkKey(a, b)
      if ((event === "down") === down.has(key)) return Effect.void
      if (event === "down") down.add(key)
      else down.delete(key)
      return Effect.zipRight(
        Metrics.recordConnection(MEMORY_TRANSPORT, a, b, event),
        Metrics.recordConnection(MEMORY_TRANSPORT, b, a, event)
      )
    })
  return {
    ...network,
    disconnect: (a, b) => Effect.zipRight(network.disconnect(a, b), transition(a, b, "down")),
    reconnect: (a, b) => Effect.zipRight(network.reconnect(a, b), transition(a, b, "up"))
  }
}
