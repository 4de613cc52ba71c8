/**
 * Free TCP ports on the loopback interface, so two demos (or CI jobs) never
 * collide: each port is bound with port 0 (the kernel picks a free one) and
 * released just before a replica binds it. All are held open together, so
 * one call never returns the same port twice.
 */
import { Effect } from "effect"
import * as net from "node:net"

export const freePorts = (count: number, host = "127.0.0.1"): Effect.Effect<ReadonlyArray<number>, Error> =>
  Effect.async<ReadonlyArray<number>, Error>((resume) => {
    const servers: Array<net.Server> = []
    const ports: Array<number> = []
    let failed = false
    const closeAll = (then: () => void) => {
      let open = servers.length
      if (open === 0) return then()
      for (const s of servers) s.close(() => --open === 0 && then())
    }
    for (let i = 0; i < count; i++) {
      const server = net.createServer()
      servers.push(server)
      server.once("error", (e) => {
        if (failed) return
        failed = true
        closeAll(() => resume(Effect.fail(new Error(`cannot find a free port: ${e.message}`))))
      })
      server.listen(0, host, () => {
        ports.push((server.address() as net.AddressInfo).port)
        if (ports.length === count && !failed) closeAll(() => resume(Effect.succeed(ports)))
      })
    }
  })
