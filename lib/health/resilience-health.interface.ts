import type { CircuitState } from '../common/events';

/**
 * The verdict of the resilience health view, whichever Terminus is installed:
 * `'down'` when a watched circuit breaker is open, `'degraded'` when one is half-open or
 * a watched bulkhead's queue is at or above its `warningThreshold`, `'up'` otherwise.
 * @publicApi
 */
export type ResilienceHealthLevel = 'up' | 'degraded' | 'down';

/** What `isHealthy()` and `report()` watch. @publicApi */
export interface ResilienceHealthOptions {
  /**
   * Names of the circuit breakers to watch. An unknown name throws
   * `ResilienceConfigError`.
   * @default every circuit breaker of the application when neither list is given;
   * none when only `bulkheads` is given
   */
  circuitBreakers?: readonly string[];
  /**
   * Names of the bulkheads (plain or keyed) to watch. An unknown name throws
   * `ResilienceConfigError`.
   * @default every bulkhead of the application when neither list is given; none when
   * only `circuitBreakers` is given
   */
  bulkheads?: readonly string[];
}

/** One watched circuit breaker. @publicApi */
export interface CircuitBreakerHealth {
  state: CircuitState;
  /** Percentage (0-100) of failed calls in the breaker's current sliding window. */
  failureRate: number;
  /** Ms until the open breaker turns half-open and lets a trial call through; `null` unless open. */
  retryAfter: number | null;
}

/** One watched bulkhead. Keyed bulkheads report the partition with the longest queue. @publicApi */
export interface BulkheadHealth {
  /** Calls running now (keyed: summed over the partitions). */
  active: number;
  maxConcurrent: number;
  /** Calls waiting now (keyed: in the partition with the longest queue). */
  queued: number;
  maxQueue: number;
  /** `queued / maxQueue` (0 when `maxQueue` is 0). */
  queueFill: number;
  /** The bulkhead's `warningThreshold` (a fill ratio). */
  warningThreshold: number;
  /** `queueFill >= warningThreshold` (never with `maxQueue` 0): the bulkhead reports degraded. */
  underPressure: boolean;
  /** Keyed bulkheads: the key of the partition with the longest queue (absent when none waits). */
  key?: string;
  /** Keyed bulkheads: partitions held now. */
  keys?: number;
}

/**
 * The resilience health view as plain JSON, independent of Terminus
 * (`ResilienceHealthIndicator.report()`).
 * @publicApi
 */
export interface ResilienceHealthReport {
  health: ResilienceHealthLevel;
  /** Watched breakers that are open (they make the health `'down'`). */
  open: string[];
  /** Watched breakers that are half-open (they make the health `'degraded'`). */
  halfOpen: string[];
  /** Watched bulkheads whose queue is at or above `warningThreshold` (`'degraded'`). */
  underPressure: string[];
  circuitBreakers: Record<string, CircuitBreakerHealth>;
  bulkheads: Record<string, BulkheadHealth>;
}

/**
 * The details under the key of `isHealthy()`'s result.
 *
 * `status` is what Terminus reads: `'down'` when `health` is `'down'`, otherwise `'up'`,
 * except that Terminus 12 and later get `'degraded'` when `health` is `'degraded'`.
 * It is declared `'up' | 'down'`, the statuses both Terminus 11 and 12 accept in their
 * `HealthIndicatorResult` type, so the result type-checks inside `HealthCheckService.check()`
 * on either; read `health` for the full verdict.
 * @publicApi
 */
export interface ResilienceHealthDetails extends ResilienceHealthReport {
  status: 'up' | 'down';
}

/**
 * A Terminus `HealthIndicatorResult`, declared without importing Terminus so the package's
 * types work in applications that do not install it.
 * @publicApi
 */
export type ResilienceHealthIndicatorResult<K extends string = 'resilience'> = Record<
  K,
  ResilienceHealthDetails
>;
