/**
 * The transport's signature check and the replica shell's, together: a
 * replica shell (`Replica.run` from @synod/core) on a live transport receives
 * a forged frame and a genuine one from an authenticated peer, for each
 * combination of the transport's `verifySignatures` and the shell's
 * `trustTransportVerification`. The forgery never reaches the core, and each
 * genuine frame's signature is verified exactly once when the shell trusts a
 * verifying transport, twice when it does not.
 */
import { describe, expect, it } from "@effect/vitest"
import { Actor, Crypto, Envelope, Keys, Protocol, Replica, Storage, Transport } from "@synod/core"
import { Effect, Queue } from "effect"
import * as WsMetrics from "../src/WsMetrics.js"
import { envelope, metric, r, rawAuthenticated, ring, sealed, transport } from "./support.js"

type Test = { readonly _tag: "Test"; readonly n: number }

class Recording implements Protocol.Core<Test> {
  readonly received: Array<number> = []
  step(input: Protocol.Input<Test>): void {
    if (input._tag === "Receive") this.received.push(input.envelope.message.n)
  }
  appliedIndex() {
    return this.received.length
  }
  stateDigest() {
    return this.received.join(",")
  }
}

const MAGIC = Envelope.MAGIC

/** The test ring, counting signature checks of envelopes (not of handshake transcripts). */
const countingRing = () => {
  const count = { envelopes: 0 }
  const keys: Crypto.KeyRing = {
    ...ring,
    verify: (peer, bytes, signature) => {
      if (MAGIC.every((b, i) => bytes[i] === b)) count.envelopes++
      return ring.verify(peer, bytes, signature)
    }
  }
  return { keys, count }
}

/** Signed with another key, under replica/1's name. */
const forgery = (n: number) => Envelope.seal(envelope, { peer: r(1).peer, sign: Keys.signerOf(r(2)).sign }, { _tag: "Test", n })

const cases = [
  { verifySignatures: true, trust: true, envelopeChecks: 1 },
  { verifySignatures: true, trust: false, envelopeChecks: 2 },
  { verifySignatures: false, trust: true, envelopeChecks: 1 },
  { verifySignatures: false, trust: false, envelopeChecks: 1 }
] as const

describe("transport and shell verification together", () => {
  for (const c of cases) {
    it.scopedLive(
      `transport verifySignatures ${c.verifySignatures}, shell trustTransportVerification ${c.trust}: a forgery never reaches the core`,
      () =>
        Effect.gen(function*() {
          const { count, keys } = countingRing()
          const t = yield* transport(r(0), { keys, verifySignatures: c.verifySignatures })
          const core = new Recording()
          const { supervisor } = yield* Actor.queueSupervisor()
          const handle = yield* Replica.run(Protocol.driverOf(core), { envelope, supervisor, trustTransportVerification: c.trust }).pipe(
            Effect.provideService(Transport.Transport, t),
            Effect.provideService(Storage.Storage, yield* Storage.makeMemory()),
            Effect.provideService(Keys.SignerService, Keys.signerOf(r(0))),
            Effect.provideService(Keys.KeyRingService, keys)
          )
          const events = yield* handle.subscribe
          const rejectedByTransport = yield* metric(WsMetrics.framesRejected, { self: r(0).peer, reason: "bad-signature" })
          const peer = yield* rawAuthenticated(t.address!, r(1), r(0).peer)

          yield* peer.send(forgery(666))
          yield* peer.send(sealed(r(1), 1))
          yield* peer.send(sealed(r(1), 2))
          yield* handle.awaitApplied(2).pipe(Effect.timeout("5 seconds"), Effect.orDie)
          expect(core.received).toEqual([1, 2])
          if (c.verifySignatures) {
            // dropped by the transport, counted there; the shell never saw it
            expect(yield* metric(WsMetrics.framesRejected, { self: r(0).peer, reason: "bad-signature" })).toBe(rejectedByTransport + 1)
            expect(yield* Queue.size(events)).toBe(0)
          } else {
            const e = yield* Queue.take(events)
            expect(e._tag === "Rejected" && e.rejection.reason).toBe("bad-signature")
          }
          // the forgery once (by whoever rejected it), and each genuine frame once or twice
          expect(count.envelopes).toBe(1 + 2 * c.envelopeChecks)
        })
    )
  }
})
