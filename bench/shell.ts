/**
 * Suite `shell`: what the generic replica shell of @synod/core costs per
 * incoming frame, with no protocol behind it (the core only counts frames).
 *
 *   memory incoming     frames through `MemoryTransport`'s incoming stream to one consumer
 *   replica, memory     frames from a peer through the in-memory transport into a
 *                       `Replica.run` shell (simulated signatures: cheap to verify,
 *                       so the shell's own overhead shows)
 *   replica, ws         Ed25519 frames over the WebSocket transport (loopback) into a
 *                       `Replica.run` shell, with the transport verifying every frame;
 *                       the shell verifies again ("shell verifies") or accepts the
 *                       transport's verification ("trusts transport", the default)
 *
 * The sender keeps `WINDOW` frames in flight (sends a window, waits until the
 * core has taken all of it). Figures are frames per wall-clock second and CPU
 * microseconds of this process per frame (sender and receiver share the
 * process, so the CPU figure includes sealing nothing: frames are sealed once
 * up front and re-sent).
 */
import {
  Actor,
  Codec,
  Crypto,
  Envelope,
  Keys,
  MemoryTransport,
  type PeerId,
  Protocol,
  Replica,
  replicaPeer,
  Storage,
  Transport
} from "@synod/core"
import { WebSocketTransport } from "@synod/transport-ws"
import { Effect, Exit, Schema, Scope, Stream } from "effect"
import type { Figure } from "./harness.js"

export const name = "shell"
export const description = "replica shell per-frame cost: memory transport pull, Replica.run over memory and WebSocket"

const WINDOW = 500
const DURATION_MS = 1500

const Ping = Schema.TaggedStruct("Ping", { n: Schema.Int })
type Ping = typeof Ping.Type
const codec = Codec.makeCodec(Ping)

