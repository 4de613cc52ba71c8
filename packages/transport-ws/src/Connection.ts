/**
 * One WebSocket connection: the handshake, then the checks every data frame
 * passes before it is handed to the transport, the flood limits, liveness, and
 * the write side the per-peer pump uses. Event-driven over the `ws` socket's
 * callbacks; it never throws into them (an exception there would crash the
 * process), and it reports to its owner through `ConnectionEvents`.
 *
 * Checks on a data frame, cheapest first (each failure is a typed `Rejection`):
 *   binary message?               else "malformed"
 *   within the flood limits?      else "overloaded"   (frames/s and bytes/s token buckets)
 *   envelope header parses?       else "oversized" / "truncated" / "malformed" / "wrong-protocol"
 *   our cluster id?               else "wrong-cluster"
 *   signed by the handshake peer? else "sender-mismatch"
 *   signature verifies?           else "bad-signature" (when `verifySignatures`)
 * Every rejection takes a token from the connection's rejection budget
 * (`maxRejectedPerSecond`); when the budget is empty the connection is closed
 * as abusive (1008). Oversized messages never reach us: `ws` checks the length
 * in the frame header against `maxPayload`, fails the socket with 1009, and we
 * count an "oversized" rejection.
 */
import { Envelope, type Crypto, type PeerId, type Rejection, reject } from "@synod/core"
import { Either } from "effect"
import type { WebSocket } from "ws"
import type { Handshake } from "./Handshake.js"
import { HandshakeFailure } from "./HandshakeFailure.js"
import { TokenBucket } from "./internal/TokenBucket.js"
import type { WsLimits } from "./Limits.js"
import type { CloseReason } from "./WsMetrics.js"

export interface ConnectionContext {
  readonly clusterId: string
  readonly keys: Crypto.KeyRing
  readonly limits: WsLimits
  /** Whether data frames must be envelopes of our cluster signed by the connection's peer. */
  readonly checkEnvelopes: boolean
  readonly verifySignatures: boolean
  /** Milliseconds from the Effect Clock. */
  readonly now: () => number
}

export interface ConnectionEvents {
  authenticated(conn: Connection): void
  /** A data frame that passed every check. */
  frame(conn: Connection, bytes: Uint8Array): void
  rejected(conn: Connection, rejection: Rejection): void
  handshakeFailed(conn: Connection, failure: HandshakeFailure): void
  /** This side is closing the connection, and why. */
  closing(conn: Connection, reason: CloseReason, detail: string): void
  /** The socket is gone; called exactly once. */
  closed(conn: Connection): void
  /** A write completed while the pump was waiting for the socket to drain. */
  writable(conn: Connection): void
  bytes(direction: "in" | "out", n: number): void
}

export type ConnectionState = "handshaking" | "open" | "closed"

export class Connection {
  state: ConnectionState = "handshaking"
  /** The authenticated peer (set when the handshake succeeds). */
  peer: PeerId | undefined
  readonly openedAt: number
  lastSeen: number
  /** Set by the pump when it stopped because the socket buffer was full. */
  wantsWritable = false
  paused = false
  /** Whether the WebSocket ever opened (a dial that never opened is a failed dial, not a failed handshake). */
  opened = false
  private closing = false
  private readonly frames: TokenBucket
  private readonly bytesBucket: TokenBucket
  private readonly rejections: TokenBucket
  // Node calls write callbacks with `null` on success
  private readonly onSent = (err?: Error | null) => {
    if (err == null && this.wantsWritable) {
      this.wantsWritable = false
      this.events.writable(this)
    }
  }

