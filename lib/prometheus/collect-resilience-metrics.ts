import { Logger } from '@nestjs/common';
import { Counter, Gauge } from 'prom-client';
import { CallDurationHistogram, DurationSeries } from './call-duration.histogram';
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import type { Disposable } from '../common/emitter';
import type { CallObserver, ResilienceEvent } from '../common/events';
import { CALL_RESULTS, CIRCUIT_STATE_VALUES, RETRY_RESULTS } from '../common/metrics-defaults';
import type { ResilienceRegistry } from '../registry/resilience.registry';
import type { ResilienceStats } from '../registry/resilience-stats.interface';
import {
  PROMETHEUS_BUCKETS_DIFFER,
  PROMETHEUS_LABEL_NAMES_DIFFER,
  PROMETHEUS_NAME_TAKEN,
  PROMETHEUS_NOT_A_REGISTRY,
  PROMETHEUS_SAME_LABELS,
  PROMETHEUS_STATS_FAILED,
} from './prometheus.messages';
import {
  type MetricsRegistry,
  resolvePrometheusOptions,
  type ResiliencePrometheusOptions,
  type ResolvedPrometheusOptions,
} from './resilience-prometheus.options';

type Labels = Record<string, string>;

/** `circuit_breaker_state` values. @publicApi */
export { CIRCUIT_STATE_VALUES };

/**
 * Collects the metrics of one `ResilienceRegistry` (one application) into a prom-client
 * registry, until `dispose()`:
 * - counters and gauges whose truth lives in `stats()` are read when the registry is
 *   scraped (one `stats()` per scrape), so calls pay nothing for them, and policies created
 *   later (lazily, on first call) show up at the next scrape. A `stats()` that throws is
 *   logged (once until it works again) and the scrape serves the figures of the last read
 *   that worked;
 * - `circuit_breaker_state_transitions_total`, `dead_letters_total` and
 *   `slo_violations_total` count `events$` from now on;
 * - `circuit_breaker_call_duration_seconds` observes every call a breaker admits
 *   (`observeCalls`).
 *
 * Several applications can share one prom-client registry when each gives different
 * constant `labels` (same label names) or a different `prefix`; otherwise this throws a
 * `ResilienceConfigError` saying so. `dispose()` removes this application's series, and the
 * metrics themselves once no application is left.
 * @publicApi
 */
export function collectResilienceMetrics(
  resilience: ResilienceRegistry,
  options: ResiliencePrometheusOptions = {},
): Disposable {
  if (!isResilienceRegistry(resilience)) {
    throw new ResilienceConfigError(
      PROMETHEUS_NOT_A_REGISTRY(resilience),
      'ResiliencePrometheusModule',
      'resilience',
      resilience,
    );
  }
  const resolved = resolvePrometheusOptions(options);
  const group = MetricGroup.join(resolved);
  const source = new MetricSource(resilience, resolved.labels, group);
  group.add(source);
  return { dispose: () => source.dispose() };
}

const isResilienceRegistry = (value: unknown): value is ResilienceRegistry =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as ResilienceRegistry).stats === 'function' &&
  typeof (value as ResilienceRegistry).observeCalls === 'function' &&
  typeof (value as ResilienceRegistry).events$?.subscribe === 'function';

/** Sets a gauge's or adds to a counter's series. */
type Put = (labels: Labels, value: number) => void;

/** Writes one application's series of one metric. */
type Write = (source: MetricSource, put: Put) => void;

/** One metric of the API §8 table and beyond: its name (without prefix) and what it shows. */
interface MetricDefinition {
  readonly name: string;
  readonly type: 'gauge' | 'counter' | 'histogram';
  readonly help: string;
  /** Label names after the constant labels. */
  readonly labels: readonly string[];
  /** Undefined for the histogram, which reads its series itself. */
  readonly write?: Write;
}

const NAMED = ['name'];
const BY_RESULT = ['name', 'result'];

