import type { BulkheadOptions } from '../bulkhead/bulkhead.options';
import type { CircuitBreakerOptions } from '../circuit-breaker/circuit-breaker.options';
import type { Clock } from '../common/clock';
import type { RateLimiterOptions } from '../rate-limit/rate-limiter.options';
import type { RetryOptions } from '../retry/retry.options';
import type { TimeoutOptions } from '../timeout/timeout.options';

/** A fallback: the name of a method of the same class, or a function. @publicApi */
export type FallbackHandler = string | ((error: unknown, ...args: any[]) => unknown);

/** Partial options merged under every policy of that kind. @publicApi */
export interface PolicyDefaults {
  circuitBreaker?: Partial<CircuitBreakerOptions>;
  retry?: Partial<RetryOptions>;
  timeout?: Partial<TimeoutOptions>;
  bulkhead?: Partial<BulkheadOptions>;
  rateLimiter?: Partial<RateLimiterOptions>;
}

/**
 * A named, config-driven policy set, applied with `@UsePolicy(name)` or
 * `registry.policy(name)`. Every policy of the set is registered under the set's name.
 * @publicApi
 */
export interface PolicyConfig extends PolicyDefaults {
  /** A function; a method name is accepted with `@UsePolicy` only. */
  fallback?: FallbackHandler;
  /** Reserved for dead letters (`@DeadLetter` options). */
  deadLetter?: Record<string, unknown>;
}

/** Options of `ResilienceModule.forRoot()` / `forRootAsync()`. @publicApi */
export interface ResilienceModuleOptions {
  /** Partial options merged under every policy of that kind. */
  defaults?: PolicyDefaults;
  /** Named policy sets for `@UsePolicy(name)` and `registry.policy(name)`. */
  policies?: Record<string, PolicyConfig>;
  /**
   * The time source (epoch ms). A clock that also has `setTimeout`/`clearTimeout`
   * (see `Scheduler`) drives every delay of the module too: use one in tests.
   * @default the system clock
   */
  clock?: Clock;
  /** @default true — register the module globally. */
  isGlobal?: boolean;
  /**
   * Register `ResilienceExceptionFilter` globally (503 / 429 / 504 mapping).
   * @default false
   */
  httpErrors?: boolean;
  /** Redacts or reshapes method arguments before they leave the process (dead letters). */
  serializeArgs?: (args: unknown[]) => unknown[];
  /**
   * How long in-flight calls may run on after shutdown starts (ms).
   * @default 10000
   */
  shutdownTimeout?: number;
  /** Dead-letter queue provider (see the dead-letter docs). */
  deadLetterQueue?: unknown;
  /** Circuit state store (see the state-store docs). */
  stateStore?: unknown;
}