  constructor(
    readonly ws: WebSocket,
    readonly handshake: Handshake,
    /** Remote address for logs (never a metric tag). */
    readonly remote: string,
    private readonly ctx: ConnectionContext,
    private readonly events: ConnectionEvents
  ) {
    const limits = ctx.limits
    this.openedAt = ctx.now()
    this.lastSeen = this.openedAt
    this.frames = new TokenBucket(limits.maxFramesPerSecond, limits.maxFramesPerSecond)
    this.bytesBucket = new TokenBucket(limits.maxBytesPerSecond, limits.maxBytesPerSecond)
    this.rejections = new TokenBucket(limits.maxRejectedPerSecond, limits.maxRejectedPerSecond)
    ws.binaryType = "nodebuffer"
    ws.on("message", (data, isBinary) => this.guard(() => this.onMessage(data, isBinary)))
    ws.on("pong", () => this.alive())
    ws.on("ping", () => this.alive())
    ws.on("error", (err) => this.guard(() => this.onError(err)))
    ws.on("close", (code, reason) => this.guard(() => this.onClose(code, reason)))
    if (ws.readyState === ws.OPEN) this.start()
    else ws.on("open", () => this.guard(() => this.start()))
  }

  get role() {
    return this.handshake.role
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount
  }

  /** Whether frames can be written now. */
  get writable(): boolean {
    return this.state === "open" && !this.closing && this.ws.readyState === this.ws.OPEN
  }

  /** Write one frame; the caller checked `writable` and the buffer. */
  send(frame: Uint8Array): void {
    this.ws.send(frame, { binary: true }, this.onSent)
    this.events.bytes("out", frame.byteLength)
  }

  /** Stop reading from the socket (the inbox is nearly full); TCP pushes back on the sender. */
  pause(): void {
    if (!this.paused && this.state !== "closed") {
      this.paused = true
      this.ws.pause()
    }
  }

  resume(): void {
    if (this.paused) {
      this.paused = false
      this.lastSeen = this.ctx.now() // time spent paused is our delay, not the peer's silence
      if (this.state !== "closed") this.ws.resume()
    }
  }

  /**
   * Liveness, called every heartbeat interval: fail a handshake that took too
   * long, close a peer silent for too long, and ping the others.
   */
  heartbeat(now: number): void {
    const limits = this.ctx.limits
    if (this.state === "handshaking") {
      if (now - this.openedAt < limits.handshakeTimeoutMs) return
      if (!this.opened) this.terminate()
      else {
        this.failHandshake(new HandshakeFailure({ reason: "timeout", detail: `not finished in ${limits.handshakeTimeoutMs} ms` }))
      }
      return
    }
    if (this.state !== "open" || this.closing || this.paused) return
    if (now - this.lastSeen >= limits.heartbeatTimeoutMs) {
      this.close("heartbeat-timeout", `nothing received for ${now - this.lastSeen} ms`)
      return
    }
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping()
  }

  /**
   * Close from this side, telling the peer why: code 1008 for its faults, 1001
   * when going away, 1011 for our bug; the close text is the reason (and, for a
   * refused handshake, its failure reason: PeerIds are not secret, and an
   * operator on the other side learns why it was refused).
   */
  close(reason: CloseReason, detail: string): void {
    if (this.closing || this.state === "closed") return
    this.closing = true
    this.events.closing(this, reason, detail)
    const code = reason === "shutdown" || reason === "replaced" ? 1001 : reason === "bug" ? 1011 : 1008
    const text = reason === "handshake-failed" ? `${reason}: ${detail}` : reason
    try {
      if (this.ws.readyState === this.ws.CONNECTING) this.ws.terminate()
      else this.ws.close(code, text.slice(0, 120))
    } catch {
      this.ws.terminate()
    }
    // a peer that does not answer our close frame does not get to hold the socket
    const timer = setTimeout(() => this.ws.terminate(), this.ctx.limits.closeGraceMs)
    timer.unref()
  }

  /** Drop the socket at once (no close handshake). */
  terminate(): void {
    this.closing = true
    this.ws.terminate()
  }

  private start(): void {
    this.opened = true
    for (const frame of this.handshake.start()) this.send(frame)
  }

