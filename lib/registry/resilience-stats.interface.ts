import type { BulkheadStats } from '../bulkhead/bulkhead-compartment';
import type { KeyedBulkheadStats } from '../bulkhead/keyed-bulkhead.policy';
import type { ChaosStats } from '../chaos/chaos.policy';
import type { CircuitBreakerStats } from '../circuit-breaker/circuit-breaker.policy';
import type { DeadLetterStats } from '../dead-letter/dead-letter.publisher';
import type { FallbackStats } from '../fallback/fallback.policy';
import type { RateLimiterStats } from '../rate-limit/rate-limiter.policy';
import type { RetryStats } from '../retry/retry.policy';
import type { SloStats } from '../slo/slo.policy';
import type { TimeoutStats } from '../timeout/timeout.policy';

export type {
  BulkheadStats,
  ChaosStats,
  CircuitBreakerStats,
  DeadLetterStats,
  FallbackStats,
  KeyedBulkheadStats,
  RateLimiterStats,
  RetryStats,
  SloStats,
  TimeoutStats,
};

/** Plain-JSON snapshot of every policy of one application (`registry.stats()`). @publicApi */
export interface ResilienceStats {
  circuitBreakers: Record<string, CircuitBreakerStats>;
  retries: Record<string, RetryStats>;
  timeouts: Record<string, TimeoutStats>;
  /** Keyed bulkheads add `keys`. */
  bulkheads: Record<string, BulkheadStats | KeyedBulkheadStats>;
  rateLimiters: Record<string, RateLimiterStats>;
  fallbacks: Record<string, FallbackStats>;
  /** Fault injection (`@Chaos`); empty while the module option `chaos.enabled` is off. */
  chaos: Record<string, ChaosStats>;
  deadLetters: DeadLetterStats;
  /** Service level objectives (module option `slo`), by policy name. */
  slo: Record<string, SloStats>;
}
