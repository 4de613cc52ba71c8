/**
 * The WebSocket transport against @synod/core's Transport compliance suite,
 * twice: carrying opaque bytes, and in its default "envelope" mode, where every
 * data frame must be an envelope signed by the connection's peer. For the
 * latter the suite's bytes travel as the payload of a sealed envelope (a thin
 * adapter below), so the frame checks and signature verification are on the
 * path of every frame the suite sends.
 */
import { Codec, Crypto, Envelope, Keys, replicaPeer, Transport } from "@synod/core"
import { transportSuite } from "@synod/core/testing"
import { Effect, Either, Schema, Stream } from "effect"
import { WebSocketTransport } from "../src/index.js"

const a = Keys.generateKeyPair(replicaPeer(0))
const b = Keys.generateKeyPair(replicaPeer(1))
const keys = Crypto.ed25519KeyRing(new Map([[a.peer, a.publicKey], [b.peer, b.publicKey]]))
const clusterId = "suite"

const connectedPair = (frames: "opaque" | "envelope") =>
  Effect.gen(function*() {
    const tb = yield* WebSocketTransport.make({ clusterId, signer: Keys.signerOf(b), keys, frames, listen: { port: 0 } })
    const ta = yield* WebSocketTransport.make({
      clusterId,
      signer: Keys.signerOf(a),
      keys,
      frames,
      listen: { port: 0 },
      peers: [[b.peer, tb.address!]]
    })
    yield* tb.addPeer(a.peer, ta.address!)
    yield* ta.awaitPeer(b.peer)
    yield* tb.awaitPeer(a.peer)
    return { ta, tb }
  })

transportSuite("ws (opaque frames)", () => Effect.map(connectedPair("opaque"), ({ ta, tb }) => ({ a: ta, b: tb })))

const ctx: Envelope.EnvelopeContext<{ readonly _tag: "Raw" }> = {
  clusterId,
  protocol: "raw/1",
  codec: Codec.makeCodec(Schema.Struct({ _tag: Schema.Literal("Raw") }))
}

/** The suite's bytes as the payload of an envelope sealed by the sender. */
const sealing = (t: Transport.TransportService, signer: Crypto.Signer): Transport.TransportService => {
  const overhead = Envelope.sealPayload(ctx, signer, "Raw", new Uint8Array(0)).byteLength
  return {
    self: t.self,
    maxFrameBytes: t.maxFrameBytes - overhead,
    send: (to, bytes) => Effect.suspend(() => t.send(to, Envelope.sealPayload(ctx, signer, "Raw", bytes))),
    incoming: t.incoming.pipe(
      Stream.map((m) => {
        const header = Envelope.parseFrame(m.bytes)
        if (Either.isLeft(header)) throw new Error(`the transport delivered a frame that does not parse: ${header.left.message}`)
        return { from: m.from, bytes: header.right.payload }
      })
    )
  }
}

transportSuite("ws (signed envelopes)", () =>
  Effect.map(connectedPair("envelope"), ({ ta, tb }) => ({ a: sealing(ta, Keys.signerOf(a)), b: sealing(tb, Keys.signerOf(b)) })))
