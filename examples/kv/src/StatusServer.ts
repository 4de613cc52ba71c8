/**
 * A replica process's status endpoint over HTTP (node:http), on 127.0.0.1:
 *
 *   GET /status    the replica's `KvReplicaStatus` as JSON (below)
 *   GET /metrics   every Effect metric of the process, Prometheus text (`Prometheus.snapshot`)
 *
 * The test, the demo and the benchmarks read `/status` to find the leader,
 * compare state digests and add up CPU time and bytes sent. Answers are built
 * from in-memory state. Limits: 16 connections at once; request headers within
 * 5 s; idle keep-alive connections close after 5 s; bodies are never read.
 */
import { Prometheus } from "@synod/core"
import { Data, Effect, Exit, Runtime, type Scope } from "effect"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

export interface KvReplicaStatus {
  readonly replica: number
  readonly pid: number
  readonly role: string
  readonly leader: number | null
  /** Round of the ballot this replica leads or follows. */
  readonly view: number
  readonly commitIndex: number
  readonly appliedIndex: number
  /** Digest of the key-value state (and sessions) at `appliedIndex`. */
  readonly stateDigest: string
  /** `process.cpuUsage()` of the replica process, in microseconds. */
  readonly cpu: { readonly user: number; readonly system: number }
  /** Bytes this replica sent and received over WebSocket since it started. */
  readonly wire: { readonly bytesOut: number; readonly bytesIn: number }
  /** SQLite transactions (each one fsync) and batches written since it started. */
  readonly storage: { readonly transactions: number; readonly batches: number; readonly writes: number }
  readonly uptimeMs: number
}

export class StatusServerError extends Data.TaggedError("StatusServerError")<{ readonly port: number; readonly detail: string }> {
  override get message() {
    return `cannot serve the status on 127.0.0.1:${this.port}: ${this.detail}`
  }
}

const MAX_CONNECTIONS = 16
const HOST = "127.0.0.1"

const reply = (req: http.IncomingMessage, res: http.ServerResponse, status: number, type: string, body: string) => {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body), "cache-control": "no-store" })
  res.end(req.method === "HEAD" ? undefined : body)
}

/** Serve until the scope closes; succeeds with the base URL, e.g. `http://127.0.0.1:41234`. */
export const serve = (port: number, status: Effect.Effect<KvReplicaStatus>): Effect.Effect<string, StatusServerError, Scope.Scope> =>
  Effect.gen(function*() {
    const runtime = yield* Effect.runtime<never>()
    const answer = (path: string): Effect.Effect<readonly [number, string, string]> =>
      path === "/status"
        ? Effect.map(status, (s) => [200, "application/json", JSON.stringify(s) + "\n"] as const)
        : path === "/metrics"
        ? Effect.map(Prometheus.snapshot, (body) => [200, Prometheus.CONTENT_TYPE, body] as const)
        : Effect.succeed([404, "text/plain", "not found: try /status or /metrics\n"] as const)
    const handler: http.RequestListener = (req, res) => {
      if (req.method !== "GET" && req.method !== "HEAD") return reply(req, res, 405, "text/plain", "method not allowed\n")
      const path = (req.url ?? "/").split("?")[0] ?? "/"
      void Runtime.runPromiseExit(runtime)(answer(path)).then((exit) =>
        Exit.isSuccess(exit) ? reply(req, res, ...exit.value) : reply(req, res, 500, "text/plain", "status unavailable\n")
      )
    }
    const server = yield* Effect.acquireRelease(
      Effect.async<http.Server, StatusServerError>((resume) => {
        const s = http.createServer(handler)
        s.maxConnections = MAX_CONNECTIONS
        s.headersTimeout = 5_000
        s.keepAliveTimeout = 5_000
        s.once("error", (e) => resume(Effect.fail(new StatusServerError({ port, detail: e.message }))))
        s.listen(port, HOST, () => resume(Effect.succeed(s)))
      }),
      (s) =>
        Effect.async<void>((resume) => {
          s.close(() => resume(Effect.void))
          s.closeAllConnections()
        })
    )
    return `http://${HOST}:${(server.address() as AddressInfo).port}`
  })
