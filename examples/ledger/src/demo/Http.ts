/** A small JSON GET over node:http with a deadline, for the replicas' local endpoints. */
import { Effect } from "effect"
import * as http from "node:http"

/** Largest body accepted (a /ledger view of a demo run is well below this). */
export const MAX_BODY_BYTES = 64 * 1024 * 1024

export const getJson = (url: string, timeoutMs: number): Effect.Effect<unknown, Error> =>
  Effect.async<unknown, Error>((resume, signal) => {
    const req = http.get(url, { timeout: timeoutMs, signal, agent: false }, (res) => {
      const chunks: Array<Buffer> = []
      let size = 0
      res.on("data", (c: Buffer) => {
        size += c.byteLength
        if (size > MAX_BODY_BYTES) req.destroy(new Error(`${url}: body larger than ${MAX_BODY_BYTES} bytes`))
        else chunks.push(c)
      })
      res.on("end", () => {
        if (res.statusCode !== 200) return resume(Effect.fail(new Error(`${url}: HTTP ${res.statusCode}`)))
        try {
          resume(Effect.succeed(JSON.parse(Buffer.concat(chunks).toString("utf8"))))
        } catch (e) {
          resume(Effect.fail(new Error(`${url}: not JSON: ${String(e).slice(0, 100)}`)))
        }
      })
      res.on("error", (e) => resume(Effect.fail(e)))
    })
    req.on("timeout", () => req.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)))
    req.on("error", (e) => resume(Effect.fail(e)))
  })
