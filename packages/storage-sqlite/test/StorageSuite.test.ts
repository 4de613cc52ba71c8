/** The Storage compliance suite of @synod/core/testing, on a fresh SQLite file per test. */
import { Effect } from "effect"
import { storageSuite } from "@synod/core/testing"
import { SqliteStorage } from "@synod/storage-sqlite"
import { tempDb } from "./support.js"

storageSuite("sqlite", () => Effect.map(tempDb, (path) => ({ open: SqliteStorage.make({ path, clusterId: "suite", replicaId: 0 }) })))

storageSuite(
  "sqlite, coalescing writes",
  () => Effect.map(tempDb, (path) => ({ open: SqliteStorage.make({ path, clusterId: "suite", replicaId: 0, coalesce: true }) }))
)
