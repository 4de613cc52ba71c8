/**
 * A ledger replica process's local HTTP endpoints (node:http, loopback by
 * default). @synod/core's `Observability.serve` serves the protocol-neutral
 * status; the ledger's `/status` adds what only the ledger knows (state
 * digest, supply) and what the demo shows (Byzantine actions), so it has its
 * own small server:
 *
 *   GET /status    the replica's `ReplicaStatus` as JSON
 *   GET /metrics   every Effect metric of the process in the Prometheus text format (@synod/core's renderer)
 *   GET <path>     any further JSON route the caller adds (the ledger's `/ledger`)
 *
 * Anything else is 404; methods other than GET/HEAD are 405. The server is
 * scoped: closing the scope closes it and its open connections. Requests have
 * no body and answers are built from in-memory state, so there is nothing to
 * bound beyond Node's own header limits; connections idle out after 5 s.
 */
import { Prometheus } from "@synod/core"
import { Effect, type Scope } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

export interface StatusServerOptions {
  readonly host?: string
  /** 0 picks a free port. */
  readonly port: number
  /** The JSON body of `/status`, built when asked. */
  readonly status: () => unknown
  /** More JSON routes by exact path, built when asked. */
  readonly routes?: Readonly<Record<string, () => unknown>>
}

export interface StatusServer {
  /** e.g. `http://127.0.0.1:41234` */
  readonly url: string
  readonly port: number
}

const respond = (res: http.ServerResponse, status: number, type: string, body: string) => {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store", "content-length": Buffer.byteLength(body) })
  res.end(body)
}

const handle = (options: StatusServerOptions) => (req: http.IncomingMessage, res: http.ServerResponse) => {
  try {
    if (req.method !== "GET" && req.method !== "HEAD") return respond(res, 405, "text/plain", "method not allowed\n")
    const path = (req.url ?? "/").split("?")[0]
    if (path === "/status") return respond(res, 200, "application/json", JSON.stringify(options.status()) + "\n")
    if (path === "/metrics") return respond(res, 200, Prometheus.CONTENT_TYPE, Effect.runSync(Prometheus.snapshot))
    const route = path === undefined ? undefined : options.routes?.[path]
    if (route !== undefined) return respond(res, 200, "application/json", JSON.stringify(route()) + "\n")
    return respond(res, 404, "text/plain", "not found: try /status or /metrics\n")
  } catch (e) {
    return respond(res, 500, "text/plain", `status unavailable: ${String(e).slice(0, 200)}\n`)
  }
}

/** Listen until the scope closes. Fails if the port cannot be bound. */
export const make = (options: StatusServerOptions): Effect.Effect<StatusServer, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.async<http.Server, Error>((resume) => {
      const server = http.createServer(handle(options))
      server.keepAliveTimeout = 5000
      const onError = (e: Error) => resume(Effect.fail(new Error(`cannot serve status on port ${options.port}: ${e.message}`)))
      server.once("error", onError)
      server.listen(options.port, options.host ?? "127.0.0.1", () => {
        server.off("error", onError)
        resume(Effect.succeed(server))
      })
    }),
    (server) =>
      Effect.async<void>((resume) => {
        server.close(() => resume(Effect.void))
        server.closeAllConnections()
      })
  ).pipe(Effect.map((server) => {
    const address = server.address() as AddressInfo
    const host = address.family === "IPv6" ? `[${address.address}]` : address.address
    return { url: `http://${host}:${address.port}`, port: address.port }
  }))
