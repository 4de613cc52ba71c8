/**
 * The listening socket: an HTTP(S) server whose only business is upgrading to
 * WebSocket. Plain HTTP requests get 426; malformed requests, failed TLS
 * handshakes and bad upgrades only cost their own socket. `maxPayload` is the
 * transport's `maxFrameBytes`, enforced by `ws` from each frame's header before
 * the message is buffered.
 */
import { Transport } from "@synod/core"
import { Effect, type Scope } from "effect"
import * as http from "node:http"
import * as https from "node:https"
import type { AddressInfo } from "node:net"
import { type WebSocket, WebSocketServer } from "ws"
import type { WsLimits } from "../Limits.js"

export interface TlsServerOptions {
  /** PEM certificate chain. */
  readonly cert: string | Buffer
  /** PEM private key of the certificate. */
  readonly key: string | Buffer
}

export interface ListenOptions {
  readonly host?: string
  readonly port: number
  readonly tls?: TlsServerOptions
}

export interface Listening {
  /** `ws://host:port` or `wss://host:port`, with the bound port. */
  readonly url: string
}

export const listen = (
  config: ListenOptions,
  limits: WsLimits,
  onInbound: (ws: WebSocket, req: http.IncomingMessage) => void
): Effect.Effect<Listening, Transport.TransportError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<{ readonly server: http.Server; readonly wss: WebSocketServer; readonly url: string }, Transport.TransportError>((resume) => {
      const server = config.tls === undefined
        ? http.createServer()
        : https.createServer({ cert: config.tls.cert, key: config.tls.key, minVersion: "TLSv1.2" })
      // plain HTTP requests get 426; malformed requests and TLS failures only cost their socket
      server.on("request", (_req, res) => {
        res.writeHead(426, { "content-type": "text/plain", connection: "close" })
        res.end("WebSocket only\n")
      })
      server.on("clientError", (_err, socket) => socket.destroy())
      const wss = new WebSocketServer({ server, maxPayload: limits.maxFrameBytes, perMessageDeflate: false, clientTracking: false })
      wss.on("connection", onInbound)
      wss.on("error", () => {}) // re-emitted server errors; listen errors are handled below
      wss.on("wsClientError", (_err, socket) => socket.destroy())
      const onListenError = (err: Error) => {
        resume(Effect.fail(new Transport.TransportError({ reason: "io", detail: `cannot listen on ${config.host ?? "127.0.0.1"}:${config.port}: ${err.message}` })))
      }
      server.once("error", onListenError)
      server.listen(config.port, config.host ?? "127.0.0.1", () => {
        server.off("error", onListenError)
        server.on("error", () => {})
        const bound = server.address() as AddressInfo
        const host = bound.family === "IPv6" ? `[${bound.address}]` : bound.address
        resume(Effect.succeed({ server, wss, url: `${config.tls === undefined ? "ws" : "wss"}://${host}:${bound.port}` }))
      })
    }),
    ({ server, wss }) =>
      Effect.async<void>((resume) => {
        wss.close()
        server.close(() => resume(Effect.void))
        // sockets still open (peers slow to answer our close) must not hold the shutdown
        server.closeAllConnections()
      })
  )