  private alive(): void {
    this.lastSeen = this.ctx.now()
  }

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.state === "closed" || this.closing) return
    const bytes = toBytes(data)
    this.lastSeen = this.ctx.now()
    this.events.bytes("in", bytes.byteLength)
    if (this.state === "handshaking") return this.onHandshakeFrame(bytes, isBinary)
    if (!isBinary) return this.reject(reject("malformed", "text message"))
    this.onData(bytes)
  }

  private onHandshakeFrame(bytes: Uint8Array, isBinary: boolean): void {
    if (!isBinary) {
      return this.failHandshake(new HandshakeFailure({ reason: "malformed", detail: "text message during the handshake" }))
    }
    const step = this.handshake.receive(bytes)
    switch (step._tag) {
      case "Continue":
        for (const frame of step.send) this.send(frame)
        return
      case "Failed":
        return this.failHandshake(step.failure)
      case "Done":
        for (const frame of step.send) this.send(frame)
        this.state = "open"
        this.peer = step.peer
        this.events.authenticated(this)
        return
    }
  }

  private onData(bytes: Uint8Array): void {
    const now = this.ctx.now()
    if (!this.frames.take(now) || !this.bytesBucket.take(now, bytes.byteLength)) {
      return this.reject(reject("overloaded", "flood limit of the connection exceeded"))
    }
    if (!this.ctx.checkEnvelopes) return this.events.frame(this, bytes)
    const header = Envelope.parseFrame(bytes, this.ctx.limits.maxFrameBytes)
    if (Either.isLeft(header)) return this.reject(header.left)
    const h = header.right
    if (h.clusterId !== this.ctx.clusterId) return this.reject(reject("wrong-cluster", `cluster ${h.clusterId.slice(0, 64)}`))
    const peer = this.peer!
    if (h.sender !== peer) {
      return this.reject(reject("sender-mismatch", `signed by ${h.sender.slice(0, 140)}, connection of ${peer}`))
    }
    if (this.ctx.verifySignatures && !this.ctx.keys.verify(peer, h.signed, h.signature)) {
      return this.reject(reject("bad-signature", `signature of ${peer} does not verify`))
    }
    this.events.frame(this, bytes)
  }

  private reject(rejection: Rejection): void {
    this.events.rejected(this, rejection)
    if (!this.rejections.take(this.ctx.now())) {
      this.close("abuse", `more than ${this.ctx.limits.maxRejectedPerSecond} rejected frames per second`)
    }
  }

  private failHandshake(failure: HandshakeFailure): void {
    if (this.state !== "handshaking" || this.closing) return
    this.events.handshakeFailed(this, failure)
    this.close("handshake-failed", failure.reason)
  }

  private onError(err: Error): void {
    const code = (err as { code?: unknown }).code
    if (this.state === "handshaking") {
      if (!this.opened) return // a failed dial: the owner sees the close
      const detail = typeof code === "string" ? code : err.message.slice(0, 200)
      return this.failHandshake(new HandshakeFailure({ reason: "closed", detail }))
    }
    if (this.state === "open" && !this.closing) {
      if (code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
        this.events.rejected(this, reject("oversized", `message larger than ${this.ctx.limits.maxFrameBytes} bytes`))
      } else if (typeof code === "string" && code.startsWith("WS_ERR_")) {
        this.events.rejected(this, reject("malformed", `bad WebSocket framing: ${code}`))
      }
      // ws closes the socket itself after an error; record why it went
      this.closing = true
      this.events.closing(this, "protocol-error", typeof code === "string" ? code : err.message.slice(0, 200))
    }
  }

  private onClose(code: number, reason: Buffer): void {
    if (this.state === "closed") return
    if (this.state === "handshaking" && this.opened && !this.closing) {
      const why = reason.byteLength > 0 ? ` (${code} ${reason.toString("utf8").slice(0, 120)})` : ` (${code})`
      this.events.handshakeFailed(this, new HandshakeFailure({ reason: "closed", detail: `socket closed during the handshake${why}` }))
    }
    this.state = "closed"
    this.paused = false
    this.events.closed(this)
  }

  /** Run a socket callback; an exception is a bug of ours, so close this connection, never the process. */
  private guard(f: () => void): void {
    try {
      f()
    } catch (e) {
      try {
        this.close("bug", String(e).slice(0, 200))
      } catch {
        this.ws.terminate()
      }
    }
  }
}

/** A plain Uint8Array view of what `ws` delivered (no copy for the usual single Buffer). */
const toBytes = (data: WebSocket.RawData): Uint8Array => {
  if (Array.isArray(data)) {
    const joined = Buffer.concat(data)
    return new Uint8Array(joined.buffer, joined.byteOffset, joined.byteLength)
  }
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}
