import type { BulkheadOptions } from '../bulkhead/bulkhead.options';
import type { ChaosModuleOptions, ChaosOptions } from '../chaos/chaos.options';
import type { CircuitBreakerOptions } from '../circuit-breaker/circuit-breaker.options';
import type { Clock } from '../common/clock';
import type { DeadLetterQueue } from '../dead-letter/dead-letter.interface';
import type {
  DeadLetterBufferOptions,
  DeadLetterOptions,
} from '../dead-letter/dead-letter.options';
import type { CircuitStateStore } from '../state-store/circuit-state-store.interface';
import type { RateLimiterOptions } from '../rate-limit/rate-limiter.options';
import type { RetryOptions } from '../retry/retry.options';
import type { SloOptions } from '../slo/slo.options';
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
  /** A dead-letter step for the set's methods (`@DeadLetter` options; `{}` for the defaults). */
  deadLetter?: DeadLetterOptions;
  /**
   * Fault injection for the set's methods, as `@Chaos(options)` gives it; active only
   * when the module option `chaos.enabled` is true.
   */
  chaos?: ChaosOptions;
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
  /**
   * Redacts or reshapes a method's arguments before they are written into its dead
   * letters; `@DeadLetter({ serializeArgs })` replaces it for one method.
   * @default the arguments as they are (made JSON-safe)
   */
  serializeArgs?: (args: unknown[]) => unknown[];
  /**
   * How long in-flight calls may run on after shutdown starts (ms).
   * @default 10000
   */
  shutdownTimeout?: number;
  /**
   * Where dead letters go: any object with `publish(letter): Promise<void>`. Injectable
   * as `DEAD_LETTER_QUEUE` (`@InjectDeadLetterQueue()`).
   * @default a new `InMemoryDeadLetterQueue()` per application
   */
  deadLetterQueue?: DeadLetterQueue;
  /**
   * The local buffer of letters that `deadLetterQueue.publish` did not accept, and how they
   * are published again (capacity, publishTimeout, initialDelay, maxDelay, multiplier).
   * @default { capacity: 1000, publishTimeout: 5000, initialDelay: 1000, maxDelay: 60000, multiplier: 2 }
   */
  deadLetterBuffer?: DeadLetterBufferOptions;
  /**
   * Where circuit breakers share their state: `new RedisCircuitStateStore(...)` (from
   * `nestjs-fault-tolerance/redis`) for several instances, `new FileCircuitStateStore(path)`
   * for state that survives a restart. With a store, every breaker is shared unless it sets
   * `shared: false`. One store object per application.
   * @default undefined (in-process memory only)
   */
  stateStore?: CircuitStateStore;
  /**
   * Fault injection (`@Chaos`, `chaos` of policy sets). Off unless `enabled` is true; while
   * off, chaos declarations create nothing and cost nothing per call.
   * @default { enabled: false, random: Math.random }
   */
  chaos?: ChaosModuleOptions;
  /**
   * Service level objectives, by policy name: a method's circuit breaker name, else the name
   * of the `@UsePolicy` set it uses, else `ClassName.methodName`; or a policy set's name for
   * `registry.policy(name)`. Each tracks the success ratio of the final outcomes of those
   * calls (after retries, before any fallback) over a rolling window; see `SloOptions`. A name
   * that matches nothing fails bootstrap.
   * @default {} (nothing measured, no cost)
   */
  slo?: Record<string, SloOptions>;
}
