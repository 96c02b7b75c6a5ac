import type { BulkheadStats } from '../bulkhead/bulkhead-compartment';
import type { KeyedBulkheadStats } from '../bulkhead/keyed-bulkhead.policy';
import type { CircuitBreakerStats } from '../circuit-breaker/circuit-breaker.policy';
import type { FallbackStats } from '../fallback/fallback.policy';
import type { RateLimiterStats } from '../rate-limit/rate-limiter.policy';
import type { RetryStats } from '../retry/retry.policy';
import type { TimeoutStats } from '../timeout/timeout.policy';

export type {
  BulkheadStats,
  CircuitBreakerStats,
  FallbackStats,
  KeyedBulkheadStats,
  RateLimiterStats,
  RetryStats,
  TimeoutStats,
};

/** Dead-letter counters (`stats().deadLetters`). @publicApi */
export interface DeadLetterStats {
  published: number;
  failedToPublish: number;
  buffered: number;
  dropped: number;
}

/** Plain-JSON snapshot of every policy of one application (`registry.stats()`). @publicApi */
export interface ResilienceStats {
  circuitBreakers: Record<string, CircuitBreakerStats>;
  retries: Record<string, RetryStats>;
  timeouts: Record<string, TimeoutStats>;
  /** Keyed bulkheads add `keys`. */
  bulkheads: Record<string, BulkheadStats | KeyedBulkheadStats>;
  rateLimiters: Record<string, RateLimiterStats>;
  fallbacks: Record<string, FallbackStats>;
  deadLetters: DeadLetterStats;
}
