import { register as globalRegistry, type Registry, type RegistryContentType } from 'prom-client';

/** A prom-client registry of either content type (Prometheus text or OpenMetrics). @publicApi */
export type MetricsRegistry = Registry<RegistryContentType>;
import { ResilienceConfigError } from '../common/errors/resilience-config.error';
import { DEFAULT_DURATION_BUCKETS } from '../common/metrics-defaults';
import { PROMETHEUS_INVALID_OPTION, PROMETHEUS_UNKNOWN_OPTION } from './prometheus.messages';

/**
 * Options of `ResiliencePrometheusModule.forRoot()` and `collectResilienceMetrics()`.
 * @publicApi
 */
export interface ResiliencePrometheusOptions {
  /**
   * The prom-client registry the metrics are registered in.
   * @default prom-client's global `register`
   */
  registry?: MetricsRegistry;
  /**
   * Prepended as is to every metric name: `'myapp_'` gives `myapp_circuit_breaker_state`.
   * @default ''
   */
  prefix?: string;
  /**
   * Upper bounds, in seconds, of the buckets of `circuit_breaker_call_duration_seconds`.
   * @default DEFAULT_DURATION_BUCKETS (1 ms to 60 s)
   */
  buckets?: readonly number[];
  /**
   * Constant labels added to every series, e.g. `{ app: 'orders' }`. Applications that share
   * one registry and prefix tell their series apart by them.
   * @default {}
   */
  labels?: Readonly<Record<string, string>>;
}

/**
 * Default buckets of `circuit_breaker_call_duration_seconds`, in seconds: from 1 ms (call
 * durations are whole milliseconds of the module clock) to 60 s (long timeouts). The
 * OpenTelemetry exporter suggests the same bounds for its duration histogram.
 * @publicApi
 */
export { DEFAULT_DURATION_BUCKETS };

/** Options with defaults applied, validated. @internal */
export interface ResolvedPrometheusOptions {
  registry: MetricsRegistry;
  prefix: string;
  buckets: readonly number[];
  labels: Readonly<Record<string, string>>;
}

/** The labels the exporter sets itself; constant labels cannot use these names. @internal */
export const RESERVED_LABELS: readonly string[] = ['name', 'result', 'from', 'to', 'le'];

const KNOWN_KEYS = ['registry', 'prefix', 'buckets', 'labels'] as const;
const METRIC_PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

const invalid = (key: string, value: unknown, expected: string) =>
  new ResilienceConfigError(
    PROMETHEUS_INVALID_OPTION(key, value, expected),
    'ResiliencePrometheusModule',
    key,
    value,
  );

/**
 * Applies the defaults and checks every option, throwing `ResilienceConfigError` naming the
 * bad one.
 * @internal
 */
export function resolvePrometheusOptions(
  options: ResiliencePrometheusOptions | undefined = {},
): ResolvedPrometheusOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw invalid('options', options, 'an object');
  }
  for (const key of Object.keys(options)) {
    if (!(KNOWN_KEYS as readonly string[]).includes(key)) {
      throw new ResilienceConfigError(
        PROMETHEUS_UNKNOWN_OPTION(key, KNOWN_KEYS),
        'ResiliencePrometheusModule',
        key,
        (options as Record<string, unknown>)[key],
      );
    }
  }
  const { registry = globalRegistry, prefix = '', buckets, labels = {} } = options;

  if (!isRegistry(registry)) {
    throw invalid('registry', registry, 'a prom-client Registry (new Registry() or register)');
  }
  if (typeof prefix !== 'string' || (prefix !== '' && !METRIC_PREFIX.test(prefix))) {
    throw invalid('prefix', prefix, "a string of letters, digits, '_' and ':' (e.g. 'myapp_')");
  }
  return {
    registry,
    prefix,
    buckets: resolveBuckets(buckets),
    labels: resolveLabels(labels),
  };
}

function resolveBuckets(buckets: readonly number[] | undefined): readonly number[] {
  if (buckets === undefined) return DEFAULT_DURATION_BUCKETS;
  const expected = 'a non-empty array of increasing finite numbers of seconds >= 0';
  if (!Array.isArray(buckets) || buckets.length === 0) throw invalid('buckets', buckets, expected);
  buckets.forEach((bound: unknown, index) => {
    const previous = index > 0 ? (buckets[index - 1] as number) : -1;
    if (typeof bound !== 'number' || !Number.isFinite(bound) || bound < 0 || bound <= previous) {
      throw invalid('buckets', buckets, expected);
    }
  });
  return Object.freeze([...buckets]);
}

function resolveLabels(labels: unknown): Readonly<Record<string, string>> {
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) {
    throw invalid('labels', labels, 'an object of label names to string values');
  }
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith('__') || RESERVED_LABELS.includes(name)) {
      throw invalid(
        `labels.${name}`,
        value,
        `a label name of letters, digits and '_', not starting with '__' and none of ` +
          `${RESERVED_LABELS.join(', ')} (the exporter sets those)`,
      );
    }
    if (typeof value !== 'string') throw invalid(`labels.${name}`, value, 'a string');
    out[name] = value;
  }
  return Object.freeze(out);
}

const isRegistry = (value: unknown): value is MetricsRegistry =>
  typeof value === 'object' &&
  value !== null &&
  ['registerMetric', 'getSingleMetric', 'removeSingleMetric', 'metrics'].every(
    (method) => typeof (value as Record<string, unknown>)[method] === 'function',
  );
