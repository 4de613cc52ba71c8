import { Effect, Scope, Exit } from "effect"
import { SqliteStorage } from "@synod/storage-sqlite"
import * as fs from "node:fs"
const scope = Effect.runSync(Scope.make())
fs.rmSync("/tmp/sq/b", { recursive: true, force: true }); fs.mkdirSync("/tmp/sq/b", { recursive: true })
const off = Effect.runSync(Scope.extend(SqliteStorage.make({ path: "/tmp/sq/b/off.db", clusterId: "b", replicaId: 0 }), scope))
const on = Effect.runSync(Scope.extend(SqliteStorage.make({ path: "/tmp/sq/b/on.db", clusterId: "b", replicaId: 0, coalesce: true }), scope))
const batch = (i: number) => Array.from({ length: 10 }, (_, j) => ({ key: `k/${i % 100}/${j}`, value: new Uint8Array(200).fill(i) }))
for (let rep = 0; rep < 4; rep++) {
  for (const [name, s] of [["off", off], ["on", on]] as const) {
    const t0 = performance.now()
    await Effect.runPromise(Effect.forEach(Array.from({ length: 300 }, (_, i) => i), (i) => s.write(batch(i)), { discard: true }))
    console.log(name, ((performance.now() - t0) / 300).toFixed(3), "ms/write")
  }
}
await Effect.runPromise(Scope.close(scope, Exit.void))
