import { Crypto, Keys, replicaPeer } from "@synod/core"
import { transportSuite } from "@synod/core/testing"
import { Effect } from "effect"
import { WebSocketTransport } from "../src/index.js"

const a = Keys.generateKeyPair(replicaPeer(0))
const b = Keys.generateKeyPair(replicaPeer(1))
const keys = Crypto.ed25519KeyRing(new Map([[a.peer, a.publicKey], [b.peer, b.publicKey]]))

transportSuite("ws (opaque frames)", () =>
  Effect.gen(function*() {
    const tb = yield* WebSocketTransport.make({
      clusterId: "suite", signer: Keys.signerOf(b), keys, frames: "opaque", listen: { port: 0 }
    })
    const ta = yield* WebSocketTransport.make({
      clusterId: "suite", signer: Keys.signerOf(a), keys, frames: "opaque", listen: { port: 0 },
      peers: [[b.peer, tb.address!]]
    })
    yield* tb.addPeer(a.peer, ta.address!)
    yield* ta.awaitPeer(b.peer)
    yield* tb.awaitPeer(a.peer)
    return { a: ta, b: tb }
  }))