/** A core that only counts what it receives, and says when it has reached `target`. */
class CountingCore implements Protocol.Core<Ping> {
  received = 0
  target = 0
  reached: (() => void) | undefined
  step(input: Protocol.Input<Ping>): void {
    if (input._tag === "Receive" && ++this.received >= this.target && this.reached !== undefined) {
      const reached = this.reached
      this.reached = undefined
      reached()
    }
  }
  appliedIndex() {
    return this.received
  }
  stateDigest() {
    return String(this.received)
  }
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6

interface Rig {
  /** Send `n` frames and resolve when the receiver has taken all of them. */
  window(n: number): Promise<void>
  close(): Promise<void>
}

/** Windows of `window` frames; with 1 the sender waits for each frame, so every pull of the stream carries one frame. */
const measureRig = async (label: string, rig: Rig, window = WINDOW): Promise<Array<Figure>> => {
  try {
    for (let i = 0; i < 4; i++) await rig.window(WINDOW)
    const rates: Array<number> = []
    let frames = 0
    const cpu0 = process.cpuUsage()
    const start = nowMs()
    while (nowMs() - start < DURATION_MS) {
      const t0 = nowMs()
      // one timed window is at least WINDOW frames, sent `window` at a time
      for (let sent = 0; sent < WINDOW; sent += window) await rig.window(window)
      rates.push((WINDOW * 1000) / (nowMs() - t0))
      frames += WINDOW
    }
    const elapsed = nowMs() - start
    const cpu = process.cpuUsage(cpu0)
    const mean = rates.reduce((a, b) => a + b, 0) / rates.length
    const sd = Math.sqrt(rates.reduce((a, r) => a + (r - mean) ** 2, 0) / Math.max(1, rates.length - 1))
    return [
      { name: `${label}`, value: Math.round((frames * 1000) / elapsed), unit: "frames/s", note: `±${((100 * sd) / mean).toFixed(1)}% over ${rates.length} windows of ${WINDOW}${window === 1 ? ", one frame in flight" : ""}` },
      { name: `${label}, CPU per frame`, value: (cpu.user + cpu.system) / frames, unit: "µs", note: "this process: sender and receiver" }
    ]
  } finally {
    await rig.close()
  }
}

/** Frames through a memory inbox into one `Stream.runForEach` consumer. */
const memoryIncoming = async (): Promise<Rig> => {
  const scope = Effect.runSync(Scope.make())
  const net = await Effect.runPromise(MemoryTransport.makeNetwork({ inboxCapacity: 2 * WINDOW }))
  const a = await Effect.runPromise(Scope.extend(net.connect(replicaPeer(0)), scope))
  const b = await Effect.runPromise(Scope.extend(net.connect(replicaPeer(1)), scope))
  const frame = new Uint8Array(200).fill(1)
  let count = 0
  let waiting: { n: number; resolve: () => void } | undefined
  Effect.runFork(Scope.extend(Effect.forkScoped(Stream.runForEach(b.incoming, () =>
    Effect.sync(() => {
      if (waiting !== undefined && ++count >= waiting.n) {
        count = 0
        const w = waiting
        waiting = undefined
        w.resolve()
      }
    }))), scope))
  const sendOne = Effect.orDie(a.send(b.self, frame))
  return {
    window: (n) =>
      new Promise<void>((resolve) => {
        waiting = { n, resolve }
        for (let i = 0; i < n; i++) Effect.runSync(sendOne)
      }),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/** A counting replica behind `transport`; `frames` are sent by `send` one window at a time. */
const replicaRig = async (
  scope: Scope.CloseableScope,
  transport: Transport.TransportService,
  signer: Crypto.Signer,
  keys: Crypto.KeyRing,
  ctx: Envelope.EnvelopeContext<Ping>,
  sendOne: Effect.Effect<void>,
  config: Partial<Replica.ReplicaConfig<Ping>>
): Promise<Rig> => {
  const core = new CountingCore()
  const storage = await Effect.runPromise(Storage.makeMemory())
  const handle = await Effect.runPromise(
    Scope.extend(
      Replica.run(Protocol.driverOf(core), { envelope: ctx, supervisor: Actor.logSupervisor, maxOpenSpans: 0, ...config }).pipe(
        Effect.provideService(Transport.Transport, transport),
        Effect.provideService(Storage.Storage, storage),
        Effect.provideService(Keys.SignerService, signer),
        Effect.provideService(Keys.KeyRingService, keys)
      ),
      scope
    )
  )
  void handle
  return {
    // the core's own signal, not `handle.awaitApplied` (a status-stream subscription per call, costly)
    window: (n) =>
      new Promise<void>((resolve) => {
        core.target += n
        core.reached = resolve
        for (let i = 0; i < n; i++) Effect.runSync(sendOne)
      }),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const replicaOverMemory = async (): Promise<Rig> => {
  const scope = Effect.runSync(Scope.make())
  const [r0, r1] = [replicaPeer(0), replicaPeer(1)]
  const keys = Crypto.simulatedKeyRing("bench-shell", [r0, r1])
  const ctx: Envelope.EnvelopeContext<Ping> = { clusterId: "bench", protocol: "ping/1", codec }
  const net = await Effect.runPromise(MemoryTransport.makeNetwork({ inboxCapacity: 2 * WINDOW }))
  const t0 = await Effect.runPromise(Scope.extend(net.connect(r0), scope))
  const t1 = await Effect.runPromise(Scope.extend(net.connect(r1), scope))
  const frame = Envelope.seal(ctx, Crypto.simulatedSigner("bench-shell", r1), { _tag: "Ping", n: 1 })
  return replicaRig(scope, t0, Crypto.simulatedSigner("bench-shell", r0), keys, ctx, Effect.orDie(t1.send(r0, frame)), {})
}

const replicaOverWs = async (trustTransport: boolean): Promise<Rig> => {
  const scope = Effect.runSync(Scope.make())
  const a = Keys.generateKeyPair(replicaPeer(0))
  const b = Keys.generateKeyPair(replicaPeer(1))
  const keys = Crypto.ed25519KeyRing(new Map<PeerId, ReturnType<typeof Crypto.publicKeyOf>>([[a.peer, a.publicKey], [b.peer, b.publicKey]]))
  const ctx: Envelope.EnvelopeContext<Ping> = { clusterId: "bench", protocol: "ping/1", codec }
  const limits = { maxFramesPerSecond: 10_000_000, maxBytesPerSecond: 1024 ** 4 }
  const make = (pair: Keys.PeerKeyPair) =>
    Effect.runPromise(Scope.extend(WebSocketTransport.make({ clusterId: "bench", keys, signer: Keys.signerOf(pair), listen: { port: 0 }, limits }), scope))
  const ta = await make(a)
  const tb = await make(b)
  await Effect.runPromise(Effect.zipRight(ta.addPeer(tb.self, tb.address!), tb.addPeer(ta.self, ta.address!)))
  await Effect.runPromise(Effect.zipRight(ta.awaitPeer(tb.self), tb.awaitPeer(ta.self)))
  const frame = Envelope.seal(ctx, Keys.signerOf(b), { _tag: "Ping", n: 1 })
  return replicaRig(scope, ta, Keys.signerOf(a), keys, ctx, Effect.orDie(tb.send(a.peer, frame)), { trustTransportVerification: trustTransport })
}

export const run = async (): Promise<ReadonlyArray<Figure>> => {
  const figures: Array<Figure> = []
  figures.push(...(await measureRig("memory incoming", await memoryIncoming())))
  figures.push(...(await measureRig("memory incoming, one at a time", await memoryIncoming(), 1)))
  figures.push(...(await measureRig("replica, memory, simulated signatures", await replicaOverMemory())))
  figures.push(...(await measureRig("replica, memory, simulated signatures, one at a time", await replicaOverMemory(), 1)))
  figures.push(...(await measureRig("replica, ws, Ed25519, shell verifies", await replicaOverWs(false))))
  figures.push(...(await measureRig("replica, ws, Ed25519, trusts transport", await replicaOverWs(true))))
  return figures
}
