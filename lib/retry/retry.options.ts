import { BulkheadRejectedError } from '../common/errors/bulkhead-rejected.error';
import { CircuitOpenError } from '../common/errors/circuit-open.error';
import { RateLimitedError } from '../common/errors/rate-limited.error';
import {
  MAX_TIMER_DELAY,
  checks,
  invalid,
  Schema,
  schemaKeys,
  validateOptions,
} from '../common/validate';
import type { BackoffOptions, ResolvedBackoffOptions } from './backoff/backoff.interface';

/**
 * Decides whether a failed call is tried again. `attempt` is the 1-based number of the
 * call that just failed.
 * @publicApi
 */
export type RetryPredicate = (error: unknown, attempt: number) => boolean;

/** Options of `@Retry` and `RetryPolicy`. @publicApi */
export interface RetryOptions {
  /**
   * Total number of calls, the first one included (a whole number >= 1; 1 never retries).
   * @default 3
   */
  maxAttempts?: number;
  /**
   * How long to wait between calls; every delay is in milliseconds.
   * @default { type: 'exponential', initialDelay: 100, maxDelay: 30000, multiplier: 2, jitter: 'full' }
   */
  backoff?: BackoffOptions;
  /**
   * Returns true when `error`, thrown by call number `attempt` (1-based), should be
   * retried. Replaces the default rule. A predicate that throws counts as `false`.
   * @default every error except `CircuitOpenError`, `BulkheadRejectedError` and `RateLimitedError`
   */
  retryOn?: RetryPredicate;
}

/** Retry options with every default applied. @publicApi */
export interface ResolvedRetryOptions {
  maxAttempts: number;
  backoff: ResolvedBackoffOptions;
  retryOn?: RetryPredicate;
}

/** Names of the errors that the default rule never retries: retrying them adds load. */
const NOT_RETRIED = new Set(['CircuitOpenError', 'BulkheadRejectedError', 'RateLimitedError']);

/**
 * The default `retryOn`: true for every error except `CircuitOpenError`,
 * `BulkheadRejectedError` and `RateLimitedError`. Those are recognised by class and also
 * by name plus the package's brand, so errors from a second copy of the package (two
 * versions in node_modules) are not retried either. Use it to extend the default:
 * `retryOn: (e, n) => defaultRetryOn(e) && !(e instanceof ValidationError)`.
 * @publicApi
 */
export function defaultRetryOn(error: unknown): boolean {
  if (
    error instanceof CircuitOpenError ||
    error instanceof BulkheadRejectedError ||
    error instanceof RateLimitedError
  ) {
    return false;
  }
  if (typeof error !== 'object' || error === null) return true;
  const branded = error as { isResilienceError?: unknown; name?: unknown };
  return !(branded.isResilienceError === true && NOT_RETRIED.has(branded.name as string));
}

/** @internal */
export const RETRY_DEFAULTS = {
  maxAttempts: 3,
  backoff: {
    type: 'exponential',
    initialDelay: 100,
    maxDelay: 30_000,
    multiplier: 2,
    jitter: 'full',
  } as ResolvedBackoffOptions,
} as const;

/** Longest delay a Node timer honours (about 24.8 days); longer ones fire at once. @internal */
export { MAX_TIMER_DELAY };

/** A duration in ms that a timer can wait. @internal */
export const timerDuration = checks.duration;

const BACKOFF_SCHEMA: Schema = {
  type: checks.oneOf('exponential', 'fixed', 'linear'),
  initialDelay: timerDuration,
  maxDelay: timerDuration,
  multiplier: checks.atLeastOne,
  jitter: checks.oneOf('none', 'full', 'equal', 'decorrelated'),
};

const RETRY_SCHEMA: Schema = {
  maxAttempts: checks.positiveInt,
  backoff: { nested: BACKOFF_SCHEMA, check: checks.object(BACKOFF_SCHEMA) },
  retryOn: checks.fn,
};

/** Every key `resolveRetryOptions` knows (nested ones dotted). @internal */
export const RETRY_OPTION_KEYS: readonly string[] = schemaKeys(RETRY_SCHEMA);

/**
 * Validates `options` for the retry policy `name` and applies the defaults.
 * @throws ResilienceConfigError naming the policy, the (dotted) key and the bad value.
 * @publicApi
 */
export function resolveRetryOptions(name: string, options?: RetryOptions): ResolvedRetryOptions {
  validateOptions(name, options, RETRY_SCHEMA);
  const given = options?.backoff;
  const backoff: ResolvedBackoffOptions = {
    type: given?.type ?? RETRY_DEFAULTS.backoff.type,
    initialDelay: given?.initialDelay ?? RETRY_DEFAULTS.backoff.initialDelay,
    maxDelay: given?.maxDelay ?? RETRY_DEFAULTS.backoff.maxDelay,
    multiplier: given?.multiplier ?? RETRY_DEFAULTS.backoff.multiplier,
    jitter: given?.jitter ?? RETRY_DEFAULTS.backoff.jitter,
  };
  if (backoff.maxDelay < backoff.initialDelay) {
    // name the key the user actually set, so the message points at the right line
    if (given?.maxDelay !== undefined) {
      invalid(
        name,
        'backoff.maxDelay',
        backoff.maxDelay,
        `a duration >= backoff.initialDelay (${backoff.initialDelay}ms)`,
      );
    }
    invalid(
      name,
      'backoff.initialDelay',
      backoff.initialDelay,
      `a duration <= backoff.maxDelay (${backoff.maxDelay}ms)`,
    );
  }
  return {
    maxAttempts: options?.maxAttempts ?? RETRY_DEFAULTS.maxAttempts,
    backoff,
    retryOn: options?.retryOn,
  };
}
