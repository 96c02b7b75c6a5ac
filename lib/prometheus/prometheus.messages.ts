import { describe } from '../common/resilience.messages';

/** Every message of the Prometheus exporter, in one place. @internal */
export const PROMETHEUS_INVALID_OPTION = (key: string, value: unknown, expected: string) =>
  `Invalid option of ResiliencePrometheusModule: "${key}" is ${describe(value)}; expected ${expected}.`;

export const PROMETHEUS_UNKNOWN_OPTION = (key: string, known: readonly string[]) =>
  `Invalid option of ResiliencePrometheusModule: unknown key "${key}". Known keys: ${known.join(', ')}.`;

export const PROMETHEUS_NAME_TAKEN = (metric: string) =>
  `The prom-client registry already holds a metric named "${metric}" that the resilience ` +
  `exporter did not create (your own metric, or another copy of nestjs-fault-tolerance). ` +
  `Potential solutions: give the resilience metrics a "prefix" (e.g. "myapp_"), or collect ` +
  `them into a registry of their own ("registry": new Registry()).`;

export const PROMETHEUS_SAME_LABELS = (prefix: string, labels: Record<string, string>) =>
  `Resilience metrics${prefix ? ` with prefix "${prefix}"` : ''} are already collected into this ` +
  `prom-client registry with the same constant labels ${JSON.stringify(labels)}, for another ` +
  `ResilienceRegistry (another application in this process?) or for the same one twice. Two ` +
  `applications would write the same series. Potential solutions: give each application its ` +
  `own "labels" (e.g. { app: 'orders' }), its own "prefix", or its own "registry".`;

export const PROMETHEUS_LABEL_NAMES_DIFFER = (
  prefix: string,
  existing: readonly string[],
  given: readonly string[],
) =>
  `Resilience metrics${prefix ? ` with prefix "${prefix}"` : ''} are already collected into this ` +
  `prom-client registry with the constant label names [${existing.join(', ')}]; these options ` +
  `give [${given.join(', ')}]. Every application sharing one registry and prefix must use the ` +
  `same label names (with different values), or a "prefix" or "registry" of its own.`;

export const PROMETHEUS_BUCKETS_DIFFER = (
  prefix: string,
  existing: readonly number[],
  given: readonly number[],
) =>
  `Resilience metrics${prefix ? ` with prefix "${prefix}"` : ''} are already collected into this ` +
  `prom-client registry with the duration buckets [${existing.join(', ')}]; these options give ` +
  `[${given.join(', ')}]. One histogram has one set of buckets: use the same "buckets", or a ` +
  `"prefix" or "registry" of its own.`;

export const PROMETHEUS_NO_RESILIENCE_MODULE =
  'ResiliencePrometheusModule found no ResilienceRegistry in the application. Potential ' +
  'solution: import ResilienceModule.forRoot() (or forRootAsync()) in the same application.';

export const PROMETHEUS_NOT_A_REGISTRY = (value: unknown) =>
  `collectResilienceMetrics() needs the application's ResilienceRegistry ` +
  `(app.get(ResilienceRegistry)) as its first argument; got ${describe(value)}.`;

export const PROMETHEUS_STATS_FAILED = (error: unknown, previous: boolean) =>
  `Resilience metrics: registry.stats() threw (${describeError(error)}); scrapes serve ` +
  (previous
    ? 'the figures of the last stats() that worked'
    : 'only the metrics counted from events and the call durations') +
  ' until it works again.';

function describeError(error: unknown): string {
  try {
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  } catch {
    return 'an unreadable error';
  }
}
