import type { CircuitState } from './events';

/**
 * What the metrics exporters (Prometheus and OpenTelemetry) share: plain constants, so that
 * either sub-path can import them without loading the other one's peer dependency.
 */

/**
 * Bucket bounds, in seconds, of the call duration histogram of both exporters: from 1 ms
 * (call durations are whole milliseconds of the module clock) to 60 s (long timeouts).
 * @publicApi
 */
export const DEFAULT_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]);

/** Value of the circuit breaker state gauge for each state. @publicApi */
export const CIRCUIT_STATE_VALUES: Readonly<Record<CircuitState, number>> = Object.freeze({
  closed: 0,
  open: 1,
  'half-open': 2,
});

/** The `result` of the retry calls counter, by field of `stats().retries[name]`. @internal */
export const RETRY_RESULTS = [
  ['successWithoutRetry', 'success_without_retry'],
  ['successWithRetry', 'success_with_retry'],
  ['failedWithRetry', 'failed_with_retry'],
  ['failedWithoutRetry', 'failed_without_retry'],
] as const;

/** The `result` of the circuit breaker calls counter, by field of its stats. @internal */
export const CALL_RESULTS = [
  ['successfulCalls', 'success'],
  ['failedCalls', 'failure'],
  ['rejectedCalls', 'rejected'],
] as const;
