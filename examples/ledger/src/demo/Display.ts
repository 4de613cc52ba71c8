/**
 * What the demo shows: a live table redrawn in place on a terminal, one
 * compact line per period otherwise, and the final per-replica table. Pure
 * functions from the observed state to lines.
 */
import type { ReplicaStatus } from "../ReplicaStatus.js"
import { padVisible, type Style, visibleLength } from "../Terminal.js"

export interface ReplicaRow {
  readonly id: number
  readonly byzantine: string | undefined
  /** Latest status, if the replica answered recently. */
  readonly status: ReplicaStatus | undefined
  /** "up", "starting", "down" (killed by the demo), "silent" (process up, no status answer). */
  readonly state: "up" | "starting" | "down" | "silent"
}

export interface Frame {
  readonly title: string
  readonly elapsedSeconds: number
  readonly durationSeconds: number
  readonly rows: ReadonlyArray<ReplicaRow>
  readonly throughput: number
  readonly applied: number
  readonly refused: number
  readonly unknown: number
  readonly phase: string
}

const short = (digest: string) => digest.slice(0, 12)

const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>, right: ReadonlySet<number>): Array<string> => {
  const widths = header.map((h, i) => Math.max(visibleLength(h), ...rows.map((r) => visibleLength(r[i] ?? ""))))
  const line = (cells: ReadonlyArray<string>) =>
    cells.map((c, i) => (right.has(i) ? " ".repeat(Math.max(0, widths[i]! - visibleLength(c))) + c : padVisible(c, widths[i]!))).join("  ").trimEnd()
  return [line(header), ...rows.map(line)]
}

const name = (row: ReplicaRow, s: Style) => (row.byzantine !== undefined ? s.red(`${row.id} byzantine`) : `${row.id}`)

const roleOf = (row: ReplicaRow, s: Style): string => {
  if (row.state === "down") return s.red("down")
  if (row.state === "starting") return s.yellow("starting")
  if (row.status === undefined || row.state === "silent") return s.yellow("no answer")
  const role = row.status.role
  return role === "primary" ? s.green("primary") : role === "view-change" ? s.yellow("view change") : "backup"
}

const noteOf = (row: ReplicaRow, s: Style): string => {
  const st = row.status
  if (st === undefined) return ""
  const actions = Object.values(st.byzantineActions).reduce((a, b) => a + b, 0)
  const parts: Array<string> = []
  if (row.byzantine !== undefined) parts.push(s.red(`${row.byzantine} ×${actions}`))
  if (st.evidence > 0) parts.push(s.yellow(`${st.evidence} evidence`))
  if (st.stateTransfers > 0) parts.push(s.cyan(`${st.stateTransfers} state transfer${st.stateTransfers === 1 ? "" : "s"}`))
  return parts.join(", ")
}

const progress = (f: Frame): string =>
  f.elapsedSeconds < f.durationSeconds && f.phase === "running"
    ? `${f.elapsedSeconds.toFixed(1)} s of ${f.durationSeconds} s`
    : `${f.durationSeconds} s of traffic done · ${f.phase}`

/** The live table (terminal). */
export const liveLines = (f: Frame, s: Style): Array<string> => {
  const rows = f.rows.map((row) => {
    const st = row.state === "up" ? row.status : undefined
    return [
      name(row, s),
      roleOf(row, s),
      st ? String(st.view) : "-",
      st ? String(st.lastCommitted) : "-",
      st ? String(st.lastExecuted) : "-",
      st ? String(st.stableCheckpoint.seq) : "-",
      st ? short(st.stateDigest) : "-",
      st ? String(st.supply) : "-",
      noteOf(row, s)
    ]
  })
  return [
    `${s.bold(f.title)} ${s.dim(`· ${progress(f)}`)}`,
    ...table(["replica", "role", "view", "committed", "executed", "stable cp", "state", "supply", ""], rows, new Set([2, 3, 4, 5, 7])).map((l) => `  ${l}`),
    `  ${s.bold(`${f.throughput.toFixed(0)} transfers/s`)} · applied ${f.applied} · refused ${f.refused}${f.unknown > 0 ? ` · unknown ${f.unknown}` : ""}`
  ]
}

/** One line per period (not a terminal). */
export const plainLine = (f: Frame): string => {
  const replicas = f.rows.map((row) => {
    const st = row.status
    const tag = `r${row.id}${row.byzantine !== undefined ? "(byz)" : ""}`
    if (row.state !== "up" || st === undefined) return `${tag} ${row.state === "up" ? "no answer" : row.state}`
    return `${tag} ${st.role} v${st.view} exec ${st.lastExecuted} cp ${st.stableCheckpoint.seq}`
  })
  return `[${f.elapsedSeconds.toFixed(1).padStart(5)}s] ${f.throughput.toFixed(0)} tx/s, applied ${f.applied}, refused ${f.refused} | ${replicas.join(" | ")}`
}

/** The final per-replica table: view, last executed sequence number, state digest, total supply. */
export const finalLines = (rows: ReadonlyArray<ReplicaRow>, s: Style): Array<string> =>
  table(
    ["replica", "view", "executed", "state digest", "supply", "minted"],
    rows.map((row) => {
      const st = row.status
      return [
        name(row, s),
        st ? String(st.view) : "-",
        st ? String(st.lastExecuted) : "-",
        st ? st.stateDigest.slice(0, 16) : row.state,
        st ? String(st.supply) : "-",
        st ? String(st.minted) : "-"
      ]
    }),
    new Set([1, 2, 4, 5])
  ).map((l) => `  ${l}`)