/** A row of the table below: a gauge or a counter rebuilt at each scrape by `write`. */
const row =
  (type: 'gauge' | 'counter') =>
  (name: string, labels: readonly string[], help: string, write: Write): MetricDefinition => ({
    name,
    type,
    help,
    labels,
    write,
  });
const gauge = row('gauge');
const counter = row('counter');

/** Writers of the metrics that differ by one field of the stats only. */
const bulkhead =
  (field: 'active' | 'queued' | 'rejected'): Write =>
  (source, put) =>
    source.writeBulkhead(put, field);
const queue =
  (field: 'published' | 'failedToPublish' | 'dropped' | 'buffered'): Write =>
  (source, put) =>
    source.writeDeadLetterQueue(put, field);
const slo =
  (field: 'successRate' | 'errorBudgetRemaining' | 'target' | 'violated'): Write =>
  (source, put) =>
    source.writeSlo(put, field);

/** Every metric, in the order they are registered (and exposed). */
const METRICS: readonly MetricDefinition[] = [
  gauge(
    'circuit_breaker_state',
    NAMED,
    'State of the circuit breaker: 0 closed, 1 open, 2 half-open.',
    (source, put) => source.writeState(put),
  ),
  counter(
    'circuit_breaker_calls_total',
    BY_RESULT,
    'Calls through the circuit breaker by result: success, failure or rejected (not admitted).',
    (source, put) => source.writeCalls(put),
  ),
  counter(
    'circuit_breaker_state_transitions_total',
    ['name', 'from', 'to'],
    'State changes of the circuit breaker, by the state it left and the state it entered.',
    (source, put) => source.writeTransitions(put),
  ),
  {
    name: 'circuit_breaker_call_duration_seconds',
    type: 'histogram',
    help: 'Duration of the calls the circuit breaker admitted, by result (success or failure).',
    labels: BY_RESULT,
  },
  counter(
    'retry_calls_total',
    BY_RESULT,
    'Calls through the retry policy by result: success_without_retry, success_with_retry, ' +
      'failed_with_retry or failed_without_retry.',
    (source, put) => source.writeRetries(put),
  ),
  counter(
    'timeout_total',
    NAMED,
    'Calls that ran out of time in the timeout policy.',
    (source, put) => source.writeTimeouts(put),
  ),
  gauge('bulkhead_active', NAMED, 'Calls running in the bulkhead now.', bulkhead('active')),
  gauge('bulkhead_queued', NAMED, 'Calls waiting for a bulkhead slot now.', bulkhead('queued')),
  counter(
    'bulkhead_rejected_total',
    NAMED,
    'Calls the bulkhead rejected (full, queue timeout, evicted or shutdown).',
    bulkhead('rejected'),
  ),
  counter(
    'dead_letters_total',
    NAMED,
    'Dead letters produced by calls that finally failed, by the policy that produced them.',
    (source, put) => source.writeDeadLetters(put),
  ),
  counter(
    'dead_letters_published_total',
    [],
    'Dead letters the dead-letter queue accepted.',
    queue('published'),
  ),
  counter(
    'dead_letter_publish_failures_total',
    [],
    'Publish attempts to the dead-letter queue that failed or timed out (the letter is buffered and retried).',
    queue('failedToPublish'),
  ),
  counter(
    'dead_letters_dropped_total',
    [],
    'Dead letters lost: dropped from the full local buffer, not delivered at shutdown, or dropped by the queue itself when full.',
    queue('dropped'),
  ),
  gauge(
    'dead_letters_buffered',
    [],
    'Dead letters waiting in the local buffer to be published again.',
    queue('buffered'),
  ),
  gauge(
    'slo_success_ratio',
    NAMED,
    'Share of the calls in the SLO window that succeeded, 0..1 (1 with no calls).',
    slo('successRate'),
  ),
  gauge(
    'slo_error_budget_remaining_ratio',
    NAMED,
    'Share of the SLO error budget left in the window, 0..1 (0 once spent).',
    slo('errorBudgetRemaining'),
  ),
  gauge(
    'slo_target_ratio',
    NAMED,
    'The success ratio the SLO must meet over its window.',
    slo('target'),
  ),
  gauge(
    'slo_violated',
    NAMED,
    'Whether the SLO is violated now: 1 violated, 0 met (or too few calls for a verdict).',
    slo('violated'),
  ),
  counter(
    'slo_violations_total',
    NAMED,
    'Times the SLO became violated (each crossing below its target counts once).',
    (source, put) => source.writeSloViolations(put),
  ),
];

