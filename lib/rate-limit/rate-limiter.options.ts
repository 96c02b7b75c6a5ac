import { checks, invalid, Schema, schemaKeys, validateOptions } from '../common/validate';

/**
 * Options of `@RateLimit()` and `RateLimiterPolicy`: at most `limit` calls start within
 * any `interval` ms.
 * @publicApi
 */
export interface RateLimiterOptions {
  /**
   * Calls allowed to start within any `interval`. Required.
   * @default none (required; calls, a whole number >= 1)
   */
  limit: number;
  /**
   * Length of the sliding window. Required.
   * @default none (required; ms, > 0)
   */
  interval: number;
  /**
   * Longest a call may wait for a permit; a call that would wait longer is rejected
   * with `RateLimitedError`. 0: reject at once.
   * @default 0 (ms)
   */
  maxWait: number;
}

/** Rate limiter options after validation, with defaults applied. @publicApi */
export type ResolvedRateLimiterOptions = Readonly<RateLimiterOptions>;

const schema: Schema = {
  limit: checks.positiveInt,
  interval: checks.positiveDuration,
  maxWait: checks.duration,
};

/** Every key `resolveRateLimiterOptions` knows. @internal */
export const RATE_LIMITER_OPTION_KEYS: readonly string[] = schemaKeys(schema);

/**
 * Validates rate limiter options (unknown keys, bad values and a missing `limit` or
 * `interval` throw `ResilienceConfigError` naming the policy, the key and the value)
 * and applies the defaults.
 * @internal
 */
export function resolveRateLimiterOptions(
  name: string,
  options?: Partial<RateLimiterOptions>,
): ResolvedRateLimiterOptions {
  validateOptions(name, options, schema);
  const o = options ?? {};
  if (o.limit === undefined)
    invalid(name, 'limit', undefined, 'a whole number >= 1; it is required');
  if (o.interval === undefined) {
    invalid(name, 'interval', undefined, 'a duration in ms (a finite number > 0); it is required');
  }
  return Object.freeze({ limit: o.limit, interval: o.interval, maxWait: o.maxWait ?? 0 });
}
