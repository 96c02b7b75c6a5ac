import { Histogram, type HistogramConfiguration } from 'prom-client';

type Labels = Record<string, string>;

/**
 * The durations of one breaker's calls with one outcome: plain counters, so that observing a
 * call costs a few additions and no allocation (prom-client's own `observe()` hashes and
 * validates the labels on every call, which costs more than the breaker itself).
 * @internal
 */
export class DurationSeries {
  /** Observations per bucket (not cumulative): counts[i] is for (bounds[i-1], bounds[i]]. */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly labels: Readonly<Labels>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (seconds <= bounds[i]) {
        this.counts[i]++;
        return;
      }
    }
  }

  /** The `_bucket`, `_sum` and `_count` samples, as prom-client's `get()` lists them. */
  samples(name: string): { metricName: string; labels: Labels; value: number }[] {
    const out = [];
    let cumulative = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += this.counts[i];
      out.push({
        metricName: `${name}_bucket`,
        labels: { ...this.labels, le: String(this.bounds[i]) },
        value: cumulative,
      });
    }
    out.push(
      { metricName: `${name}_bucket`, labels: { ...this.labels, le: '+Inf' }, value: this.count },
      { metricName: `${name}_sum`, labels: { ...this.labels }, value: this.sum },
      { metricName: `${name}_count`, labels: { ...this.labels }, value: this.count },
    );
    return out;
  }
}

/**
 * A prom-client histogram whose values come from `DurationSeries` kept elsewhere: registered
 * and exposed like any histogram (text format, OpenMetrics, `getMetricsAsJSON()`, cluster
 * aggregation all read `get()`), observed without prom-client's per-call label handling.
 * Its own `observe()` is not used.
 * @internal
 */
export class CallDurationHistogram extends Histogram<string> {
  private readonly metricName: string;
  private readonly metricHelp: string;

  constructor(
    configuration: HistogramConfiguration<string>,
    private readonly series: () => Iterable<DurationSeries>,
  ) {
    super(configuration);
    this.metricName = configuration.name;
    this.metricHelp = configuration.help;
  }

  override async get(): Promise<Awaited<ReturnType<Histogram<string>['get']>>> {
    const values = [];
    for (const series of this.series()) values.push(...series.samples(this.metricName));
    return {
      name: this.metricName,
      help: this.metricHelp,
      type: 'histogram',
      aggregator: 'sum',
      values,
    } as unknown as Awaited<ReturnType<Histogram<string>['get']>>;
  }

  /** What the registry reads for the text format when a metric has it: the same as get(). */
  async getForPromString(): Promise<Awaited<ReturnType<Histogram<string>['get']>>> {
    return this.get();
  }
}