/**
 * The metrics of one prom-client registry and prefix, shared by every application collected
 * into them (prom-client allows one metric per name in a registry).
 */
class MetricGroup {
  private static readonly groups = new WeakMap<MetricsRegistry, Map<string, MetricGroup>>();

  static join(options: ResolvedPrometheusOptions): MetricGroup {
    let byPrefix = MetricGroup.groups.get(options.registry);
    if (!byPrefix) MetricGroup.groups.set(options.registry, (byPrefix = new Map()));
    const existing = byPrefix.get(options.prefix);
    if (!existing) {
      const group = new MetricGroup(options);
      byPrefix.set(options.prefix, group);
      return group;
    }
    existing.accept(options);
    return existing;
  }

  readonly sources = new Set<MetricSource>();
  readonly labelNames: readonly string[];
  readonly buckets: readonly number[];
  private readonly registry: MetricsRegistry;
  private readonly prefix: string;
  /** Every metric of the group, by the name it was registered under. */
  private readonly metrics = new Map<string, Gauge | Counter | CallDurationHistogram>();

  private constructor(options: ResolvedPrometheusOptions) {
    this.registry = options.registry;
    this.prefix = options.prefix;
    this.labelNames = Object.keys(options.labels).sort();
    this.buckets = options.buckets;
    for (const { name } of METRICS) this.checkFree(this.prefix + name);
    for (const definition of METRICS) {
      const metric = this.create(definition);
      this.metrics.set(this.prefix + definition.name, metric);
    }
  }

  /** Checks that another application may join with these options. */
  private accept(options: ResolvedPrometheusOptions): void {
    const names = Object.keys(options.labels).sort();
    if (names.join('\0') !== this.labelNames.join('\0')) {
      throw new ResilienceConfigError(
        PROMETHEUS_LABEL_NAMES_DIFFER(this.prefix, this.labelNames, names),
        'ResiliencePrometheusModule',
        'labels',
        options.labels,
      );
    }
    if (options.buckets.join() !== this.buckets.join()) {
      throw new ResilienceConfigError(
        PROMETHEUS_BUCKETS_DIFFER(this.prefix, this.buckets, options.buckets),
        'ResiliencePrometheusModule',
        'buckets',
        options.buckets,
      );
    }
    for (const source of this.sources) {
      if (this.labelNames.every((name) => source.labels[name] === options.labels[name])) {
        throw new ResilienceConfigError(
          PROMETHEUS_SAME_LABELS(this.prefix, options.labels),
          'ResiliencePrometheusModule',
          'labels',
          options.labels,
        );
      }
    }
    // the registry may have been cleared since (registry.clear()): register the metrics again
    for (const [name, metric] of this.metrics) {
      if (this.registry.getSingleMetric(name) === metric) continue;
      this.checkFree(name);
      this.registry.registerMetric(metric);
    }
  }

  add(source: MetricSource): void {
    this.sources.add(source);
  }

  remove(source: MetricSource): void {
    this.sources.delete(source);
    if (this.sources.size > 0) return;
    for (const [name, metric] of this.metrics) {
      if (this.registry.getSingleMetric(name) === metric) this.registry.removeSingleMetric(name);
    }
    MetricGroup.groups.get(this.registry)?.delete(this.prefix);
  }

