import type { CircuitState } from '../common/events';

/** @publicApi */
export interface CircuitBreakerStats {
  state: CircuitState;
  failureCount: number;
  successCount: number;
  totalCalls: number;
  successfulCalls: number;
  failedCalls: number;
  rejectedCalls: number;
  slowCalls: number;
  failureRate: number;
  slowCallRate: number;
  stateChangedAt: number;
  lastError?: { name: string; message: string };
}
/** @publicApi */
export interface RetryStats {
  calls: number;
  successWithoutRetry: number;
  successWithRetry: number;
  failedWithRetry: number;
  failedWithoutRetry: number;
  attempts: number;
}
/** @publicApi */
export interface TimeoutStats {
  calls: number;
  timeouts: number;
}
/** @publicApi */
export interface BulkheadStats {
  active: number;
  queued: number;
  maxConcurrent: number;
  maxQueue: number;
  accepted: number;
  rejected: number;
  queueTimeouts: number;
  /** Calls whose caller gave up (cancelled) while they waited in the queue. */
  aborted: number;
  /** Keyed bulkheads only: partitions held. */
  keys?: number;
}
/** @publicApi */
export interface RateLimiterStats {
  permitted: number;
  rejected: number;
}
/** @publicApi */
export interface FallbackStats {
  calls: number;
  fallbacks: number;
}
/** @publicApi */
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
  bulkheads: Record<string, BulkheadStats>;
  rateLimiters: Record<string, RateLimiterStats>;
  fallbacks: Record<string, FallbackStats>;
  deadLetters: DeadLetterStats;
}
