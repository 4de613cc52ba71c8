/**
 * The top self-time functions of a V8 CPU profile (`.cpuprofile`, as written
 * by `node --cpu-prof` or `Profiler.stop`), aggregated by function name and
 * file, as percentages of the busy samples (all but `(idle)`, and but the
 * profiler's own work under `node:inspector`). Files are shown relative to the
 * repository (`packages/...`) or to `node_modules` (`effect/...`); `node:`
 * internals and V8 states such as `(garbage collector)` keep their names;
 * native code called from JavaScript (e.g. `run` for a crypto job) has no file.
 */
import * as fs from "node:fs"

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly children?: ReadonlyArray<number>
}

interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

export interface SelfTime {
  readonly fn: string
  readonly file: string
  /** Percent of the profile's busy time. */
  readonly percent: number
}

export interface Summary {
  /** Percent of the sampled time the thread was idle. */
  readonly idlePercent: number
  readonly top: ReadonlyArray<SelfTime>
}

const shortFile = (url: string): string => {
  if (url === "") return ""
  const nm = url.lastIndexOf("/node_modules/")
  if (nm >= 0) return url.slice(nm + "/node_modules/".length)
  const pkg = url.search(/\/(packages|examples|bench)\//)
  return pkg >= 0 ? url.slice(pkg + 1) : url.replace(/^file:\/\//, "")
}

export const topSelfTime = (file: string, n: number): Summary => {
  const profile = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const c of node.children ?? []) parent.set(c, node.id)
  const profilerWork = new Map<number, boolean>()
  const underInspector = (id: number): boolean => {
    const known = profilerWork.get(id)
    if (known !== undefined) return known
    const node = byId.get(id)
    const up = parent.get(id)
    const result = node !== undefined && (node.callFrame.url.startsWith("node:inspector") || (up !== undefined && underInspector(up)))
    profilerWork.set(id, result)
    return result
  }
  const time = new Map<string, { fn: string; file: string; us: number }>()
  let total = 0
  let idle = 0
  let all = 0
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!)
    const dt = profile.timeDeltas[i] ?? 0
    if (node === undefined) continue
    all += dt
    if (node.callFrame.functionName === "(idle)") {
      idle += dt
      continue
    }
    if (underInspector(node.id)) continue
    total += dt
    const fn = node.callFrame.functionName === "" ? "(anonymous)" : node.callFrame.functionName
    const where = shortFile(node.callFrame.url)
    const key = `${fn}\u0000${where}`
    const t = time.get(key)
    if (t === undefined) time.set(key, { fn, file: where, us: dt })
    else t.us += dt
  }
  const top = [...time.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, n)
    .map((t) => ({ fn: t.fn, file: t.file, percent: total === 0 ? 0 : (100 * t.us) / total }))
  return { idlePercent: all === 0 ? 0 : (100 * idle) / all, top }
}