  private checkFree(name: string): void {
    if (this.registry.getSingleMetric(name) !== undefined) {
      throw new ResilienceConfigError(
        PROMETHEUS_NAME_TAKEN(name),
        'ResiliencePrometheusModule',
        'prefix',
        this.prefix,
      );
    }
  }

  /** Registers one metric; gauges and counters are rebuilt from every source at each scrape. */
  private create({
    name,
    type,
    help,
    labels,
    write,
  }: MetricDefinition): Gauge | Counter | CallDurationHistogram {
    const sources = this.sources;
    const configuration = {
      name: this.prefix + name,
      help,
      labelNames: [...this.labelNames, ...labels],
      registers: [this.registry],
    };
    if (type === 'histogram' || write === undefined) {
      return new CallDurationHistogram(
        { ...configuration, buckets: [...this.buckets] },
        function* () {
          for (const source of sources) yield* source.durationSeries();
        },
      );
    }
    const collect = (metric: Gauge | Counter, put: Put): void => {
      metric.reset();
      for (const source of sources) {
        // stats() first, whichever metric a scrape reads first: the counters made of events
        // then hold what that read emitted (an SLO found violated by it counts at once)
        source.stats();
        write(source, put);
      }
    };
    if (type === 'gauge') {
      const gauge: Gauge = new Gauge({
        ...configuration,
        collect: () => collect(gauge, (labels, value) => gauge.set(labels, value)),
      });
      return gauge;
    }
    const counter: Counter = new Counter({
      ...configuration,
      collect: () => collect(counter, (labels, value) => counter.inc(labels, value)),
    });
    return counter;
  }
}

/** One application's share of a group: what it reads and counts, and its series. */
class MetricSource {
  private static readonly logger = new Logger('Resilience');
  /** Transitions seen on `events$`, by breaker and states. */
  private readonly transitions = new Map<string, { labels: Labels; count: number }>();
  /** Dead letters seen on `events$`, by policy. */
  private readonly letters = new Map<string, number>();
  /** SLO violations seen on `events$`, by policy. */
  private readonly violations = new Map<string, number>();
  /** Call durations by breaker name: [success, failure], made on the name's first call. */
  private readonly durations = new Map<string, [DurationSeries, DurationSeries]>();
  private readonly calls: Disposable;
  private readonly events: { unsubscribe(): void };
  /** This scrape's figures (null: none to serve); undefined between scrapes. */
  private snapshot?: ResilienceStats | null;
  /** The last `stats()` that worked. */
  private lastRead?: ResilienceStats;
  /** Whether the failure of `stats()` was logged (reset once it works again). */
  private failureLogged = false;
  private disposed = false;

  constructor(
    private readonly resilience: ResilienceRegistry,
    readonly labels: Readonly<Labels>,
    private readonly group: MetricGroup,
  ) {
    this.calls = resilience.observeCalls(this.observe);
    this.events = resilience.events$.subscribe((event) => this.count(event));
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.calls.dispose();
    this.events.unsubscribe();
    this.group.remove(this);
  }

  /** On the call path: one Map lookup and a few additions. */
  private readonly observe: CallObserver = (name, duration, outcome) => {
    let pair = this.durations.get(name);
    if (!pair) {
      const bounds = this.group.buckets;
      pair = [
        new DurationSeries({ ...this.labels, name, result: 'success' }, bounds),
        new DurationSeries({ ...this.labels, name, result: 'failure' }, bounds),
      ];
      this.durations.set(name, pair);
    }
    pair[outcome === 'success' ? 0 : 1].observe(duration / 1000);
  };

  /** The duration series of this application, both outcomes of every breaker called. */
  *durationSeries(): Iterable<DurationSeries> {
    for (const pair of this.durations.values()) yield* pair;
  }

