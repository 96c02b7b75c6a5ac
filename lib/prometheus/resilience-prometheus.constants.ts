/** Token of the validated options (`ResolvedPrometheusOptions`). @internal */
export const RESOLVED_PROMETHEUS_OPTIONS = Symbol.for(
  'nestjs-fault-tolerance:prometheus-resolved-options',
);

/** Route of the metrics controller when `controller: true`. @internal */
export const DEFAULT_METRICS_PATH = 'metrics';
