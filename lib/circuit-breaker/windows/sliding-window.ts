/**
 * Running totals over the most recent call outcomes of a circuit breaker. `record` and the
 * totals are O(1). Time-based windows drop old outcomes when told the time, through
 * `record(now, …)` or `evict(now)`; read the totals after either.
 * @internal
 */
export interface SlidingWindow {
  /** Calls in the window. */
  readonly calls: number;
  /** Calls in the window that failed. */
  readonly failures: number;
  /** Calls in the window that were slow (failed or not). */
  readonly slow: number;
  /** Adds one outcome, observed at `now` (epoch ms). */
  record(now: number, failed: boolean, slow: boolean): void;
  /** Drops the outcomes that have left the window by `now`. */
  evict(now: number): void;
  /** Forgets every outcome. */
  reset(): void;
}