  private count(event: ResilienceEvent): void {
    if (event.type === 'state-change') {
      const key = `${event.name}\0${event.from}\0${event.to}`;
      const entry = this.transitions.get(key);
      if (entry) entry.count++;
      else {
        const labels = { ...this.labels, name: event.name, from: event.from, to: event.to };
        this.transitions.set(key, { labels, count: 1 });
      }
    } else if (event.type === 'dead-letter') {
      this.letters.set(event.name, (this.letters.get(event.name) ?? 0) + 1);
    } else if (event.type === 'slo-violation') {
      this.violations.set(event.name, (this.violations.get(event.name) ?? 0) + 1);
    }
  }

  /**
   * `stats()` once per scrape (every metric's collect() of one scrape runs in one turn). When
   * it throws, the figures of the last read that worked (none before the first): counters
   * must not fall back to 0, which `rate()` would take for a restart. The failure is logged
   * once, then again only after a read has worked in between.
   */
  stats(): ResilienceStats | undefined {
    if (this.snapshot === undefined) {
      try {
        this.snapshot = this.lastRead = this.resilience.stats();
        this.failureLogged = false;
      } catch (error) {
        this.snapshot = this.lastRead ?? null;
        if (!this.failureLogged) {
          this.failureLogged = true;
          MetricSource.logger.warn(PROMETHEUS_STATS_FAILED(error, this.lastRead !== undefined));
        }
      }
      queueMicrotask(() => (this.snapshot = undefined));
    }
    return this.snapshot ?? undefined;
  }

  private named(name: string, extra?: Labels): Labels {
    return { ...this.labels, name, ...extra };
  }

  /** Calls `each` for every policy of one `stats()` section (none when `stats()` failed). */
  private each<K extends PolicySection>(
    section: K,
    each: (name: string, stats: ResilienceStats[K][string]) => void,
  ): void {
    const stats = this.stats();
    if (stats) for (const [name, s] of Object.entries(stats[section])) each(name, s);
  }

  writeState(put: Put): void {
    this.each('circuitBreakers', (name, s) => put(this.named(name), CIRCUIT_STATE_VALUES[s.state]));
  }

  writeCalls(put: Put): void {
    this.each('circuitBreakers', (name, s) => {
      for (const [key, result] of CALL_RESULTS) put(this.named(name, { result }), s[key]);
    });
  }

  writeTransitions(put: Put): void {
    for (const { labels, count } of this.transitions.values()) put(labels, count);
  }

  writeRetries(put: Put): void {
    this.each('retries', (name, s) => {
      for (const [key, result] of RETRY_RESULTS) put(this.named(name, { result }), s[key]);
    });
  }

  writeTimeouts(put: Put): void {
    this.each('timeouts', (name, s) => put(this.named(name), s.timeouts));
  }

  writeBulkhead(put: Put, field: 'active' | 'queued' | 'rejected'): void {
    this.each('bulkheads', (name, s) => put(this.named(name), s[field]));
  }

  writeDeadLetters(put: Put): void {
    for (const [name, count] of this.letters) put(this.named(name), count);
  }

  writeDeadLetterQueue(
    put: Put,
    field: 'published' | 'failedToPublish' | 'dropped' | 'buffered',
  ): void {
    const stats = this.stats();
    if (stats) put({ ...this.labels }, stats.deadLetters[field]);
  }

  writeSlo(put: Put, field: 'successRate' | 'errorBudgetRemaining' | 'target' | 'violated'): void {
    this.each('slo', (name, s) => put(this.named(name), Number(s[field])));
  }

  /**
   * Every SLO from 0, so that `increase()` sees its first violation. The scrape's `stats()`
   * has run before (it re-evaluates each SLO): a violation found by that read is counted
   * in this scrape.
   */
  writeSloViolations(put: Put): void {
    const slo = this.stats()?.slo ?? {};
    for (const name of Object.keys(slo)) put(this.named(name), this.violations.get(name) ?? 0);
    for (const [name, count] of this.violations) {
      if (!Object.hasOwn(slo, name)) put(this.named(name), count);
    }
  }
}

/** The sections of `stats()` that hold one entry per policy name. */
type PolicySection = Exclude<keyof ResilienceStats, 'deadLetters'>;
