/**
 * @synod/storage-sqlite: the `Storage` port on SQLite (better-sqlite3), durable
 * per batch (WAL, synchronous=FULL), with typed errors for corrupt and foreign
 * database files.
 */
export * as SqliteStorage from "./SqliteStorage.js"
export { layerSqlite } from "./SqliteStorage.js"
