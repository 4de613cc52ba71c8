import { describe, expect, it } from "@effect/vitest"
import { Effect, Metric, MetricBoundaries, MetricKey, MetricPair, MetricState, Option } from "effect"
import * as Prometheus from "../src/Prometheus.js"

/** The exposition of the registry's metrics whose name starts with `prefix` (this test's own). */
const page = (prefix: string) =>
  Effect.map(Metric.snapshot, (pairs) => Prometheus.render(pairs.filter((p) => p.metricKey.name.startsWith(prefix))))

describe("Prometheus exposition", () => {
  it.effect("renders counters with sorted, escaped labels and a HELP line", () =>
    Effect.gen(function*() {
      const c = Metric.counter("t1_requests_total", { description: "Requests\nserved, \\ included", incremental: true })
      yield* Metric.incrementBy(Metric.tagged(Metric.tagged(c, "route", "/a\"b\\c\nd"), "code", "200"), 3)
      yield* Metric.increment(Metric.tagged(Metric.tagged(c, "route", "/"), "code", "500"))
      const big = Metric.counter("t1_bytes_total", { bigint: true })
      yield* Metric.incrementBy(big, 12345678901234567890n)
      expect(yield* page("t1_")).toBe(
        [
          "# TYPE t1_bytes_total counter",
          "t1_bytes_total 12345678901234567890",
          "# HELP t1_requests_total Requests\\nserved, \\\\ included",
          "# TYPE t1_requests_total counter",
          "t1_requests_total{code=\"200\",route=\"/a\\\"b\\\\c\\nd\"} 3",
          "t1_requests_total{code=\"500\",route=\"/\"} 1",
          ""
        ].join("\n")
      )
    }))

  it.effect("renders gauges, including non-finite values and names outside the alphabet", () =>
    Effect.gen(function*() {
      yield* Metric.set(Metric.gauge("t2.queue-depth", { description: "Depth" }).pipe(Metric.tagged("queue", "in")), 7.5)
      yield* Metric.set(Metric.gauge("t2_ratio").pipe(Metric.tagged("kind", "inf")), Number.POSITIVE_INFINITY)
      yield* Metric.set(Metric.gauge("t2_ratio").pipe(Metric.tagged("kind", "nan")), Number.NaN)
      yield* Metric.set(Metric.gauge("t2_ratio").pipe(Metric.tagged("kind", "neg")), Number.NEGATIVE_INFINITY)
      yield* Metric.set(Metric.gauge("t2_ratio").pipe(Metric.tagged("bad-label", "x")), -0.25)
      expect(yield* page("t2")).toBe(
        [
          "# HELP t2_queue_depth Depth",
          "# TYPE t2_queue_depth gauge",
          "t2_queue_depth{queue=\"in\"} 7.5",
          "# TYPE t2_ratio gauge",
          "t2_ratio{bad_label=\"x\"} -0.25",
          "t2_ratio{kind=\"inf\"} +Inf",
          "t2_ratio{kind=\"nan\"} NaN",
          "t2_ratio{kind=\"neg\"} -Inf",
          ""
        ].join("\n")
      )
    }))

  it.effect("renders histograms with cumulative buckets, +Inf, _sum and _count", () =>
    Effect.gen(function*() {
      const h = Metric.histogram("t3_latency_seconds", MetricBoundaries.fromIterable([0.005, 0.01, 0.1]), "Latency")
      const tagged = h.pipe(Metric.tagged("op", "put"))
      for (const v of [0.001, 0.004, 0.02, 0.05, 3]) yield* Metric.update(tagged, v)
      yield* Metric.update(h.pipe(Metric.tagged("op", "get")), 0.01)
      expect(yield* page("t3_")).toBe(
        [
          "# HELP t3_latency_seconds Latency",
          "# TYPE t3_latency_seconds histogram",
          "t3_latency_seconds_bucket{op=\"get\",le=\"0.005\"} 0",
          "t3_latency_seconds_bucket{op=\"get\",le=\"0.01\"} 1",
          "t3_latency_seconds_bucket{op=\"get\",le=\"0.1\"} 1",
          "t3_latency_seconds_bucket{op=\"get\",le=\"+Inf\"} 1",
          "t3_latency_seconds_sum{op=\"get\"} 0.01",
          "t3_latency_seconds_count{op=\"get\"} 1",
          "t3_latency_seconds_bucket{op=\"put\",le=\"0.005\"} 2",
          "t3_latency_seconds_bucket{op=\"put\",le=\"0.01\"} 2",
          "t3_latency_seconds_bucket{op=\"put\",le=\"0.1\"} 4",
          "t3_latency_seconds_bucket{op=\"put\",le=\"+Inf\"} 5",
          "t3_latency_seconds_sum{op=\"put\"} 3.075",
          "t3_latency_seconds_count{op=\"put\"} 5",
          ""
        ].join("\n")
      )
    }))

  it.effect("renders frequencies as a counter per observed word", () =>
    Effect.gen(function*() {
      const f = Metric.frequency("t4_outcomes", { description: "Outcomes" }).pipe(Metric.tagged("protocol", "p"))
      for (const w of ["ok", "fail", "ok", "a\"b"]) yield* Metric.update(f, w)
      expect(yield* page("t4_")).toBe(
        [
          "# HELP t4_outcomes Outcomes",
          "# TYPE t4_outcomes counter",
          "t4_outcomes{protocol=\"p\",key=\"a\\\"b\"} 1",
          "t4_outcomes{protocol=\"p\",key=\"fail\"} 1",
          "t4_outcomes{protocol=\"p\",key=\"ok\"} 2",
          ""
        ].join("\n")
      )
    }))

  it.effect("renders summaries with quantiles, _sum and _count", () =>
    Effect.gen(function*() {
      const s = Metric.summary({
        name: "t5_sizes",
        description: "Sizes",
        maxAge: "1 hour",
        maxSize: 100,
        error: 0,
        quantiles: [0.5, 1]
      })
      // a sample where every quantile definition agrees: the median is 2, the maximum 5
      for (const v of [2, 5, 2, 5, 2]) yield* Metric.update(s, v)
      expect(yield* page("t5_")).toBe(
        [
          "# HELP t5_sizes Sizes",
          "# TYPE t5_sizes summary",
          "t5_sizes{quantile=\"0.5\"} 2",
          "t5_sizes{quantile=\"1\"} 5",
          "t5_sizes_sum 16",
          "t5_sizes_count 5",
          ""
        ].join("\n")
      )
    }))

  it("renders a quantile without samples as NaN", () => {
    const pair = MetricPair.unsafeMake(
      MetricKey.summary({ name: "t6_empty", maxAge: "1 minute", maxSize: 10, error: 0.01, quantiles: [0.99] }),
      MetricState.summary({ error: 0.01, quantiles: [[0.99, Option.none()]], count: 0, min: 0, max: 0, sum: 0 })
    )
    expect(Prometheus.render([pair])).toBe("# TYPE t6_empty summary\nt6_empty{quantile=\"0.99\"} NaN\nt6_empty_sum 0\nt6_empty_count 0\n")
  })

  it("keeps the first kind met for a name and the first series for a label set", () => {
    const counter = MetricPair.unsafeMake(MetricKey.counter("t7_x"), MetricState.counter(1))
    const gauge = MetricPair.unsafeMake(MetricKey.gauge("t7_x"), MetricState.gauge(2))
    const again = MetricPair.unsafeMake(MetricKey.counter("t7_x"), MetricState.counter(3))
    expect(Prometheus.render([counter, gauge, again])).toBe("# TYPE t7_x counter\nt7_x 1\n")
    expect(Prometheus.render([gauge, counter])).toBe("# TYPE t7_x gauge\nt7_x 2\n")
  })

  it("renders nothing for no metrics", () => {
    expect(Prometheus.render([])).toBe("")
  })

  it("escapes label values and formats numbers as the format requires", () => {
    expect(Prometheus.escapeLabelValue("a\\b\"c\nd")).toBe("a\\\\b\\\"c\\nd")
    expect([1, 0.5, 1e21, -3, Number.NaN, Number.POSITIVE_INFINITY, 10n].map(Prometheus.formatValue)).toEqual([
      "1",
      "0.5",
      "1e+21",
      "-3",
      "NaN",
      "+Inf",
      "10"
    ])
    expect(Prometheus.metricName("9lives.total")).toBe("_9lives_total")
    expect(Prometheus.labelName("a:b")).toBe("a_b")
  })
})
