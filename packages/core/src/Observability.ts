/**
 * A replica process's operator endpoints over HTTP (node:http):
 *
 *   GET /metrics   every Effect metric of the process, Prometheus text 0.0.4 (`Prometheus`)
 *   GET /status    the replica's `ReplicaStatus` with process info, as JSON (`Status.StatusDocument`):
 *                  { replica, pid, uptimeMs, role, view, leader?, commitIndex, appliedIndex,
 *                    stableCheckpoint?, peers: [{ replica, matchIndex, lag }], extra? }
 *
 * HEAD is answered like GET without a body; another method on these paths is
 * 405; any other path is 404. The server binds to 127.0.0.1 unless told
 * otherwise (these endpoints are for the operator's machine or a scraper next
 * to it, not for the internet), on `port` (0 picks a free one; the bound port
 * is in the result). It is scoped: closing the scope closes the listener and
 * every open connection. `uptimeMs` counts from when the server started, which
 * a replica process does together with its replica.
 *
 * Limits: at most `MAX_CONNECTIONS` (32) connections at once (more are
 * refused by the listener); request headers must arrive within 5 s and a
 * request complete within 10 s; idle keep-alive connections close after 5 s;
 * request bodies are never read. Answers are built from in-memory state.
 *
 *   const server = yield* Observability.serveReplica(handle, { port: 9464 })
 *   // curl http://127.0.0.1:9464/status
 */
import { Clock, Config, Data, Effect, Exit, Option, Runtime, type Scope } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Prometheus from "./Prometheus.js"
import type { ReplicaHandle } from "./Replica.js"
import * as Status from "./Status.js"

export const DEFAULT_HOST = "127.0.0.1"
export const MAX_CONNECTIONS = 32

export interface ServeOptions {
  /** Shown as `replica` in `/status` (e.g. the replica's PeerId). */
  readonly replica: string
  /** The status to serve, read on every request. */
  readonly status: Effect.Effect<Status.ReplicaStatus>
  /** Default `DEFAULT_HOST`. */
  readonly host?: string
  /** Default 0: any free port. */
  readonly port?: number
  /** The `/metrics` page; default the whole registry (`Prometheus.snapshot`). */
  readonly metrics?: Effect.Effect<string>
}

export interface Server {
  readonly host: string
  readonly port: number
  /** e.g. `http://127.0.0.1:41234` */
  readonly url: string
}

/** The port could not be bound (in use, not permitted, bad host). */
export class ServeError extends Data.TaggedError("ServeError")<{
  readonly host: string
  readonly port: number
  readonly detail: string
}> {
  override get message() {
    return `cannot serve on ${this.host}:${this.port}: ${this.detail}`
  }
}

const listenPort = Config.integer("SYNOD_OBSERVABILITY_PORT").pipe(
  Config.validate({ message: "a port from 0 (any free port) to 65535", validation: (p) => p >= 0 && p <= 65535 })
)

/**
 * Where to listen, from `SYNOD_OBSERVABILITY_PORT` (absent: do not serve; 0:
 * any free port) and `SYNOD_OBSERVABILITY_HOST` (default 127.0.0.1), for
 * command lines that take their settings from the environment.
 */
export const listenConfig: Config.Config<Option.Option<{ readonly host: string; readonly port: number }>> = Config.all({
  port: Config.option(listenPort),
  host: Config.string("SYNOD_OBSERVABILITY_HOST").pipe(Config.withDefault(DEFAULT_HOST))
}).pipe(Config.map(({ host, port }) => Option.map(port, (p) => ({ host, port: p }))))

interface Answer {
  readonly status: number
  readonly type: string
  readonly body: string
  readonly headers?: Readonly<Record<string, string>>
}

const text = (status: number, body: string, headers?: Readonly<Record<string, string>>): Answer => ({
  status,
  type: "text/plain; charset=utf-8",
  body,
  ...(headers !== undefined ? { headers } : {})
})

