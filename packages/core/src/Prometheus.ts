/**
 * Effect's metric registry in the Prometheus text exposition format, version
 * 0.0.4 (what `GET /metrics` serves). One family per metric name:
 *
 *   # HELP <name> <description>          only when the metric has a description
 *   # TYPE <name> <counter|gauge|histogram|summary>
 *   <name>{<tags>} <value>
 *
 * | Effect metric | Prometheus                                                                 |
 * | ------------- | -------------------------------------------------------------------------- |
 * | counter       | counter: one sample                                                        |
 * | gauge         | gauge: one sample                                                          |
 * | histogram     | histogram: `_bucket{le=...}` cumulative, ascending, then `le="+Inf"` (the  |
 * |               | count), `_sum`, `_count`                                                   |
 * | frequency     | counter: one sample per observed word, labelled `key="<word>"`             |
 * | summary       | summary: `{quantile=...}` per quantile (`NaN` before any sample), `_sum`,  |
 * |               | `_count` (Effect's min/max are not exported)                               |
 *
 * Details of the format that matter: label values escape `\`, `"` and line
 * feeds; HELP text escapes `\` and line feeds; characters outside the allowed
 * name alphabets become `_`; numbers print as JavaScript's shortest round-trip
 * form with `+Inf`, `-Inf` and `NaN` spelled as Prometheus expects; tags are
 * sorted by name. Output is deterministic: families sorted by name, series by
 * their label text. If two metrics of different kinds share a name, the first
 * kind in that order wins and the others are left out (Prometheus would refuse
 * the whole page); so is a second series with the same labels (e.g. the same
 * histogram name with other boundaries).
 */
import { Effect, Metric, type MetricPair, MetricState, Option } from "effect"

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

type Labels = ReadonlyArray<readonly [string, string]>

interface Series {
  readonly labelText: string
  readonly lines: ReadonlyArray<string>
}

interface Family {
  readonly type: "counter" | "gauge" | "histogram" | "summary"
  readonly help: string | undefined
  readonly series: Map<string, Series>
}

/** `[a-zA-Z_:][a-zA-Z0-9_:]*` */
export const metricName = (name: string): string => {
  const s = name.replace(/[^a-zA-Z0-9_:]/g, "_")
  return /^[0-9]/.test(s) ? `_${s}` : s
}

/** `[a-zA-Z_][a-zA-Z0-9_]*` */
export const labelName = (name: string): string => {
  const s = name.replace(/[^a-zA-Z0-9_]/g, "_")
  return /^[0-9]/.test(s) ? `_${s}` : s
}

export const escapeLabelValue = (value: string): string =>
  value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

const escapeHelp = (help: string): string => help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")

export const formatValue = (value: number | bigint): string => {
  if (typeof value === "bigint") return value.toString()
  if (Number.isNaN(value)) return "NaN"
  if (value === Number.POSITIVE_INFINITY) return "+Inf"
  if (value === Number.NEGATIVE_INFINITY) return "-Inf"
  return String(value)
}

const labelText = (labels: Labels): string =>
  labels.length === 0 ? "" : `{${labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`

const sample = (name: string, labels: Labels, value: number | bigint) => `${name}${labelText(labels)} ${formatValue(value)}`

/** The sample lines of one series, or undefined for a state this renderer does not know. */
const linesOf = (
  name: string,
  labels: Labels,
  state: MetricState.MetricState.Untyped
): { readonly type: Family["type"]; readonly lines: ReadonlyArray<string> } | undefined => {
  if (MetricState.isCounterState(state)) return { type: "counter", lines: [sample(name, labels, state.count)] }
  if (MetricState.isGaugeState(state)) return { type: "gauge", lines: [sample(name, labels, state.value)] }
  if (MetricState.isHistogramState(state)) {
    const lines: Array<string> = []
    for (const [bound, cumulative] of state.buckets) {
      if (Number.isFinite(bound)) lines.push(sample(`${name}_bucket`, [...labels, ["le", formatValue(bound)]], cumulative))
    }
    lines.push(
      sample(`${name}_bucket`, [...labels, ["le", "+Inf"]], state.count),
      sample(`${name}_sum`, labels, state.sum),
      sample(`${name}_count`, labels, state.count)
    )
    return { type: "histogram", lines }
  }
  if (MetricState.isFrequencyState(state)) {
    const words = [...state.occurrences.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return { type: "counter", lines: words.map(([word, count]) => sample(name, [...labels, ["key", word]], count)) }
  }
  if (MetricState.isSummaryState(state)) {
    const lines = state.quantiles.map(([q, v]) =>
      sample(name, [...labels, ["quantile", formatValue(q)]], Option.getOrElse(v, () => Number.NaN))
    )
    lines.push(sample(`${name}_sum`, labels, state.sum), sample(`${name}_count`, labels, state.count))
    return { type: "summary", lines }
  }
  return undefined
}

/** Render metric pairs (e.g. `Metric.unsafeSnapshot()`) as an exposition page; "" when there are none. */
export const render = (pairs: Iterable<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, Family>()
  for (const pair of pairs) {
    const key = pair.metricKey
    const name = metricName(key.name)
    const labels: Labels = key.tags
      .map((t) => [labelName(t.key), t.value] as const)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    const rendered = linesOf(name, labels, pair.metricState)
    if (rendered === undefined) continue
    let family = families.get(name)
    if (family === undefined) {
      family = { type: rendered.type, help: Option.getOrUndefined(key.description), series: new Map() }
      families.set(name, family)
    }
    if (family.type !== rendered.type) continue
    const text = labelText(labels)
    if (!family.series.has(text)) family.series.set(text, { labelText: text, lines: rendered.lines })
  }
  const out: Array<string> = []
  for (const name of [...families.keys()].sort()) {
    const family = families.get(name)!
    if (family.help !== undefined) out.push(`# HELP ${name} ${escapeHelp(family.help)}`)
    out.push(`# TYPE ${name} ${family.type}`)
    for (const text of [...family.series.keys()].sort()) out.push(...family.series.get(text)!.lines)
  }
  return out.length === 0 ? "" : out.join("\n") + "\n"
}

/** The whole registry of this process, rendered. */
export const snapshot: Effect.Effect<string> = Effect.map(Metric.snapshot, render)