const ROUTES = new Set(["/metrics", "/status"])

const route = (options: ServeOptions, startedAt: number, method: string, path: string): Effect.Effect<Answer> => {
  if (!ROUTES.has(path)) return Effect.succeed(text(404, "not found: try /status or /metrics\n"))
  if (method !== "GET" && method !== "HEAD") return Effect.succeed(text(405, "method not allowed\n", { allow: "GET, HEAD" }))
  if (path === "/metrics") {
    return Effect.map(options.metrics ?? Prometheus.snapshot, (body) => ({ status: 200, type: Prometheus.CONTENT_TYPE, body }))
  }
  return Effect.gen(function*() {
    const status = yield* options.status
    const now = yield* Clock.currentTimeMillis
    const document = Status.encodeDocument({ replica: options.replica, pid: process.pid, uptimeMs: Math.max(0, now - startedAt), ...status })
    return { status: 200, type: "application/json", body: JSON.stringify(document) + "\n" }
  })
}

const respond = (req: http.IncomingMessage, res: http.ServerResponse, answer: Answer) => {
  res.writeHead(answer.status, {
    "content-type": answer.type,
    "content-length": Buffer.byteLength(answer.body),
    "cache-control": "no-store",
    ...answer.headers
  })
  res.end(req.method === "HEAD" ? undefined : answer.body)
}

const listen = (host: string, port: number, handler: http.RequestListener) =>
  Effect.async<http.Server, ServeError>((resume) => {
    const server = http.createServer(handler)
    server.maxConnections = MAX_CONNECTIONS
    server.headersTimeout = 5_000
    server.requestTimeout = 10_000
    server.keepAliveTimeout = 5_000
    const onError = (e: Error) => resume(Effect.fail(new ServeError({ host, port, detail: e.message })))
    server.once("error", onError)
    server.listen(port, host, () => {
      server.off("error", onError)
      resume(Effect.succeed(server))
    })
  })

const close = (server: http.Server) =>
  Effect.async<void>((resume) => {
    server.close(() => resume(Effect.void))
    server.closeAllConnections()
  })

/** Serve `/metrics` and `/status` until the scope closes. */
export const serve = (options: ServeOptions): Effect.Effect<Server, ServeError, Scope.Scope> =>
  Effect.gen(function*() {
    const host = options.host ?? DEFAULT_HOST
    const port = options.port ?? 0
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return yield* new ServeError({ host, port, detail: "port must be an integer from 0 to 65535" })
    }
    const runtime = yield* Effect.runtime<never>()
    const startedAt = yield* Clock.currentTimeMillis
    const handler: http.RequestListener = (req, res) => {
      const path = (req.url ?? "/").split("?")[0] ?? "/"
      const answer = route(options, startedAt, req.method ?? "GET", path).pipe(
        Effect.tapErrorCause((cause) => Effect.logWarning(`GET ${path} failed`, cause))
      )
      void Runtime.runPromiseExit(runtime)(answer).then((exit) =>
        respond(
          req,
          res,
          Exit.isSuccess(exit) ? exit.value : text(500, "status unavailable: the status could not be built\n")
        )
      )
    }
    const server = yield* Effect.acquireRelease(listen(host, port, handler), close)
    const address = server.address() as AddressInfo
    const shown = address.family === "IPv6" ? `[${address.address}]` : address.address
    return { host: address.address, port: address.port, url: `http://${shown}:${address.port}` }
  })

/** Serve a running replica's status and the process's metrics. */
export const serveReplica = (
  handle: ReplicaHandle,
  options: { readonly host?: string; readonly port?: number; readonly replica?: string } = {}
): Effect.Effect<Server, ServeError, Scope.Scope> =>
  serve({
    replica: options.replica ?? handle.peer,
    status: handle.replicaStatus,
    ...(options.host !== undefined ? { host: options.host } : {}),
    ...(options.port !== undefined ? { port: options.port } : {})
  })
